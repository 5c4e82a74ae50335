//! The input schema: which columns a churn table has and what each may hold.
//!
//! The schema is data, not code: a TOML file declares the id column, the target with its two
//! labels, and every input field (numeric with bounds, or categorical with its levels). The IBM
//! Telco schema is built in ([`Schema::telco`]). Every raw value entering the system, from a CSV
//! cell, a Parquet cell or a JSON request, is validated here once, by [`Field::parse`].

pub mod infer;
pub mod separation;
mod value;

pub use value::{shorten as value_preview, trim, whole, FieldError, FieldErrorCode, Raw};

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The built-in IBM Telco Customer Churn schema, as TOML.
pub const TELCO_TOML: &str = include_str!("telco.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSchema", into = "RawSchema")]
pub struct Schema {
    pub name: String,
    pub description: Option<String>,
    /// Column holding the customer id: echoed in predictions, never a feature.
    pub id: Option<String>,
    pub target: Target,
    pub fields: Vec<Field>,
    /// Cell texts that mean "no value" in this table besides the empty cell (`NA`, `NaT`, `?`):
    /// each field's `blank` rule decides what they become.
    pub missing: Vec<String>,
    /// Columns read past without a word: other ids, free text, leakage.
    pub ignore: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub column: String,
    pub positive: String,
    pub negative: String,
    /// Other values of the target whose rows are left out of training and evaluation (counted
    /// in the warnings), e.g. customers who joined this quarter and are not yet at risk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub label: Option<String>,
    pub kind: FieldKind,
    /// The schema's missing-value tokens (kept with each field: a value is parsed by its field).
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Numeric(NumericSpec),
    Categorical(CategoricalSpec),
    /// A date (`kind = "date"`): the cell is a date, the value a number of days.
    Date(DateSpec),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NumericSpec {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub integer: bool,
    pub blank: Blank,
    pub default: Option<f64>,
    /// Digit-group separator of numbers written as text (`thousands = ","`: "3,913" is 3913).
    pub thousands: Option<char>,
}

/// Dates become days: before `reference` when one is given (an age: "days since the last
/// transaction" when the reference is the extract date), else since 1970-01-01. Either way trees
/// split them as numbers, and the same rule holds at training and serving.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DateSpec {
    pub reference: Option<jiff::civil::Date>,
    pub blank: Blank,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CategoricalSpec {
    pub values: Vec<String>,
    pub blank: Blank,
    pub default: Option<String>,
}

/// What an empty cell (or a JSON null) means for a field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Blank {
    /// Rejected: the field is required.
    Error,
    /// Passed on as missing (NaN), which XGBoost routes down each split's default branch.
    Missing,
    /// Replaced by this number (a schema may say that a blank means 0, say).
    Fill(f64),
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read schema file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("schema file {path} is not a valid schema: {message}")]
    Toml { path: String, message: String },
}

impl Schema {
    /// The built-in IBM Telco schema.
    pub fn telco() -> Schema {
        Schema::from_toml(TELCO_TOML, "built-in telco schema").expect("the built-in schema is valid")
    }

    pub fn from_toml(text: &str, origin: &str) -> Result<Schema, SchemaError> {
        toml::from_str(text).map_err(|e| SchemaError::Toml { path: origin.to_string(), message: e.to_string() })
    }

