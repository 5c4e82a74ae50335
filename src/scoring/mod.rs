//! Scoring with a loaded model: shared by `churn predict` (batch) and `churn serve` (online).
//! Inputs pass the ingestion gate of the model's schema, are encoded by the bundle's own
//! pipeline and scored by the pure-Rust forest, so both paths give exactly the same numbers.

pub mod batch;
pub mod output;

use crate::bundle::{Inputs, LoadedModel, Resolved};
use crate::evaluation::tables::risk_decile;
use crate::forest::reasons::{Explainer, Explanation, Scratch};
use crate::ingest::Gate;
use crate::schema::Schema;
use serde::Serialize;

/// A model ready to score, and where it came from.
pub struct Scorer {
    pub model: LoadedModel,
    pub source: Resolved,
    explainer: Explainer,
    risk_cuts: Vec<f64>,
    labels: (String, String),
    /// The gate of what requests and files carry: the churn schema's fields, or, for a model
    /// without one, its own input columns.
    gate: Gate,
    /// The gate of the model's own input columns (MLflow clients may send those).
    columns: Gate,
}

/// Which model scored, and when: what lets outcomes learned months later be joined back to the
/// scores and judged (`churn monitor`) against the model that made them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    pub model_uri: String,
    pub model_name: Option<String>,
    pub model_version: Option<String>,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
    /// UTC, ISO 8601.
    pub scored_at: String,
}

/// One customer's score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    pub probability: f32,
    pub churn: bool,
    /// 1 = the riskiest tenth of the held-out customers; None for a model without churn's
    /// evaluation.
    pub risk_decile: Option<u8>,
    pub risk_band: RiskBand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskBand {
    High,
    Medium,
    Low,
}

impl RiskBand {
    pub fn as_str(&self) -> &'static str {
        match self {
            RiskBand::High => "high",
            RiskBand::Medium => "medium",
            RiskBand::Low => "low",
        }
    }
}

impl Scorer {
    pub fn new(model: LoadedModel, source: Resolved) -> Scorer {
        let explainer = match &model.inputs {
            Inputs::Customers(p) => Explainer::for_pipeline(p),
            Inputs::Features(names) => Explainer::for_columns(names),
        };
        let risk_cuts = model.evaluation.as_ref().map(|e| e.risk_cuts.clone()).unwrap_or_default();
        let labels = match model.pipeline() {
            Some(p) => (p.schema.target.positive.clone(), p.schema.target.negative.clone()),
            None => ("1".to_string(), "0".to_string()),
        };
        let columns = Gate::new(Schema::for_columns(&model.feature_names()));
        let gate = match model.pipeline() {
            Some(p) => Gate::new(p.schema.clone()),
            None => columns.clone(),
        };
        Scorer { model, source, explainer, risk_cuts, labels, gate, columns }
    }

