//! Labelled tables for training and evaluation, loaded through the gate.
//!
//! What is an error and what is a counted warning (also in the README):
//! - errors (the load stops, the message names file, line or row, and column): a missing column,
//!   an empty file, a value its field refuses (unknown category, non-number, out of range, a blank
//!   where the schema requires a value), a label outside the target's two values, a line with the
//!   wrong number of fields, duplicate customer ids;
//! - counted warnings (the load goes on; the counts are printed and tracked): blanks the schema
//!   fills or marks missing (e.g. the 11 blank TotalCharges), columns the schema does not know
//!   (ignored; columns the schema lists in `ignore` are not reported), rows identical to an
//!   earlier row (but for the id, when there is one), and a field that alone separates the
//!   target almost perfectly (leakage?).

use super::{Gate, MissingColumns, Problem};
use crate::schema::{FieldError, Raw, Schema};
use crate::table::{Format, Location, RawBatch, TableError, TableReader};
use rustc_hash::{FxHashMap, FxHasher};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

/// Rows of validated customers, held column-agnostic as one `f64` per field: a number for a
/// numeric field, the level index for a categorical one, NaN for missing.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub schema: Schema,
    pub ids: Vec<String>,
    pub values: Vec<f64>,
    pub labels: Vec<u8>,
    pub source: Source,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub path: String,
    pub sha256: String,
    pub rows: usize,
    pub format: String,
}

/// A counted, non-fatal finding about the data.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Warning {
    pub kind: String,
    pub column: Option<String>,
    pub count: usize,
    pub example: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "{} x {} in column `{c}` (e.g. {})", self.count, self.kind, self.example),
            None => write!(f, "{} x {} (e.g. {})", self.count, self.kind, self.example),
        }
    }
}

/// Why a table could not be taken in.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("{}: {} (the schema `{schema}` needs {}; the file has: {})",
        path.display(), columns.describe(), if columns.missing.len() == 1 { "it" } else { "them" }, columns.found.join(", "))]
    MissingColumns { path: PathBuf, schema: String, columns: MissingColumns },
    #[error("{}: {}", path.display(), format_problems(errors, *total))]
    InvalidValues { path: PathBuf, errors: Vec<Problem>, total: usize },
    #[error("{}: duplicate customer id \"{id}\" in column `{column}` at {first} and {second}{}",
        path.display(), if *total > 1 { format!(" ({total} duplicate ids in all)") } else { String::new() })]
    DuplicateIds { path: PathBuf, column: String, id: String, first: Location, second: Location, total: usize },
    #[error("{} is empty: {detail}", path.display())]
    Empty { path: PathBuf, detail: String },
}

/// The first refused values shown in a message; the rest are counted.
pub const SHOWN_ERRORS: usize = 10;

fn format_problems(errors: &[Problem], total: usize) -> String {
    let mut s = if total == 1 { "1 invalid value:".to_string() } else { format!("{total} invalid values") };
    if total > 1 {
        s.push_str(if total > errors.len() { " (the first ones):" } else { ":" });
    }
    for e in errors.iter().take(SHOWN_ERRORS) {
        s.push_str("\n  ");
        s.push_str(&e.to_string());
    }
    s
}

/// Counts warnings by (kind, column), keeping the first example.
#[derive(Default)]
pub struct WarningCounter {
    order: Vec<(String, Option<String>)>,
    seen: HashMap<(String, Option<String>), (usize, String)>,
}

impl WarningCounter {
    pub fn add(&mut self, kind: &str, column: Option<&str>, example: impl FnOnce() -> String) {
        let key = (kind.to_string(), column.map(str::to_string));
        match self.seen.get_mut(&key) {
            Some((n, _)) => *n += 1,
            None => {
                self.order.push(key.clone());
                self.seen.insert(key, (1, example()));
            }
        }
    }

    pub fn add_n(&mut self, kind: &str, column: Option<&str>, count: usize, example: String) {
        if count == 0 {
            return;
        }
        let key = (kind.to_string(), column.map(str::to_string));
        self.order.push(key.clone());
        self.seen.insert(key, (count, example));
    }

