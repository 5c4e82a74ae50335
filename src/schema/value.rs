//! Validation of one raw value against its field: the single gate every input passes.

use super::{Blank, CategoricalSpec, DateSpec, Field, FieldKind, NumericSpec};
use serde::Serialize;

/// A value as it arrives, before validation: a CSV or Parquet cell, or a JSON value.
#[derive(Debug, Clone, Copy)]
pub enum Raw<'a> {
    Text(&'a str),
    Number(f64),
    Integer(i64),
    Bool(bool),
    /// JSON null, or a null Parquet cell.
    Null,
    /// Something that is not a scalar (a JSON object or array).
    Composite,
    /// A calendar date (a Parquet date or timestamp cell: its date in UTC).
    Date(jiff::civil::Date),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldErrorCode {
    MissingField,
    BlankValue,
    NotANumber,
    NotAnInteger,
    OutOfRange,
    UnknownCategory,
    NotADate,
    WrongType,
    InvalidLabel,
    UnknownField,
    DuplicateField,
    IdTooLong,
    /// A CSV line with the wrong number of fields.
    MalformedRow,
}

/// Why a value was refused: what was expected and what came, in words and as data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    pub code: FieldErrorCode,
    pub message: String,
    /// The allowed levels of a categorical field, or the two labels of the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The value received, shortened when long (a 10 MB string is not echoed back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<String>,
}

impl FieldError {
    pub fn new(code: FieldErrorCode, message: String) -> FieldError {
        FieldError { code, message, expected: None, min: None, max: None, received: None }
    }
    pub fn expected_values(mut self, v: Vec<String>) -> FieldError {
        self.expected = Some(v);
        self
    }
    pub fn received(mut self, r: &str) -> FieldError {
        self.received = Some(shorten(r));
        self
    }
    fn bounds(mut self, min: Option<f64>, max: Option<f64>) -> FieldError {
        self.min = min;
        self.max = max;
        self
    }
}

const ECHO_LIMIT: usize = 64;

