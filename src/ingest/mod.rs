//! The one gate every row passes on its way in: file rows (CSV, Parquet), request bodies (a JSON
//! customer or an array of them, CSV text) and each MLflow `/invocations` shape.
//!
//! One rule set, in one place: a source's columns are matched to the schema once (names trimmed,
//! a byte-order mark dropped, a close miss suggested), each value is parsed by its field
//! ([`crate::schema::Field::parse`]: trimming, blanks, missing-value tokens, bounds, levels), the
//! id comes from the schema's id column and nowhere else, and a row comes out validated,
//! [`Row`] `{id, values, location}`, or as [`Problem`]s that name the field and the location in
//! the same words whatever the source. Sources differ only in how cells are addressed: by column
//! (files, CSV text, `dataframe_split`) through [`Gate::row`], or by key (JSON objects, MLflow
//! records) through [`KeyedRow`].
//!
//! A model without churn's schema (logged by Python) gets one derived from its own columns
//! ([`Schema::for_columns`]), and passes the same gate.

pub mod body;
mod dataset;
pub mod findings;
pub mod mlflow;
mod rows;

pub use crate::table::Location;
pub use dataset::{scan, DataError, Dataset, RowSink, Scanned, Source, Warning, WarningCounter};
pub use rows::{ranges, LabelledRows, Spilled, READ_ROWS};

use crate::schema::{value_preview, FieldError, FieldErrorCode, Raw, Schema};
use crate::table::BatchCells;

/// Longest customer id echoed back; a longer one is refused rather than cut.
pub const MAX_ID_BYTES: usize = 256;

/// What a column or key the schema does not know means for a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Tables carry other columns (ignored, and counted when training); MLflow ignores them too.
    Ignore,
    /// A JSON customer sent to `/predict` names exactly the model's fields.
    Refuse,
}

/// A validated row: one value per schema field (a number, a level's index, NaN for missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: Option<String>,
    pub values: Vec<f64>,
    pub location: Option<Location>,
}

/// A refused value, or a refused row (`field` empty), where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub field: String,
    pub location: Option<Location>,
    pub error: FieldError,
}

impl Problem {
    pub fn new(field: &str, location: Option<Location>, error: FieldError) -> Problem {
        Problem { field: field.to_string(), location, error }
    }

    /// "`tenure`: expected a whole number ..., found "abc"", the same for every source (the
    /// location is told apart: a line, a row, a file).
    pub fn message(&self) -> String {
        if self.field.is_empty() {
            self.error.message.clone()
        } else {
            format!("`{}`: {}", self.field, self.error.message)
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.location, self.field.is_empty()) {
            (Some(l), false) => write!(f, "{l}, column `{}`: {}", self.field, self.error.message),
            (Some(l), true) => write!(f, "{l}: {}", self.error.message),
            (None, _) => f.write_str(&self.message()),
        }
    }
}

/// How a source's columns map onto the schema, worked out once per source.
#[derive(Debug, Clone)]
pub struct Columns {
    /// The source column of each schema field.
    pub fields: Vec<usize>,
    pub id: Option<usize>,
    pub target: Option<usize>,
    /// Columns the schema does not know.
    pub ignored: Vec<String>,
    /// How many columns the header has.
    pub width: usize,
}

/// Columns the schema needs that a source lacks, with a suggestion where a column is a close
/// miss (another case, a typo).
#[derive(Debug, Clone, PartialEq)]
pub struct MissingColumns {
    pub missing: Vec<String>,
    pub found: Vec<String>,
    /// (missing column, the source's column it probably is)
    pub hints: Vec<(String, String)>,
}

impl MissingColumns {
    pub fn hint_for(&self, name: &str) -> Option<&str> {
        self.hints.iter().find(|(m, _)| m == name).map(|(_, h)| h.as_str())
    }

    /// "missing column `tenure` (did you mean `Tenure`?)", one or several.
    pub fn describe(&self) -> String {
        let names: Vec<String> = self
            .missing
            .iter()
            .map(|m| match self.hint_for(m) {
                Some(h) => format!("`{m}` (did you mean `{h}`?)"),
                None => format!("`{m}`"),
            })
            .collect();
        format!("missing column{} {}", if self.missing.len() == 1 { "" } else { "s" }, names.join(", "))
    }

    /// One problem per missing column, for answers that list fields.
    pub fn problems(&self, source: &str) -> Vec<Problem> {
        self.missing
            .iter()
            .map(|m| {
                let hint = self.hint_for(m).map(|h| format!("; did you mean `{h}`?")).unwrap_or_default();
                let message = format!("{source} has no such column (it has: {}){hint}", self.found.join(", "));
                Problem::new(m, None, FieldError::new(FieldErrorCode::MissingField, message))
            })
            .collect()
    }
}

/// What a key of a keyed record is to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Field(usize),
    Id,
    Target,
    /// A column the schema says to ignore: read past quietly.
    Ignored,
    Unknown,
}

/// The gate for one schema.
#[derive(Debug, Clone)]
pub struct Gate {
    schema: Schema,
    names: Vec<String>,
}

