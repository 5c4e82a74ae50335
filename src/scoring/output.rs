//! One scored customer, and the shapes every output shows it in: the JSON object of `/predict`
//! (its keys and its OpenAPI schema derived from the one struct below), and the flat row of
//! `/predict`'s CSV answer and of `churn predict`'s scored file. `/invocations` and the Open
//! Inference Protocol take their numbers from the same struct.

use super::{RiskBand, Score};
use crate::forest::reasons::{Explanation, Reason};
use crate::table::writer::{Cell, ColumnType};
use serde::ser::SerializeMap;
use serde::Serialize;
use utoipa::ToSchema;

/// One scored customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Prediction<'a> {
    #[serde(flatten)]
    pub id: CustomerId<'a>,
    /// CSV bodies: the line of the row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The model's churn probability for the customer.
    pub churn_probability: f32,
    /// churn_probability >= threshold.
    pub churn: bool,
    /// The target's label for the prediction (e.g. "Yes").
    pub label: &'a str,
    /// The model's decision threshold (F1- or profit-optimal, chosen at training).
    pub threshold: f64,
    /// 1 = the riskiest tenth of held-out customers, 10 = the safest; null for a model without
    /// churn's evaluation.
    pub risk_decile: Option<u8>,
    /// high (deciles 1-2), medium (3-5), low (6-10); without churn's evaluation, high when
    /// `churn`, else low.
    pub risk_band: RiskBand,
    /// The model's probability for an average customer; with reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_probability: Option<f64>,
    /// Top reasons, largest first; with reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<Reason>>,
}

/// The customer's id under the schema's id column, echoed back when the input carried it. The
/// served OpenAPI document names the column of the model in service.
#[derive(Debug, Clone)]
pub struct CustomerId<'a> {
    pub key: &'a str,
    pub value: Option<std::borrow::Cow<'a, str>>,
}

impl Serialize for CustomerId<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(id) = &self.value {
            m.serialize_entry(self.key, id)?;
        }
        m.end()
    }
}

impl utoipa::PartialSchema for CustomerId<'_> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        // Named in the served document, where the model's id column is known (`openapi.rs`).
        utoipa::openapi::schema::ObjectBuilder::new()
            .description(Some(
                "The customer's id under the schema's id column, echoed back when the request carried it",
            ))
            .into()
    }
}

impl ToSchema for CustomerId<'_> {}

impl<'a> Prediction<'a> {
    pub fn new(id: CustomerId<'a>, line: Option<u64>, score: Score, label: &'a str, threshold: f64) -> Prediction<'a> {
        Prediction {
            id,
            line,
            churn_probability: score.probability,
            churn: score.churn,
            label,
            threshold,
            risk_decile: score.risk_decile,
            risk_band: score.risk_band,
            base_probability: None,
            reasons: None,
        }
    }

    pub fn explained(mut self, explanation: Option<Explanation>) -> Prediction<'a> {
        if let Some(e) = explanation {
            self.base_probability = Some(e.base_probability);
            self.reasons = Some(e.reasons);
        }
        self
    }
}

/// The flat row of a prediction in a file: `[id] [line] churn_probability churn risk_decile
/// risk_band [reason_k reason_k_points]...`, `churn` holding the label. The CSV answer and the
/// scored file add their own columns after it.
#[derive(Debug, Clone)]
pub struct Flat {
    /// The id column's name, when the rows have ids.
    pub id: Option<String>,
    pub line: bool,
    pub reasons: usize,
}

impl Flat {
    /// How many columns the row has.
    pub fn width(&self) -> usize {
        self.id.is_some() as usize + self.line as usize + 4 + 2 * self.reasons
    }

    pub fn columns(&self) -> Vec<(String, ColumnType)> {
        let mut columns: Vec<(String, ColumnType)> = Vec::new();
        if let Some(id) = &self.id {
            columns.push((id.clone(), ColumnType::Text));
        }
        if self.line {
            columns.push(("line".into(), ColumnType::Int));
        }
        columns.push(("churn_probability".into(), ColumnType::Float));
        columns.push(("churn".into(), ColumnType::Text));
        columns.push(("risk_decile".into(), ColumnType::Int));
        columns.push(("risk_band".into(), ColumnType::Text));
        for k in 1..=self.reasons {
            columns.push((format!("reason_{k}"), ColumnType::Text));
            columns.push((format!("reason_{k}_points"), ColumnType::Float));
        }
        columns
    }

