//! MLflow's scoring shapes (`/invocations`) through the gate: JSON with exactly one of
//! `dataframe_split`, `dataframe_records`, `instances`, `inputs` (plus an optional, ignored
//! `params`), or CSV text. Columns are matched by name and, as MLflow does, columns the model
//! does not use are ignored. Rows may carry the raw customer fields (churn's pipeline encodes
//! them) or the model's own input columns; the first row decides which.

use super::{Gate, Key, Problem, Row, Unknown};
use crate::schema::Raw;
use crate::table::{Location, RawBatch, TableReader};
use serde_json::{Map, Value};

const KEYS: [&str; 4] = ["dataframe_split", "dataframe_records", "instances", "inputs"];

/// Which inputs the rows carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    /// Raw customer fields, to be encoded by churn's pipeline.
    Customers,
    /// The model's own input columns.
    ModelColumns,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InvocationError {
    /// The request is not one of MLflow's shapes.
    Shape(String),
    TooMany {
        rows: usize,
        max: usize,
    },
    Invalid(Vec<Problem>),
}

fn shape(message: String) -> InvocationError {
    InvocationError::Shape(message)
}

/// A request's rows, before validation: records (column -> value).
pub enum Records {
    Json(Vec<Map<String, Value>>),
    Csv(bytes::Bytes),
}

