//! Customer tables on disk: CSV (the IBM file exactly as published) and Parquet, in and out.
//!
//! What is an error and what is a counted warning (also in the README):
//! - errors (the load stops, the message names file, line or row, and column): a missing column,
//!   an empty file, a value its field refuses (unknown category, non-number, out of range, a blank
//!   where the schema requires a value), a label outside the target's two values, duplicate
//!   customer ids, a malformed CSV line (wrong number of fields).
//! - counted warnings (the load goes on; the counts are printed and tracked): blanks the schema
//!   fills or marks missing (e.g. the 11 blank TotalCharges), columns the schema does not know
//!   (ignored), and rows identical to another row but for the id.

mod reader;
pub mod writer;

pub use reader::{hex, sha256_file, BatchCells, Format, Location, RawBatch, TableReader};

use crate::schema::{FieldError, Raw, Schema};
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

/// One refused value.
#[derive(Debug, Clone, Serialize)]
pub struct RowError {
    pub location: String,
    pub line: u64,
    pub column: String,
    #[serde(flatten)]
    pub error: FieldError,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, column `{}`: {}", self.location, self.column, self.error.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} is not a table churn reads: use a .csv or .parquet file", path.display())]
    UnsupportedFormat { path: PathBuf },
    #[error("{} is empty: {detail}", path.display())]
    Empty { path: PathBuf, detail: String },
    #[error("{}: missing column{} {} (the schema `{schema}` needs them; the file has: {})",
        path.display(), if missing.len() > 1 { "s" } else { "" }, quoted(missing), found.join(", "))]
    MissingColumns { path: PathBuf, schema: String, missing: Vec<String>, found: Vec<String> },
    #[error("{}: {}", path.display(), format_row_errors(errors, *total))]
    InvalidValues { path: PathBuf, errors: Vec<RowError>, total: usize },
    #[error("{}: duplicate customer id \"{id}\" in column `{column}` at {first} and {second}{}",
        path.display(), if *total > 1 { format!(" ({total} duplicate ids in all)") } else { String::new() })]
    DuplicateIds { path: PathBuf, column: String, id: String, first: Location, second: Location, total: usize },
    #[error("{}: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
    #[error("{}: cannot read Parquet: {message}", path.display())]
    Parquet { path: PathBuf, message: String },
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

const SHOWN_ERRORS: usize = 10;

fn format_row_errors(errors: &[RowError], total: usize) -> String {
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

impl DataError {
    fn from_csv(path: &Path, e: csv::Error) -> DataError {
        let line = e.position().map(|p| p.line());
        match e.into_kind() {
            csv::ErrorKind::Io(source) => DataError::Io { path: path.to_path_buf(), source },
            csv::ErrorKind::UnequalLengths { expected_len, len, pos } => DataError::Malformed {
                path: path.to_path_buf(),
                message: format!(
                    "line {}: {len} fields where the header has {expected_len}",
                    pos.map(|p| p.line()).or(line).unwrap_or(0)
                ),
            },
            csv::ErrorKind::Utf8 { pos, err } => DataError::Malformed {
                path: path.to_path_buf(),
                message: format!(
                    "line {}: field {} is not valid UTF-8",
                    pos.map(|p| p.line()).or(line).unwrap_or(0),
                    err.field() + 1
                ),
            },
            other => DataError::Malformed { path: path.to_path_buf(), message: format!("{other:?}") },
        }
    }
}

/// Which file column feeds each schema field, the id and the target.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    pub fields: Vec<usize>,
    pub id: Option<usize>,
    pub target: Option<usize>,
    pub ignored: Vec<String>,
}

impl ColumnMap {
    /// Maps columns by name. Fields are required; the target is required when `need_target`.
    pub fn new(schema: &Schema, path: &Path, columns: &[String], need_target: bool) -> Result<ColumnMap, DataError> {
        let index: HashMap<&str, usize> = columns.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let mut missing = Vec::new();
        let mut fields = Vec::with_capacity(schema.fields.len());
        for f in &schema.fields {
            match index.get(f.name.as_str()) {
                Some(&i) => fields.push(i),
                None => missing.push(f.name.clone()),
            }
        }
        let target = index.get(schema.target.column.as_str()).copied();
        if need_target && target.is_none() {
            missing.push(schema.target.column.clone());
        }
        if !missing.is_empty() {
            return Err(DataError::MissingColumns {
                path: path.to_path_buf(),
                schema: schema.name.clone(),
                missing,
                found: columns.to_vec(),
            });
        }
        let id = schema.id.as_deref().and_then(|c| index.get(c).copied());
        let known: Vec<usize> = fields.iter().copied().chain(id).chain(target).collect();
        let ignored = columns.iter().enumerate().filter(|(i, _)| !known.contains(i)).map(|(_, c)| c.clone()).collect();
        Ok(ColumnMap { fields, id, target, ignored })
    }
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

/// Validates rows of one file against a schema.
pub struct RowCheck<'a> {
    pub schema: &'a Schema,
    pub map: &'a ColumnMap,
}

