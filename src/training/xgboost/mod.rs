//! Training through the real XGBoost library (libxgboost 3.2.0 from the pinned xgboost-cpu
//! wheel, found or fetched by [`library`]), through the C API declared in `crates/xgboost-sys`.
//! Only this module talks to it: owned handles ([`handles`]), matrices built from batches
//! ([`batches`]), and the collective of distributed training ([`collective`]).
//!
//! The booster is created bare and every parameter set explicitly. `base_score` is set to the
//! training churn rate.

pub mod batches;
pub mod collective;
mod handles;
pub use handles::is_trace_line;
pub mod library;

pub use handles::{Booster, DMatrix, Output};

use crate::training::BoostParams;

#[derive(Debug, Clone, thiserror::Error)]
#[error("XGBoost: {0}")]
pub struct XgbError(pub String);

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

    /// The matrix in XGBoost's memory, quantised with `max_bin` bins (sharing `reference`'s
    /// bins when given), as the library's `QuantileDMatrix` is built.
    pub fn quantised(&self, max_bin: u32, threads: usize, reference: Option<&DMatrix>) -> Result<DMatrix, XgbError> {
        let labels: Vec<f32> = self.y.iter().map(|&v| v as f32).collect();
        let mut source = batches::InMemory::new(self.x, &labels, usize::MAX);
        let how = batches::Quantised { max_bin, threads, reference, cache: None, n_features: self.n_features };
        batches::quantised(&mut source, &how)
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

/// Trains one booster on in-memory rows: the training matrix is quantised with the set's
/// `max_bin`; the validation rows are predicted in place.
pub fn fit(
    train: &Matrix,
    valid: Option<&Matrix>,
    opts: &FitOptions,
    on_round: impl FnMut(usize),
) -> Result<Fitted, XgbError> {
    let dtrain = train.quantised(opts.params.max_bin, opts.threads, None)?;
    let valid = valid.map(|v| Validation { x: v.x, labels: v.y });
    fit_matrices(&dtrain, valid.as_ref(), opts, &Alone, on_round)
}

/// The rows a fit is judged on each round, held by churn as dense model inputs: the library
/// predicts each new tree on them in place. (A second quantised matrix would cost as much
/// memory and, measured on XGBoost 3.2, five times the time per round: the library turns every
/// row's bins back into values at each evaluation.)
pub struct Validation<'a> {
    pub x: &'a [f32],
    pub labels: &'a [u8],
}

/// Sums over the workers of a job: a validation loss is every worker's rows'.
pub trait Reduce {
    fn sum(&self, values: &mut [f64]) -> Result<(), XgbError>;
}

/// One process: its sums are the sums.
pub struct Alone;

impl Reduce for Alone {
    fn sum(&self, _: &mut [f64]) -> Result<(), XgbError> {
        Ok(())
    }
}

/// Rows per block of a validation loss: blocks are summed on their own, then in order, so the
/// loss is the same whatever the threads (and a table of one block sums as it always did).
const LOSS_BLOCK: usize = 1 << 16;

/// The summed log loss of rows at their margins, block by block on up to `threads` threads.
fn chunked_loss(margins: &[f64], labels: &[u8], threads: usize) -> f64 {
    let block = |b: usize| -> f64 {
        let (lo, hi) = (b * LOSS_BLOCK, ((b + 1) * LOSS_BLOCK).min(margins.len()));
        margins[lo..hi].iter().zip(&labels[lo..hi]).map(|(&z, &y)| super::blending::row_loss(z, y)).sum()
    };
    let blocks = margins.len().div_ceil(LOSS_BLOCK);
    let threads = threads.clamp(1, blocks.max(1));
    if threads == 1 {
        return (0..blocks).map(block).sum();
    }
    let mut sums = vec![0.0; blocks];
    std::thread::scope(|s| {
        for (t, part) in sums.chunks_mut(blocks.div_ceil(threads)).enumerate() {
            let first = t * blocks.div_ceil(threads);
            s.spawn(move || part.iter_mut().enumerate().for_each(|(i, v)| *v = block(first + i)));
        }
    });
    sums.iter().sum()
}

/// Margins of validation rows kept up to date round by round.
struct Judge<'a> {
    valid: &'a Validation<'a>,
    rows: usize,
    threads: usize,
    meta: DMatrix,
    margins: Vec<f64>,
    done: usize,
}

