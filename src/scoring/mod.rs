//! Scoring with a loaded model: shared by `churn predict` (batch) and `churn serve` (online).
//! Inputs are validated by the schema, encoded by the bundle's own pipeline and scored by the
//! pure-Rust forest, so both paths give exactly the same numbers.

pub mod batch;

use crate::evaluation::tables::risk_decile;
use crate::model::bundle::{self, BundleError, Inputs, LoadedModel};
use crate::model::reasons::{Explainer, Explanation, Scratch};
use crate::schema::{FieldError, FieldErrorCode, Raw};
use crate::tracking::{self, Resolved, TrackingError, TrackingUri};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Resolve(#[from] TrackingError),
    #[error("{uri} resolved to {}, but the model there cannot be used: {source}", dir.display())]
    Bundle { uri: String, dir: std::path::PathBuf, source: BundleError },
}

/// A model ready to score, and where it came from.
pub struct Scorer {
    pub model: LoadedModel,
    pub source: Resolved,
    explainer: Explainer,
    risk_cuts: Vec<f64>,
    labels: (String, String),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// Resolves a model URI and loads the model it points at.
pub fn load(uri: &str, tracking: &TrackingUri) -> Result<Scorer, LoadError> {
    let resolved = tracking::resolve(uri, tracking)?;
    let model = bundle::open(&resolved.dir).map_err(|source| LoadError::Bundle {
        uri: uri.to_string(),
        dir: resolved.dir.clone(),
        source,
    })?;
    Ok(Scorer::new(model, resolved))
}

impl Scorer {
    pub fn new(model: LoadedModel, source: Resolved) -> Scorer {
        let explainer = Explainer::new(&model);
        let risk_cuts = model.evaluation.as_ref().map(|e| e.risk_cuts.clone()).unwrap_or_default();
        let labels = match model.pipeline() {
            Some(p) => (p.schema.target.positive.clone(), p.schema.target.negative.clone()),
            None => ("1".to_string(), "0".to_string()),
        };
        Scorer { model, source, explainer, risk_cuts, labels }
    }

    pub fn threshold(&self) -> f64 {
        self.model.threshold()
    }

    pub fn n_inputs(&self) -> usize {
        match &self.model.inputs {
            Inputs::Customers(p) => p.schema.fields.len(),
            Inputs::Features(names) => names.len(),
        }
    }

    /// Names of the raw inputs a request carries: schema fields, or the model's columns.
    pub fn input_names(&self) -> Vec<String> {
        match &self.model.inputs {
            Inputs::Customers(p) => p.schema.fields.iter().map(|f| f.name.clone()).collect(),
            Inputs::Features(names) => names.clone(),
        }
    }

    /// The id column requests and files may carry (echoed back).
    pub fn id_column(&self) -> Option<&str> {
        self.model.pipeline().and_then(|p| p.schema.id.as_deref())
    }

    /// The label words for churn / no churn (the schema's target labels).
    pub fn label_text(&self, churn: bool) -> &str {
        if churn {
            &self.labels.0
        } else {
            &self.labels.1
        }
    }

    /// Validates input `k` from a raw value.
    #[inline]
    pub fn parse_input(&self, k: usize, raw: Raw) -> Result<f64, FieldError> {
        match &self.model.inputs {
            Inputs::Customers(p) => p.schema.fields[k].parse(raw),
            Inputs::Features(_) => match raw {
                Raw::Null => Ok(f64::NAN),
                Raw::Text(t) if t.trim().is_empty() => Ok(f64::NAN),
                Raw::Number(v) if v.is_finite() => Ok(v),
                Raw::Integer(i) => Ok(i as f64),
                Raw::Bool(b) => Ok(b as u8 as f64),
                Raw::Text(t) => t.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                    FieldError::new(
                        FieldErrorCode::NotANumber,
                        format!("expected a number, found \"{}\"", crate::schema::value_preview(t)),
                    )
                    .received(t)
                }),
                _ => Err(FieldError::new(FieldErrorCode::WrongType, "expected a number".into())),
            },
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

    pub fn n_features(&self) -> usize {
        self.model.forest.num_feature
    }

    #[inline]
    pub fn score(&self, x: &[f32]) -> Score {
        let probability = self.model.forest.predict(x);
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

    /// Top reasons for one customer (`values` are the validated inputs, for the wording).
    pub fn explain(&self, x: &[f32], values: &[f64], top: usize, scratch: &mut Scratch) -> Explanation {
        self.explainer.explain(&self.model.forest, x, top, scratch, |k| match &self.model.inputs {
            Inputs::Customers(p) => p.schema.fields[k].format_value(values[k]),
            Inputs::Features(_) => {
                let v = values[k];
                if v.is_nan() {
                    "missing".into()
                } else {
                    format!("{v}")
                }
            }
        })
    }
}
