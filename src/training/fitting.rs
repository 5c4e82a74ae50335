//! What every fit of one training shares: the table and its rows' roles, the fitted pipeline,
//! the base score, and who else trains with this process (nobody, or the workers of a
//! distributed job). Each stage of the procedure fits through it.

use super::peers::{Peers, Summing};
use super::procedure::TrainError;
use super::rows::{self, Encoder, MatrixSettings, Pick, Roles};
use super::xgboost::{self, DMatrix, FitOptions, Fitted, Output, Validation, XgbError};
use super::BoostParams;
use crate::features::{FoldRates, Pipeline};
use crate::ingest::{ranges, DataError, LabelledRows};
use std::path::Path;

pub(super) struct Fitting<'a> {
    pub data: &'a dyn LabelledRows,
    pub roles: &'a Roles,
    pub pipeline: &'a Pipeline,
    pub rates: &'a FoldRates,
    /// The training rows' labels in table order: every worker's, in rank order, in a job.
    pub labels: &'a [u8],
    /// This worker's first training row's position among them.
    pub offset: usize,
    /// The training rows' churn rate.
    pub base_score: f64,
    pub seed: u64,
    pub external_memory: Option<&'a Path>,
    pub peers: &'a dyn Peers,
}

/// A fit and what it predicted for its validation rows.
pub(super) struct Validated {
    pub fitted: Fitted,
    /// The validation rows' positions among every worker's training rows, in table order.
    pub positions: Vec<usize>,
    /// XGBoost's margins of those rows.
    pub margins: Vec<f64>,
}

impl Fitting<'_> {
    pub fn training_encoder(&self) -> Encoder<'_> {
        Encoder::Training { pipeline: self.pipeline, rates: self.rates }
    }

    /// XGBoost's quantised matrix of the picked rows, encoded as training rows are.
    pub fn matrix(
        &self,
        pick: Pick,
        max_bin: u32,
        threads: usize,
        reference: Option<&DMatrix>,
    ) -> Result<DMatrix, XgbError> {
        let settings = MatrixSettings { max_bin, threads, external_memory: self.external_memory };
        let encoder = match pick {
            Pick::HeldOut => Encoder::Serving(self.pipeline),
            _ => self.training_encoder(),
        };
        rows::matrix(self.data, self.roles, pick, encoder, settings, reference)
    }

    pub fn options<'p>(&self, params: &'p BoostParams, max_rounds: usize, threads: usize) -> FitOptions<'p> {
        FitOptions {
            params,
            max_rounds,
            early_stopping: None,
            seed: self.seed,
            threads,
            base_score: self.base_score,
            feature_names: None,
            track_train_curve: false,
        }
    }

    /// Fits on `fit` rows, early-stopped on `valid` rows, and predicts the validation rows.
    pub fn fit_validated(&self, fit: Pick, valid: Pick, opts: &FitOptions) -> Result<Validated, TrainError> {
        let dtrain = self.matrix(fit, opts.params.max_bin, opts.threads, None)?;
        let (x, labels) = self.dense(valid)?;
        let validation = Validation { x: &x, labels: &labels };
        let fitted = xgboost::fit_matrices(&dtrain, Some(&validation), opts, &Summing(self.peers), |_| {})?;
        let margins =
            fitted.booster.predict_dense(&x, labels.len(), Output::Margin, 0..0)?.into_iter().map(f64::from).collect();
        let positions = self.roles.training_positions(&valid).into_iter().map(|p| p + self.offset).collect();
        drop((dtrain, x, labels));
        crate::heap::release();
        Ok(Validated { fitted, positions, margins })
    }

    /// The picked rows as dense model inputs (row-major) and their labels.
    pub fn dense(&self, pick: Pick) -> Result<(Vec<f32>, Vec<u8>), DataError> {
        let d = self.data.schema().fields.len();
        let m = self.pipeline.n_features();
        let encoder = match pick {
            Pick::HeldOut => Encoder::Serving(self.pipeline),
            _ => self.training_encoder(),
        };
        let rows = self.roles.rows_where(&pick).len();
        let (mut x, mut labels) = (vec![0f32; rows * m], Vec::with_capacity(rows));
        let mut out = x.chunks_mut(m);
        let mut buf = Vec::new();
        for range in ranges(self.data.len()) {
            let values = self.data.read(range.clone(), &mut buf)?;
            for (i, r) in range.enumerate() {
                if pick.accepts(self.roles, r) {
                    encoder.encode(&values[i * d..(i + 1) * d], self.roles.fold[r], out.next().expect("sized above"));
                    labels.push(self.data.labels()[r]);
                }
            }
        }
        drop(out);
        Ok((x, labels))
    }

    /// The first `max_rows` picked rows as model inputs (row-major), to time a model on.
    pub fn sample(&self, pick: Pick, max_rows: usize) -> Result<Vec<f32>, DataError> {
        let d = self.data.schema().fields.len();
        let m = self.pipeline.n_features();
        let encoder = self.training_encoder();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for range in ranges(self.data.len()) {
            let values = self.data.read(range.clone(), &mut buf)?;
            for (i, r) in range.enumerate() {
                if out.len() >= max_rows * m {
                    return Ok(out);
                }
                if pick.accepts(self.roles, r) {
                    let at = out.len();
                    out.resize(at + m, 0.0);
                    encoder.encode(&values[i * d..(i + 1) * d], self.roles.fold[r], &mut out[at..]);
                }
            }
        }
        Ok(out)
    }
}
