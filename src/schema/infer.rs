//! A schema drafted from a table (`churn schema --infer FILE`): each column's kind, levels,
//! missing-value tokens and observed range; guesses for the id and the target; columns to ignore
//! (free text, other ids, leakage). The draft is TOML with comments saying why, for a person to
//! read and correct before training on it. No I/O here: the CLI feeds the cells.

use super::value::{parse_grouped, whole_number_text};
use super::{DateSpec, Schema};
use std::collections::HashMap;
use std::fmt::Write;

/// Texts tools write for "no value" (R, pandas, SQL exports, spreadsheets).
const MISSING_TOKENS: [&str; 9] = ["NA", "N/A", "NaN", "nan", "NaT", "null", "NULL", "None", "?"];
/// Beyond this many levels a text column is an id or free text, not a category.
const MAX_LEVELS: usize = 1000;
/// A single column that separates the target this well is almost surely recorded after the fact.
pub const LEAKAGE_AUC: f64 = 0.97;

/// What one column holds, counted over every row.
#[derive(Debug, Default, Clone)]
pub struct ColumnStats {
    pub name: String,
    rows: usize,
    blanks: usize,
    tokens: HashMap<String, usize>,
    numbers: usize,
    /// Of `numbers`, those written with ',' between groups of three digits ("3,913").
    grouped: usize,
    integers: usize,
    dates: usize,
    min: f64,
    max: f64,
    /// Distinct texts (up to MAX_LEVELS + 1) with their counts.
    levels: HashMap<String, usize>,
    overflow: bool,
    /// Each row's number (NaN when it holds none), to measure how it separates the target.
    values: Vec<f64>,
    cells: Vec<Option<String>>,
}

impl ColumnStats {
    pub fn new(name: &str) -> ColumnStats {
        // Trimmed and without a byte-order mark, as the ingestion gate matches header names.
        let name = name.trim_start_matches('\u{feff}').trim();
        ColumnStats { name: name.to_string(), min: f64::INFINITY, max: f64::NEG_INFINITY, ..Default::default() }
    }

    pub fn push(&mut self, cell: &str) {
        let t = cell.trim();
        self.rows += 1;
        if t.is_empty() {
            self.blanks += 1;
            self.values.push(f64::NAN);
            self.cells.push(None);
            return;
        }
        if MISSING_TOKENS.contains(&t) {
            *self.tokens.entry(t.to_string()).or_default() += 1;
            self.values.push(f64::NAN);
            self.cells.push(None);
            return;
        }
        let plain = t.parse::<f64>().ok().filter(|v| v.is_finite());
        let grouped = if plain.is_none() { parse_grouped(t, ',') } else { None };
        match plain.or(grouped) {
            Some(v) => {
                self.numbers += 1;
                self.grouped += usize::from(grouped.is_some());
                if v.fract() == 0.0 {
                    self.integers += 1;
                }
                self.min = self.min.min(v);
                self.max = self.max.max(v);
                self.values.push(v);
            }
            None => match DateSpec::parse(t) {
                Some(date) => {
                    self.dates += 1;
                    self.values.push(DateSpec { reference: None, blank: super::Blank::Missing }.days(date));
                }
                None => self.values.push(f64::NAN),
            },
        }
        if !self.overflow {
            // Integer-coded levels written as floats ("187.0") count as their integer.
            let key = normalise(t);
            *self.levels.entry(key).or_default() += 1;
            if self.levels.len() > MAX_LEVELS {
                self.overflow = true;
                self.levels.clear();
            }
        }
        self.cells.push(Some(t.to_string()));
    }

    fn present(&self) -> usize {
        self.rows - self.blanks - self.tokens.values().sum::<usize>()
    }

    fn distinct(&self) -> Option<usize> {
        (!self.overflow).then_some(self.levels.len())
    }
}

/// The column kinds a draft can give.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Numeric { integer: bool },
    Date,
    Categorical(Vec<String>),
    Ignore(String),
}