    pub fn into_warnings(mut self) -> Vec<Warning> {
        self.order
            .into_iter()
            .map(|k| {
                let (count, example) = self.seen.remove(&k).unwrap_or_default();
                Warning { kind: k.0, column: k.1, count, example }
            })
            .collect()
    }
}

const BATCH_ROWS: usize = 8192;

/// An empty cell, or one of the schema's spellings of "no value" (`NA`, `NaT`).
fn is_blank(raw: Raw, missing: &[String]) -> bool {
    match raw {
        Raw::Null => true,
        Raw::Text(t) => {
            let t = t.trim();
            t.is_empty() || missing.iter().any(|m| m == t)
        }
        _ => false,
    }
}

impl Dataset {
    /// Loads a labelled table for training or evaluation. Every refused value is an error; the
    /// first ones are reported together so a file can be fixed in one go.
    pub fn load(path: &Path, schema: &Schema) -> Result<Dataset, DataError> {
        let gate = Gate::new(schema.clone());
        let mut reader = TableReader::open(path)?;
        let cols = gate.columns(reader.columns(), true).map_err(|columns| DataError::MissingColumns {
            path: path.to_path_buf(),
            schema: schema.name.clone(),
            columns,
        })?;
        let target = cols.target.expect("the gate requires the target column");
        let n_fields = schema.fields.len();
        let (mut ids, mut values, mut labels, mut locations) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut warnings = WarningCounter::default();
        let mut shown: Vec<Problem> = Vec::new();
        let mut total_errors = 0usize;
        let mut problems = Vec::new();
        let mut row_values = vec![0.0; n_fields];
        let mut batch = RawBatch::new_csv();
        let spaced: Vec<&String> = reader
            .columns()
            .iter()
            .filter(|h| h.trim_start_matches('\u{feff}').trim() != h.trim_start_matches('\u{feff}'))
            .collect();
        if let Some(first) = spaced.first() {
            warnings.add_n(
                "header name with spaces around it, matched trimmed",
                None,
                spaced.len(),
                format!("{first:?}"),
            );
        }
        while reader.read_batch(BATCH_ROWS, &mut batch)? {
            let cells = batch.cells();
            for r in 0..batch.len() {
                let loc = batch.location(r);
                problems.clear();
                if cells.width(r).is_none_or(|w| w == cols.width) {
                    if let Some(value) = gate.dropped(cells.get(r, target)) {
                        warnings.add(
                            "row left out: its target value is in the schema's `drop`",
                            Some(&schema.target.column),
                            || format!("{loc} {value:?}"),
                        );
                        continue;
                    }
                }
                let mut id = String::new();
                let valid = gate.row(&cols, &cells, r, loc, &mut row_values, &mut id, &mut problems);
                let label = if cells.width(r).is_none_or(|w| w == cols.width) {
                    gate.label(cells.get(r, target))
                        .map_err(|e: FieldError| problems.push(Problem::new(&schema.target.column, Some(loc), e)))
                        .ok()
                } else {
                    None
                };
                if !valid || label.is_none() {
                    total_errors += problems.len();
                    let room = SHOWN_ERRORS.saturating_sub(shown.len());
                    shown.extend(problems.drain(..).take(room));
                    continue;
                }
                for (k, field) in schema.fields.iter().enumerate() {
                    let raw = cells.get(r, cols.fields[k]);
                    if is_blank(raw, &schema.missing) {
                        let v = row_values[k];
                        // A declared token (`NA`, `?`) is named as such: "blank" would send the
                        // reader looking for empty cells that are not there.
                        let token = match raw {
                            Raw::Text(t) if !t.trim().is_empty() => Some(t.trim()),
                            _ => None,
                        };
                        let kind = match (token.is_some(), v.is_nan()) {
                            (false, true) => "blank value read as missing",
                            (false, false) => "blank value filled",
                            (true, true) => "missing-value token read as missing",
                            (true, false) => "missing-value token filled",
                        };
                        warnings.add(kind, Some(&field.name), || {
                            let shown = token.map(|t| format!(" {t:?}")).unwrap_or_default();
                            format!("{loc}{shown} -> {}", if v.is_nan() { "missing".into() } else { v.to_string() })
                        });
                    }
                }
                values.extend_from_slice(&row_values);
                labels.push(label.expect("checked above"));
                ids.push(id);
                locations.push(loc);
            }
        }
        if total_errors > 0 {
            return Err(DataError::InvalidValues { path: path.to_path_buf(), errors: shown, total: total_errors });
        }
        if labels.is_empty() {
            return Err(DataError::Empty { path: path.to_path_buf(), detail: "a header but no data rows".into() });
        }
        if let (Some(id_col), Some(_)) = (&schema.id, cols.id) {
            check_unique_ids(path, id_col, &ids, &locations)?;
        }
        for c in &cols.ignored {
            warnings.add_n("ignored column (not in the schema)", Some(c), 1, c.clone());
        }
        count_duplicate_rows(&values, n_fields, &locations, cols.id.is_some(), &mut warnings);
        flag_leakage(schema, &values, &labels, &mut warnings);
        let rows = labels.len();
        let format = match Format::of(path)? {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        };
        let sha256 = reader.finish_hash();
        Ok(Dataset {
            schema: schema.clone(),
            ids,
            values,
            labels,
            source: Source { path: path.display().to_string(), sha256, rows, format: format.into() },
            warnings: warnings.into_warnings(),
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn n_fields(&self) -> usize {
        self.schema.fields.len()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        let d = self.n_fields();
        &self.values[i * d..(i + 1) * d]
    }

    pub fn positive_rate(&self) -> f64 {
        self.labels.iter().map(|&l| l as f64).sum::<f64>() / self.len().max(1) as f64
    }

    /// A new dataset of the given rows (for splits and folds).
    pub fn subset(&self, rows: &[usize]) -> Dataset {
        let d = self.n_fields();
        let mut values = Vec::with_capacity(rows.len() * d);
        for &r in rows {
            values.extend_from_slice(self.row(r));
        }
        Dataset {
            schema: self.schema.clone(),
            ids: rows.iter().map(|&r| self.ids[r].clone()).collect(),
            values,
            labels: rows.iter().map(|&r| self.labels[r]).collect(),
            source: self.source.clone(),
            warnings: Vec::new(),
        }
    }
}

fn check_unique_ids(path: &Path, column: &str, ids: &[String], locations: &[Location]) -> Result<(), DataError> {
    let mut seen: FxHashMap<&str, usize> = FxHashMap::with_capacity_and_hasher(ids.len(), Default::default());
    let mut first_dup: Option<(usize, usize)> = None;
    let mut total = 0;
    for (i, id) in ids.iter().enumerate() {
        if id.is_empty() {
            continue;
        }
        if let Some(&j) = seen.get(id.as_str()) {
            total += 1;
            first_dup.get_or_insert((j, i));
        } else {
            seen.insert(id, i);
        }
    }
    match first_dup {
        None => Ok(()),
        Some((a, b)) => Err(DataError::DuplicateIds {
            path: path.to_path_buf(),
            column: column.to_string(),
            id: ids[a].clone(),
            first: locations[a],
            second: locations[b],
            total,
        }),
    }
}

fn count_duplicate_rows(values: &[f64], d: usize, locations: &[Location], has_ids: bool, w: &mut WarningCounter) {
    // Rows are keyed by a 64-bit hash of their values (no key allocated per row); a row whose
    // hash was seen is compared value by value with every earlier row of that hash, so a
    // collision never counts as a duplicate.
    let row = |i: usize| &values[i * d..(i + 1) * d];
    let same = |a: usize, b: usize| row(a).iter().zip(row(b)).all(|(x, y)| x.to_bits() == y.to_bits());
    let n = values.len().checked_div(d).unwrap_or(0);
    let mut first: FxHashMap<u64, u32> = FxHashMap::with_capacity_and_hasher(n, Default::default());
    // Later rows that share a hash with a different earlier row (almost never any).
    let mut others: FxHashMap<u64, Vec<u32>> = FxHashMap::default();
    let mut count = 0;
    let mut example = String::new();
    for i in 0..n {
        let mut h = FxHasher::default();
        row(i).iter().for_each(|v| h.write_u64(v.to_bits()));
        let key = h.finish();
        let earlier = match first.get(&key) {
            None => {
                first.insert(key, i as u32);
                continue;
            }
            Some(&j) if same(j as usize, i) => Some(j as usize),
            Some(_) => {
                let chain = others.entry(key).or_default();
                let hit = chain.iter().map(|&j| j as usize).find(|&j| same(j, i));
                if hit.is_none() {
                    chain.push(i as u32);
                }
                hit
            }
        };
        if let Some(j) = earlier {
            if count == 0 {
                example = format!("{} repeats {}", locations[i], locations[j]);
            }
            count += 1;
        }
    }
    let kind =
        if has_ids { "row identical to an earlier one but for the id" } else { "row identical to an earlier one" };
    w.add_n(kind, None, count, example);
}

/// A field that ranks the target almost perfectly on its own is almost surely recorded after the
/// customer left (a closing date, a churn-model score): a model that leans on it fails in
/// service. It is loud, not fatal: a person decides (`ignore` in the schema).
fn flag_leakage(schema: &Schema, values: &[f64], labels: &[u8], warnings: &mut WarningCounter) {
    let d = schema.fields.len();
    // One field per job: each ranks a million values on its own.
    let separations = crate::parallel::map(
        schema.fields.iter().enumerate().collect(),
        crate::parallel::chosen_threads(),
        |(k, field)| {
            let pairs: Vec<(f64, bool)> =
                values.iter().skip(k).step_by(d).zip(labels).map(|(v, y)| (*v, *y == 1)).collect();
            crate::schema::infer::separation(&pairs, field.is_categorical())
        },
    );
    for (field, auc) in schema.fields.iter().zip(separations) {
        if let Some(auc) = auc {
            if auc >= crate::schema::infer::LEAKAGE_AUC {
                warnings.add_n(
                    "LEAKAGE? the field alone separates the target (add it to `ignore` in the schema unless it is known before the customer leaves)",
                    Some(&field.name),
                    labels.len(),
                    format!("ROC AUC {auc:.3} on its own"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_rows_are_counted_with_the_first_repeat_as_example() {
        // Rows a b a c b a (two fields; NaN equals NaN, 0.0 and -0.0 differ as stored).
        let (a, b, c) = ([1.0, f64::NAN], [2.0, 0.0], [2.0, -0.0]);
        let values: Vec<f64> = [a, b, a, c, b, a].concat();
        let locations: Vec<Location> = (2..8).map(Location::Line).collect();
        let mut w = WarningCounter::default();
        count_duplicate_rows(&values, 2, &locations, false, &mut w);
        let warnings = w.into_warnings();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].kind, "row identical to an earlier one");
        assert_eq!(warnings[0].count, 3);
        assert_eq!(warnings[0].example, "line 4 repeats line 2");

        let mut w = WarningCounter::default();
        count_duplicate_rows(&[a, b, c].concat(), 2, &locations, true, &mut w);
        assert!(w.into_warnings().is_empty(), "no repeats, no warning");
    }

    #[test]
    fn a_missing_value_token_is_named_apart_from_blank_cells() {
        let schema = Schema::from_toml(
            "name = \"t\"\nmissing = [\"?\"]\n[target]\ncolumn = \"y\"\npositive = \"1\"\nnegative = \"0\"\n\
             [[field]]\nname = \"a\"\nkind = \"numeric\"\nblank = \"missing\"\n",
            "test",
        )
        .unwrap();
        let dir = std::env::temp_dir().join(format!("churn-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.csv");
        std::fs::write(&path, "a,y\n1,0\n?,1\n,0\n?,1\n5,0\n").unwrap();
        let data = Dataset::load(&path, &schema).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let find = |kind: &str| data.warnings.iter().find(|w| w.kind == kind).map(|w| (w.count, w.example.clone()));
        assert_eq!(find("missing-value token read as missing"), Some((2, "line 3 \"?\" -> missing".into())));
        assert_eq!(find("blank value read as missing"), Some((1, "line 4 -> missing".into())));
    }
}
