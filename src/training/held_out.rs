//! After the fit: the held-out rows scored with the served scorer, and what the bundle keeps of
//! the training rows (the drift profile), each in one walk over the table.
//!
//! What needs all the rows at once is kept small: the held-out probabilities (8 bytes a row),
//! the importance over a sample of at most [`IMPORTANCE_ROWS`] held-out rows, the profile's bin
//! edges from a sample of at most [`PROFILE_SAMPLE`] training rows (their shares then counted
//! over every training row). Tables below those sizes get exactly what they got when the whole
//! table was held in memory. In a job, every worker's part is gathered, so all report the same.

use super::blending;
use super::peers::{self, Peers};
use super::procedure::{TrainError, Trained};
use super::rows::{Pick, Roles, HELD_OUT};
use super::xgboost::{Booster, DMatrix, Output};
use crate::bundle::Example;
use crate::drift::Profile;
use crate::features::Pipeline;
use crate::forest::reasons::Explainer;
use crate::forest::Forest;
use crate::ingest::{ranges, LabelledRows};

/// Held-out rows the importance is averaged over (every k-th beyond it).
pub const IMPORTANCE_ROWS: usize = 20_000;

/// Training rows the profile's numeric bin edges are taken from (every k-th beyond it).
pub const PROFILE_SAMPLE: usize = 200_000;

pub(super) struct Scored {
    /// Every held-out row's label and probability (every worker's, in rank order).
    pub labels: Vec<u8>,
    pub probs: Vec<f64>,
    pub examples: Vec<Example>,
    /// Mean |SHAP| per raw field over the sampled held-out rows.
    pub importance: Vec<(String, f64)>,
    /// Microseconds one row's reasons cost with the model.
    pub explain_us: f64,
    /// The first held-out rows' model inputs (the bundle's input example).
    pub example_rows: Vec<Vec<f32>>,
    /// The held-out log loss of the curve model at each round of the learning curves.
    pub curve: Vec<f64>,
    pub profile: Profile,
    pub train_rows: usize,
}

/// A held-out row worth showing: its probability, values and id.
#[derive(serde::Serialize, serde::Deserialize)]
struct Extreme {
    prob: f64,
    values: Vec<f64>,
    id: String,
}

/// The model that ships: the one evaluated, or its refit on every row. The held-out figures are
/// the evaluated model's; what the bundle shows of the model (importance, the reasons' cost, the
/// examples' probabilities, the input example) is the shipped one's.
#[derive(Clone, Copy)]
pub(super) struct Shipped<'a> {
    pub pipeline: &'a Pipeline,
    pub forest: &'a Forest,
}

pub(super) fn score(
    data: &dyn LabelledRows,
    roles: &Roles,
    trained: &Trained,
    shipped: Shipped,
    threads: usize,
    peers: &dyn Peers,
) -> Result<Scored, TrainError> {
    let schema = data.schema();
    let d = schema.fields.len();
    let m = trained.pipeline.n_features();
    let (train_rows, held_rows) = roles.counts();
    let importance_every = held_rows.div_ceil(IMPORTANCE_ROWS).max(1);
    let sample_every = train_rows.div_ceil(PROFILE_SAMPLE / peers.world()).max(1);
    let (mut labels, mut probs) = (Vec::with_capacity(held_rows), Vec::with_capacity(held_rows));
    let (mut sample_rows, mut profile_sample) = (Vec::new(), Vec::new());
    // The riskiest and the safest held-out rows so far: (probability, row).
    let mut hi: Option<(f64, usize)> = None;
    let mut lo: Option<(f64, usize)> = None;
    let (mut held_seen, mut train_seen) = (0usize, 0usize);
    let mut curve = Curve::new(trained)?;
    let mut buf = Vec::new();
    let mut batch: Vec<f32> = Vec::new();
    let mut batch_labels: Vec<u8> = Vec::new();
    for range in ranges(data.len()) {
        let values = data.read(range.clone(), &mut buf)?;
        batch.clear();
        batch_labels.clear();
        for (i, r) in range.enumerate() {
            let row = &values[i * d..(i + 1) * d];
            if roles.fold[r] != HELD_OUT {
                if train_seen % sample_every == 0 {
                    profile_sample.extend_from_slice(row);
                }
                train_seen += 1;
                continue;
            }
            let at = batch.len();
            batch.resize(at + m, 0.0);
            let x = &mut batch[at..];
            trained.pipeline.encode(row, x);
            batch_labels.push(data.labels()[r]);
            let p = trained.forest.predict(x) as f64;
            if hi.is_none_or(|(q, _)| p > q) {
                hi = Some((p, r));
            }
            if lo.is_none_or(|(q, _)| p <= q) {
                lo = Some((p, r));
            }
            if held_seen % importance_every == 0 {
                sample_rows.extend_from_slice(row);
            }
            held_seen += 1;
            labels.push(data.labels()[r]);
            probs.push(p);
        }
        curve.add(&batch, &batch_labels)?;
    }
    let sample_x = shipped.pipeline.encode_rows(&sample_rows);
    let shipped_m = shipped.pipeline.n_features().max(1);
    let example_rows: Vec<Vec<f32>> = sample_x.chunks(shipped_m).take(2).map(<[f32]>::to_vec).collect();
    let explain_us = shipped.forest.explain_cost_us(&sample_x);
    let explainer = Explainer::for_pipeline(shipped.pipeline);
    let local = explainer.importance(shipped.forest, &sample_x, threads);
    let weight = sample_x.len() / shipped_m;
    // Chosen by the evaluated model's scores, shown with the shipped model's.
    let extreme = |e: Option<(f64, usize)>| -> Result<Option<Extreme>, TrainError> {
        let Some((_, r)) = e else { return Ok(None) };
        let mut b = Vec::new();
        let values = data.read(r..r + 1, &mut b)?.to_vec();
        let mut x = vec![0f32; shipped_m];
        shipped.pipeline.encode(&values, &mut x);
        Ok(Some(Extreme { prob: shipped.forest.predict(&x) as f64, values, id: data.id(r)? }))
    };
    let (hi, lo) = (extreme(hi)?, extreme(lo)?);
    let parts = peers::gather(peers, (labels, probs, local, weight, hi, lo))?;
    let (mut labels, mut probs, mut sums, mut weights) = (Vec::new(), Vec::new(), Vec::<(String, f64)>::new(), 0usize);
    let (mut hi, mut lo): (Option<Extreme>, Option<Extreme>) = (None, None);
    for (l, p, imp, w, h, o) in parts {
        labels.extend(l);
        probs.extend(p);
        if sums.is_empty() {
            sums = imp.iter().map(|(k, _)| (k.clone(), 0.0)).collect();
        }
        sums.iter_mut().zip(&imp).for_each(|(s, (_, v))| s.1 += v * w as f64);
        weights += w;
        if let Some(h) = h.filter(|h| hi.as_ref().is_none_or(|b| h.prob > b.prob)) {
            hi = Some(h);
        }
        if let Some(o) = o.filter(|o| lo.as_ref().is_none_or(|b| o.prob <= b.prob)) {
            lo = Some(o);
        }
    }
    let importance = sums.into_iter().map(|(k, s)| (k, s / weights.max(1) as f64)).collect();
    let examples = match (hi, lo) {
        (Some(hi), Some(lo)) => {
            let id = |e: &Extreme| Some(e.id.clone()).filter(|s| !s.is_empty());
            vec![
                Example::new("Likely churner", hi.prob, schema, id(&hi).as_deref(), &hi.values),
                Example::new("Loyal customer", lo.prob, schema, id(&lo).as_deref(), &lo.values),
            ]
        }
        _ => Vec::new(),
    };
    let profile = profile(data, roles, profile_sample, peers)?;
    let train_rows = peers::summed(peers, vec![train_rows as u64])?[0] as usize;
    let curve = curve.finish(peers)?;
    Ok(Scored { labels, probs, examples, importance, explain_us, example_rows, curve, profile, train_rows })
}

