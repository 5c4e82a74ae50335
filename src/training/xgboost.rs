//! Training through the real XGBoost library (crate `xgb`, libxgboost 3.2.0 from the pinned
//! xgboost-cpu wheel, found or fetched by `xgboost_library`). Only this file talks to it.
//!
//! The booster is created bare and every parameter set explicitly: the crate's parameter
//! builders always send `base_score=0.5` (and a few parameters XGBoost 3 no longer reads), so
//! they are not used. `base_score` is set to the training churn rate.

use super::xgboost_library;
use crate::training::BoostParams;
use xgb::{Booster, DMatrix};

#[derive(Debug, thiserror::Error)]
#[error("XGBoost: {0}")]
pub struct XgbError(pub String);

impl From<xgb::XGBError> for XgbError {
    fn from(e: xgb::XGBError) -> Self {
        XgbError(e.to_string())
    }
}

/// A dense matrix of model inputs (row-major, NaN = missing) with labels.
pub struct Matrix<'a> {
    pub x: &'a [f32],
    pub y: &'a [u8],
    pub n_features: usize,
}

impl Matrix<'_> {
    pub fn rows(&self) -> usize {
        self.y.len()
    }

    fn dmatrix(&self, names: Option<&[String]>) -> Result<DMatrix, XgbError> {
        xgboost_library::ensure()?;
        let mut d = DMatrix::from_dense(self.x, self.rows())?;
        let labels: Vec<f32> = self.y.iter().map(|&v| v as f32).collect();
        d.set_labels(&labels)?;
        if let Some(names) = names {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            d.set_feature_names(&refs)?;
        }
        Ok(d)
    }
}

/// Log loss by boosting round, for the tracked learning curves.
#[derive(Debug, Clone, Default)]
pub struct Curves {
    /// The round (1-based) of each point: every round, or every few on large tables
    /// (`curve_step`), always ending at the last.
    pub rounds: Vec<usize>,
    pub train: Vec<f64>,
    pub valid: Vec<f64>,
}

/// Training rows per evaluated round of a learning curve. Evaluating every round costs about a
/// third of a round on large tables (XGBoost scores all rows and sums the loss each time), so
/// above this many rows the curves take a point every `rows / CURVE_ROWS` rounds.
const CURVE_ROWS: usize = 100_000;

/// Rounds between two points of the final fit's learning curves.
pub fn curve_step(train_rows: usize) -> usize {
    train_rows.div_ceil(CURVE_ROWS).max(1)
}

pub struct Fitted {
    pub booster: Booster,
    /// Rounds kept (the best round + 1 with early stopping).
    pub rounds: usize,
    pub curves: Curves,
    /// Log loss on the validation rows at the kept round, when there were any.
    pub valid_log_loss: Option<f64>,
}

pub struct FitOptions<'a> {
    pub params: &'a BoostParams,
    pub max_rounds: usize,
    /// Stop when the validation log loss has not improved for this many rounds.
    pub early_stopping: Option<usize>,
    pub seed: u64,
    pub threads: usize,
    pub base_score: f64,
    pub feature_names: Option<&'a [String]>,
    pub track_train_curve: bool,
}

/// Trains one booster. With `valid` rows and `early_stopping`, stops at the best validation log
/// loss and keeps only the rounds up to it.
pub fn fit(
    train: &Matrix,
    valid: Option<&Matrix>,
    opts: &FitOptions,
    mut on_round: impl FnMut(usize),
) -> Result<Fitted, XgbError> {
    let dtrain = train.dmatrix(opts.feature_names)?;
    let dvalid = valid.map(|v| v.dmatrix(opts.feature_names)).transpose()?;
    let mut cached: Vec<&DMatrix> = vec![&dtrain];
    if let Some(d) = &dvalid {
        cached.push(d);
    }
    let mut booster = Booster::new_with_cached_dmats(&Default::default(), &cached)?;
    for (k, v) in params_for(opts) {
        booster.set_param(&k, &v)?;
    }
    if let Some(names) = opts.feature_names {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        booster.set_feature_names(&refs)?;
    }
    let mut curves = Curves::default();
    let mut best: Option<(usize, f64)> = None;
    let mut done = 0;
    // Early stopping needs the validation loss every round; curves alone can be thinner.
    let step = if opts.early_stopping.is_some() { 1 } else { curve_step(train.y.len()) };
    for round in 0..opts.max_rounds {
        booster.update(&dtrain, round as i32)?;
        done = round + 1;
        let on_curve = done % step == 0 || done == opts.max_rounds;
        if on_curve && (opts.track_train_curve || dvalid.is_some()) {
            curves.rounds.push(done);
        }
        if opts.track_train_curve && on_curve {
            curves.train.push(logloss_of(&booster, &dtrain)?);
        }
        if let Some(d) = dvalid.as_ref().filter(|_| on_curve) {
            let loss = logloss_of(&booster, d)?;
            curves.valid.push(loss);
            if best.is_none_or(|(_, b)| loss < b) {
                best = Some((round, loss));
            }
            if let (Some(patience), Some((best_round, _))) = (opts.early_stopping, best) {
                if round - best_round >= patience {
                    on_round(done);
                    break;
                }
            }
        }
        on_round(done);
    }
    let (rounds, booster, valid_log_loss) = match (best, opts.early_stopping) {
        (Some((best_round, loss)), Some(_)) => {
            let kept = best_round + 1;
            let sliced = if kept < done { booster.slice(0, kept as i32)? } else { booster };
            (kept, sliced, Some(loss))
        }
        (Some(_), None) => (opts.max_rounds, booster, curves.valid.last().copied()),
        (None, _) => (opts.max_rounds, booster, None),
    };
    Ok(Fitted { booster, rounds, curves, valid_log_loss })
}

