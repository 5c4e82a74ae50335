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
//! - a missing categorical value sets all of its indicators to missing;
//! - a categorical field with more than `MANY_LEVELS` levels (a service area, a state) becomes
//!   two numbers instead: the level's churn rate, shrunk toward the overall rate, and its share of
//!   the training rows. 747 indicators made each boosting round ten times dearer and split
//!   thin levels by chance; CatBoost's target statistics are the model. The rate is leak-free in
//!   training: each training row gets the rate of the *other* folds (out-of-fold, the folds the
//!   search validates on), so no row sees its own label; new rows get the rate of all training
//!   rows.
//!
//! Derived features (tenure buckets, average charge, service counts, charge residuals) were
//! measured too and did not improve cross-validated AUC or log loss, so none is derived.

mod stats;

pub use stats::{row_hash, FieldStats, FoldRates, PipelineStats};

use crate::schema::{FieldKind, Schema};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Bumped whenever the saved form or the meaning of an encoding changes.
pub const PIPELINE_VERSION: u32 = 2;

/// Categorical fields with more levels than this get a churn rate and a share, not indicators.
pub const MANY_LEVELS: usize = 16;

/// Weight, in rows, of the overall churn rate in a level's rate: a level seen 10 times is
/// half its own rate and half the overall one.
const RATE_PRIOR_ROWS: f64 = 10.0;

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Encoding {
    Number,
    Indicator {
        level: u16,
    },
    /// The level's shrunk churn rate on the training rows (indexed by level).
    LevelRate {
        rates: Vec<f32>,
    },
    /// The level's share of the training rows (indexed by level).
    LevelShare {
        shares: Vec<f32>,
    },
}

/// Each level's churn rate pulled toward the overall rate by [`RATE_PRIOR_ROWS`] rows.
fn level_counts_rates(count: &[f64], pos: &[f64], all: f64, all_pos: f64) -> Vec<f32> {
    let prior = if all > 0.0 { all_pos / all } else { 0.0 };
    count.iter().zip(pos).map(|(&c, &p)| ((p + RATE_PRIOR_ROWS * prior) / (c + RATE_PRIOR_ROWS)) as f32).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("the feature pipeline was saved by a newer churn (pipeline version {found}, this build reads up to {PIPELINE_VERSION})")]
    TooNew { found: u32 },
    #[error("the feature pipeline is inconsistent: {0}")]
    Inconsistent(String),
}

impl Pipeline {
    /// Fits the pipeline on training rows held in memory (`values` is row-major, one value per
    /// schema field; `labels` the rows' targets, used only by the level rates of many-level
    /// fields).
    pub fn fit(schema: &Schema, values: &[f64], labels: &[u8]) -> Pipeline {
        Pipeline::fit_from(schema, &stats_of(schema, values, labels, &[]))
    }

    /// Fits the pipeline from the training rows' counts ([`PipelineStats`]).
    pub fn fit_from(schema: &Schema, stats: &PipelineStats) -> Pipeline {
        let n = stats.rows;
        let mut features = Vec::new();
        // Fingerprints of the kept indicators' row sets (with their missing rows), to find twins.
        let mut kept: HashSet<[u64; 4]> = HashSet::new();
        for (k, (field, counts)) in schema.fields.iter().zip(&stats.fields).enumerate() {
            match (&field.kind, counts) {
                (FieldKind::Numeric(_) | FieldKind::Date(_), _) => features.push(Feature {
                    name: column_name(&field.name, None),
                    field: k,
                    encoding: Encoding::Number,
                }),
                (FieldKind::Categorical(_), FieldStats::ManyLevels { count, .. }) => {
                    let per_level: Vec<u64> =
                        (0..count[0].len()).map(|l| count.iter().map(|fold| fold[l]).sum()).collect();
                    let total = per_level.iter().sum::<u64>().max(1) as f64;
                    let rates = stats::rates_of(counts, |_| true).expect("a many-level field");
                    features.push(Feature {
                        name: column_name(&format!("{} churn rate", field.name), None),
                        field: k,
                        encoding: Encoding::LevelRate { rates },
                    });
                    features.push(Feature {
                        name: column_name(&format!("{} share", field.name), None),
                        field: k,
                        encoding: Encoding::LevelShare {
                            shares: per_level.iter().map(|&c| (c as f64 / total) as f32).collect(),
                        },
                    });
                }
                (FieldKind::Categorical(spec), FieldStats::Levels { ones, sets, missing_set, .. }) => {
                    let levels: Vec<u16> =
                        if spec.values.len() == 2 { vec![1] } else { (0..spec.values.len() as u16).collect() };
                    for level in levels {
                        let (count, set) = (ones[level as usize], sets[level as usize]);
                        if count == 0 || count == n {
                            continue;
                        }
                        let bits = [set[0], set[1], missing_set[0], missing_set[1]];
                        let flipped = [
                            stats.all[0] ^ set[0] ^ missing_set[0],
                            stats.all[1] ^ set[1] ^ missing_set[1],
                            missing_set[0],
                            missing_set[1],
                        ];
                        if kept.contains(&bits) || kept.contains(&flipped) {
                            continue;
                        }
                        kept.insert(bits);
                        features.push(Feature {
                            name: column_name(&field.name, Some(&spec.values[level as usize])),
                            field: k,
                            encoding: Encoding::Indicator { level },
                        });
                    }
                }
                (FieldKind::Categorical(_), FieldStats::Numeric) => {
                    unreachable!("counts follow the schema they were made for")
                }
            }
        }
        dedupe_names(&mut features);
        Pipeline { version: PIPELINE_VERSION, schema: schema.clone(), features }
    }