    pub fn load(path: &Path) -> Result<Schema, SchemaError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SchemaError::Read { path: path.display().to_string(), source })?;
        Schema::from_toml(&text, &path.display().to_string())
    }

    /// The schema of a model known only by its input columns (one logged by Python): every
    /// column numeric, without bounds, blank or null read as missing, as XGBoost reads NaN.
    pub fn for_columns(names: &[String]) -> Schema {
        Schema {
            name: "model columns".into(),
            description: None,
            id: None,
            target: Target { column: "label".into(), positive: "1".into(), negative: "0".into(), drop: Vec::new() },
            fields: names
                .iter()
                .map(|n| Field {
                    name: n.clone(),
                    label: None,
                    kind: FieldKind::Numeric(NumericSpec {
                        min: None,
                        max: None,
                        integer: false,
                        blank: Blank::Missing,
                        default: None,
                        thousands: None,
                    }),
                    missing: Vec::new(),
                })
                .collect(),
            missing: Vec::new(),
            ignore: Vec::new(),
        }
    }

    /// `--schema FILE` when given, the built-in Telco schema otherwise.
    pub fn load_or_default(path: Option<&Path>) -> Result<Schema, SchemaError> {
        match path {
            Some(p) => Schema::load(p),
            None => Ok(Schema::telco()),
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(&RawSchema::from(self.clone())).expect("a schema serialises to TOML")
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Whether a target cell holds one of the values whose rows are left out (`drop`).
    pub fn is_dropped_label(&self, raw: &str) -> bool {
        let t = raw.trim();
        let whole = value::whole_number_text(t);
        self.target.drop.iter().any(|d| d == t || whole.as_deref() == Some(d.as_str()))
    }

    /// Parses a target cell into 1 (positive), 0 (negative) or an error naming both labels.
    pub fn parse_label(&self, raw: &str) -> Result<u8, FieldError> {
        let t = raw.trim();
        // A 0/1 target written as floats by the tool that saved it ("1.0").
        let whole = value::whole_number_text(t);
        if t == self.target.positive || whole.as_deref() == Some(self.target.positive.as_str()) {
            Ok(1)
        } else if t == self.target.negative || whole.as_deref() == Some(self.target.negative.as_str()) {
            Ok(0)
        } else {
            Err(FieldError::new(
                FieldErrorCode::InvalidLabel,
                format!(
                    "expected the label \"{}\" or \"{}\", found \"{}\"",
                    self.target.positive,
                    self.target.negative,
                    value::shorten(raw)
                ),
            )
            .expected_values(vec![self.target.negative.clone(), self.target.positive.clone()])
            .received(raw))
        }
    }

    /// A customer with every field at its default: the starting point of the web form.
    pub fn default_values(&self) -> Vec<f64> {
        self.fields.iter().map(Field::default_value).collect()
    }
}

impl Field {
    pub fn display_label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }

    pub fn is_categorical(&self) -> bool {
        matches!(self.kind, FieldKind::Categorical(_))
    }

    pub fn levels(&self) -> &[String] {
        match &self.kind {
            FieldKind::Categorical(c) => &c.values,
            FieldKind::Numeric(_) | FieldKind::Date(_) => &[],
        }
    }

    /// Renders a validated value for people (the reasons): as in the CSV, or "missing".
    pub fn format_value(&self, v: f64) -> String {
        if v.is_nan() {
            return "missing".into();
        }
        match &self.kind {
            FieldKind::Categorical(c) => c.values.get(v as usize).cloned().unwrap_or_default(),
            FieldKind::Date(d) => d.format(v),
            FieldKind::Numeric(n) if n.integer => format!("{}", v as i64),
            FieldKind::Numeric(_) => format!("{v}"),
        }
    }

    fn default_value(&self) -> f64 {
        match &self.kind {
            FieldKind::Numeric(n) => n.default.or(n.min).unwrap_or(0.0),
            FieldKind::Date(_) => 0.0,
            FieldKind::Categorical(c) => {
                c.default.as_ref().and_then(|d| c.values.iter().position(|v| v == d)).unwrap_or(0) as f64
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The file format. Kept apart from the validated types so that a schema that parses is coherent.

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    target: Target,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    missing: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ignore: Vec<String>,
    #[serde(rename = "field")]
    fields: Vec<RawField>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    values: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    integer: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blank: Option<RawBlank>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default: Option<RawDefault>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    thousands: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum RawBlank {
    Fill(f64),
    Word(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum RawDefault {
    Number(f64),
    Text(String),
}

impl TryFrom<RawSchema> for Schema {
    type Error = String;

    fn try_from(mut raw: RawSchema) -> Result<Schema, String> {
        // Names are matched trimmed, as headers are (spreadsheets leave spaces after names).
        let trim = |s: &mut String| *s = s.trim().to_string();
        raw.id.iter_mut().for_each(trim);
        raw.ignore.iter_mut().for_each(trim);
        for t in [&mut raw.target.column, &mut raw.target.positive, &mut raw.target.negative] {
            trim(t);
        }
        raw.target.drop.iter_mut().for_each(trim);
        raw.fields.iter_mut().for_each(|f| trim(&mut f.name));
        if let Some(d) = raw.target.drop.iter().find(|d| **d == raw.target.positive || **d == raw.target.negative) {
            return Err(format!("target `{}`: \"{d}\" is both a label and in `drop`", raw.target.column));
        }
        if raw.fields.is_empty() {
            return Err("declares no [[field]]: a model needs at least one input column".into());
        }
        let mut seen = std::collections::HashSet::new();
        for name in raw.id.iter().chain(std::iter::once(&raw.target.column)) {
            seen.insert(name.clone());
        }
        if raw.id.as_deref() == Some(raw.target.column.as_str()) {
            return Err(format!("uses `{}` as both id and target", raw.target.column));
        }
        if raw.target.positive == raw.target.negative {
            return Err(format!("target `{}` has the same positive and negative label", raw.target.column));
        }
        let mut fields = Vec::with_capacity(raw.fields.len());
        for f in raw.fields {
            if !seen.insert(f.name.clone()) {
                return Err(format!("names column `{}` twice (fields, id and target must differ)", f.name));
            }
            let mut field = field_from_raw(f)?;
            // A token read as "no value" before the field sees it would make the level unreachable.
            if let FieldKind::Categorical(c) = &field.kind {
                if let Some(t) = raw.missing.iter().find(|t| c.values.contains(t)) {
                    return Err(format!(
                        "field `{}`: level \"{t}\" is also a missing token (`missing`): drop it from one of the two",
                        field.name
                    ));
                }
            }
            field.missing = raw.missing.clone();
            fields.push(field);
        }
        for name in &raw.ignore {
            if !seen.insert(name.clone()) {
                return Err(format!("both uses and ignores column `{name}`"));
            }
        }
        if let Some(t) = raw.missing.iter().find(|t| t.trim() != t.as_str() || t.is_empty()) {
            return Err(format!("missing token {t:?} is blank or has spaces around it (cells are trimmed)"));
        }
        Ok(Schema {
            name: raw.name,
            description: raw.description,
            id: raw.id,
            target: raw.target,
            fields,
            missing: raw.missing,
            ignore: raw.ignore,
        })
    }
}

fn field_from_raw(f: RawField) -> Result<Field, String> {
    let at = |msg: &str| format!("field `{}`: {msg}", f.name);
    let blank = match &f.blank {
        None => Blank::Error,
        Some(RawBlank::Fill(v)) => Blank::Fill(*v),
        Some(RawBlank::Word(w)) if w == "error" => Blank::Error,
        Some(RawBlank::Word(w)) if w == "missing" => Blank::Missing,
        Some(RawBlank::Word(w)) => {
            return Err(at(&format!("blank = \"{w}\" is not one of \"error\", \"missing\" or a number")))
        }
    };
    if f.reference.is_some() && f.kind != "date" {
        return Err(at("only a date field takes a `reference`"));
    }
    if f.thousands.is_some() && f.kind != "numeric" {
        return Err(at("only a numeric field takes `thousands`"));
    }
    let thousands = match f.thousands.as_deref() {
        None => None,
        Some(t @ ("," | "'" | "_" | " ")) => t.chars().next(),
        Some(t) => return Err(at(&format!("thousands = {t:?} is not one of \",\", \"'\", \"_\" or \" \""))),
    };
    let kind = match f.kind.as_str() {
        "date" => {
            if f.values.is_some() || f.min.is_some() || f.max.is_some() || f.integer || f.default.is_some() {
                return Err(at("a date field takes only `reference`, `blank` and `label`"));
            }
            let reference = match &f.reference {
                None => None,
                Some(r) => Some(
                    r.parse::<jiff::civil::Date>()
                        .map_err(|_| at(&format!("reference \"{r}\" is not a date written YYYY-MM-DD")))?,
                ),
            };
            FieldKind::Date(DateSpec { reference, blank })
        }
        "numeric" => {
            if f.values.is_some() {
                return Err(at("a numeric field takes no `values`"));
            }
            if let (Some(lo), Some(hi)) = (f.min, f.max) {
                if lo > hi {
                    return Err(at(&format!("min {lo} is above max {hi}")));
                }
            }
            let default = match &f.default {
                None => None,
                Some(RawDefault::Number(v)) => Some(*v),
                Some(RawDefault::Text(t)) => return Err(at(&format!("default \"{t}\" is not a number"))),
            };
            FieldKind::Numeric(NumericSpec { min: f.min, max: f.max, integer: f.integer, blank, default, thousands })
        }
        "categorical" => {
            let values = f.values.clone().unwrap_or_default();
            if values.len() < 2 {
                return Err(at("a categorical field needs `values` with at least two levels"));
            }
            let mut uniq = std::collections::HashSet::new();
            if let Some(dup) = values.iter().find(|v| !uniq.insert(v.as_str())) {
                return Err(at(&format!("level \"{dup}\" is listed twice")));
            }
            if values.len() > u16::MAX as usize {
                return Err(at("has too many levels"));
            }
            if f.min.is_some() || f.max.is_some() || f.integer {
                return Err(at("a categorical field takes no min, max or integer"));
            }
            if let Blank::Fill(_) = blank {
                return Err(at("a categorical field's blank must be \"error\" or \"missing\""));
            }
            let default = match &f.default {
                None => None,
                Some(RawDefault::Text(t)) if values.contains(t) => Some(t.clone()),
                Some(d) => return Err(at(&format!("default {d:?} is not one of its values"))),
            };
            FieldKind::Categorical(CategoricalSpec { values, blank, default })
        }
        other => return Err(at(&format!("kind = \"{other}\" is not \"numeric\", \"categorical\" or \"date\""))),
    };
    Ok(Field { name: f.name, label: f.label, kind, missing: Vec::new() })
}

impl From<Schema> for RawSchema {
    fn from(s: Schema) -> RawSchema {
        let fields = s
            .fields
            .into_iter()
            .map(|f| {
                let blank_of = |b: Blank| match b {
                    Blank::Error => None,
                    Blank::Missing => Some(RawBlank::Word("missing".into())),
                    Blank::Fill(v) => Some(RawBlank::Fill(v)),
                };
                match f.kind {
                    FieldKind::Date(d) => RawField {
                        name: f.name,
                        kind: "date".into(),
                        label: f.label,
                        values: None,
                        min: None,
                        max: None,
                        integer: false,
                        blank: blank_of(d.blank),
                        default: None,
                        reference: d.reference.map(|r| r.to_string()),
                        thousands: None,
                    },
                    FieldKind::Numeric(n) => RawField {
                        name: f.name,
                        kind: "numeric".into(),
                        label: f.label,
                        values: None,
                        min: n.min,
                        max: n.max,
                        integer: n.integer,
                        blank: blank_of(n.blank),
                        default: n.default.map(RawDefault::Number),
                        reference: None,
                        thousands: n.thousands.map(String::from),
                    },
                    FieldKind::Categorical(c) => RawField {
                        name: f.name,
                        kind: "categorical".into(),
                        label: f.label,
                        values: Some(c.values),
                        min: None,
                        max: None,
                        integer: false,
                        blank: blank_of(c.blank),
                        default: c.default.map(RawDefault::Text),
                        reference: None,
                        thousands: None,
                    },
                }
            })
            .collect();
        RawSchema {
            name: s.name,
            description: s.description,
            id: s.id,
            target: s.target,
            missing: s.missing,
            ignore: s.ignore,
            fields,
        }
    }
}

impl DateSpec {
    /// Days of a date under this rule.
    pub fn days(&self, date: jiff::civil::Date) -> f64 {
        let epoch = jiff::civil::date(1970, 1, 1);
        match self.reference {
            Some(r) => (r - date).get_days() as f64,
            None => (date - epoch).get_days() as f64,
        }
    }

    /// The date a number of days stands for (for reasons and examples).
    pub fn format(&self, days: f64) -> String {
        // Out of the calendar's range (a foreign value, a bin edge): the number, not a panic.
        let date = jiff::Span::new().try_days(days.round() as i64).and_then(|span| match self.reference {
            Some(r) => r.checked_sub(span),
            None => jiff::civil::date(1970, 1, 1).checked_add(span),
        });
        date.map(|d| d.to_string()).unwrap_or_else(|_| format!("{days} days"))
    }

    /// Reads `YYYY-MM-DD`, also with a time after it (`2019-05-21 00:00:00`, `2019-05-21T...`).
    pub fn parse(text: &str) -> Option<jiff::civil::Date> {
        let head = text.get(..10)?;
        let rest = &text[10..];
        if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('T')) {
            return None;
        }
        head.parse::<jiff::civil::Date>().ok()
    }
}

impl Schema {
    /// Serialises into the bundle next to the model, as TOML (reusable with `--schema`).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_toml())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telco_schema_has_the_19_input_fields() {
        let s = Schema::telco();
        assert_eq!(s.fields.len(), 19);
        assert_eq!(s.id.as_deref(), Some("customerID"));
        assert_eq!(s.target.column, "Churn");
        assert_eq!(s.fields.iter().filter(|f| f.is_categorical()).count(), 15);
    }

    #[test]
    fn schema_round_trips_through_toml() {
        let s = Schema::telco();
        let again = Schema::from_toml(&s.to_toml(), "round trip").unwrap();
        assert_eq!(s, again);
    }

    #[test]
    fn dates_are_days_and_read_back_as_dates() {
        let toml = "name='x'\nmissing=['NaT']\nignore=['note']\n[target]\ncolumn='y'\npositive='1'\nnegative='0'\n\
            [[field]]\nname='seen'\nkind='date'\nblank='missing'\n\
            [[field]]\nname='age'\nkind='date'\nreference='2020-01-01'\n";
        let s = Schema::from_toml(toml, "t").unwrap();
        assert_eq!(Schema::from_toml(&s.to_toml(), "again").unwrap(), s);
        let (seen, age) = (&s.fields[0], &s.fields[1]);
        assert_eq!(seen.parse(Raw::Text("1970-01-11")).unwrap(), 10.0);
        assert_eq!(seen.parse(Raw::Text("1970-01-11 08:30:00")).unwrap(), 10.0);
        assert!(seen.parse(Raw::Text("NaT")).unwrap().is_nan());
        assert_eq!(age.parse(Raw::Text("2019-12-31")).unwrap(), 1.0);
        assert_eq!(age.format_value(1.0), "2019-12-31");
        for bad in ["2019-13-01", "31/12/2019", "2019-12-31x", "é2019-12-31", ""] {
            assert!(age.parse(Raw::Text(bad)).is_err(), "{bad}");
        }
        assert!(age.parse(Raw::Number(3.0)).is_err());
        assert_eq!(age.format_value(1e9), "1000000000 days");
        // A Parquet date cell arrives as a date, not as text.
        let new_year = jiff::civil::date(2019, 12, 31);
        assert_eq!(age.parse(Raw::Date(new_year)).unwrap(), 1.0);
        assert_eq!(seen.parse(Raw::Date(jiff::civil::date(1970, 1, 11))).unwrap(), 10.0);
        let numeric = Schema::telco().fields.into_iter().find(|f| f.name == "tenure").unwrap();
        let err = numeric.parse(Raw::Date(new_year)).unwrap_err();
        assert!(err.message.contains("the date 2019-12-31"), "{}", err.message);
    }

    #[test]
    fn incoherent_schemas_are_refused_with_the_field_named() {
        let base = "name='x'\n[target]\ncolumn='y'\npositive='1'\nnegative='0'\n";
        let cases = [
            ("[[field]]\nname='a'\nkind='numeric'\nmin=5\nmax=1\n", "field `a`: min 5 is above max 1"),
            ("[[field]]\nname='a'\nkind='categorical'\nvalues=['x']\n", "field `a`: a categorical field needs"),
            ("[[field]]\nname='a'\nkind='text'\n", "kind = \"text\""),
            ("[[field]]\nname='y'\nkind='numeric'\n", "names column `y` twice"),
            ("[[field]]\nname='a'\nkind='categorical'\nvalues=['p','q']\ndefault='r'\n", "default"),
            (
                "[[field]]\nname='a'\nkind='categorical'\nvalues=['p','NA']\n",
                "field `a`: level \"NA\" is also a missing token",
            ),
        ];
        for (fields, expected) in cases {
            let base =
                if expected.contains("missing token") { format!("missing=['NA']\n{base}") } else { base.to_string() };
            let err = Schema::from_toml(&format!("{base}{fields}"), "t").unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }
}