/// Drafts the schema's TOML from the header and per-column stats. `target` names the target
/// column when the user knows it; otherwise it is guessed from names and shapes.
pub fn draft(name: &str, columns: &[ColumnStats], target: Option<&str>) -> Result<String, String> {
    let rows = columns.first().map(|c| c.rows).unwrap_or(0);
    if rows == 0 {
        return Err("the table has a header but no rows: nothing to infer from".into());
    }
    let target = find_target(columns, target)?;
    let (positive, negative, dropped) = target_labels(target, rows)?;
    let y: Vec<Option<bool>> = target
        .cells
        .iter()
        .map(|c| {
            let c = normalise(c.as_deref()?);
            (c == positive || c == negative).then(|| c == positive)
        })
        .collect::<Vec<_>>();

    let id = columns.iter().find(|c| c.name != target.name && looks_like_id(c, rows)).map(|c| c.name.clone());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Drafted by `churn schema --infer` from {rows} rows: read it, correct it, then train with --schema."
    );
    let _ = writeln!(out, "name = {}", toml_str(name));
    if let Some(id) = &id {
        let _ = writeln!(out, "id = {}   # unique in every row", toml_str(id));
    } else {
        let _ = writeln!(out, "# no id column found (none unique in every row with an id-like name)");
    }
    let mut tokens: Vec<&str> = MISSING_TOKENS
        .iter()
        .copied()
        .filter(|t| columns.iter().any(|c| c.name != target.name && c.tokens.contains_key(*t)))
        .collect();
    tokens.sort();
    if !tokens.is_empty() {
        let _ = writeln!(out, "missing = [{}]   # cells that mean \"no value\" in this table", quoted(&tokens));
    }
    let mut fields = String::new();
    let mut ignored: Vec<(String, String)> = Vec::new();
    for c in columns {
        if c.name == target.name || Some(&c.name) == id.as_ref() {
            continue;
        }
        let mut kind = if looks_like_id(c, rows) {
            Kind::Ignore("another id: named like one and different in every row".into())
        } else {
            kind_of(c, rows)
        };
        if let Some(auc) = column_separation(c, &kind, &y) {
            if auc >= LEAKAGE_AUC {
                kind = Kind::Ignore(format!(
                    "leakage candidate: on its own it separates `{}` with ROC AUC {auc:.3}; keep it only if it is known before the customer leaves",
                    target.name
                ));
            }
        }
        match kind {
            Kind::Ignore(why) => ignored.push((c.name.clone(), why)),
            kind => fields.push_str(&field_toml(c, &kind)),
        }
    }
    if !ignored.is_empty() {
        let names: Vec<&str> = ignored.iter().map(|(n, _)| n.as_str()).collect();
        let _ = writeln!(out, "ignore = [{}]", quoted(&names));
        for (n, why) in &ignored {
            let _ = writeln!(out, "#   {n}: {why}");
        }
    }
    let _ = writeln!(
        out,
        "\n[target]   # {} of {rows} rows are \"{positive}\": the class to predict (the rarer one unless named like churn)\ncolumn = {}\npositive = {}\nnegative = {}",
        y.iter().filter(|v| **v == Some(true)).count(),
        toml_str(&target.name),
        toml_str(&positive),
        toml_str(&negative)
    );
    if !dropped.is_empty() {
        let counts: Vec<String> = dropped.iter().map(|(v, n)| format!("{n} \"{v}\"")).collect();
        let values: Vec<&str> = dropped.iter().map(|(v, _)| v.as_str()).collect();
        let _ = writeln!(
            out,
            "drop = [{}]   # rows left out of training, neither label: {}",
            quoted(&values),
            counts.join(", ")
        );
    }
    out.push_str(&fields);
    // The draft must be a schema churn accepts as written.
    Schema::from_toml(&out, "the drafted schema").map_err(|e| format!("internal: the draft does not parse: {e}"))?;
    Ok(out)
}