    /// `p`'s cells, in `columns`' order, appended to `cells` (a row, or a batch's store).
    pub fn cells<'p>(&self, p: &'p Prediction, cells: &mut impl Extend<Cell<'p>>) {
        if self.id.is_some() {
            cells.extend([p.id.value.as_deref().map_or(Cell::Null, Cell::Text)]);
        }
        if self.line {
            cells.extend([p.line.map_or(Cell::Null, |l| Cell::Int(l as i64))]);
        }
        cells.extend([
            Cell::Float32(p.churn_probability),
            Cell::Text(p.label),
            p.risk_decile.map_or(Cell::Null, |d| Cell::Int(d as i64)),
            Cell::Text(p.risk_band.as_str()),
        ]);
        for k in 0..self.reasons {
            match p.reasons.as_ref().and_then(|r| r.get(k)) {
                Some(reason) => cells.extend([
                    Cell::Pair(&reason.label, &reason.value),
                    // `+ 0.0` turns a rounded -0 into 0.
                    Cell::Float((reason.points * 100.0).round() / 100.0 + 0.0),
                ]),
                None => cells.extend([Cell::Null, Cell::Null]),
            }
        }
    }

    /// A row that was not scored: its line, and nulls where the prediction would be.
    pub fn unscored(&self, line: Option<u64>, cells: &mut Vec<Cell<'_>>) {
        let n = self.width();
        let start = cells.len();
        if self.id.is_some() {
            cells.push(Cell::Null);
        }
        if self.line {
            cells.push(line.map_or(Cell::Null, |l| Cell::Int(l as i64)));
        }
        cells.resize(start + n, Cell::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::reasons::Direction;

    fn explained() -> Prediction<'static> {
        let score = Score { probability: 0.75, churn: true, risk_decile: Some(1), risk_band: RiskBand::High };
        let reason = Reason {
            field: "Contract".into(),
            label: "Contract".into(),
            value: "Month-to-month".into(),
            contribution: 0.5,
            points: 11.234,
            direction: Direction::Raises,
            text: "Contract = Month-to-month raises the churn risk (+11.2 points)".into(),
        };
        Prediction::new(CustomerId { key: "cid", value: Some("A-1".into()) }, Some(3), score, "Yes", 0.4)
            .explained(Some(Explanation { base_probability: 0.26, reasons: vec![reason] }))
    }

    /// Every key the answer carries is in its schema, and every key of the schema is one the
    /// answer can carry: the documentation is the serializer's own field list.
    #[test]
    fn the_json_answer_and_its_schema_name_the_same_keys() {
        let json = serde_json::to_value(explained()).unwrap();
        let keys: std::collections::BTreeSet<String> = json.as_object().unwrap().keys().cloned().collect();
        let schema = serde_json::to_value(<Prediction as utoipa::PartialSchema>::schema()).unwrap();
        let documented: std::collections::BTreeSet<String> = schema["allOf"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(std::iter::once(&schema))
            .filter_map(|s| s["properties"].as_object())
            .flat_map(|p| p.keys().cloned())
            .collect();
        let mut expected = documented.clone();
        expected.insert("cid".into());
        assert_eq!(keys, expected, "schema: {schema}");
        assert_eq!(json["risk_band"], "high");
        assert_eq!(json["reasons"][0]["direction"], "raises");
    }

    #[test]
    fn the_flat_row_has_a_cell_for_every_column_scored_or_not() {
        let flat = Flat { id: Some("cid".into()), line: true, reasons: 2 };
        let columns = flat.columns();
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "cid",
                "line",
                "churn_probability",
                "churn",
                "risk_decile",
                "risk_band",
                "reason_1",
                "reason_1_points",
                "reason_2",
                "reason_2_points"
            ]
        );
        let p = explained();
        let mut cells = Vec::new();
        flat.cells(&p, &mut cells);
        assert_eq!(cells.len(), columns.len());
        assert_eq!(flat.width(), columns.len());
        assert!(matches!(cells[6], Cell::Pair("Contract", "Month-to-month")));
        assert!(matches!(cells[7], Cell::Float(v) if v == 11.23));
        assert!(matches!(cells[8], Cell::Null));
        let mut cells = Vec::new();
        flat.unscored(Some(9), &mut cells);
        assert_eq!(cells.len(), columns.len());
        assert!(matches!(cells[1], Cell::Int(9)));
    }
}
