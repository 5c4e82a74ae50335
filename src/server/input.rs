//! Request bodies turned into validated customers, once, at the edge: JSON objects or arrays,
//! CSV bodies, and MLflow's four `/invocations` shapes. Every refused value becomes a
//! `FieldProblem` naming the field, what was expected and what came.

use super::error::{ApiError, FieldProblem};
use crate::schema::Raw;
use crate::scoring::Scorer;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use serde_json::Value;

/// A validated customer: one value per model input (schema field, or model column).
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: Option<String>,
    pub values: Vec<f64>,
    /// CSV line or JSON array index, for error messages.
    pub line: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Json,
    Csv,
}

/// The body's media type. A missing Content-Type is read as JSON; anything else but JSON and
/// CSV (with an optional utf-8 charset) is refused with 415.
pub fn media(headers: &HeaderMap) -> Result<Media, ApiError> {
    let Some(v) = headers.get(header::CONTENT_TYPE) else { return Ok(Media::Json) };
    let raw = v.to_str().unwrap_or("");
    let mut parts = raw.split(';').map(|p| p.trim().to_ascii_lowercase());
    let essence = parts.next().unwrap_or_default();
    for p in parts {
        if p.is_empty() {
            continue;
        }
        let ok = p.strip_prefix("charset=").is_some_and(|c| matches!(c.trim_matches('"'), "utf-8" | "utf8"));
        if !ok {
            return Err(ApiError::unsupported_media_type(raw, &["application/json", "text/csv"]));
        }
    }
    match essence.as_str() {
        "application/json" => Ok(Media::Json),
        "text/csv" => Ok(Media::Csv),
        _ => Err(ApiError::unsupported_media_type(raw, &["application/json", "text/csv"])),
    }
}

/// Bodies over the limit but under this are read and dropped before the 413 goes out, so a
/// client that sends its whole body first still gets the answer (instead of a broken pipe).
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// Reads the whole body, refusing (413) anything over `limit` bytes.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        if declared.is_some_and(|len| len <= DRAIN_LIMIT) {
            drain(body).await;
        }
        return Err(ApiError::too_large(limit));
    }
    let mut stream = body;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = stream.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request("body_unreadable", format!("the body could not be read: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                drain(stream).await;
                return Err(ApiError::too_large(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

async fn drain(mut body: Body) {
    use http_body_util::BodyExt;
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(d) = frame.into_data() {
            seen += d.len() as u64;
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    }
}

pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request(
            "empty_body",
            "the body is empty: send a customer object, or an array of them".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid_json(&e.to_string()))
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

/// What a request for one model may carry, worked out once per loaded model.
pub struct RequestSchema {
    pub names: Vec<String>,
    id_column: Option<String>,
    target: Option<String>,
}

/// A request schema with the scorer it validates for.
pub struct Inputs<'a> {
    pub scorer: &'a Scorer,
    pub names: &'a [String],
    id_column: &'a Option<String>,
    target: &'a Option<String>,
}

impl RequestSchema {
    pub fn of(scorer: &Scorer) -> RequestSchema {
        RequestSchema {
            names: scorer.input_names(),
            id_column: Some(scorer.id_column().unwrap_or("customerID").to_string()),
            target: scorer.model.pipeline().map(|p| p.schema.target.column.clone()),
        }
    }
}

impl<'a> Inputs<'a> {
    pub fn new(scorer: &'a Scorer, spec: &'a RequestSchema) -> Inputs<'a> {
        Inputs { scorer, names: &spec.names, id_column: &spec.id_column, target: &spec.target }
    }

    fn suggestion(&self, key: &str) -> String {
        let lower = key.to_ascii_lowercase();
        match self.names.iter().find(|n| n.to_ascii_lowercase() == lower || n.to_ascii_lowercase().starts_with(&lower))
        {
            Some(n) => format!(" (did you mean `{n}`?)"),
            None => String::new(),
        }
    }

    /// A CSV body with a header line: every row validated on its own; bad rows come back as
    /// problems with their line, good rows are scored.
    pub fn from_csv(&self, bytes: &[u8], max_rows: usize) -> Result<(Vec<Customer>, Vec<FieldProblem>), ApiError> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| ApiError::bad_request("invalid_csv", format!("the CSV header cannot be read: {e}")))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        let col = |n: &str| headers.iter().position(|h| h == n);
        let missing: Vec<String> = self.names.iter().filter(|n| col(n).is_none()).cloned().collect();
        if !missing.is_empty() {
            let problems = missing
                .iter()
                .map(|m| {
                    FieldProblem::simple(
                        m,
                        "missing_field",
                        format!("`{m}`: the CSV has no such column (it has: {})", headers.join(", ")),
                    )
                })
                .collect();
            return Err(ApiError::invalid_fields(problems, axum::http::StatusCode::UNPROCESSABLE_ENTITY));
        }
        let cols: Vec<usize> = self.names.iter().map(|n| col(n).expect("checked above")).collect();
        let id_col = self.id_column.as_deref().and_then(col);
        let mut customers = Vec::new();
        let mut problems = Vec::new();
        let mut record = csv::StringRecord::new();
        let mut rows = 0;
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    let mut p = FieldProblem::simple("", "invalid_csv", format!("line {line}: {e}"));
                    p.line = Some(line);
                    problems.push(p);
                    break;
                }
            }
            rows += 1;
            if rows > max_rows {
                return Err(ApiError::bad_request(
                    "too_many_customers",
                    format!("more than {max_rows} rows in one request (--max-batch-rows); use churn predict for files"),
                ));
            }
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            if record.len() != headers.len() {
                let mut p = FieldProblem::simple(
                    "",
                    "invalid_csv",
                    format!("line {line}: {} fields where the header has {}", record.len(), headers.len()),
                );
                p.line = Some(line);
                problems.push(p);
                continue;
            }
            let before = problems.len();
            let mut values = vec![0f64; self.names.len()];
            for (k, &c) in cols.iter().enumerate() {
                match self.scorer.parse_input(k, Raw::Text(&record[c])) {
                    Ok(x) => values[k] = x,
                    Err(e) => {
                        let mut p = FieldProblem::from_field_error(&self.names[k], e);
                        p.line = Some(line);
                        problems.push(p);
                    }
                }
            }
            if problems.len() == before {
                customers.push(Customer { id: id_col.map(|c| record[c].trim().to_string()), values, line: Some(line) });
            }
        }
        if rows == 0 && problems.is_empty() {
            return Err(ApiError::bad_request("empty_batch", "the CSV has a header but no rows".into()));
        }
        Ok((customers, problems))
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

