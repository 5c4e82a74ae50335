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

use super::findings::{Findings, Repeats};
use super::{Gate, MissingColumns, Problem};
use crate::schema::{FieldError, Raw, Schema};
use crate::table::{Format, Location, RawBatch, TableError, TableReader};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
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

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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

/// Counts warnings by (kind, column), keeping the first example, in the order first seen.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(from = "Vec<Warning>", into = "Vec<Warning>")]
pub struct WarningCounter {
    order: Vec<Warning>,
    seen: HashMap<(String, Option<String>), usize>,
}

impl From<Vec<Warning>> for WarningCounter {
    fn from(order: Vec<Warning>) -> WarningCounter {
        let seen = order.iter().enumerate().map(|(i, w)| ((w.kind.clone(), w.column.clone()), i)).collect();
        WarningCounter { order, seen }
    }
}

impl From<WarningCounter> for Vec<Warning> {
    fn from(w: WarningCounter) -> Vec<Warning> {
        w.order
    }
}

impl WarningCounter {
    pub fn add(&mut self, kind: &str, column: Option<&str>, example: impl FnOnce() -> String) {
        self.add_counted(kind, column, 1, example);
    }

    pub fn add_n(&mut self, kind: &str, column: Option<&str>, count: usize, example: String) {
        if count > 0 {
            self.add_counted(kind, column, count, || example);
        }
    }

    fn add_counted(&mut self, kind: &str, column: Option<&str>, count: usize, example: impl FnOnce() -> String) {
        let key = (kind.to_string(), column.map(str::to_string));
        match self.seen.get(&key) {
            Some(&i) => self.order[i].count += count,
            None => {
                self.seen.insert(key.clone(), self.order.len());
                self.order.push(Warning { kind: key.0, column: key.1, count, example: example() });
            }
        }
    }

    /// Adds another part's counts; a warning both have keeps this part's example.
    pub fn merge(&mut self, other: WarningCounter) {
        for w in other.order {
            let example = w.example;
            self.add_counted(&w.kind, w.column.as_deref(), w.count, || example);
        }
    }

