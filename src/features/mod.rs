//! The one feature pipeline: fitted on training rows, saved in the model bundle, and applied by
//! training, the server and batch scoring alike, so train/serve skew cannot happen.
//!
//! Encoding, chosen by measurement on the IBM file (README, "Quality"):
//! - a numeric field passes through as is (missing stays missing: XGBoost routes it);
//! - a two-level categorical field becomes one 0/1 indicator of its second level;
//! - a categorical field with more levels becomes one indicator per level;
//! - an indicator that is constant on the training rows, or equal (or complementary) to an
//!   earlier column there, is dropped: e.g. `OnlineSecurity = No internet service` is exactly
//!   `InternetService = No`, and such twins only dilute column sampling and split the credit in
//!   the reasons.
//! - a missing categorical value sets all of its indicators to missing.
//!
//! Derived features (tenure buckets, average charge, service counts, charge residuals) were
//! measured too and did not improve cross-validated AUC or log loss, so none is derived.

use crate::schema::{FieldKind, Schema};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Bumped whenever the saved form or the meaning of an encoding changes.
pub const PIPELINE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub version: u32,
    pub schema: Schema,
    pub features: Vec<Feature>,
}

/// One model input column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    /// The column name the XGBoost model and the MLflow signature use.
    pub name: String,
    /// Index of the raw field (in `schema.fields`) it is computed from: the reasons map back here.
    pub field: usize,
    pub encoding: Encoding,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Encoding {
    Number,
    Indicator { level: u16 },
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("the feature pipeline was saved by a newer churn (pipeline version {found}, this build reads up to {PIPELINE_VERSION})")]
    TooNew { found: u32 },
    #[error("the feature pipeline is inconsistent: {0}")]
    Inconsistent(String),
}

impl Pipeline {
    /// Fits the pipeline on training rows (`values` is row-major, one value per schema field).
    pub fn fit(schema: &Schema, values: &[f64]) -> Pipeline {
        let d = schema.fields.len();
        let n = values.len().checked_div(d).unwrap_or(0);
        let mut features = Vec::new();
        // Fingerprint of each kept indicator over the training rows, to find twins.
        let mut kept: HashMap<Vec<u64>, ()> = HashMap::new();
        for (k, field) in schema.fields.iter().enumerate() {
            match &field.kind {
                FieldKind::Numeric(_) => features.push(Feature {
                    name: column_name(&field.name, None),
                    field: k,
                    encoding: Encoding::Number,
                }),
                FieldKind::Categorical(spec) => {
                    let levels: Vec<u16> =
                        if spec.values.len() == 2 { vec![1] } else { (0..spec.values.len() as u16).collect() };
                    for level in levels {
                        let (bits, flipped, ones) = indicator_bits(values, n, d, k, level);
                        if ones == 0 || ones == n {
                            continue;
                        }
                        if kept.contains_key(&bits) || kept.contains_key(&flipped) {
                            continue;
                        }
                        kept.insert(bits, ());
                        features.push(Feature {
                            name: column_name(&field.name, Some(&spec.values[level as usize])),
                            field: k,
                            encoding: Encoding::Indicator { level },
                        });
                    }
                }
            }
        }
        dedupe_names(&mut features);
        Pipeline { version: PIPELINE_VERSION, schema: schema.clone(), features }
    }

    /// Checks a pipeline read from disk before it is trusted.
    pub fn validate(&self) -> Result<(), PipelineError> {
        if self.version > PIPELINE_VERSION {
            return Err(PipelineError::TooNew { found: self.version });
        }
        for f in &self.features {
            let Some(field) = self.schema.fields.get(f.field) else {
                return Err(PipelineError::Inconsistent(format!(
                    "feature `{}` points at field #{} of {}",
                    f.name,
                    f.field,
                    self.schema.fields.len()
                )));
            };
            match (&field.kind, f.encoding) {
                (FieldKind::Numeric(_), Encoding::Number) => {}
                (FieldKind::Categorical(c), Encoding::Indicator { level }) if (level as usize) < c.values.len() => {}
                _ => {
                    return Err(PipelineError::Inconsistent(format!(
                        "feature `{}` does not fit field `{}`",
                        f.name, field.name
                    )))
                }
            }
        }
        Ok(())
    }

    pub fn n_features(&self) -> usize {
        self.features.len()
    }