fn kind_of(c: &ColumnStats, rows: usize) -> Kind {
    let present = c.present();
    if present == 0 {
        return Kind::Ignore("empty: no value in any row".into());
    }
    if c.distinct() == Some(1) {
        return Kind::Ignore("constant: one value in every row".into());
    }
    if c.numbers == present {
        return Kind::Numeric { integer: c.integers == present };
    }
    if c.dates == present {
        return Kind::Date;
    }
    match c.distinct() {
        Some(d) if d <= MAX_LEVELS && d * 2 <= rows.max(2) => {
            let mut levels: Vec<String> = c.levels.keys().cloned().collect();
            levels.sort();
            Kind::Categorical(levels)
        }
        _ => Kind::Ignore("text with a different value in most rows (an id or free text)".into()),
    }
}

/// The target column: the one named, or the one guessed.
fn find_target<'a>(columns: &'a [ColumnStats], target: Option<&str>) -> Result<&'a ColumnStats, String> {
    match target {
        Some(t) => columns.iter().find(|c| c.name == t).ok_or_else(|| {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            format!("--target {t}: no such column (the table has: {})", names.join(", "))
        }),
        None => guess_target(columns).ok_or_else(|| {
            "could not guess the target column (two values, a name like churn, attrition, exited or target): give --target COLUMN".to_string()
        }),
    }
}

/// A field's entry in the draft, with a comment saying what was seen.
fn field_toml(c: &ColumnStats, kind: &Kind) -> String {
    let missing_here = c.blanks + c.tokens.values().sum::<usize>();
    let blank = if missing_here > 0 { "\nblank = \"missing\"" } else { "" };
    let missing_note = if missing_here > 0 { format!(", {missing_here} missing") } else { String::new() };
    match kind {
        Kind::Numeric { integer } => format!(
            "\n[[field]]   # {} {} to {}{missing_note}{}\nname = {}\nkind = \"numeric\"{}{}{blank}\n",
            if *integer { "whole numbers" } else { "numbers" },
            c.min,
            c.max,
            if c.grouped > 0 { format!(", {} written with ',' between thousands", c.grouped) } else { String::new() },
            toml_str(&c.name),
            if *integer { "\ninteger = true" } else { "" },
            if c.grouped > 0 { "\nthousands = \",\"" } else { "" },
        ),
        Kind::Date => format!(
            "\n[[field]]   # dates{missing_note}; a number of days (give `reference = \"YYYY-MM-DD\"` for days before it)\nname = {}\nkind = \"date\"{blank}\n",
            toml_str(&c.name)
        ),
        Kind::Categorical(levels) => format!(
            "\n[[field]]   # {} levels{missing_note}\nname = {}\nkind = \"categorical\"\nvalues = [{}]{blank}\n",
            levels.len(),
            toml_str(&c.name),
            quoted(&levels.iter().map(String::as_str).collect::<Vec<_>>())
        ),
        Kind::Ignore(_) => String::new(),
    }
}

/// How well the column alone ranks the target: numbers by their value, categories by their
/// level's target rate.
fn column_separation(c: &ColumnStats, kind: &Kind, y: &[Option<bool>]) -> Option<f64> {
    let pairs: Vec<(f64, bool)> = match kind {
        Kind::Numeric { .. } | Kind::Date => c.values.iter().zip(y).filter_map(|(v, y)| y.map(|y| (*v, y))).collect(),
        Kind::Categorical(_) => {
            let mut codes: HashMap<&str, usize> = HashMap::new();
            c.cells
                .iter()
                .zip(y)
                .filter_map(|(cell, y)| {
                    let next = codes.len();
                    let code = cell.as_deref().map(|t| *codes.entry(t).or_insert(next) as f64).unwrap_or(f64::NAN);
                    y.map(|y| (code, y))
                })
                .collect()
        }
        Kind::Ignore(_) => return None,
    };
    separation(&pairs, matches!(kind, Kind::Categorical(_)))
}

pub use super::separation::separation;

