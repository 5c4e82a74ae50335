//! Which rows of a table each part of a training sees, and the XGBoost matrices made of them.
//!
//! A training never copies a table's rows into subsets: every row has a role ([`Roles`]: held out,
//! or a training row of one search fold, plus a mark for the early-stopping split of `--trials
//! 0`), and each matrix is XGBoost's quantised matrix built by walking the table and encoding the
//! rows a predicate picks, batch by batch. A table in memory and a table spilled to disk are
//! walked the same way.

use super::xgboost::batches::{self, Batch, Batches, Quantised};
use super::xgboost::{DMatrix, XgbError};
use crate::evaluation::split;
use crate::features::{FoldRates, Pipeline};
use crate::ingest::{ranges, DataError, LabelledRows};
use crate::random::{streams, Rng};
use std::path::Path;

/// A row's role: held out from this training.
pub const HELD_OUT: u8 = u8::MAX;

/// What every row of a table is to one training.
#[derive(Debug, Clone, PartialEq)]
pub struct Roles {
    /// The search fold of a training row, or [`HELD_OUT`].
    pub fold: Vec<u8>,
    /// Training rows that validate the early stopping of a fit without search folds.
    pub early_stopping: Vec<bool>,
    pub folds: usize,
}

impl Roles {
    /// Roles for `churn train`: a stratified `test_fraction` of the rows held out, the others
    /// dealt into `folds` stratified search folds, and a fifth of them (stratified) marked for
    /// early stopping. The draws are the ones training has always used, so a table trains to
    /// the same model whether it is held in memory or spilled.
    pub fn new(labels: &[u8], test_fraction: Option<f64>, folds: usize, seed: u64) -> Roles {
        let folds = folds.clamp(2, HELD_OUT as usize - 1);
        let training: Vec<usize> = match test_fraction {
            Some(f) => split::train_test(labels, f, &mut Rng::stream(seed, streams::HELD_OUT)).0,
            None => (0..labels.len()).collect(),
        };
        let y: Vec<u8> = training.iter().map(|&r| labels[r]).collect();
        let fold_of = split::stratified_folds(&y, folds, &mut Rng::stream(seed, streams::FOLDS));
        let (_, validation) = split::train_test(&y, 0.2, &mut Rng::stream(seed, streams::EARLY_STOPPING));
        let mut fold = vec![HELD_OUT; labels.len()];
        for (&r, &f) in training.iter().zip(&fold_of) {
            fold[r] = f as u8;
        }
        let mut early_stopping = vec![false; labels.len()];
        for v in validation {
            early_stopping[training[v]] = true;
        }
        Roles { fold, early_stopping, folds }
    }

    /// Every row a training row: the held-out rows dealt into the search folds too (stratified,
    /// their own draw), for the refit on every row once they have been scored.
    pub fn with_every_row(&self, labels: &[u8], seed: u64) -> Roles {
        let held: Vec<usize> = (0..self.fold.len()).filter(|&r| self.fold[r] == HELD_OUT).collect();
        let y: Vec<u8> = held.iter().map(|&r| labels[r]).collect();
        let dealt = split::stratified_folds(&y, self.folds, &mut Rng::stream(seed, streams::REFIT_FOLDS));
        let mut fold = self.fold.clone();
        for (&r, &f) in held.iter().zip(&dealt) {
            fold[r] = f as u8;
        }
        Roles { fold, early_stopping: self.early_stopping.clone(), folds: self.folds }
    }

    #[inline]
    pub fn is_training(&self, row: usize) -> bool {
        self.fold[row] != HELD_OUT
    }

    /// Training rows, then held-out rows.
    pub fn counts(&self) -> (usize, usize) {
        let held = self.fold.iter().filter(|&&f| f == HELD_OUT).count();
        (self.fold.len() - held, held)
    }

    /// The positions among the training rows of the training rows `pick` accepts.
    pub fn training_positions(&self, pick: &Pick) -> Vec<usize> {
        let mut at = 0;
        let mut out = Vec::new();
        for r in 0..self.fold.len() {
            if self.is_training(r) {
                if pick.accepts(self, r) {
                    out.push(at);
                }
                at += 1;
            }
        }
        out
    }

    /// The rows `pick` accepts, in table order.
    pub fn rows_where(&self, pick: &Pick) -> Vec<usize> {
        (0..self.fold.len()).filter(|&r| pick.accepts(self, r)).collect()
    }
}

/// A set of rows by role.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pick {
    /// Every training row.
    Training,
    /// The training rows outside search fold f (a fold's fit).
    OutsideFold(u8),
    /// The training rows of search fold f (its validation).
    Fold(u8),
    /// The training rows that fit, and those that validate, the early stopping of `--trials 0`.
    EarlyStoppingFit,
    EarlyStoppingValidation,
    HeldOut,
}

impl Pick {
    #[inline]
    pub fn accepts(&self, roles: &Roles, row: usize) -> bool {
        let f = roles.fold[row];
        match *self {
            Pick::Training => f != HELD_OUT,
            Pick::OutsideFold(k) => f != HELD_OUT && f != k,
            Pick::Fold(k) => f == k,
            Pick::EarlyStoppingFit => f != HELD_OUT && !roles.early_stopping[row],
            Pick::EarlyStoppingValidation => f != HELD_OUT && roles.early_stopping[row],
            Pick::HeldOut => f == HELD_OUT,
        }
    }
}

/// How rows become model inputs: a training row's level rates leave its own search fold out;
/// any other row is encoded as a new customer is.
#[derive(Clone, Copy)]
pub enum Encoder<'a> {
    Training { pipeline: &'a Pipeline, rates: &'a FoldRates },
    Serving(&'a Pipeline),
}