    /// This model, scoring now.
    pub fn provenance(&self) -> Provenance {
        let run = self.model.metadata.as_ref().and_then(|m| m.run.as_ref());
        Provenance {
            model_uri: self.source.uri.clone(),
            model_name: self.source.name.clone().or_else(|| self.model.metadata.as_ref().map(|m| m.name.clone())),
            model_version: self
                .source
                .version
                .clone()
                .or_else(|| run.and_then(|r| r.registered.as_ref()).map(|r| r.1.clone())),
            run_id: self.source.run_id.clone().or_else(|| run.map(|r| r.run_id.clone())),
            model_id: self.source.model_id.clone().or_else(|| run.and_then(|r| r.model_id.clone())),
            scored_at: jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }

    /// Probabilities for validated customers (a labelled table read with the model's schema), as
    /// served; empty for a model without churn's pipeline.
    pub fn probabilities(&self, data: &crate::ingest::Dataset) -> Vec<f64> {
        let Some(pipeline) = self.model.pipeline() else { return Vec::new() };
        let x = pipeline.encode_rows(&data.values);
        x.chunks(pipeline.n_features().max(1)).map(|row| self.model.forest.predict(row) as f64).collect()
    }

    /// The gate requests and files pass: the model's schema.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// The gate of the model's own input columns.
    pub fn column_gate(&self) -> &Gate {
        &self.columns
    }

    /// The churn schema's gate, when the model has a churn schema.
    pub fn customer_gate(&self) -> Option<&Gate> {
        self.model.pipeline().map(|_| &self.gate)
    }

    pub fn threshold(&self) -> f64 {
        self.model.threshold()
    }

    /// The id column requests and files may carry (echoed back): the schema's, if any.
    pub fn id_column(&self) -> Option<&str> {
        self.gate.id_column()
    }

    /// The label words for churn / no churn (the schema's target labels).
    pub fn label_text(&self, churn: bool) -> &str {
        if churn {
            &self.labels.0
        } else {
            &self.labels.1
        }
    }

    /// Model inputs from validated values.
    #[inline]
    pub fn encode(&self, values: &[f64], out: &mut [f32]) {
        match &self.model.inputs {
            Inputs::Customers(p) => p.encode(values, out),
            Inputs::Features(_) => {
                for (o, v) in out.iter_mut().zip(values) {
                    *o = *v as f32;
                }
            }
        }
    }

    /// Scores the bundle's example customers (or, for a model without them, a customer with every
    /// input missing) with reasons; a panic or a probability that is not one is a failure.
    pub fn self_check(&self) -> Result<(), String> {
        let scorer = self;
        let gate = scorer.gate();
        let mut rows: Vec<Vec<f64>> = Vec::new();
        for example in scorer.model.evaluation.iter().flat_map(|e| &e.examples) {
            let mut row = gate.keyed(None, crate::ingest::Unknown::Ignore);
            for (k, v) in &example.customer {
                let role = row.key(k);
                row.put(k, role, crate::ingest::mlflow::raw_of(v));
            }
            let values = row.finish().map_err(|p| {
                format!("its example customer \"{}\" is refused by its own schema: {}", example.title, p[0].message())
            })?;
            rows.push(values.values);
        }
        if rows.is_empty() {
            rows.push(vec![f64::NAN; gate.names().len()]);
        }
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut x = vec![0f32; scorer.n_features()];
            let mut scratch = crate::forest::reasons::Scratch::default();
            for values in &rows {
                scorer.encode(values, &mut x);
                let (score, e) = scorer.score_explained(&x, values, 5, &mut scratch);
                if !(0.0..=1.0).contains(&score.probability) {
                    return Err(format!("a probability of {}", score.probability));
                }
                if score != scorer.score(&x) {
                    return Err("a score with reasons that differs from its score without them".to_string());
                }
                if e.reasons.iter().any(|r| !r.points.is_finite()) || !e.base_probability.is_finite() {
                    return Err("reasons that are not numbers".to_string());
                }
            }
            Ok(())
        }))
        .map_err(|p| format!("it panicked: {}", panic_text(&*p)))?
    }

    pub fn n_features(&self) -> usize {
        self.model.forest.num_feature
    }

    #[inline]
    pub fn score(&self, x: &[f32]) -> Score {
        self.score_margin(self.model.forest.margin(x))
    }

    fn score_margin(&self, margin: f32) -> Score {
        let probability = self.model.forest.transform(margin);
        let churn = probability as f64 >= self.threshold();
        let risk_decile = risk_decile(&self.risk_cuts, probability as f64);
        let risk_band = match risk_decile {
            Some(1..=2) => RiskBand::High,
            Some(3..=5) => RiskBand::Medium,
            Some(_) => RiskBand::Low,
            None if churn => RiskBand::High,
            None => RiskBand::Low,
        };
        Score { probability, churn, risk_decile, risk_band }
    }

    /// One customer's score and top reasons (`values` are the validated inputs, for the
    /// wording), from one pass through the trees: the score is `score(x)`'s, bit for bit.
    pub fn score_explained(
        &self,
        x: &[f32],
        values: &[f64],
        top: usize,
        scratch: &mut Scratch,
    ) -> (Score, Explanation) {
        let fields = &self.gate.schema().fields;
        let (explanation, margin) =
            self.explainer.explain(&self.model.forest, x, top, scratch, |k| fields[k].format_value(values[k]));
        (self.score_margin(margin), explanation)
    }

    /// A score, with its reasons when asked: what every scoring path does per customer.
    pub fn score_maybe_explained(
        &self,
        x: &[f32],
        values: &[f64],
        top: Option<usize>,
        scratch: &mut Scratch,
    ) -> (Score, Option<Explanation>) {
        match top {
            Some(top) => {
                let (score, explanation) = self.score_explained(x, values, top, scratch);
                (score, Some(explanation))
            }
            None => (self.score(x), None),
        }
    }
}

/// The message of a panic payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