/// ROC AUC by ranks (ties share their rank).
pub fn roc_auc(scores: &[(f64, bool)]) -> Option<f64> {
    let pos = scores.iter().filter(|s| s.1).count();
    let neg = scores.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut s: Vec<(f64, bool)> = scores.to_vec();
    s.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < s.len() {
        let mut j = i;
        while j < s.len() && s[j].0 == s[i].0 {
            j += 1;
        }
        let mid = (i + j + 1) as f64 / 2.0;
        rank_sum += mid * s[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64))
}

/// Named like an id (`id`, `customer_id`, `customerID`, `CustomerId`, `CLIENTNUM`, `RowNumber`;
/// not `AmountPaid`) and different in every row.
fn looks_like_id(c: &ColumnStats, rows: usize) -> bool {
    let name = c.name.as_str();
    let lower = name.to_ascii_lowercase();
    let before_id = name.len().checked_sub(2).and_then(|i| name.get(..i)).and_then(|h| h.chars().last());
    let id_word = lower == "id"
        || (lower.ends_with("id")
            && (name.ends_with("ID") || name.ends_with("Id") || before_id.is_some_and(|b| !b.is_alphanumeric())));
    let named = id_word || lower.ends_with("num") || lower.ends_with("number");
    if !named || c.present() != rows {
        return false;
    }
    let mut seen = std::collections::HashSet::with_capacity(c.cells.len());
    c.cells.iter().all(|cell| cell.as_ref().is_some_and(|t| seen.insert(t.as_str())))
}

fn guess_target(columns: &[ColumnStats]) -> Option<&ColumnStats> {
    const NAMES: [&str; 8] = ["churn", "attrition", "exited", "churned", "target", "label", "left", "class"];
    let two_valued = |c: &&ColumnStats| c.distinct() == Some(2);
    let lower = |c: &ColumnStats| c.name.to_ascii_lowercase();
    NAMES
        .iter()
        .find_map(|n| columns.iter().filter(two_valued).find(|c| lower(c) == *n))
        .or_else(|| NAMES.iter().find_map(|n| columns.iter().filter(two_valued).find(|c| lower(c).contains(n))))
}

/// Positive label, negative label, and the dropped values with their counts.
type TargetLabels = (String, String, Vec<(String, usize)>);

/// The target's positive and negative labels and the values whose rows are dropped (with their
/// counts): two values as they are; more (or blanks) when one value is named like leaving and
/// one like staying, the rest dropped.
fn target_labels(target: &ColumnStats, rows: usize) -> Result<TargetLabels, String> {
    let mut levels: Vec<(String, usize)> = target.levels.iter().map(|(k, v)| (k.clone(), *v)).collect();
    levels.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let blanks = rows - target.present();
    if levels.len() == 2 && blanks == 0 {
        let names: Vec<String> = levels.into_iter().map(|(k, _)| k).collect();
        let (p, n) = positive_label(&names);
        return Ok((p, n, Vec::new()));
    }
    let find = |words: &[&str]| -> Vec<&String> { levels.iter().map(|(k, _)| k).filter(|k| says(k, words)).collect() };
    let (leaving, staying) = (find(LEAVING), find(STAYING));
    let counts: Vec<String> = levels.iter().map(|(k, n)| format!("\"{k}\" {n}")).collect();
    match (leaving.as_slice(), staying.as_slice(), target.distinct()) {
        ([p], [n], Some(_)) if p != n => {
            let mut dropped: Vec<(String, usize)> =
                levels.iter().filter(|(k, _)| k != *p && k != *n).cloned().collect();
            if blanks > 0 {
                dropped.push((String::new(), blanks));
            }
            Ok(((*p).clone(), (*n).clone(), dropped))
        }
        _ => Err(format!(
            "target `{}` holds {} values ({}){}: a draft takes two, or one named like leaving (churned, left, exited) and one like staying (stayed, active, retained) with the rest dropped; otherwise write its [target] by hand: positive, negative and drop = [...] for the rows to leave out",
            target.name,
            target.distinct().map(|d| d.to_string()).unwrap_or_else(|| "many".into()),
            counts.join(", "),
            if blanks > 0 { format!(" and {blanks} blank or missing cells") } else { String::new() }
        )),
    }
}

