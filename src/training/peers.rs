//! Who trains with this process: nobody ([`Alone`]), or the other workers of a distributed job
//! joined through XGBoost's collective. Every statistic a training fits (label counts, the
//! pipeline's counts, predictions to score) passes through here, so that all workers fit the
//! same pipeline, pick the same threshold and report the same figures.

use super::procedure::TrainError;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub trait Peers: Sync {
    fn rank(&self) -> usize;
    fn world(&self) -> usize;
    /// Every worker's bytes, in rank order, on every worker (alone: its own).
    fn all_gather(&self, mine: Vec<u8>) -> Result<Vec<Vec<u8>>, TrainError>;
    /// Element-wise sums over every worker, in place (alone: as they are).
    fn sum(&self, values: &mut [f64]) -> Result<(), TrainError>;

    /// Whether fits may run side by side on threads: not in a job, where the library holds the
    /// communicator per thread and every worker must make the same calls in the same order.
    fn parallel_fits(&self) -> bool {
        self.world() == 1
    }

    /// Whether this process writes what the job produces (the bundle, the MLflow run).
    fn leads(&self) -> bool {
        self.rank() == 0
    }
}

/// One machine, one process.
pub struct Alone;

impl Peers for Alone {
    fn rank(&self) -> usize {
        0
    }

    fn world(&self) -> usize {
        1
    }

    fn all_gather(&self, mine: Vec<u8>) -> Result<Vec<Vec<u8>>, TrainError> {
        Ok(vec![mine])
    }

    fn sum(&self, _: &mut [f64]) -> Result<(), TrainError> {
        Ok(())
    }
}

/// The peers as the fit loop sums a validation loss over them.
pub struct Summing<'a>(pub &'a dyn Peers);

impl super::xgboost::Reduce for Summing<'_> {
    fn sum(&self, values: &mut [f64]) -> Result<(), super::xgboost::XgbError> {
        self.0.sum(values).map_err(|e| super::xgboost::XgbError(e.to_string()))
    }
}

/// Every worker's `value`, in rank order.
pub fn gather<T: Serialize + DeserializeOwned>(peers: &dyn Peers, value: T) -> Result<Vec<T>, TrainError> {
    if peers.world() == 1 {
        return Ok(vec![value]);
    }
    // postcard: compact, and floats (NaN included) travel as their bits.
    let bytes = postcard::to_allocvec(&value).map_err(|e| TrainError::Job(format!("cannot send a statistic: {e}")))?;
    peers
        .all_gather(bytes)?
        .into_iter()
        .map(|b| {
            postcard::from_bytes(&b).map_err(|e| TrainError::Job(format!("a worker sent an unreadable statistic: {e}")))
        })
        .collect()
}

/// `value` merged with every other worker's, in rank order, on every worker.
pub fn merged<T: Serialize + DeserializeOwned>(
    peers: &dyn Peers,
    value: T,
    merge: impl Fn(&mut T, T),
) -> Result<T, TrainError> {
    let mut all = gather(peers, value)?.into_iter();
    let mut out = all.next().expect("at least this worker");
    for other in all {
        merge(&mut out, other);
    }
    Ok(out)
}

/// Element-wise sums of counts over every worker.
pub fn summed(peers: &dyn Peers, counts: Vec<u64>) -> Result<Vec<u64>, TrainError> {
    merged(peers, counts, |a, b| a.iter_mut().zip(b).for_each(|(x, y)| *x += y))
}