fn logloss_of(booster: &Booster, d: &DMatrix) -> Result<f64, XgbError> {
    let m = booster.evaluate(d)?;
    m.get("logloss").map(|&v| v as f64).ok_or_else(|| XgbError("XGBoost reported no logloss".into()))
}

fn params_for(opts: &FitOptions) -> Vec<(String, String)> {
    let p = opts.params;
    let mut v: Vec<(String, String)> = vec![
        ("verbosity".into(), "0".into()),
        ("objective".into(), "binary:logistic".into()),
        ("eval_metric".into(), "logloss".into()),
        ("tree_method".into(), "hist".into()),
        ("base_score".into(), format!("{}", opts.base_score)),
        ("seed".into(), opts.seed.to_string()),
        ("nthread".into(), opts.threads.max(1).to_string()),
    ];
    v.extend(p.xgboost_pairs());
    v
}

/// The XGBoost parameters a fit sends, for tracking.
pub fn tracked_params(opts: &FitOptions) -> Vec<(String, String)> {
    params_for(opts).into_iter().filter(|(k, _)| k != "verbosity" && k != "nthread").collect()
}

/// Probabilities from XGBoost itself (used by tests and by the held-out evaluation, so the
/// metrics describe exactly what XGBoost computes).
pub fn predict(booster: &Booster, x: &[f32], rows: usize) -> Result<Vec<f32>, XgbError> {
    xgboost_library::ensure()?;
    let d = DMatrix::from_dense(x, rows)?;
    Ok(booster.predict(&d)?)
}

/// Margins (log odds) from XGBoost itself: exact where float32 probabilities round to 1.
pub fn predict_margin(booster: &Booster, x: &[f32], rows: usize) -> Result<Vec<f32>, XgbError> {
    xgboost_library::ensure()?;
    let d = DMatrix::from_dense(x, rows)?;
    Ok(booster.predict_margin(&d)?)
}

/// XGBoost's own `pred_contribs` (features + bias per row).
pub fn contributions(booster: &Booster, x: &[f32], rows: usize) -> Result<Vec<f32>, XgbError> {
    xgboost_library::ensure()?;
    let d = DMatrix::from_dense(x, rows)?;
    Ok(booster.predict_contributions(&d)?.0)
}

/// One booster whose margin is the mean of the given boosters' margins: all their trees, one
/// model after the other, each leaf divided by their number. The boosters must be fits of one
/// parameter set on one matrix (same features, objective and `base_score`), e.g. under
/// different seeds. The result is an ordinary XGBoost model: XGBoost's predict and
/// contributions, MLflow's xgboost flavor and the served forest all read it as any other.
pub fn average(boosters: Vec<Booster>) -> Result<Booster, XgbError> {
    let w = 1.0 / boosters.len().max(1) as f64;
    blend(boosters.into_iter().map(|b| (b, w)).collect(), 0.0)
}