    pub fn feature_names(&self) -> Vec<String> {
        self.features.iter().map(|f| f.name.clone()).collect()
    }

    /// Encodes one validated customer (one value per schema field) into model inputs.
    #[inline]
    pub fn encode(&self, values: &[f64], out: &mut [f32]) {
        debug_assert_eq!(out.len(), self.features.len());
        for (o, f) in out.iter_mut().zip(&self.features) {
            let v = values[f.field];
            *o = match f.encoding {
                Encoding::Number => v as f32,
                Encoding::Indicator { level } => {
                    if v.is_nan() {
                        f32::NAN
                    } else if v as u16 == level {
                        1.0
                    } else {
                        0.0
                    }
                }
            };
        }
    }

    /// Encodes many rows (row-major in, row-major out).
    pub fn encode_rows(&self, values: &[f64]) -> Vec<f32> {
        let d = self.schema.fields.len();
        let m = self.features.len();
        let n = values.len() / d.max(1);
        let mut out = vec![0f32; n * m];
        for (row, dst) in values.chunks(d).zip(out.chunks_mut(m)) {
            self.encode(row, dst);
        }
        out
    }

    /// For each raw field, the model columns computed from it.
    pub fn features_of_field(&self) -> Vec<Vec<usize>> {
        let mut by_field = vec![Vec::new(); self.schema.fields.len()];
        for (j, f) in self.features.iter().enumerate() {
            by_field[f.field].push(j);
        }
        by_field
    }
}

fn indicator_bits(values: &[f64], n: usize, d: usize, k: usize, level: u16) -> (Vec<u64>, Vec<u64>, usize) {
    let words = n.div_ceil(64);
    let mut bits = vec![0u64; words];
    let mut missing = vec![0u64; words];
    let mut ones = 0;
    for i in 0..n {
        let v = values[i * d + k];
        if v.is_nan() {
            missing[i / 64] |= 1 << (i % 64);
        } else if v as u16 == level {
            bits[i / 64] |= 1 << (i % 64);
            ones += 1;
        }
    }
    let mut flipped: Vec<u64> = bits.iter().zip(&missing).map(|(b, m)| !b & !m).collect();
    if n % 64 != 0 {
        let mask = (1u64 << (n % 64)) - 1;
        if let Some(last) = flipped.last_mut() {
            *last &= mask;
        }
    }
    // Missing rows are part of the fingerprint, so a twin must also be missing in the same rows.
    bits.extend_from_slice(&missing);
    flipped.extend_from_slice(&missing);
    (bits, flipped, ones)
}

/// XGBoost refuses `[`, `]` and `<` in feature names; `,` breaks its feature-name list.
fn column_name(field: &str, level: Option<&str>) -> String {
    let raw = match level {
        None => field.to_string(),
        Some(l) => format!("{field}_{l}"),
    };
    raw.chars().map(|c| if matches!(c, '[' | ']' | '<' | ',') { '_' } else { c }).collect()
}

