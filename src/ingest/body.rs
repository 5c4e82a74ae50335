//! Request bodies through the gate: a JSON customer object or an array of them, read straight
//! from the bytes into their field slots (no intermediate JSON tree), and CSV text, read by the
//! same reader as CSV files.

use super::{Gate, Key, MissingColumns, Problem, Row, Unknown};
use crate::schema::Raw;
use crate::table::{Location, RawBatch, TableError, TableReader};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::cell::RefCell;

/// Why a body as a whole was refused (its values may not even have been looked at).
#[derive(Debug, Clone, PartialEq)]
pub enum BodyError {
    /// Nothing but whitespace.
    Empty,
    InvalidJson(String),
    /// JSON of another shape than a customer or an array of them.
    WrongType(String),
    /// An array, or CSV text, without a single customer.
    NoCustomers(String),
    TooMany {
        max: usize,
    },
    InvalidCsv(String),
    MissingColumns(MissingColumns),
    /// Customers whose values were refused (every one of them, each with its location).
    Invalid(Vec<Problem>),
}

impl BodyError {
    pub fn message(&self) -> String {
        match self {
            BodyError::Empty => "the body is empty: send a customer object, or an array of them".into(),
            BodyError::InvalidJson(e) => format!("the body is not valid JSON: {e}"),
            BodyError::WrongType(m) | BodyError::NoCustomers(m) | BodyError::InvalidCsv(m) => m.clone(),
            BodyError::TooMany { max } => {
                format!("more than {max} customers in one request (--max-batch-rows); use churn predict for files")
            }
            BodyError::MissingColumns(m) => m.describe(),
            BodyError::Invalid(p) => p.iter().map(Problem::message).collect::<Vec<_>>().join("; "),
        }
    }
}

/// The customers of a JSON body, and whether it was an array.
pub struct JsonCustomers {
    pub rows: Vec<Row>,
    pub is_array: bool,
}

/// Parses and validates a JSON body in one pass: a customer object, or an array of them (all
/// valid, or every problem reported with its index).
pub fn json(gate: &Gate, bytes: &[u8], max_rows: usize) -> Result<JsonCustomers, BodyError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(BodyError::Empty);
    }
    let problems = RefCell::new(Vec::new());
    let shape = RefCell::new(None);
    let too_many = std::cell::Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let (rows, is_array) = BodySeed { gate, max_rows, problems: &problems, shape: &shape, too_many: &too_many }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|_| v))
        .map_err(|e| BodyError::InvalidJson(e.to_string()))?;
    if too_many.get() {
        return Err(BodyError::TooMany { max: max_rows });
    }
    if let Some(e) = shape.into_inner() {
        return Err(e);
    }
    let problems = problems.into_inner();
    if !problems.is_empty() {
        return Err(BodyError::Invalid(problems));
    }
    Ok(JsonCustomers { rows, is_array })
}

/// CSV text with a header line: every row validated on its own; bad rows come back as problems
/// with their line, good rows as rows.
pub fn csv(gate: &Gate, bytes: bytes::Bytes, max_rows: usize) -> Result<(Vec<Row>, Vec<Problem>), BodyError> {
    let invalid =
        |e: TableError| BodyError::InvalidCsv(format!("the CSV cannot be read: {e}").replace("body.csv: ", ""));
    let mut reader = TableReader::csv_bytes(bytes, "body.csv").map_err(invalid)?;
    let cols = gate.columns(reader.columns(), false).map_err(BodyError::MissingColumns)?;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut batch = RawBatch::new_csv();
    let mut seen = 0;
    while reader.read_batch(1024, &mut batch).map_err(invalid)? {
        let cells = batch.cells();
        for r in 0..batch.len() {
            seen += 1;
            if seen > max_rows {
                return Err(BodyError::TooMany { max: max_rows });
            }
            let location = batch.location(r);
            let mut values = vec![0.0; gate.names().len()];
            let mut id = String::new();
            if gate.row(&cols, &cells, r, location, &mut values, &mut id, &mut problems) {
                rows.push(Row { id: (!id.is_empty()).then_some(id), values, location: Some(location) });
            }
        }
    }
    if seen == 0 {
        return Err(BodyError::NoCustomers("the CSV has a header but no rows".into()));
    }
    Ok((rows, problems))
}