/// One booster whose margin is `intercept + sum(weight * margin)` of the given boosters: all
/// their trees, each leaf times its model's weight, and the base score moved to
/// `intercept + sum(weight) * base margin`. The boosters must share features, objective and
/// `base_score` (fits on one matrix; their parameter sets may differ).
pub fn blend(mut parts: Vec<(Booster, f64)>, intercept: f64) -> Result<Booster, XgbError> {
    let bad = |what: &str| XgbError(format!("cannot combine the models: {what}"));
    let total_weight: f64 = parts.iter().map(|(_, w)| w).sum();
    if parts.len() == 1 && parts[0].1 == 1.0 && intercept == 0.0 {
        return Ok(parts.pop().expect("one model").0);
    }
    let mut docs = Vec::with_capacity(parts.len());
    for (b, w) in &parts {
        let doc: serde_json::Value =
            serde_json::from_slice(&b.save_buffer(false)?).map_err(|e| bad(&format!("unreadable JSON ({e})")))?;
        docs.push((doc, *w as f32));
    }
    if docs.is_empty() {
        return Err(bad("there are none"));
    }
    const MODEL: &str = "/learner/gradient_booster/model";
    const BASE: &str = "/learner/learner_model_param";
    let base_of = |doc: &serde_json::Value| doc.pointer(BASE).cloned();
    let base = base_of(&docs[0].0);
    let (mut trees, mut tree_info, mut indptr) = (Vec::new(), Vec::new(), vec![serde_json::Value::from(0)]);
    // The trees move out of each model's document; the first document, emptied, takes them all.
    for (doc, scale) in &mut docs {
        if base_of(doc) != base {
            return Err(bad("their base scores or features differ"));
        }
        let model = doc.pointer_mut(MODEL).ok_or_else(|| bad("not a tree model"))?;
        let (serde_json::Value::Array(these), serde_json::Value::Array(info), Some(ptr)) =
            (model["trees"].take(), model["tree_info"].take(), model["iteration_indptr"].as_array())
        else {
            return Err(bad("no trees, tree_info or iteration_indptr"));
        };
        let offset = trees.len() as u64;
        indptr.extend(ptr.iter().skip(1).filter_map(|v| v.as_u64()).map(|v| serde_json::Value::from(v + offset)));
        for mut tree in these {
            scale_leaves(&mut tree, *scale).ok_or_else(|| bad("a tree without leaf values"))?;
            tree["id"] = serde_json::Value::from(trees.len());
            trees.push(tree);
        }
        tree_info.extend(info);
    }
    let n = trees.len();
    let mut merged = docs.swap_remove(0).0;
    let model = merged.pointer_mut(MODEL).ok_or_else(|| bad("not a tree model"))?;
    model["trees"] = serde_json::Value::Array(trees);
    model["tree_info"] = serde_json::Value::Array(tree_info);
    model["iteration_indptr"] = serde_json::Value::Array(indptr);
    model["gbtree_model_param"]["num_trees"] = serde_json::Value::from(n.to_string());
    let base_score = merged
        .pointer(&format!("{BASE}/base_score"))
        .ok_or_else(|| bad("no base_score"))
        .and_then(|v| crate::forest::as_str_number(v, "base_score").map_err(|e| bad(&e.to_string())))?;
    let base_margin = (base_score / (1.0 - base_score)).ln();
    let moved = intercept + total_weight * base_margin;
    // Beyond this a float32 probability rounds to 0 or 1 and the margin is lost.
    if !moved.is_finite() || moved.abs() > 15.0 {
        return Err(bad(&format!(
            "the combined base margin {moved:.3} is outside what XGBoost's float32 base score holds"
        )));
    }
    if (moved - base_margin).abs() > 1e-9 {
        let p = 1.0 / (1.0 + (-moved).exp());
        merged.pointer_mut(BASE).expect("read above")["base_score"] =
            serde_json::Value::from(format!("[{:E}]", p as f32));
    }
    let bytes = serde_json::to_vec(&merged).map_err(|e| bad(&e.to_string()))?;
    Ok(Booster::load_buffer(&bytes)?)
}

/// Multiplies a JSON tree's leaf values (and node weights, for consistency) by `scale`, in
/// float32 as XGBoost stores them.
fn scale_leaves(tree: &mut serde_json::Value, scale: f32) -> Option<()> {
    let left: Vec<i64> = tree["left_children"].as_array()?.iter().map(|v| v.as_i64().unwrap_or(0)).collect();
    let times = |v: &mut serde_json::Value| {
        if let Some(x) = v.as_f64() {
            *v = serde_json::Value::from(((x as f32) * scale) as f64);
        }
    };
    let values = tree["split_conditions"].as_array_mut()?;
    for (v, &l) in values.iter_mut().zip(&left) {
        if l == -1 {
            times(v);
        }
    }
    if let Some(weights) = tree["base_weights"].as_array_mut() {
        weights.iter_mut().for_each(times);
    }
    Some(())
}

/// The model as UBJSON bytes, MLflow's default `model.ubj`.
pub fn to_ubj(booster: &Booster) -> Result<Vec<u8>, XgbError> {
    Ok(booster.save_buffer(true)?)
}

pub fn from_bytes(bytes: &[u8]) -> Result<Booster, XgbError> {
    xgboost_library::ensure()?;
    Ok(Booster::load_buffer(bytes)?)
}