impl<'a> Judge<'a> {
    fn new(valid: &'a Validation<'a>, base_margin: f64, threads: usize) -> Result<Judge<'a>, XgbError> {
        let rows = valid.labels.len();
        let meta = DMatrix::zero_margins(rows)?;
        Ok(Judge { valid, rows, threads, meta, margins: vec![base_margin; rows], done: 0 })
    }

    /// Adds the trees of the rounds since the last call and returns the mean log loss (over
    /// every worker's rows).
    fn loss(&mut self, booster: &Booster, rounds: usize, reduce: &dyn Reduce) -> Result<f64, XgbError> {
        if rounds > self.done && self.rows > 0 {
            let trees = booster.predict_dense_with(
                self.valid.x,
                self.rows,
                Output::Margin,
                self.done..rounds,
                Some(&self.meta),
            )?;
            self.margins.iter_mut().zip(trees).for_each(|(m, t)| *m += f64::from(t));
        }
        self.done = rounds;
        let loss = chunked_loss(&self.margins, self.valid.labels, self.threads);
        let mut sums = [loss, self.rows as f64];
        reduce.sum(&mut sums)?;
        Ok(sums[0] / sums[1].max(1.0))
    }
}

/// Trains one booster on a matrix in XGBoost's memory. With `valid` rows and `early_stopping`,
/// stops at the best validation log loss and keeps only the rounds up to it. In a distributed
/// job every worker runs this in step: the library reduces the gradients' histograms, `reduce`
/// the validation loss, so every worker stops at the same round.
pub fn fit_matrices(
    dtrain: &DMatrix,
    valid: Option<&Validation>,
    opts: &FitOptions,
    reduce: &dyn Reduce,
    mut on_round: impl FnMut(usize),
) -> Result<Fitted, XgbError> {
    let mut booster = Booster::new(&[dtrain])?;
    for (k, v) in params_for(opts) {
        booster.set_param(&k, &v)?;
    }
    if let Some(names) = opts.feature_names {
        booster.set_feature_names(names)?;
    }
    let base_margin = (opts.base_score / (1.0 - opts.base_score)).ln();
    let mut judge = valid.map(|v| Judge::new(v, base_margin, opts.threads)).transpose()?;
    let mut curves = Curves::default();
    let mut best: Option<(usize, f64)> = None;
    let mut done = 0;
    // Early stopping needs the validation loss every round; curves alone can be thinner.
    // In a job the step comes from every worker's rows: the curves' rounds are collective
    // steps (the summed loss, the library's metric), so all workers must draw them alike.
    let step = if opts.early_stopping.is_some() {
        1
    } else {
        let mut rows = [dtrain.rows()? as f64];
        reduce.sum(&mut rows)?;
        curve_step(rows[0] as usize)
    };
    for round in 0..opts.max_rounds {
        booster.update(round, dtrain)?;
        done = round + 1;
        let on_curve = done % step == 0 || done == opts.max_rounds;
        if on_curve && (opts.track_train_curve || judge.is_some()) {
            curves.rounds.push(done);
        }
        if opts.track_train_curve && on_curve {
            curves.train.push(booster.metric(round, dtrain, "logloss")?);
        }
        if let Some(judge) = judge.as_mut().filter(|_| on_curve) {
            let loss = judge.loss(&booster, done, reduce)?;
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
            let sliced = if kept < done { booster.slice(0, kept)? } else { booster };
            (kept, sliced, Some(loss))
        }
        (Some(_), None) => (opts.max_rounds, booster, curves.valid.last().copied()),
        (None, _) => (opts.max_rounds, booster, None),
    };
    Ok(Fitted { booster, rounds, curves, valid_log_loss })
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
    booster.predict_dense(x, rows, Output::Probability, 0..0)
}

/// Margins (log odds) from XGBoost itself: exact where float32 probabilities round to 1.
pub fn predict_margin(booster: &Booster, x: &[f32], rows: usize) -> Result<Vec<f32>, XgbError> {
    booster.predict_dense(x, rows, Output::Margin, 0..0)
}

/// XGBoost's own `pred_contribs` (features + bias per row).
pub fn contributions(booster: &Booster, x: &[f32], rows: usize) -> Result<Vec<f32>, XgbError> {
    booster.predict(&DMatrix::dense(x, rows)?, Output::Contributions)
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
            serde_json::from_slice(&b.save(false)?).map_err(|e| bad(&format!("unreadable JSON ({e})")))?;
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
    Booster::load(&bytes)
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
    booster.save(true)
}

pub fn from_bytes(bytes: &[u8]) -> Result<Booster, XgbError> {
    Booster::load(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_validation_loss_is_the_same_on_any_number_of_threads() {
        let n = 3 * super::LOSS_BLOCK + 17;
        let margins: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64 / 100.0 - 5.0).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 3 == 0) as u8).collect();
        let one = super::chunked_loss(&margins, &labels, 1);
        assert_eq!(one.to_bits(), super::chunked_loss(&margins, &labels, 2).to_bits());
        assert_eq!(one.to_bits(), super::chunked_loss(&margins, &labels, 7).to_bits());
        let plain: f64 = margins.iter().zip(&labels).map(|(&z, &y)| super::super::blending::row_loss(z, y)).sum();
        assert!((one - plain).abs() < 1e-6 * plain);
    }
}