impl Encoder<'_> {
    fn pipeline(&self) -> &Pipeline {
        match self {
            Encoder::Training { pipeline, .. } | Encoder::Serving(pipeline) => pipeline,
        }
    }

    #[inline]
    pub fn encode(&self, values: &[f64], fold: u8, out: &mut [f32]) {
        match self {
            Encoder::Training { pipeline, rates } if fold != HELD_OUT => {
                pipeline.encode_training(values, fold as usize, rates, out)
            }
            _ => self.pipeline().encode(values, out),
        }
    }
}

/// The picked rows of a table, encoded batch by batch for XGBoost.
pub struct Encoded<'a> {
    data: &'a dyn LabelledRows,
    roles: &'a Roles,
    pick: Pick,
    encoder: Encoder<'a>,
    ranges: Vec<std::ops::Range<usize>>,
    next: usize,
    values: Vec<f64>,
    x: Vec<f32>,
    labels: Vec<f32>,
}

impl<'a> Encoded<'a> {
    pub fn new(data: &'a dyn LabelledRows, roles: &'a Roles, pick: Pick, encoder: Encoder<'a>) -> Encoded<'a> {
        Encoded {
            data,
            roles,
            pick,
            encoder,
            ranges: ranges(data.len()).collect(),
            next: 0,
            values: Vec::new(),
            x: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Fills the buffers with the next non-empty batch; false at the end.
    fn fill(&mut self) -> Result<bool, DataError> {
        let d = self.data.schema().fields.len();
        let m = self.encoder.pipeline().n_features();
        while self.next < self.ranges.len() {
            let range = self.ranges[self.next].clone();
            self.next += 1;
            let picked = range.clone().filter(|&r| self.pick.accepts(self.roles, r)).count();
            if picked == 0 {
                continue;
            }
            let values = self.data.read(range.clone(), &mut self.values)?;
            self.x.resize(picked * m, 0.0);
            self.labels.clear();
            let labels = self.data.labels();
            let mut out = self.x.chunks_mut(m);
            for (i, r) in range.enumerate() {
                if self.pick.accepts(self.roles, r) {
                    let dst = out.next().expect("sized to the picked rows");
                    self.encoder.encode(&values[i * d..(i + 1) * d], self.roles.fold[r], dst);
                    self.labels.push(labels[r] as f32);
                }
            }
            return Ok(true);
        }
        Ok(false)
    }
}

impl Batches for Encoded<'_> {
    fn reset(&mut self) {
        self.next = 0;
    }

    fn next_batch(&mut self) -> Result<Option<Batch<'_>>, String> {
        if !self.fill().map_err(|e| e.to_string())? {
            return Ok(None);
        }
        Ok(Some(Batch { x: &self.x, labels: &self.labels }))
    }
}

/// How a matrix is quantised and where it lives.
#[derive(Clone, Copy)]
pub struct MatrixSettings<'a> {
    pub max_bin: u32,
    pub threads: usize,
    /// Keep the quantised matrix in files under this folder (XGBoost's external memory).
    pub external_memory: Option<&'a Path>,
}

/// XGBoost's quantised matrix of the picked rows (on `reference`'s bins when given).
pub fn matrix(
    data: &dyn LabelledRows,
    roles: &Roles,
    pick: Pick,
    encoder: Encoder,
    settings: MatrixSettings,
    reference: Option<&DMatrix>,
) -> Result<DMatrix, XgbError> {
    let n_features = encoder.pipeline().n_features();
    let mut source = Encoded::new(data, roles, pick, encoder);
    let how = Quantised {
        max_bin: settings.max_bin,
        threads: settings.threads,
        reference,
        cache: settings.external_memory,
        n_features,
    };
    let mut m = batches::quantised(&mut source, &how)?;
    m.set_feature_names(&encoder.pipeline().feature_names())?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_hold_out_then_deal_the_training_rows_into_folds() {
        let labels: Vec<u8> = (0..1000).map(|i| (i % 4 == 0) as u8).collect();
        let roles = Roles::new(&labels, Some(0.2), 5, 0);
        assert_eq!(roles.counts(), (800, 200));
        // The same draws as splitting first and dealing the training part.
        let (train, test) = split::train_test(&labels, 0.2, &mut Rng::stream(0, streams::HELD_OUT));
        assert!(test.iter().all(|&r| roles.fold[r] == HELD_OUT));
        let y: Vec<u8> = train.iter().map(|&r| labels[r]).collect();
        let folds = split::stratified_folds(&y, 5, &mut Rng::stream(0, streams::FOLDS));
        assert!(train.iter().zip(&folds).all(|(&r, &f)| roles.fold[r] as usize == f));
        let marked = roles.rows_where(&Pick::EarlyStoppingValidation);
        assert_eq!(marked.len(), 160);
        assert!(marked.iter().all(|&r| roles.is_training(r)));
        assert_eq!(roles.rows_where(&Pick::EarlyStoppingFit).len(), 640);
        assert_eq!(roles.rows_where(&Pick::OutsideFold(1)).len() + roles.rows_where(&Pick::Fold(1)).len(), 800);

        // The refit: every row trains; the training rows keep their folds.
        let all = roles.with_every_row(&labels, 0);
        assert_eq!(all.counts(), (1000, 0));
        assert!((0..1000).filter(|&r| roles.is_training(r)).all(|r| all.fold[r] == roles.fold[r]));
        let per_fold: Vec<usize> = (0..5u8).map(|f| all.rows_where(&Pick::Fold(f)).len()).collect();
        assert!(per_fold.iter().all(|&n| (199..=201).contains(&n)), "{per_fold:?}");
    }
}