impl RowCheck<'_> {
    /// Validates one row's fields into `out`, pushing refused values to `errors`. Blank cells
    /// the schema fills are counted in `warnings`.
    pub fn validate(
        &self,
        cells: &reader::BatchCells<'_>,
        row: usize,
        location: Location,
        out: &mut [f64],
        warnings: &mut WarningCounter,
        errors: &mut Vec<(String, FieldError)>,
    ) {
        let (schema, map) = (self.schema, self.map);
        for (k, field) in schema.fields.iter().enumerate() {
            let raw = cells.get(row, map.fields[k]);
            match field.parse(raw) {
                Ok(v) => {
                    out[k] = v;
                    let blank = match raw {
                        Raw::Null => true,
                        Raw::Text(t) => t.trim().is_empty(),
                        _ => false,
                    };
                    if blank {
                        let filled = if v.is_nan() { "blank value read as missing" } else { "blank value filled" };
                        warnings.add(filled, Some(&field.name), || {
                            format!("{location} -> {}", if v.is_nan() { "missing".into() } else { v.to_string() })
                        });
                    }
                }
                Err(e) => errors.push((field.name.clone(), e)),
            }
        }
    }
}

const BATCH_ROWS: usize = 8192;

impl Dataset {
    /// Loads a labelled table for training or evaluation. Every refused value is an error; the
    /// first ones are reported together so a file can be fixed in one go.
    pub fn load(path: &Path, schema: &Schema) -> Result<Dataset, DataError> {
        let mut reader = TableReader::open(path)?;
        let map = ColumnMap::new(schema, path, reader.columns(), true)?;
        let n_fields = schema.fields.len();
        let mut ids = Vec::new();
        let mut values = Vec::new();
        let mut labels = Vec::new();
        let mut locations = Vec::new();
        let mut warnings = WarningCounter::default();
        let mut errors: Vec<RowError> = Vec::new();
        let mut total_errors = 0usize;
        let mut row_errors = Vec::new();
        let mut row_values = vec![0.0; n_fields];
        let mut batch = RawBatch::new_csv();
        let check = RowCheck { schema, map: &map };
        while reader.read_batch(BATCH_ROWS, &mut batch)? {
            let cells = batch.cells();
            for r in 0..batch.len() {
                let loc = batch.location(r);
                row_errors.clear();
                check.validate(&cells, r, loc, &mut row_values, &mut warnings, &mut row_errors);
                let target = map.target.expect("training tables have a target column");
                let label = match cells.get(r, target) {
                    Raw::Text(t) => schema.parse_label(t),
                    Raw::Integer(i) => schema.parse_label(&i.to_string()),
                    Raw::Bool(b) => schema.parse_label(if b { "true" } else { "false" }),
                    Raw::Number(v) => schema.parse_label(&v.to_string()),
                    Raw::Null | Raw::Composite => schema.parse_label(""),
                };
                match label {
                    Ok(l) => labels.push(l),
                    Err(e) => row_errors.push((schema.target.column.clone(), e)),
                }
                if !row_errors.is_empty() {
                    total_errors += row_errors.len();
                    for (column, error) in row_errors.drain(..) {
                        if errors.len() < SHOWN_ERRORS {
                            errors.push(RowError { location: loc.to_string(), line: loc.number(), column, error });
                        }
                    }
                    continue;
                }
                values.extend_from_slice(&row_values);
                let id = match map.id {
                    Some(c) => match cells.get(r, c) {
                        Raw::Text(t) => t.trim().to_string(),
                        Raw::Integer(i) => i.to_string(),
                        Raw::Number(v) => v.to_string(),
                        _ => String::new(),
                    },
                    None => String::new(),
                };
                ids.push(id);
                locations.push(loc);
            }
        }
        if total_errors > 0 {
            return Err(DataError::InvalidValues { path: path.to_path_buf(), errors, total: total_errors });
        }
        if labels.is_empty() {
            return Err(DataError::Empty { path: path.to_path_buf(), detail: "a header but no data rows".into() });
        }
        if let Some(id_col) = &schema.id {
            if map.id.is_some() {
                check_unique_ids(path, id_col, &ids, &locations)?;
            }
        }
        for c in &map.ignored {
            warnings.add_n("ignored column (not in the schema)", Some(c), 1, c.clone());
        }
        count_duplicate_rows(&values, n_fields, &locations, &mut warnings);
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
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
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

fn count_duplicate_rows(values: &[f64], d: usize, locations: &[Location], warnings: &mut WarningCounter) {
    let mut seen: HashMap<Vec<u64>, usize> = HashMap::new();
    let mut count = 0;
    let mut example = String::new();
    for (i, row) in values.chunks(d).enumerate() {
        let key: Vec<u64> = row.iter().map(|v| v.to_bits()).collect();
        if let Some(&j) = seen.get(&key) {
            if count == 0 {
                example = format!("{} repeats {}", locations[i], locations[j]);
            }
            count += 1;
        } else {
            seen.insert(key, i);
        }
    }
    warnings.add_n("row identical to an earlier one but for the id", None, count, example);
}