const LEAVING: &[&str] = &["attrited", "churn", "left", "exited", "closed", "cancel", "lost", "leaver"];
const STAYING: &[&str] = &["stay", "active", "retain", "current", "existing", "remain", "loyal", "renew"];

fn says(label: &str, words: &[&str]) -> bool {
    let l = label.to_ascii_lowercase();
    words.iter().any(|w| l.contains(w))
}

/// The positive label: a value that says "left" by its name, else "1"/"yes"/"true", else the
/// rarer value (`labels` is sorted rarest first).
fn positive_label(labels: &[String]) -> (String, String) {
    let says_left = |l: &str| says(l, LEAVING);
    let says_yes = |l: &str| ["1", "yes", "true", "y"].contains(&l.to_ascii_lowercase().as_str());
    let pick =
        labels.iter().position(|l| says_left(l)).or_else(|| labels.iter().position(|l| says_yes(l))).unwrap_or(0);
    (labels[pick].clone(), labels[1 - pick].clone())
}

/// A level as the stats keyed it (integers written as floats become integers).
fn normalise(cell: &str) -> String {
    whole_number_text(cell).unwrap_or_else(|| cell.to_string())
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn quoted(items: &[&str]) -> String {
    items.iter().map(|s| toml_str(s)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_separation_from_counts_equals_the_separation_from_ranks() {
        // Eight levels (as level codes) with different churn rates, and a numeric field with
        // ties and missing values: the count-based AUCs must be the rank-based ones.
        let mut state = 5u64;
        let mut uniform = move || {
            // A plain LCG: the schema layer takes no randomness from the crate.
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let rows: Vec<(f64, f64, bool)> = (0..4000)
            .map(|_| {
                let level = (uniform() * 8.0).floor();
                let y = uniform() < 0.1 + 0.08 * level;
                let v = if uniform() < 0.2 { f64::NAN } else { (uniform() * 5.0).round() + 2.0 * y as u8 as f64 };
                (level, v, y)
            })
            .collect();
        let levels: Vec<(f64, bool)> = rows.iter().map(|r| (r.0, r.2)).collect();
        let mut rate = HashMap::<u64, (f64, f64)>::new();
        for (l, y) in &levels {
            let e = rate.entry(l.to_bits()).or_default();
            e.0 += *y as u8 as f64;
            e.1 += 1.0;
        }
        let by_rate: Vec<(f64, bool)> =
            levels.iter().map(|(l, y)| (rate[&l.to_bits()].0 / rate[&l.to_bits()].1, *y)).collect();
        let expect = roc_auc(&by_rate).unwrap();
        assert!((separation(&levels, true).unwrap() - expect.max(1.0 - expect)).abs() < 1e-12);

        let numbers: Vec<(f64, bool)> = rows.iter().map(|r| (r.1, r.2)).collect();
        let present: Vec<(f64, bool)> = numbers.iter().filter(|p| !p.0.is_nan()).copied().collect();
        let flags: Vec<(f64, bool)> = numbers.iter().map(|p| (p.0.is_nan() as u8 as f64, p.1)).collect();
        let two = |a: f64| a.max(1.0 - a);
        let expect = two(roc_auc(&present).unwrap()).max(two(roc_auc(&flags).unwrap()));
        assert!((separation(&numbers, false).unwrap() - expect).abs() < 1e-12);
        assert!(expect > 0.55, "the test data separates: {expect}");
    }

    fn stats(header: &[&str], rows: &[&[&str]]) -> Vec<ColumnStats> {
        let mut cols: Vec<ColumnStats> = header.iter().map(|h| ColumnStats::new(h)).collect();
        for r in rows {
            for (c, v) in cols.iter_mut().zip(r.iter()) {
                c.push(v);
            }
        }
        cols
    }

    #[test]
    fn a_table_becomes_a_schema_churn_accepts() {
        let header = ["CustomerID", "Churn", "Minutes", "Plan", "Joined", "Note", "Code", "Spend"];
        let mut rows: Vec<Vec<String>> = Vec::new();
        for i in 0..200 {
            rows.push(vec![
                format!("C{i:04}"),
                if i % 4 == 0 { "Yes" } else { "No" }.into(),
                if i % 17 == 0 { "NA".into() } else { format!("{}", (i * 37) % 101) },
                ["basic", "plus", "max"][i % 3].into(),
                if i % 23 == 0 { "NaT".into() } else { format!("2019-0{}-1{}", 1 + i % 9, i % 10) },
                format!("free text number {i}"),
                format!("{}.0", 400 + i % 5),
                // Money as spreadsheets export it: "2,017" next to plain "950".
                if i % 3 == 0 { format!("{}", 900 + i % 50) } else { format!("{},{:03}", 1 + i % 9, i) },
            ]);
        }
        let refs: Vec<Vec<&str>> = rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
        let slices: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
        let toml = draft("t", &stats(&header, &slices), None).unwrap();
        let s = Schema::from_toml(&toml, "draft").unwrap();
        assert_eq!(s.id.as_deref(), Some("CustomerID"));
        assert_eq!((s.target.column.as_str(), s.target.positive.as_str()), ("Churn", "Yes"));
        assert_eq!(s.missing, vec!["NA".to_string(), "NaT".to_string()]);
        assert_eq!(s.ignore, vec!["Note".to_string()]);
        let kind = |n: &str| s.fields[s.field_index(n).unwrap()].kind.clone();
        assert!(matches!(kind("Minutes"), super::super::FieldKind::Numeric(n) if n.integer));
        assert!(matches!(kind("Joined"), super::super::FieldKind::Date(_)));
        assert_eq!(s.fields[s.field_index("Plan").unwrap()].levels(), ["basic", "max", "plus"]);
        let spend = &s.fields[s.field_index("Spend").unwrap()];
        assert!(matches!(&spend.kind, super::super::FieldKind::Numeric(n) if n.thousands == Some(',')), "{toml}");
        assert_eq!(spend.parse(crate::schema::Raw::Text("3,913")).unwrap(), 3913.0);
        // "400.0" is the whole number 400, numeric; the field parses the token as missing.
        assert!(s.fields[s.field_index("Minutes").unwrap()].parse(crate::schema::Raw::Text("NA")).unwrap().is_nan());
    }

    #[test]
    fn a_column_that_gives_the_answer_away_is_ignored_and_said_so() {
        let header = ["Exited", "Score", "Age"];
        let rows: Vec<[String; 3]> = (0..300)
            .map(|i| {
                let y = i % 3 == 0;
                [
                    (y as u8).to_string(),
                    format!("{}", if y { 0.9 } else { 0.1 } + (i % 7) as f64 / 100.0),
                    (20 + i % 50).to_string(),
                ]
            })
            .collect();
        let refs: Vec<Vec<&str>> = rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
        let slices: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
        let toml = draft("t", &stats(&header, &slices), None).unwrap();
        assert!(toml.contains("leakage candidate"), "{toml}");
        let s = Schema::from_toml(&toml, "draft").unwrap();
        assert_eq!(s.ignore, vec!["Score".to_string()]);
        assert_eq!(s.target.positive, "1");
        assert!(s.id.is_none());
    }

    #[test]
    fn ids_are_whole_words_and_unique_and_a_blank_closing_date_is_leakage() {
        let header = ["\u{feff}RowNumber", "CustomerId", "AmountPaid", "closed_on", "Exited"];
        let rows: Vec<[String; 5]> = (0..300)
            .map(|i| {
                let y = i % 4 == 0;
                [
                    i.to_string(),
                    (1000 + i).to_string(),
                    (i % 50).to_string(),
                    if y { format!("2020-01-{:02}", 1 + i % 28) } else { String::new() },
                    if y { "1.0" } else { "0.0" }.into(),
                ]
            })
            .collect();
        let refs: Vec<Vec<&str>> = rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
        let slices: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
        let toml = draft("t", &stats(&header, &slices), None).unwrap();
        let s = Schema::from_toml(&toml, "draft").unwrap();
        assert_eq!(s.id.as_deref(), Some("RowNumber"), "{toml}");
        assert_eq!(s.ignore, vec!["CustomerId".to_string(), "closed_on".to_string()], "{toml}");
        assert!(s.field_index("AmountPaid").is_some());
        assert_eq!(s.parse_label("1.0").unwrap(), 1);
        assert_eq!(s.parse_label("0").unwrap(), 0);
    }

    /// A churn reason filled in only for customers who left, in twenty levels too rare to rank
    /// by: its blanks alone give the target away, and the draft ignores it as leakage.
    #[test]
    fn a_categorical_blank_for_every_stayer_is_leakage_whatever_its_levels() {
        let header = ["tenure", "reason", "Churn"];
        let rows: Vec<[String; 3]> = (0..400)
            .map(|i| {
                let y = i % 4 == 0;
                [
                    (i % 70).to_string(),
                    if y { format!("reason {}", i % 20) } else { String::new() },
                    if y { "Yes" } else { "No" }.into(),
                ]
            })
            .collect();
        let refs: Vec<Vec<&str>> = rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
        let slices: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
        let toml = draft("t", &stats(&header, &slices), Some("Churn")).unwrap();
        let s = Schema::from_toml(&toml, "draft").unwrap();
        assert_eq!(s.ignore, vec!["reason".to_string()], "{toml}");
        assert!(toml.contains("leakage candidate"), "{toml}");
        // At training, the same screen on the same column (codes, NaN for the blanks).
        let pairs: Vec<(f64, bool)> =
            (0..400).map(|i| if i % 4 == 0 { ((i % 20) as f64, true) } else { (f64::NAN, false) }).collect();
        assert_eq!(separation(&pairs, true), Some(1.0));
    }

    /// A status of three values (churned, stayed, joined this quarter) and blanks: the draft
    /// names the positive and negative values and drops the rest, with their counts; the schema
    /// it writes leaves those rows out at training.
    #[test]
    fn a_target_of_three_values_keeps_two_and_drops_the_rest() {
        let header = ["tenure", "Customer Status"];
        let status = |i: usize| match i % 5 {
            0 => "Churned",
            1 => "Joined",
            4 if i % 50 == 4 => "",
            _ => "Stayed",
        };
        let rows: Vec<[String; 2]> = (0..400).map(|i| [(i % 70).to_string(), status(i).to_string()]).collect();
        let refs: Vec<Vec<&str>> = rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
        let slices: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
        let toml = draft("t", &stats(&header, &slices), Some("Customer Status")).unwrap();
        let s = Schema::from_toml(&toml, "draft").unwrap();
        assert_eq!((s.target.positive.as_str(), s.target.negative.as_str()), ("Churned", "Stayed"), "{toml}");
        assert_eq!(s.target.drop, vec!["Joined".to_string(), String::new()], "{toml}");
        assert!(toml.contains("80 \"Joined\"") && toml.contains("8 \"\""), "{toml}");
        assert!(s.is_dropped_label("Joined") && s.is_dropped_label(" ") && !s.is_dropped_label("Churned"));
        // Three values none of which says leaving: the message lists them and says what to write.
        let rows: Vec<[String; 2]> = (0..30).map(|i| [i.to_string(), ["a", "b", "c"][i % 3].to_string()]).collect();
        let refs: Vec<Vec<&str>> = rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
        let slices: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
        let e = draft("t", &stats(&header, &slices), Some("Customer Status")).unwrap_err();
        assert!(e.contains("\"a\" 10") && e.contains("drop = [...]"), "{e}");
    }

    #[test]
    fn a_target_that_is_not_there_is_named() {
        let cols = stats(&["a", "b"], &[&["1", "2"]]);
        let e = draft("t", &cols, Some("Churn")).unwrap_err();
        assert!(e.contains("--target Churn") && e.contains("a, b"), "{e}");
    }
}