/// One JSON value, borrowed from the body where possible.
enum Cell<'de> {
    Text(Cow<'de, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Composite,
}

impl Cell<'_> {
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

/// Reads one customer object (or records a non-object at `index`).
struct CustomerSeed<'a> {
    gate: &'a Gate,
    index: Option<u64>,
    problems: &'a RefCell<Vec<Problem>>,
}

impl<'de> DeserializeSeed<'de> for CustomerSeed<'_> {
    type Value = Option<Row>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Row>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CustomerSeed<'_> {
    type Value = Option<Row>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a customer object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Row>, A::Error> {
        let mut row = self.gate.keyed(self.index.map(Location::Index), Unknown::Refuse);
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match row.key(&key) {
                Key::Target | Key::Ignored => {
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Unknown => {
                    map.next_value::<IgnoredAny>()?;
                    row.put(&key, Key::Unknown, Raw::Null);
                }
                role => {
                    let cell: Cell = map.next_value()?;
                    row.put(&key, role, cell.raw());
                }
            }
        }
        match row.finish() {
            Ok(r) => Ok(Some(r)),
            Err(p) => {
                self.problems.borrow_mut().extend(p);
                Ok(None)
            }
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Row>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.wrong_type("an array"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<Row>, E> {
        Ok(self.wrong_type("a string"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<Row>, E> {
        Ok(self.wrong_type("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<Row>, E> {
        Ok(self.wrong_type("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<Row>, E> {
        Ok(self.wrong_type("a number"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<Row>, E> {
        Ok(self.wrong_type("a boolean"))
    }
    fn visit_unit<E>(self) -> Result<Option<Row>, E> {
        Ok(self.wrong_type("null"))
    }
}

impl CustomerSeed<'_> {
    /// An array element that is not an object: a problem of that row.
    fn wrong_type(self, found: &str) -> Option<Row> {
        let i = self.index.unwrap_or(0);
        self.problems.borrow_mut().push(Problem::new(
            "",
            Some(Location::Index(i)),
            crate::schema::FieldError::new(
                crate::schema::FieldErrorCode::WrongType,
                format!("expected a customer object, found {found}"),
            ),
        ));
        None
    }
}

/// The body: one customer, or an array of them.
struct BodySeed<'a> {
    gate: &'a Gate,
    max_rows: usize,
    problems: &'a RefCell<Vec<Problem>>,
    shape: &'a RefCell<Option<BodyError>>,
    too_many: &'a std::cell::Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = (Vec<Row>, bool);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_> {
    type Value = (Vec<Row>, bool);
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a customer object or an array of them")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let c = CustomerSeed { gate: self.gate, index: None, problems: self.problems }.visit_map(map)?;
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
            let seed = CustomerSeed { gate: self.gate, index: Some(i as u64), problems: self.problems };
            match seq.next_element_seed(seed)? {
                None => break,
                Some(Some(c)) => out.push(c),
                Some(None) => {}
            }
            i += 1;
        }
        if i == 0 {
            *self.shape.borrow_mut() = Some(BodyError::NoCustomers("the array holds no customers".into()));
        }
        Ok((out, true))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(self.not_a_customer("a string"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self.not_a_customer("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(self.not_a_customer("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(self.not_a_customer("a number"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self.not_a_customer("a boolean"))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.not_a_customer("null"))
    }
}

impl BodySeed<'_> {
    fn not_a_customer(self, found: &str) -> (Vec<Row>, bool) {
        *self.shape.borrow_mut() =
            Some(BodyError::WrongType(format!("expected a customer object or an array of them, found {found}")));
        (Vec::new(), false)
    }
}