// -------------------------------------------------------------------------------------------
// The fast path for JSON bodies: customers are read straight from the bytes into their field
// slots (no intermediate JSON tree), validating each value as it is read. Same rules and the
// same problems as `Inputs::from_json`.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::cell::RefCell;

/// One JSON value, borrowed from the body where possible.
enum Cell<'de> {
    Text(Cow<'de, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Composite,
}

impl<'de> Cell<'de> {
    fn raw(&self) -> Raw<'_> {
        match self {
            Cell::Text(t) => Raw::Text(t),
            Cell::Int(i) => Raw::Integer(*i),
            Cell::Float(f) => Raw::Number(*f),
            Cell::Bool(b) => Raw::Bool(*b),
            Cell::Null => Raw::Null,
            Cell::Composite => Raw::Composite,
        }
    }
}

struct CellVisitor;

impl<'de> Visitor<'de> for CellVisitor {
    type Value = Cell<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cell<'de>, E> {
        Ok(Cell::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cell<'de>, E> {
        Ok(Cell::Text(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Cell<'de>, E> {
        Ok(Cell::Text(Cow::Owned(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Cell<'de>, E> {
        Ok(Cell::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Cell<'de>, E> {
        Ok(i64::try_from(v).map(Cell::Int).unwrap_or(Cell::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Cell<'de>, E> {
        Ok(Cell::Float(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Cell<'de>, E> {
        Ok(Cell::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Cell<'de>, E> {
        Ok(Cell::Null)
    }
    fn visit_none<E>(self) -> Result<Cell<'de>, E> {
        Ok(Cell::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Cell::Composite)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Cell::Composite)
    }
}

impl<'de> serde::Deserialize<'de> for Cell<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CellVisitor)
    }
}

/// Reads one customer object (or reports a non-object at `row`).
struct CustomerSeed<'a, 'b> {
    inputs: &'a Inputs<'b>,
    row: Option<usize>,
    problems: &'a RefCell<Vec<FieldProblem>>,
}

impl<'de> DeserializeSeed<'de> for CustomerSeed<'_, '_> {
    type Value = Option<Customer>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Customer>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CustomerSeed<'_, '_> {
    type Value = Option<Customer>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a customer object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Customer>, A::Error> {
        let inputs = self.inputs;
        let n = inputs.names.len();
        let mut values = vec![0f64; n];
        let mut seen = vec![false; n];
        let mut id = None;
        let mut problems = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if let Some(k) = inputs.names.iter().position(|name| name.as_str() == key.as_ref()) {
                let cell: Cell = map.next_value()?;
                if std::mem::replace(&mut seen[k], true) {
                    problems.push(FieldProblem::simple(
                        &key,
                        "duplicate_field",
                        format!("`{key}`: given more than once"),
                    ));
                    continue;
                }
                match inputs.scorer.parse_input(k, cell.raw()) {
                    Ok(v) => values[k] = v,
                    Err(e) => problems.push(FieldProblem::from_field_error(&key, e)),
                }
            } else if Some(key.as_ref()) == inputs.id_column.as_deref() {
                let cell: Cell = map.next_value()?;
                id = match cell {
                    Cell::Text(t) => Some(crate::schema::value_preview(&t)),
                    Cell::Int(i) => Some(i.to_string()),
                    Cell::Float(f) => Some(f.to_string()),
                    _ => None,
                };
            } else if Some(key.as_ref()) == inputs.target.as_deref() {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
                let shown = crate::schema::value_preview(&key);
                let mut p = FieldProblem::simple(
                    &shown,
                    "unknown_field",
                    format!("`{shown}`: not a field of this model{}", inputs.suggestion(&key)),
                );
                p.expected = Some(inputs.names.to_vec());
                problems.push(p);
            }
        }
        for (k, s) in seen.iter().enumerate() {
            if !s {
                let name = &inputs.names[k];
                problems.push(FieldProblem::simple(
                    name,
                    "missing_field",
                    format!("`{name}`: required field is missing"),
                ));
            }
        }
        if problems.is_empty() {
            return Ok(Some(Customer { id, values, line: self.row.map(|r| r as u64) }));
        }
        for p in &mut problems {
            p.row = self.row;
        }
        self.problems.borrow_mut().extend(problems);
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Customer>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.wrong_type("an array")
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<Customer>, E> {
        self.wrong_type("a string")
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<Customer>, E> {
        self.wrong_type("a number")
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<Customer>, E> {
        self.wrong_type("a number")
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<Customer>, E> {
        self.wrong_type("a number")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<Customer>, E> {
        self.wrong_type("a boolean")
    }
    fn visit_unit<E>(self) -> Result<Option<Customer>, E> {
        self.wrong_type("null")
    }
}

impl CustomerSeed<'_, '_> {
    fn wrong_type<E>(self, found: &str) -> Result<Option<Customer>, E> {
        let mut p = match self.row {
            Some(i) => {
                FieldProblem::simple("", "wrong_type", format!("row {i}: expected a customer object, found {found}"))
            }
            None => FieldProblem::simple(
                "",
                "wrong_body_type",
                format!("expected a customer object or an array of them, found {found}"),
            ),
        };
        p.row = self.row;
        self.problems.borrow_mut().push(p);
        Ok(None)
    }
}

/// The body: one customer, or an array of them.
struct BodySeed<'a, 'b> {
    inputs: &'a Inputs<'b>,
    max_rows: usize,
    problems: &'a RefCell<Vec<FieldProblem>>,
    too_many: &'a std::cell::Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_, '_> {
    type Value = (Vec<Customer>, bool);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_, '_> {
    type Value = (Vec<Customer>, bool);
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a customer object or an array of them")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let c = CustomerSeed { inputs: self.inputs, row: None, problems: self.problems }.visit_map(map)?;
        Ok((c.into_iter().collect(), false))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            if i >= self.max_rows {
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    self.too_many.set(true);
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                }
                break;
            }
            match seq.next_element_seed(CustomerSeed { inputs: self.inputs, row: Some(i), problems: self.problems })? {
                None => break,
                Some(Some(c)) => out.push(c),
                Some(None) => {}
            }
            i += 1;
        }
        if i == 0 {
            self.problems.borrow_mut().push(FieldProblem::simple(
                "",
                "empty_batch",
                "the array holds no customers".into(),
            ));
        }
        Ok((out, true))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        self.not_a_customer("a string")
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        self.not_a_customer("a number")
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        self.not_a_customer("a number")
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        self.not_a_customer("a number")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        self.not_a_customer("a boolean")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        self.not_a_customer("null")
    }
}

impl BodySeed<'_, '_> {
    /// A body that is a JSON scalar: recorded as a wrong-type problem, nothing to score.
    fn not_a_customer<E>(self, found: &str) -> Result<(Vec<Customer>, bool), E> {
        CustomerSeed { inputs: self.inputs, row: None, problems: self.problems }
            .wrong_type(found)
            .map(|_| (Vec::new(), false))
    }
}

impl Inputs<'_> {
    /// Parses and validates a JSON body in one pass: a customer object, or an array of them
    /// (all valid, or every problem reported with its row).
    pub fn json_customers(
        &self,
        bytes: &[u8],
        max_rows: usize,
        status: axum::http::StatusCode,
    ) -> Result<(Vec<Customer>, bool), ApiError> {
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ApiError::bad_request(
                "empty_body",
                "the body is empty: send a customer object, or an array of them".into(),
            ));
        }
        let problems = RefCell::new(Vec::new());
        let too_many = std::cell::Cell::new(false);
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let parsed = BodySeed { inputs: self, max_rows, problems: &problems, too_many: &too_many }
            .deserialize(&mut de)
            .and_then(|v| de.end().map(|_| v))
            .map_err(|e| ApiError::invalid_json(&e.to_string()))?;
        if too_many.get() {
            return Err(ApiError::bad_request(
                "too_many_customers",
                format!(
                    "more than {max_rows} customers in one request (--max-batch-rows); use churn predict for files"
                ),
            ));
        }
        let problems = problems.into_inner();
        if let Some(p) = problems.iter().find(|p| p.code == "wrong_body_type" || p.code == "empty_batch") {
            return Err(ApiError::bad_request(
                if p.code == "empty_batch" { "empty_batch" } else { "wrong_body_type" },
                p.message.clone(),
            ));
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid_fields(problems, status));
        }
        Ok(parsed)
    }
}