/// The held-out log loss of the curve model at each point of the learning curves, summed batch
/// by batch: each batch's margins grow by the trees between two points (the library predicts
/// them in place), so every tree is applied once.
struct Curve {
    booster: Option<Booster>,
    points: Vec<usize>,
    base_margin: f64,
    sums: Vec<f64>,
    rows: usize,
}

impl Curve {
    fn new(trained: &Trained) -> Result<Curve, TrainError> {
        let points = trained.curves.rounds.clone();
        let booster = if points.is_empty() { None } else { Some(Booster::load(&trained.curve_model)?) };
        let b = trained.base_score;
        Ok(Curve { booster, sums: vec![0.0; points.len()], points, base_margin: (b / (1.0 - b)).ln(), rows: 0 })
    }

    fn add(&mut self, x: &[f32], labels: &[u8]) -> Result<(), TrainError> {
        let Some(booster) = &self.booster else { return Ok(()) };
        let n = labels.len();
        if n == 0 {
            return Ok(());
        }
        let zero = DMatrix::zero_margins(n)?;
        let mut margins = vec![self.base_margin; n];
        let mut done = 0;
        for (k, &point) in self.points.iter().enumerate() {
            let trees = booster.predict_dense_with(x, n, Output::Margin, done..point, Some(&zero))?;
            margins.iter_mut().zip(trees).for_each(|(z, t)| *z += f64::from(t));
            done = point;
            self.sums[k] += margins.iter().zip(labels).map(|(&z, &y)| blending::row_loss(z, y)).sum::<f64>();
        }
        self.rows += n;
        Ok(())
    }

    fn finish(self, peers: &dyn Peers) -> Result<Vec<f64>, TrainError> {
        let mut sums = self.sums;
        sums.push(self.rows as f64);
        peers.sum(&mut sums)?;
        let rows = sums.pop().unwrap_or(0.0);
        Ok(if rows > 0.0 { sums.into_iter().map(|s| s / rows).collect() } else { Vec::new() })
    }
}

/// The training rows' profile: bin edges from the gathered sample, shares over every row.
fn profile(data: &dyn LabelledRows, roles: &Roles, sample: Vec<f64>, peers: &dyn Peers) -> Result<Profile, TrainError> {
    let schema = data.schema();
    let d = schema.fields.len();
    let sample: Vec<f64> = peers::gather(peers, sample)?.concat();
    let mut profile = Profile::fit(schema, &sample);
    if sample.len() / d.max(1) == roles.counts().0 && peers.world() == 1 {
        return Ok(profile); // the sample is every training row
    }
    let mut counts: Vec<Vec<u64>> = profile.fields.iter().map(|f| vec![0; f.bins.len()]).collect();
    let mut buf = Vec::new();
    for range in ranges(data.len()) {
        let values = data.read(range.clone(), &mut buf)?;
        for (i, r) in range.enumerate() {
            if Pick::Training.accepts(roles, r) {
                for (k, f) in profile.fields.iter().enumerate() {
                    counts[k][f.bin_of(values[i * d + k])] += 1;
                }
            }
        }
    }
    let flat = peers::summed(peers, counts.concat())?;
    let mut at = 0;
    for (k, f) in profile.fields.iter().enumerate() {
        counts[k].copy_from_slice(&flat[at..at + f.bins.len()]);
        at += f.bins.len();
    }
    profile.recount(&counts);
    Ok(profile)
}