    pub fn into_warnings(self) -> Vec<Warning> {
        self.order
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

/// Where the valid rows of a labelled table go as they are read: memory ([`Dataset`]) or a
/// file on disk (`Spilled`).
pub trait RowSink {
    /// One valid row: a value per schema field, its label, its id ("" without one).
    fn push(&mut self, values: &[f64], label: u8, id: &str) -> Result<(), DataError>;
}

/// What a read of a labelled table found besides its rows.
pub struct Scanned {
    pub source: Source,
    /// Counted warnings and the fields' separations, not yet turned into leakage warnings (a
    /// distributed job merges the workers' first).
    pub findings: Findings,
}

/// Reads a labelled table through the gate, handing every valid row to `sink`. Every refused
/// value is an error; the first ones are reported together so a file can be fixed in one go.
pub fn scan(path: &Path, schema: &Schema, sink: &mut dyn RowSink) -> Result<Scanned, DataError> {
    let gate = Gate::new(schema.clone());
    let reader = TableReader::open(path)?;
    let cols = gate.columns(reader.columns(), true).map_err(|columns| DataError::MissingColumns {
        path: path.to_path_buf(),
        schema: schema.name.clone(),
        columns,
    })?;
    let target = cols.target.expect("the gate requires the target column");
    let n_fields = schema.fields.len();
    let mut findings = Findings::new(schema);
    let mut repeats = Repeats::with_capacity(size_hint(path, n_fields), cols.id.is_some());
    let mut shown: Vec<Problem> = Vec::new();
    let mut total_errors = 0usize;
    let mut problems = Vec::new();
    let mut row_values = vec![0.0; n_fields];
    let spaced: Vec<&String> = reader
        .columns()
        .iter()
        .filter(|h| h.trim_start_matches('\u{feff}').trim() != h.trim_start_matches('\u{feff}'))
        .collect();
    if let Some(first) = spaced.first() {
        findings.warnings.add_n(
            "header name with spaces around it, matched trimmed",
            None,
            spaced.len(),
            format!("{first:?}"),
        );
    }
    let mut id = String::new();
    let reader = reader.read_ahead(BATCH_ROWS, |batch: &RawBatch| -> Result<(), DataError> {
        let cells = batch.cells();
        for r in 0..batch.len() {
            let loc = batch.location(r);
            problems.clear();
            let whole = cells.width(r).is_none_or(|w| w == cols.width);
            if whole {
                if let Some(value) = gate.dropped(cells.get(r, target)) {
                    findings.warnings.add(
                        "row left out: its target value is in the schema's `drop`",
                        Some(&schema.target.column),
                        || format!("{loc} {value:?}"),
                    );
                    continue;
                }
            }
            id.clear();
            let valid = gate.row(&cols, &cells, r, loc, &mut row_values, &mut id, &mut problems);
            let label = if whole {
                gate.label(cells.get(r, target))
                    .map_err(|e: FieldError| problems.push(Problem::new(&schema.target.column, Some(loc), e)))
                    .ok()
            } else {
                None
            };
            let (true, Some(label)) = (valid, label) else {
                total_errors += problems.len();
                let room = SHOWN_ERRORS.saturating_sub(shown.len());
                shown.extend(problems.drain(..).take(room));
                continue;
            };
            count_blanks(schema, &cells, &cols.fields, r, loc, &row_values, &mut findings.warnings);
            if total_errors == 0 {
                findings.row(&row_values, label);
                repeats.row(&row_values, &id, loc);
                sink.push(&row_values, label, &id)?;
            }
        }
        Ok(())
    })?;
    if total_errors > 0 {
        return Err(DataError::InvalidValues { path: path.to_path_buf(), errors: shown, total: total_errors });
    }
    if findings.rows == 0 {
        return Err(DataError::Empty { path: path.to_path_buf(), detail: "a header but no data rows".into() });
    }
    for c in &cols.ignored {
        findings.warnings.add_n("ignored column (not in the schema)", Some(c), 1, c.clone());
    }
    repeats.finish(path, schema.id.as_deref(), cols.id.is_some(), &mut findings.warnings)?;
    let format = match reader.format() {
        Format::Csv => "csv",
        Format::Parquet => "parquet",
    };
    let rows = findings.rows;
    let sha256 = reader.finish_hash();
    Ok(Scanned { source: Source { path: path.display().to_string(), sha256, rows, format: format.into() }, findings })
}

/// Rows the file probably holds (its size over a guess of a row's bytes), to size the searches
/// for repeats once instead of growing them.
fn size_hint(path: &Path, fields: usize) -> usize {
    let bytes = crate::table::table_bytes(path);
    ((bytes / (8 * fields.max(1) as u64).max(1)) as usize).min(1 << 24)
}

/// Counts the blanks and missing-value tokens of a valid row, by field.
fn count_blanks(
    schema: &Schema,
    cells: &crate::table::BatchCells<'_>,
    columns: &[usize],
    r: usize,
    loc: Location,
    values: &[f64],
    warnings: &mut WarningCounter,
) {
    for (k, field) in schema.fields.iter().enumerate() {
        let raw = cells.get(r, columns[k]);
        if !is_blank(raw, &schema.missing) {
            continue;
        }
        let v = values[k];
        // A declared token (`NA`, `?`) is named as such: "blank" would send the reader looking
        // for empty cells that are not there.
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

/// The rows of a table collected in memory.
struct Collect<'a> {
    ids: &'a mut Vec<String>,
    values: &'a mut Vec<f64>,
    labels: &'a mut Vec<u8>,
}

impl RowSink for Collect<'_> {
    fn push(&mut self, values: &[f64], label: u8, id: &str) -> Result<(), DataError> {
        self.values.extend_from_slice(values);
        self.labels.push(label);
        self.ids.push(id.to_string());
        Ok(())
    }
}

impl Dataset {
    /// Loads a labelled table into memory for training or evaluation (see [`scan`]).
    pub fn load(path: &Path, schema: &Schema) -> Result<Dataset, DataError> {
        let (mut data, findings) = Dataset::load_scanned(path, schema)?;
        data.warnings = findings.into_warnings(schema);
        Ok(data)
    }

    /// Loads a labelled table into memory with its findings not yet turned into warnings (a
    /// distributed job merges every worker's first).
    pub fn load_scanned(path: &Path, schema: &Schema) -> Result<(Dataset, Findings), DataError> {
        let (mut ids, mut values, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        let scanned = scan(path, schema, &mut Collect { ids: &mut ids, values: &mut values, labels: &mut labels })?;
        let data =
            Dataset { schema: schema.clone(), ids, values, labels, source: scanned.source, warnings: Vec::new() };
        Ok((data, scanned.findings))
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

#[cfg(test)]
mod tests {
    use super::*;

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