/// A header name as the gate compares it: trimmed, without a byte-order mark.
fn clean(name: &str) -> &str {
    name.trim_start_matches('\u{feff}').trim()
}

impl Gate {
    pub fn new(schema: Schema) -> Gate {
        let names = schema.fields.iter().map(|f| f.name.clone()).collect();
        Gate { schema, names }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The schema's field names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn id_column(&self) -> Option<&str> {
        self.schema.id.as_deref()
    }

    /// What `name` is: a field (by index), the id, the target, or unknown. Keys usually arrive in
    /// schema order, so the field at `hint` is tried first.
    #[inline]
    pub fn key(&self, name: &str, hint: usize) -> Key {
        if self.names.get(hint).is_some_and(|n| n == name) {
            return Key::Field(hint);
        }
        // Keys are matched trimmed, as headers are.
        let name = clean(name);
        if let Some(k) = self.names.iter().position(|n| n == name) {
            return Key::Field(k);
        }
        if self.schema.id.as_deref() == Some(name) {
            Key::Id
        } else if self.schema.target.column == name {
            Key::Target
        } else if self.schema.ignore.iter().any(|i| i == name) {
            Key::Ignored
        } else {
            Key::Unknown
        }
    }

    /// Matches a header. Every field is required; the target too when `need_target`.
    pub fn columns(&self, header: &[String], need_target: bool) -> Result<Columns, MissingColumns> {
        let cleaned: Vec<&str> = header.iter().map(|h| clean(h)).collect();
        let find = |name: &str| cleaned.iter().position(|c| *c == name);
        let mut missing = Vec::new();
        let mut fields = Vec::with_capacity(self.names.len());
        for name in &self.names {
            match find(name) {
                Some(i) => fields.push(i),
                None => missing.push(name.clone()),
            }
        }
        let target = find(&self.schema.target.column);
        if need_target && target.is_none() {
            missing.push(self.schema.target.column.clone());
        }
        let id = self.schema.id.as_deref().and_then(find);
        let known: Vec<usize> = fields.iter().copied().chain(id).chain(target).collect();
        let unmatched: Vec<&str> =
            cleaned.iter().enumerate().filter(|(i, _)| !known.contains(i)).map(|(_, c)| *c).collect();
        if !missing.is_empty() {
            let hints =
                missing.iter().filter_map(|m| suggest(m, &unmatched).map(|h| (m.clone(), h.to_string()))).collect();
            return Err(MissingColumns { missing, found: cleaned.iter().map(|c| c.to_string()).collect(), hints });
        }
        Ok(Columns {
            fields,
            id,
            target,
            // Columns the schema ignores on purpose are not news; the others are reported.
            ignored: unmatched
                .iter()
                .filter(|c| !self.schema.ignore.iter().any(|i| i == *c))
                .map(|c| c.to_string())
                .collect(),
            width: header.len(),
        })
    }

    /// Parses field `k`: the one per-value rule.
    #[inline]
    pub fn parse(&self, k: usize, raw: Raw) -> Result<f64, FieldError> {
        self.schema.fields[k].parse(raw)
    }

    /// Validates row `r` of a batch into `out` (one value per field), appending its id to `id`
    /// (batch scoring keeps a whole batch's ids in one buffer). Refused values go to `problems`;
    /// returns whether the row is good.
    #[allow(clippy::too_many_arguments)]
    pub fn row(
        &self,
        cols: &Columns,
        cells: &BatchCells<'_>,
        r: usize,
        location: Location,
        out: &mut [f64],
        id: &mut String,
        problems: &mut Vec<Problem>,
    ) -> bool {
        let before = problems.len();
        if let Some(width) = cells.width(r) {
            if width != cols.width {
                problems.push(Problem::new(
                    "",
                    Some(location),
                    FieldError::new(
                        FieldErrorCode::MalformedRow,
                        format!("{width} fields where the header has {}", cols.width),
                    ),
                ));
                return false;
            }
        }
        for (k, &c) in cols.fields.iter().enumerate() {
            match self.parse(k, cells.get(r, c)) {
                Ok(v) => out[k] = v,
                Err(e) => problems.push(Problem::new(&self.names[k], Some(location), e)),
            }
        }
        if let Some(c) = cols.id {
            self.push_id(cells.get(r, c), Some(location), id, problems);
        }
        problems.len() == before
    }

    /// Appends the id of a raw cell to `out`: text as written (trimmed), numbers as their
    /// digits. One rule for every source; an id longer than [`MAX_ID_BYTES`] is refused, never
    /// cut. Returns whether an id was there.
    pub fn push_id(&self, raw: Raw, location: Option<Location>, out: &mut String, problems: &mut Vec<Problem>) -> bool {
        use std::fmt::Write as _;
        let start = out.len();
        match raw {
            Raw::Text(t) => out.push_str(crate::schema::trim(t)),
            Raw::Integer(i) => {
                let _ = write!(out, "{i}");
            }
            Raw::Number(v) => {
                let _ = write!(out, "{v}");
            }
            Raw::Date(d) => {
                let _ = write!(out, "{d}");
            }
            Raw::Bool(_) | Raw::Null | Raw::Composite => {}
        }
        let len = out.len() - start;
        if len > MAX_ID_BYTES {
            let column = self.schema.id.as_deref().unwrap_or("id");
            problems.push(Problem::new(
                column,
                location,
                FieldError::new(
                    FieldErrorCode::IdTooLong,
                    format!("an id of {len} bytes; ids are at most {MAX_ID_BYTES} bytes"),
                )
                .received(&out[start..]),
            ));
            out.truncate(start);
            return false;
        }
        len > 0
    }