fn dedupe_names(features: &mut [Feature]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for f in features.iter_mut() {
        let count = seen.entry(f.name.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            f.name = format!("{}#{}", f.name, count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Raw;
    use proptest::prelude::*;

    fn telco_rows(rows: &[[&str; 19]]) -> (Schema, Vec<f64>) {
        let s = Schema::telco();
        let mut values = Vec::new();
        for r in rows {
            for (f, cell) in s.fields.iter().zip(r.iter()) {
                values.push(f.parse(Raw::Text(cell)).unwrap());
            }
        }
        (s, values)
    }

    const A: [&str; 19] = [
        "Female",
        "0",
        "Yes",
        "No",
        "1",
        "No",
        "No phone service",
        "DSL",
        "No",
        "Yes",
        "No",
        "No",
        "No",
        "No",
        "Month-to-month",
        "Yes",
        "Electronic check",
        "29.85",
        "29.85",
    ];
    const B: [&str; 19] = [
        "Male",
        "0",
        "No",
        "No",
        "34",
        "Yes",
        "No",
        "DSL",
        "Yes",
        "No",
        "Yes",
        "No",
        "No",
        "No",
        "One year",
        "No",
        "Mailed check",
        "56.95",
        "1889.5",
    ];
    const C: [&str; 19] = [
        "Male",
        "1",
        "No",
        "Yes",
        "2",
        "Yes",
        "Yes",
        "Fiber optic",
        "No",
        "No",
        "No",
        "Yes",
        "Yes",
        "Yes",
        "Month-to-month",
        "Yes",
        "Bank transfer (automatic)",
        "99.65",
        "820.5",
    ];
    const D: [&str; 19] = [
        "Female",
        "0",
        "Yes",
        "Yes",
        "0",
        "Yes",
        "No",
        "No",
        "No internet service",
        "No internet service",
        "No internet service",
        "No internet service",
        "No internet service",
        "No internet service",
        "Two year",
        "No",
        "Credit card (automatic)",
        "20.25",
        " ",
    ];

    #[test]
    fn redundant_indicators_are_dropped_and_twins_found() {
        let (s, v) = telco_rows(&[A, B, C, D]);
        let p = Pipeline::fit(&s, &v);
        let names = p.feature_names();
        assert!(names.contains(&"InternetService_No".to_string()));
        assert!(!names.iter().any(|n| n.ends_with("_No internet service")), "{names:?}");
        assert!(names.contains(&"gender_Male".to_string()));
        assert!(!names.contains(&"gender_Female".to_string()));
        assert!(names.contains(&"tenure".to_string()));
        p.validate().unwrap();
    }

    #[test]
    fn encode_matches_the_levels() {
        let (s, v) = telco_rows(&[A, B, C, D]);
        let p = Pipeline::fit(&s, &v);
        let mut out = vec![0f32; p.n_features()];
        for row in v.chunks(19) {
            p.encode(row, &mut out);
            for (o, f) in out.iter().zip(&p.features) {
                let expected = match f.encoding {
                    Encoding::Number => row[f.field] as f32,
                    Encoding::Indicator { level } => (row[f.field] as u16 == level) as u8 as f32,
                };
                assert_eq!(o.to_bits(), expected.to_bits(), "{}", f.name);
            }
        }
        // A blank TotalCharges (not billed yet) reaches XGBoost as missing.
        p.encode(&v[3 * 19..4 * 19], &mut out);
        assert!(out[p.features.iter().position(|f| f.name == "TotalCharges").unwrap()].is_nan());
    }

    #[test]
    fn pipeline_round_trips_through_json() {
        let (s, v) = telco_rows(&[A, B, C, D]);
        let p = Pipeline::fit(&s, &v);
        let back: Pipeline = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(p, back);
    }

    #[test]
    fn newer_pipelines_are_refused() {
        let (s, v) = telco_rows(&[A, B]);
        let mut p = Pipeline::fit(&s, &v);
        p.version = PIPELINE_VERSION + 1;
        assert!(matches!(p.validate(), Err(PipelineError::TooNew { .. })));
    }

    proptest! {
        // Whatever the training rows, encoding is total, each field's indicators are 0/1 with at
        // most one set, and numeric fields pass through unchanged.
        #[test]
        fn encoding_is_total_and_one_hot(rows in proptest::collection::vec((0u16..3, 0u16..4, 0.0f64..100.0, proptest::bool::ANY), 2..40)) {
            let s = Schema::telco();
            let d = s.fields.len();
            let mut values = Vec::new();
            for (contract, pay, money, missing) in &rows {
                let mut r = s.default_values();
                r[s.field_index("Contract").unwrap()] = *contract as f64;
                r[s.field_index("PaymentMethod").unwrap()] = *pay as f64;
                r[s.field_index("MonthlyCharges").unwrap()] = *money;
                if *missing { r[s.field_index("TotalCharges").unwrap()] = f64::NAN; }
                values.extend(r);
            }
            let p = Pipeline::fit(&s, &values);
            p.validate().unwrap();
            let enc = p.encode_rows(&values);
            let m = p.n_features();
            for (i, row) in enc.chunks(m).enumerate() {
                let raw = &values[i * d..(i + 1) * d];
                for (field_idx, cols) in p.features_of_field().iter().enumerate() {
                    let field = &s.fields[field_idx];
                    if field.is_categorical() {
                        let ones = cols.iter().filter(|&&j| row[j] == 1.0).count();
                        prop_assert!(ones <= 1);
                        prop_assert!(cols.iter().all(|&j| row[j] == 0.0 || row[j] == 1.0));
                    } else {
                        for &j in cols {
                            let v = raw[field_idx];
                            prop_assert!((v.is_nan() && row[j].is_nan()) || row[j] == v as f32);
                        }
                    }
                }
            }
        }
    }
}