/// Any of MLflow's JSON shapes as a list of records. `columns_hint` names the values of rows
/// given as lists without column names (the model's input columns, as MLflow assumes).
pub fn json_records(v: Value, columns_hint: &[String]) -> Result<Vec<Map<String, Value>>, InvocationError> {
    let Value::Object(mut top) = v else {
        return Err(shape("The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}".into()));
    };
    top.remove("params");
    let present: Vec<&str> = KEYS.iter().copied().filter(|k| top.contains_key(*k)).collect();
    if present.len() != 1 || top.len() != 1 {
        return Err(shape(format!(
            "The input must be a JSON dictionary with exactly one of the input fields {{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}}; found: {}",
            top.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let key = present[0];
    let body = top.remove(key).expect("checked above");
    let positional = |rows: Vec<Value>, columns: &[String]| -> Result<Vec<Map<String, Value>>, InvocationError> {
        rows.into_iter()
            .enumerate()
            .map(|(i, row)| match row {
                Value::Array(cells) if cells.len() == columns.len() => Ok(columns.iter().cloned().zip(cells).collect()),
                Value::Array(cells) => {
                    Err(shape(format!("row {i} has {} values for {} columns", cells.len(), columns.len())))
                }
                Value::Object(m) => Ok(m),
                other => Err(shape(format!("row {i}: expected a list or an object, found {}", kind_of(&other)))),
            })
            .collect()
    };
    match (key, body) {
        ("dataframe_split", Value::Object(mut split)) => {
            let columns: Vec<String> = match split.remove("columns") {
                Some(Value::Array(cs)) => cs
                    .into_iter()
                    .map(|c| {
                        c.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| shape("dataframe_split.columns must be strings".into()))
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(shape(
                        "dataframe_split needs `columns` (a list of column names) and `data` (a list of rows)".into(),
                    ))
                }
            };
            match split.remove("data") {
                Some(Value::Array(rows)) => positional(rows, &columns),
                _ => Err(shape("dataframe_split needs `data`: a list of rows".into())),
            }
        }
        ("dataframe_records" | "instances" | "inputs", Value::Array(rows)) => positional(rows, columns_hint),
        ("inputs", Value::Object(cols)) => {
            let n = cols.values().map(|v| v.as_array().map(Vec::len).unwrap_or(1)).max().unwrap_or(0);
            let mut out = vec![Map::new(); n];
            for (name, v) in cols {
                match v {
                    Value::Array(cells) if cells.len() == n => {
                        for (row, cell) in out.iter_mut().zip(cells) {
                            row.insert(name.clone(), cell);
                        }
                    }
                    Value::Array(cells) => {
                        return Err(shape(format!(
                            "inputs.{name} has {} values where other columns have {n}",
                            cells.len()
                        )))
                    }
                    scalar => {
                        for row in out.iter_mut() {
                            row.insert(name.clone(), scalar.clone());
                        }
                    }
                }
            }
            Ok(out)
        }
        (k, other) => Err(shape(format!(
            "`{k}` must be {}, found {}",
            if k == "dataframe_split" { "an object" } else { "a list" },
            kind_of(&other)
        ))),
    }
}

pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[inline]
pub fn raw_of(v: &Value) -> Raw<'_> {
    match v {
        Value::String(s) => Raw::Text(s),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Raw::Integer(i),
            None => Raw::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Bool(b) => Raw::Bool(*b),
        Value::Null => Raw::Null,
        Value::Array(_) | Value::Object(_) => Raw::Composite,
    }
}

/// Validates the records of one request. `customers` is the gate of churn's schema (absent for a
/// model without it), `columns` the gate of the model's own input columns.
pub fn rows(
    customers: Option<&Gate>,
    columns: &Gate,
    records: Records,
    max_rows: usize,
) -> Result<(Carried, Vec<Row>), InvocationError> {
    // Every record as (key, raw) pairs, CSV through the same reader as files and bodies.
    let mut table: Vec<Vec<(String, String)>> = Vec::new();
    let json = match records {
        Records::Json(r) => r,
        Records::Csv(bytes) => {
            let mut reader = TableReader::csv_bytes(bytes, "body.csv")
                .map_err(|e| shape(format!("invalid CSV: {e}").replace("body.csv: ", "")))?;
            let header: Vec<String> =
                reader.columns().iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_string()).collect();
            let mut batch = RawBatch::new_csv();
            while reader
                .read_batch(1024, &mut batch)
                .map_err(|e| shape(format!("invalid CSV: {e}").replace("body.csv: ", "")))?
            {
                let cells = batch.cells();
                for r in 0..batch.len() {
                    let row = header
                        .iter()
                        .enumerate()
                        .map(|(c, h)| {
                            let text = match cells.get(r, c) {
                                Raw::Text(t) => t.to_string(),
                                _ => String::new(),
                            };
                            (h.clone(), text)
                        })
                        .collect();
                    table.push(row);
                }
            }
            Vec::new()
        }
    };
    let n = json.len() + table.len();
    if n == 0 {
        return Err(shape("the input holds no rows".into()));
    }
    if n > max_rows {
        return Err(InvocationError::TooMany { rows: n, max: max_rows });
    }
    let first_keys: Vec<&str> = match (json.first(), table.first()) {
        (Some(r), _) => r.keys().map(String::as_str).collect(),
        (None, Some(r)) => r.iter().map(|(k, _)| k.as_str()).collect(),
        (None, None) => Vec::new(),
    };
    let has_all_columns = columns.names().iter().all(|n| first_keys.contains(&n.as_str()));
    let (gate, carried) = match customers {
        Some(g) if !has_all_columns => (g, Carried::Customers),
        _ => (columns, Carried::ModelColumns),
    };
    let mut out = Vec::with_capacity(n);
    let mut problems = Vec::new();
    let mut take = |row: super::KeyedRow| match row.finish() {
        Ok(r) => out.push(r),
        Err(p) => problems.extend(p),
    };
    for (i, record) in json.iter().enumerate() {
        let mut row = gate.keyed(Some(Location::Index(i as u64)), Unknown::Ignore);
        for (k, v) in record {
            let role = row.key(k);
            if role != Key::Unknown {
                row.put(k, role, raw_of(v));
            }
        }
        take(row);
    }
    for (i, record) in table.iter().enumerate() {
        let mut row = gate.keyed(Some(Location::Index(i as u64)), Unknown::Ignore);
        for (k, v) in record {
            let role = row.key(k);
            if role != Key::Unknown {
                row.put(k, role, Raw::Text(v));
            }
        }
        take(row);
    }
    if !problems.is_empty() {
        return Err(InvocationError::Invalid(problems));
    }
    Ok((carried, out))
}