    /// Whether a target cell holds a value the schema leaves out (`[target] drop`): its text as
    /// the label is read, a blank cell or a missing token (`NA`) counting as `""`.
    pub fn dropped(&self, raw: Raw) -> Option<String> {
        if self.schema.target.drop.is_empty() {
            return None;
        }
        let text = label_text(raw);
        let t = text.trim();
        let key = if self.schema.missing.iter().any(|m| m == t) { "" } else { t };
        self.schema.is_dropped_label(key).then(|| key.to_string())
    }

    /// The label of a target cell: 1 (positive), 0 (negative), or why not.
    pub fn label(&self, raw: Raw) -> Result<u8, FieldError> {
        self.schema.parse_label(&label_text(raw))
    }
}

/// A target cell as the text its label is read from.
fn label_text(raw: Raw) -> String {
    match raw {
        Raw::Text(t) => t.to_string(),
        Raw::Integer(i) => i.to_string(),
        Raw::Bool(b) => b.to_string(),
        Raw::Number(v) => crate::schema::whole(v).map_or_else(|| v.to_string(), |w| w.to_string()),
        Raw::Date(d) => d.to_string(),
        Raw::Null | Raw::Composite => String::new(),
    }
}

impl Gate {
    /// Starts a keyed record (a JSON object, an MLflow record).
    pub fn keyed(&self, location: Option<Location>, unknown: Unknown) -> KeyedRow<'_> {
        KeyedRow {
            gate: self,
            values: vec![0.0; self.names.len()],
            seen: vec![false; self.names.len()],
            id: None,
            location,
            unknown,
            problems: Vec::new(),
            next: 0,
        }
    }
}

/// A record whose values arrive by key, in any order.
pub struct KeyedRow<'g> {
    gate: &'g Gate,
    values: Vec<f64>,
    seen: Vec<bool>,
    id: Option<String>,
    location: Option<Location>,
    unknown: Unknown,
    problems: Vec<Problem>,
    next: usize,
}

impl KeyedRow<'_> {
    /// What the gate makes of `key` (so a streaming parser can skip values it does not need).
    #[inline]
    pub fn key(&self, key: &str) -> Key {
        self.gate.key(key, self.next)
    }

    /// One value.
    #[inline]
    pub fn put(&mut self, key: &str, role: Key, raw: Raw) {
        match role {
            Key::Field(k) => {
                self.next = k + 1;
                if std::mem::replace(&mut self.seen[k], true) {
                    self.problems.push(Problem::new(
                        key,
                        self.location,
                        FieldError::new(FieldErrorCode::DuplicateField, "given more than once".into()),
                    ));
                    return;
                }
                match self.gate.parse(k, raw) {
                    Ok(v) => self.values[k] = v,
                    Err(e) => self.problems.push(Problem::new(key, self.location, e)),
                }
            }
            Key::Id => {
                let mut text = String::new();
                if self.gate.push_id(raw, self.location, &mut text, &mut self.problems) {
                    self.id = Some(text);
                }
            }
            Key::Target | Key::Ignored => {}
            Key::Unknown => {
                if self.unknown == Unknown::Refuse {
                    let shown = value_preview(key);
                    let hint = suggest(key, &self.gate.names.iter().map(String::as_str).collect::<Vec<_>>())
                        .map(|n| format!(" (did you mean `{n}`?)"))
                        .unwrap_or_default();
                    self.problems.push(Problem::new(
                        &shown,
                        self.location,
                        FieldError::new(FieldErrorCode::UnknownField, format!("not a field of this model{hint}"))
                            .expected_values(self.gate.names.clone()),
                    ));
                }
            }
        }
    }

    /// The validated row, or every problem found (fields never given included).
    pub fn finish(mut self) -> Result<Row, Vec<Problem>> {
        for (k, seen) in self.seen.iter().enumerate() {
            if !seen {
                self.problems.push(Problem::new(
                    &self.gate.names[k],
                    self.location,
                    FieldError::new(FieldErrorCode::MissingField, "required field is missing".into()),
                ));
            }
        }
        if self.problems.is_empty() {
            Ok(Row { id: self.id, values: self.values, location: self.location })
        } else {
            Err(self.problems)
        }
    }
}

/// The candidate `name` most probably meant: the same but for case, else within two edits.
pub fn suggest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    if let Some(c) = candidates.iter().find(|c| c.to_lowercase() == lower) {
        return Some(c);
    }
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&lower, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= 2 && *d < c.len().max(name.len()) / 2 + 1)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests;
