//! Per-customer reasons: exact TreeSHAP contributions summed back onto the raw fields a
//! retention agent knows ("Contract = Month-to-month"), ranked by size.
//!
//! Contributions are in log-odds. For people they are also given in probability points: the
//! move from the average customer's probability to this customer's is shared out in proportion
//! to the contributions (the sigmoid's secant slope between the two margins), so the points add
//! up exactly to the difference and keep each contribution's sign.

use super::{shap, sigmoid, Forest};
use crate::features::Pipeline;
use serde::Serialize;

/// One reason for a customer's score (in answers, the schema of `reasons`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Reason {
    /// The raw field (or, for a model without churn's pipeline, the model column).
    pub field: String,
    /// The field's label for people (the schema's `label`, else its name).
    pub label: String,
    /// The customer's value of that field, as text.
    pub value: String,
    /// Exact SHAP value in log-odds (XGBoost's `pred_contribs`, summed over the field's model
    /// columns).
    pub contribution: f64,
    /// The same in percentage points of churn probability.
    pub points: f64,
    pub direction: Direction,
    /// The reason in a sentence.
    pub text: String,
}

/// Whether the field raises or lowers the churn risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Raises,
    Lowers,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The model's probability for an average customer (the SHAP base value).
    pub base_probability: f64,
    pub reasons: Vec<Reason>,
}

/// Reusable buffers for explaining many rows on one thread.
#[derive(Default)]
pub struct Scratch {
    path: shap::Scratch,
    phi: Vec<f32>,
    grouped: Vec<f64>,
}

/// Which model columns belong to which reported field.
pub struct Explainer {
    groups: Vec<Vec<usize>>,
    names: Vec<String>,
    labels: Vec<String>,
}

impl Explainer {
    /// Reasons by raw field: each field's model columns (its indicators) summed.
    pub fn for_pipeline(p: &Pipeline) -> Explainer {
        Explainer {
            groups: p.features_of_field(),
            names: p.schema.fields.iter().map(|f| f.name.clone()).collect(),
            labels: p.schema.fields.iter().map(|f| f.display_label().to_string()).collect(),
        }
    }

    /// Reasons by model column, for a model without churn's pipeline.
    pub fn for_columns(names: &[String]) -> Explainer {
        Explainer { groups: (0..names.len()).map(|j| vec![j]).collect(), names: names.to_vec(), labels: names.to_vec() }
    }

    /// Mean |SHAP| (log-odds) per field over many rows of model inputs, by field label. Rows
    /// are taken in fixed blocks on `threads` threads and the blocks summed in order, so the
    /// figures are the same under any thread count.
    pub fn importance(&self, forest: &Forest, rows: &[f32], threads: usize) -> Vec<(String, f64)> {
        const BLOCK_ROWS: usize = 256;
        let m = forest.num_feature.max(1);
        let n = rows.len() / m;
        let blocks: Vec<&[f32]> = rows.chunks(BLOCK_ROWS * m).collect();
        let partial = crate::parallel::map(blocks, threads, |block| {
            let mut sums = vec![0f64; self.groups.len()];
            let mut phi = vec![0f32; m + 1];
            let mut scratch = shap::Scratch::default();
            for x in block.chunks(m) {
                forest.contributions(x, &mut phi, &mut scratch);
                for (k, cols) in self.groups.iter().enumerate() {
                    sums[k] += cols.iter().map(|&j| phi[j] as f64).sum::<f64>().abs();
                }
            }
            sums
        });
        let mut sums = vec![0f64; self.groups.len()];
        for p in partial {
            sums.iter_mut().zip(p).for_each(|(s, v)| *s += v);
        }
        self.labels.iter().cloned().zip(sums.into_iter().map(|s| s / n.max(1) as f64)).collect()
    }

    /// Explains one row, and returns its margin too (`Forest::contributions_and_margin`). `x`
    /// holds the model inputs; `value_text(k)` renders field k's value.
    pub fn explain(
        &self,
        forest: &Forest,
        x: &[f32],
        top: usize,
        scratch: &mut Scratch,
        value_text: impl Fn(usize) -> String,
    ) -> (Explanation, f32) {
        scratch.phi.resize(forest.num_feature + 1, 0.0);
        let row_margin = forest.contributions_and_margin(x, &mut scratch.phi, &mut scratch.path);
        let bias = scratch.phi[forest.num_feature] as f64;
        let margin: f64 = scratch.phi.iter().map(|&v| v as f64).sum();
        let p_base = sigmoid(bias as f32) as f64;
        let p = sigmoid(margin as f32) as f64;
        let slope = if (margin - bias).abs() > 1e-6 { (p - p_base) / (margin - bias) } else { p * (1.0 - p) };
        scratch.grouped.clear();
        scratch.grouped.extend(self.groups.iter().map(|cols| cols.iter().map(|&j| scratch.phi[j] as f64).sum::<f64>()));
        let mut order: Vec<usize> = (0..self.groups.len()).filter(|&k| scratch.grouped[k] != 0.0).collect();
        order.sort_by(|&a, &b| scratch.grouped[b].abs().total_cmp(&scratch.grouped[a].abs()));
        order.truncate(top);
        let reasons = order
            .into_iter()
            .map(|k| {
                let contribution = scratch.grouped[k];
                let points = 100.0 * contribution * slope;
                let value = value_text(k);
                let direction = if contribution > 0.0 { Direction::Raises } else { Direction::Lowers };
                let text = format!(
                    "{} = {} {} the churn risk ({:+.1} points)",
                    self.labels[k],
                    value,
                    if direction == Direction::Raises { "raises" } else { "lowers" },
                    points
                );
                Reason {
                    field: self.names[k].clone(),
                    label: self.labels[k].clone(),
                    value,
                    contribution,
                    points,
                    direction,
                    text,
                }
            })
            .collect();
        (Explanation { base_probability: p_base, reasons }, row_margin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn importance_is_the_mean_absolute_contribution_under_any_thread_count() {
        let forest = Forest::from_json(&crate::forest::tests::tiny_model()).unwrap();
        let explainer = Explainer::for_columns(&["a".to_string(), "b".to_string()]);
        // 1,000 rows (several blocks): feature 0 below and above the split, and missing.
        let rows: Vec<f32> = (0..1000).flat_map(|i| [[0.0, 1.0], [0.9, 2.0], [f32::NAN, 3.0]][i % 3]).collect();
        let mut expected = [0f64; 2];
        let (mut phi, mut scratch) = (vec![0f32; 3], shap::Scratch::default());
        for x in rows.chunks(2) {
            forest.contributions(x, &mut phi, &mut scratch);
            expected[0] += phi[0].abs() as f64 / 1000.0;
            expected[1] += phi[1].abs() as f64 / 1000.0;
        }
        let one = explainer.importance(&forest, &rows, 1);
        assert_eq!(one, explainer.importance(&forest, &rows, 2));
        assert_eq!(one[0].0, "a");
        assert!(one[0].1 > 0.0 && (one[0].1 - expected[0]).abs() < 1e-9, "{one:?} vs {expected:?}");
        assert_eq!(one[1].1, 0.0, "feature b is never split on");
    }
}