/// Keeps error messages small whatever was sent.
pub fn shorten(s: &str) -> String {
    if s.len() <= ECHO_LIMIT {
        return s.to_string();
    }
    let mut end = ECHO_LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

fn describe(raw: &Raw) -> String {
    match raw {
        Raw::Text(t) => format!("\"{}\"", shorten(t)),
        Raw::Number(v) => format!("{v}"),
        Raw::Integer(v) => format!("{v}"),
        Raw::Bool(b) => format!("{b}"),
        Raw::Null => "null".into(),
        Raw::Composite => "an object or array".into(),
        Raw::Date(d) => format!("the date {d}"),
    }
}

fn received_text(raw: &Raw) -> String {
    match raw {
        Raw::Text(t) => shorten(t),
        other => describe(other),
    }
}

/// `str::trim`, without its cost on the usual cell that has nothing to trim.
#[inline]
pub fn trim(t: &str) -> &str {
    match (t.as_bytes().first(), t.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => t,
        (None, _) => t,
        _ => t.trim(),
    }
}

impl Field {
    /// Validates one raw value. Numbers come back as themselves, categorical levels as their
    /// index in `values`, and an allowed blank as NaN (missing) or its fill value.
    pub fn parse(&self, raw: Raw) -> Result<f64, FieldError> {
        // Trimmed once: batch scoring parses every cell of millions of rows through here.
        let raw = match raw {
            Raw::Text(t) => Raw::Text(trim(t)),
            other => other,
        };
        let blank = match raw {
            Raw::Null => true,
            Raw::Text(t) => t.is_empty() || self.missing.iter().any(|m| m == t),
            _ => false,
        };
        if blank {
            return self.blank_value(&raw);
        }
        match &self.kind {
            FieldKind::Date(d) => self.parse_date(raw, d),
            FieldKind::Numeric(spec) => self.parse_number(raw, spec),
            FieldKind::Categorical(spec) => self.parse_level(raw, spec),
        }
    }

    fn parse_date(&self, raw: Raw, d: &DateSpec) -> Result<f64, FieldError> {
        match raw {
            Raw::Date(date) => Ok(d.days(date)),
            Raw::Text(t) => DateSpec::parse(t).map(|date| d.days(date)).ok_or_else(|| {
                FieldError::new(
                    FieldErrorCode::NotADate,
                    format!("expected a date written YYYY-MM-DD, found {}", describe(&raw)),
                )
                .received(&received_text(&raw))
            }),
            _ => Err(FieldError::new(
                FieldErrorCode::WrongType,
                format!("expected a date written YYYY-MM-DD, found {}", describe(&raw)),
            )
            .received(&received_text(&raw))),
        }
    }

    fn parse_number(&self, raw: Raw, spec: &NumericSpec) -> Result<f64, FieldError> {
        let v = match raw {
            Raw::Number(v) => v,
            Raw::Integer(i) => i as f64,
            Raw::Text(t) => parse_number(t)
                .or_else(|| spec.thousands.and_then(|sep| parse_grouped(t, sep)))
                .ok_or_else(|| self.not_a_number(&raw, spec.integer))?,
            Raw::Bool(_) | Raw::Composite | Raw::Null | Raw::Date(_) => {
                return Err(self.not_a_number(&raw, spec.integer))
            }
        };
        if !v.is_finite() {
            return Err(self.not_a_number(&raw, spec.integer));
        }
        if spec.integer && v.fract() != 0.0 {
            return Err(FieldError::new(
                FieldErrorCode::NotAnInteger,
                format!("expected a whole number{}, found {}", self.range_words(), describe(&raw)),
            )
            .bounds(spec.min, spec.max)
            .received(&received_text(&raw)));
        }
        let below = spec.min.is_some_and(|m| v < m);
        let above = spec.max.is_some_and(|m| v > m);
        if below || above {
            return Err(FieldError::new(
                FieldErrorCode::OutOfRange,
                format!(
                    "expected {}{}, found {}",
                    if spec.integer { "a whole number" } else { "a number" },
                    self.range_words(),
                    describe(&raw)
                ),
            )
            .bounds(spec.min, spec.max)
            .received(&received_text(&raw)));
        }
        Ok(v)
    }

    fn parse_level(&self, raw: Raw, spec: &CategoricalSpec) -> Result<f64, FieldError> {
        let owned;
        let text = match raw {
            Raw::Text(t) => t,
            Raw::Integer(i) => {
                owned = i.to_string();
                owned.as_str()
            }
            Raw::Number(v) if whole(v).is_some() => {
                owned = (v as i64).to_string();
                owned.as_str()
            }
            // A boolean (a Parquet bool column) is a level only of a field whose levels are the
            // words true and false; elsewhere it is the wrong type.
            Raw::Bool(b) if spec.values.iter().any(|v| v == if b { "true" } else { "false" }) => {
                if b {
                    "true"
                } else {
                    "false"
                }
            }
            _ => {
                return Err(FieldError::new(
                    FieldErrorCode::WrongType,
                    format!("expected one of {}, found {}", quoted_list(&spec.values), describe(&raw)),
                )
                .expected_values(spec.values.clone())
                .received(&received_text(&raw)))
            }
        };
        if let Some(i) = spec.values.iter().position(|v| v == text) {
            return Ok(i as f64);
        }
        // An integer-coded level written as a float by the tool that saved the table ("187.0"
        // for the level "187").
        if let Some(code) = whole_number_text(text) {
            if let Some(i) = spec.values.iter().position(|l| *l == code) {
                return Ok(i as f64);
            }
        }
        let hint = spec
            .values
            .iter()
            .find(|v| v.eq_ignore_ascii_case(text))
            .map(|v| format!(" (did you mean \"{v}\"? levels are case-sensitive)"))
            .unwrap_or_default();
        Err(FieldError::new(
            FieldErrorCode::UnknownCategory,
            format!("expected one of {}, found {}{hint}", quoted_list(&spec.values), describe(&raw)),
        )
        .expected_values(spec.values.clone())
        .received(text))
    }

    fn blank_value(&self, raw: &Raw) -> Result<f64, FieldError> {
        let policy = match &self.kind {
            FieldKind::Numeric(n) => n.blank,
            FieldKind::Date(d) => d.blank,
            FieldKind::Categorical(c) => c.blank,
        };
        match policy {
            Blank::Missing => Ok(f64::NAN),
            Blank::Fill(v) => Ok(v),
            Blank::Error => {
                let expected = match &self.kind {
                    FieldKind::Date(_) => "a date written YYYY-MM-DD".to_string(),
                    FieldKind::Numeric(n) => {
                        format!("a {}{}", if n.integer { "whole number" } else { "number" }, self.range_words())
                    }
                    FieldKind::Categorical(c) => format!("one of {}", quoted_list(&c.values)),
                };
                let mut e = FieldError::new(
                    FieldErrorCode::BlankValue,
                    format!(
                        "expected {expected}, found {} (this field is required)",
                        if matches!(raw, Raw::Null) { "null" } else { "a blank value" }
                    ),
                )
                .received(&received_text(raw));
                if let FieldKind::Categorical(c) = &self.kind {
                    e = e.expected_values(c.values.clone());
                }
                Err(e)
            }
        }
    }

    fn not_a_number(&self, raw: &Raw, integer: bool) -> FieldError {
        let (min, max) = match &self.kind {
            FieldKind::Numeric(n) => (n.min, n.max),
            FieldKind::Categorical(_) | FieldKind::Date(_) => (None, None),
        };
        let what = if integer { "a whole number" } else { "a number" };
        FieldError::new(
            if matches!(raw, Raw::Text(_)) { FieldErrorCode::NotANumber } else { FieldErrorCode::WrongType },
            format!("expected {what}{}, found {}", self.range_words(), describe(raw)),
        )
        .bounds(min, max)
        .received(&received_text(raw))
    }

    fn range_words(&self) -> String {
        match &self.kind {
            FieldKind::Numeric(n) => match (n.min, n.max) {
                (Some(lo), Some(hi)) => format!(" from {lo} to {hi}"),
                (Some(lo), None) => format!(" of at least {lo}"),
                (None, Some(hi)) => format!(" of at most {hi}"),
                (None, None) => String::new(),
            },
            FieldKind::Categorical(_) | FieldKind::Date(_) => String::new(),
        }
    }
}

/// A number as the whole number it is, if it is one that a float holds exactly: the one rule by
/// which 187.0 reads as the level or label "187".
pub fn whole(v: f64) -> Option<i64> {
    (v.fract() == 0.0 && v.abs() < 1e15).then_some(v as i64)
}

/// The text of a whole number written as a float by the tool that saved a table ("187.0" ->
/// "187"), the one rule by which integer-coded levels and 0/1 labels match however they were
/// written. None for anything else.
pub fn whole_number_text(t: &str) -> Option<String> {
    parse_number(t).and_then(whole).map(|v| v.to_string())
}

/// Strict number parsing: Rust's `f64::from_str` also takes "NaN", "inf" and "infinity",
/// which are not numbers a customer record can hold.
fn parse_number(t: &str) -> Option<f64> {
    let ok = !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && t.bytes().any(|b| b.is_ascii_digit());
    if !ok {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A number whose whole part is written in groups of three digits ("3,913", "-1,234,567.50"
/// with `sep` ','), as spreadsheets export money. Only a correctly grouped number: "39,13" is
/// not one (in some locales that is a decimal comma).
pub fn parse_grouped(t: &str, sep: char) -> Option<f64> {
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
    let whole = unsigned.split('.').next().unwrap_or("");
    let mut groups = whole.split(sep);
    let first = groups.next()?;
    let grouped = (1..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_digit())
        && groups.clone().count() > 0
        && groups.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()));
    if !grouped {
        return None;
    }
    parse_number(&t.replace(sep, ""))
}

fn quoted_list(values: &[String]) -> String {
    let mut s = String::from("[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('"');
        s.push_str(v);
        s.push('"');
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    fn field(name: &str) -> Field {
        let s = Schema::telco();
        s.fields[s.field_index(name).unwrap()].clone()
    }

    #[test]
    fn categorical_levels_parse_to_their_index() {
        assert_eq!(field("Contract").parse(Raw::Text("Two year")).unwrap(), 2.0);
        let flag = Schema::from_toml(
            "name='x'\n[target]\ncolumn='y'\npositive='1'\nnegative='0'\n[[field]]\nname='f'\nkind='categorical'\nvalues=['false','true']\n",
            "t",
        )
        .unwrap();
        assert_eq!(flag.fields[0].parse(Raw::Bool(true)).unwrap(), 1.0);
        assert_eq!(field("Contract").parse(Raw::Text(" One year ")).unwrap(), 1.0);
    }

    #[test]
    fn unknown_category_names_the_allowed_levels_and_hints_at_case() {
        let e = field("Contract").parse(Raw::Text("month-to-month")).unwrap_err();
        assert_eq!(e.code, FieldErrorCode::UnknownCategory);
        assert!(e.message.contains("did you mean \"Month-to-month\""), "{}", e.message);
        assert_eq!(e.expected.unwrap().len(), 3);
        let e = field("Contract").parse(Raw::Text("Weekly")).unwrap_err();
        assert_eq!(e.received.as_deref(), Some("Weekly"));
    }

    #[test]
    fn numbers_are_strict() {
        let tenure = field("tenure");
        assert_eq!(tenure.parse(Raw::Text("12")).unwrap(), 12.0);
        assert_eq!(tenure.parse(Raw::Number(12.0)).unwrap(), 12.0);
        assert_eq!(tenure.parse(Raw::Text("abc")).unwrap_err().code, FieldErrorCode::NotANumber);
        assert_eq!(tenure.parse(Raw::Text("NaN")).unwrap_err().code, FieldErrorCode::NotANumber);
        assert_eq!(tenure.parse(Raw::Text("inf")).unwrap_err().code, FieldErrorCode::NotANumber);
        assert_eq!(tenure.parse(Raw::Number(12.5)).unwrap_err().code, FieldErrorCode::NotAnInteger);
        assert_eq!(tenure.parse(Raw::Integer(-5)).unwrap_err().code, FieldErrorCode::OutOfRange);
        assert_eq!(tenure.parse(Raw::Number(1e12)).unwrap_err().code, FieldErrorCode::OutOfRange);
        assert_eq!(tenure.parse(Raw::Bool(true)).unwrap_err().code, FieldErrorCode::WrongType);
        assert_eq!(field("SeniorCitizen").parse(Raw::Integer(7)).unwrap_err().code, FieldErrorCode::OutOfRange);
    }

    #[test]
    fn grouped_numbers_need_the_schema_and_correct_groups() {
        assert_eq!(parse_grouped("3,913", ','), Some(3913.0));
        assert_eq!(parse_grouped("-1,234,567.50", ','), Some(-1_234_567.5));
        assert_eq!(parse_grouped("1 234", ' '), Some(1234.0));
        for bad in ["39,13", "3,9130", ",913", "3,913,", "3913", "1.234,5", "3,91a"] {
            assert_eq!(parse_grouped(bad, ','), None, "{bad}");
        }
        // Without `thousands` in the schema a grouped number is not a number.
        assert_eq!(field("TotalCharges").parse(Raw::Text("1,234.5")).unwrap_err().code, FieldErrorCode::NotANumber);
        let toml =
            Schema::telco().to_toml().replace("name = \"TotalCharges\"", "name = \"TotalCharges\"\nthousands = \",\"");
        let grouped = Schema::from_toml(&toml, "t").unwrap();
        let total = &grouped.fields[grouped.field_index("TotalCharges").unwrap()];
        assert_eq!(total.parse(Raw::Text("1,234.5")).unwrap(), 1234.5);
        assert_eq!(total.parse(Raw::Text("1234.5")).unwrap(), 1234.5);
        assert_eq!(total.parse(Raw::Text("12,34.5")).unwrap_err().code, FieldErrorCode::NotANumber);
        // It survives the schema's round trip through TOML.
        assert_eq!(Schema::from_toml(&grouped.to_toml(), "again").unwrap(), grouped);
    }

    #[test]
    fn blanks_follow_the_schema() {
        assert!(field("TotalCharges").parse(Raw::Text(" ")).unwrap().is_nan());
        assert!(field("TotalCharges").parse(Raw::Null).unwrap().is_nan());
        // A schema may fill blanks with a number instead.
        let toml = Schema::telco().to_toml().replace("blank = \"missing\"", "blank = 0");
        let filled = Schema::from_toml(&toml, "t").unwrap();
        let total = &filled.fields[filled.field_index("TotalCharges").unwrap()];
        assert_eq!(total.parse(Raw::Text(" ")).unwrap(), 0.0);
        assert_eq!(total.parse(Raw::Null).unwrap(), 0.0);
        assert_eq!(field("tenure").parse(Raw::Text("")).unwrap_err().code, FieldErrorCode::BlankValue);
        assert_eq!(field("Contract").parse(Raw::Null).unwrap_err().code, FieldErrorCode::BlankValue);
    }

    #[test]
    fn long_values_are_not_echoed_whole() {
        let big = "x".repeat(10_000_000);
        let e = field("gender").parse(Raw::Text(&big)).unwrap_err();
        assert!(e.message.len() < 300);
        assert!(e.received.unwrap().len() < 100);
    }
}