    /// The level rates of each fold's training rows, from the counts the pipeline was fitted on.
    pub fn fold_rates(&self, stats: &PipelineStats) -> FoldRates {
        let columns = self
            .features
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f.encoding, Encoding::LevelRate { .. }))
            .map(|(j, f)| {
                let per_fold = (0..stats.folds)
                    .map(|fold| stats::rates_of(&stats.fields[f.field], |g| g != fold).expect("a many-level field"))
                    .collect();
                (j, per_fold)
            })
            .collect();
        FoldRates { columns }
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
            match (&field.kind, &f.encoding) {
                (FieldKind::Numeric(_) | FieldKind::Date(_), Encoding::Number) => {}
                (FieldKind::Categorical(c), Encoding::Indicator { level }) if (*level as usize) < c.values.len() => {}
                (FieldKind::Categorical(c), Encoding::LevelRate { rates: t } | Encoding::LevelShare { shares: t })
                    if t.len() == c.values.len() && t.iter().all(|v| v.is_finite()) => {}
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
            *o = match &f.encoding {
                Encoding::Number => v as f32,
                Encoding::Indicator { level } => {
                    if v.is_nan() {
                        f32::NAN
                    } else if v as u16 == *level {
                        1.0
                    } else {
                        0.0
                    }
                }
                Encoding::LevelRate { rates: t } | Encoding::LevelShare { shares: t } => {
                    if v.is_nan() {
                        f32::NAN
                    } else {
                        t.get(v as usize).copied().unwrap_or(f32::NAN)
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

    /// Encodes a training row of search fold `fold`: as [`Pipeline::encode`], except that a
    /// level rate is its level's rate over the other folds.
    #[inline]
    pub fn encode_training(&self, values: &[f64], fold: usize, rates: &FoldRates, out: &mut [f32]) {
        self.encode(values, out);
        for (j, per_fold) in &rates.columns {
            let v = values[self.features[*j].field];
            if !v.is_nan() {
                out[*j] = per_fold[fold].get(v as usize).copied().unwrap_or(f32::NAN);
            }
        }
    }

    /// Encodes the rows the pipeline was fitted on, for training: as `encode_rows`, except that
    /// a level rate is computed without the row's own fold (`fold_of`, one fold number per row),
    /// so no training row's feature contains its own label.
    pub fn encode_training_rows(&self, values: &[f64], labels: &[u8], fold_of: &[usize]) -> Vec<f32> {
        let rates = self.fold_rates(&stats_of(&self.schema, values, labels, fold_of));
        let d = self.schema.fields.len().max(1);
        let m = self.features.len();
        let mut out = vec![0f32; values.len() / d * m];
        for (i, (row, dst)) in values.chunks(d).zip(out.chunks_mut(m)).enumerate() {
            self.encode_training(row, fold_of.get(i).copied().unwrap_or(0), &rates, dst);
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

/// The counts of rows held in memory (`fold_of` empty: one fold).
fn stats_of(schema: &Schema, values: &[f64], labels: &[u8], fold_of: &[usize]) -> PipelineStats {
    let d = schema.fields.len().max(1);
    let folds = fold_of.iter().max().map_or(1, |&f| f + 1);
    let mut stats = PipelineStats::new(schema, folds);
    for (i, (row, &y)) in values.chunks(d).zip(labels).enumerate() {
        stats.add(row, y, fold_of.get(i).copied().unwrap_or(0), i as u64);
    }
    stats
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

    /// Alternating labels, one per telco row.
    fn labels_for(values: &[f64]) -> Vec<u8> {
        (0..values.len() / 19).map(|i| (i % 2) as u8).collect()
    }

    /// A schema with one many-level field (`area`, 40 levels) and a number.
    fn area_rows(n: usize) -> (Schema, Vec<f64>, Vec<u8>) {
        let areas: Vec<String> = (0..40).map(|i| format!("A{i}")).collect();
        let text = format!(
            "name = \"t\"\n[target]\ncolumn = \"Churn\"\npositive = \"Yes\"\nnegative = \"No\"\n\n[[field]]\nname = \"area\"\nkind = \"categorical\"\nvalues = [{}]\n\n[[field]]\nname = \"x\"\nkind = \"numeric\"\nblank = \"missing\"\n",
            areas.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ")
        );
        let s = Schema::from_toml(&text, "test").unwrap();
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            // Areas below 10 churn always, the others never; a few rows' area is missing.
            let area = i % 40;
            values.push(if i % 50 == 49 { f64::NAN } else { area as f64 });
            values.push(i as f64);
            labels.push((area < 10) as u8);
        }
        (s, values, labels)
    }

    #[test]
    fn many_level_fields_become_a_shrunk_rate_and_a_share() {
        let (s, v, y) = area_rows(400);
        let p = Pipeline::fit(&s, &v, &y);
        p.validate().unwrap();
        assert_eq!(p.feature_names(), ["area churn rate", "area share", "x"]);
        let Encoding::LevelRate { rates } = &p.features[0].encoding else { panic!() };
        // Seen 10 times, churning always: pulled toward the overall rate by 10 prior rows.
        let overall = y.iter().map(|&l| l as f64).sum::<f64>() / y.len() as f64;
        let expected = (10.0 + 10.0 * overall) / 20.0;
        assert!((rates[3] as f64 - expected).abs() < 1e-6, "{} vs {expected}", rates[3]);
        assert!(rates[3] > 0.5 && rates[30] < 0.2, "{rates:?}");
        let mut out = vec![0f32; 3];
        p.encode(&[3.0, 1.0], &mut out);
        assert_eq!(out[0], rates[3]);
        assert!((out[1] - 10.0 / 392.0).abs() < 1e-6, "{}", out[1]);
        p.encode(&[f64::NAN, 1.0], &mut out);
        assert!(out[0].is_nan() && out[1].is_nan());
    }

    #[test]
    fn training_rates_never_contain_the_rows_own_label() {
        let (s, v, mut y) = area_rows(400);
        let p = Pipeline::fit(&s, &v, &y);
        let folds: Vec<usize> = (0..400).map(|i| (i / 3) % 5).collect();
        let x = p.encode_training_rows(&v, &y, &folds);
        // Flipping one row's label changes no rate in its own fold (itself included), and the
        // rate of its level in every other fold.
        let row = 17;
        y[row] ^= 1;
        let x2 = p.encode_training_rows(&v, &y, &folds);
        for i in 0..400 {
            let changed = x[i * 3] != x2[i * 3];
            if folds[i] == folds[row] {
                assert!(!changed, "row {i} (fold {}) saw row {row}'s label", folds[i]);
            } else if v[i * 2] == v[row * 2] {
                assert!(changed, "row {i} of another fold kept the old rate");
            }
        }
        // Other columns are encoded as for new rows.
        let plain = p.encode_rows(&v);
        assert!(
            (0..400).all(|i| x[i * 3 + 2] == plain[i * 3 + 2] && x[i * 3 + 1].to_bits() == plain[i * 3 + 1].to_bits())
        );
    }

    #[test]
    fn a_rate_table_of_the_wrong_length_is_refused() {
        let (s, v, y) = area_rows(50);
        let mut p = Pipeline::fit(&s, &v, &y);
        p.features[0].encoding = Encoding::LevelRate { rates: vec![0.5; 3] };
        assert!(matches!(p.validate(), Err(PipelineError::Inconsistent(_))));
    }

    #[test]
    fn redundant_indicators_are_dropped_and_twins_found() {
        let (s, v) = telco_rows(&[A, B, C, D]);
        let p = Pipeline::fit(&s, &v, &labels_for(&v));
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
        let p = Pipeline::fit(&s, &v, &labels_for(&v));
        let mut out = vec![0f32; p.n_features()];
        for row in v.chunks(19) {
            p.encode(row, &mut out);
            for (o, f) in out.iter().zip(&p.features) {
                let expected = match &f.encoding {
                    Encoding::Number => row[f.field] as f32,
                    Encoding::Indicator { level } => (row[f.field] as u16 == *level) as u8 as f32,
                    other => panic!("no many-level field in the telco schema: {other:?}"),
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
        let p = Pipeline::fit(&s, &v, &labels_for(&v));
        let back: Pipeline = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(p, back);
    }

    #[test]
    fn newer_pipelines_are_refused() {
        let (s, v) = telco_rows(&[A, B]);
        let mut p = Pipeline::fit(&s, &v, &labels_for(&v));
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
            let p = Pipeline::fit(&s, &values, &labels_for(&values));
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
