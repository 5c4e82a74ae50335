//! A worker of a distributed training job: joined to XGBoost's collective through the tracker the
//! environment names (`DMLC_TRACKER_URI`, `DMLC_TRACKER_PORT`, `DMLC_TASK_ID`, `DMLC_NUM_WORKER`,
//! as Kubeflow's XGBoost jobs set them), it trains on its own shard in step with the others.
//!
//! Each worker also tells the tracker what happens to it (joined, failed and why, finished), one
//! line each through the library's own channel to the tracker ([`Event`]): the library says
//! only that *a* peer closed its connection, so the tracker names a worker that was lost by
//! elimination, as the one that joined and never said anything again.

use super::peers::Peers;
use super::procedure::TrainError;
use super::watch::Watch;
use super::xgboost::collective::{Communicator, WorkerConfig};
use std::thread::ThreadId;

pub struct Job {
    comm: Communicator,
    /// The line `churn tracker` watches this worker by; None under a tracker without one.
    watch: Option<Watch>,
    /// Why there is no watch, for the worker to say.
    pub unwatched: Option<String>,
    /// The library holds the communicator per thread: only this thread may use it.
    owner: ThreadId,
    pub task: String,
    /// This worker's shard: the path it was given, `{rank}` replaced by its rank (N identical
    /// workers, as ECS tasks, compose replicas or an indexed Job start them, each take their own).
    pub shard: String,
}

// SAFETY: every use of the communicator checks that it is on the thread that joined (`owner`)
// and fails otherwise, so the communicator is never touched from two threads.
unsafe impl Sync for Job {}

/// What a worker tells the tracker.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Joined { shard: String },
    Failed { reason: String },
    Finished,
}

/// A line from worker `task` (rank `rank`) about `event`, as the tracker reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub task: String,
    pub rank: usize,
    pub event: Event,
}

const MARK: &str = "churn-worker ";

impl Report {
    pub fn line(&self) -> String {
        let what = match &self.event {
            Event::Joined { shard } => format!("joined, shard {shard}"),
            Event::Failed { reason } => format!("failed: {}", reason.replace('\n', " ")),
            Event::Finished => "finished".to_string(),
        };
        format!("{MARK}{} rank {}: {what}", self.task.replace(' ', "_"), self.rank)
    }

    /// The report in a line of the tracker's log, if there is one.
    pub fn parse(line: &str) -> Option<Report> {
        let rest = &line[line.find(MARK)? + MARK.len()..];
        let (task, rest) = rest.split_once(" rank ")?;
        let (rank, what) = rest.split_once(": ")?;
        let event = if let Some(shard) = what.strip_prefix("joined, shard ") {
            Event::Joined { shard: shard.trim().to_string() }
        } else if let Some(reason) = what.strip_prefix("failed: ") {
            Event::Failed { reason: reason.trim().to_string() }
        } else if what.trim() == "finished" {
            Event::Finished
        } else {
            return None;
        };
        Some(Report { task: task.to_string(), rank: rank.trim().parse().ok()?, event })
    }
}

impl Job {
    /// Joins the job, waiting until every worker has, and tells the tracker which shard this
    /// worker trains on (`shard`, with `{rank}` replaced).
    pub fn join(cfg: &WorkerConfig, shard: &str) -> Result<Job, TrainError> {
        let comm = Communicator::join(cfg).map_err(|e| TrainError::Job(e.0))?;
        let shard = shard.replace("{rank}", &comm.rank().to_string());
        let (watch, unwatched) = match cfg.watch_port {
            None => (None, Some("no watch port (CHURN_WATCH_PORT=off)".to_string())),
            Some(port) => match Watch::start(&cfg.tracker_host, port, &cfg.task_id, comm.rank()) {
                Ok(w) => (Some(w), None),
                Err(e) => (None, Some(format!("no churn tracker watches at {}:{port} ({e})", cfg.tracker_host))),
            },
        };
        let job = Job { comm, watch, unwatched, owner: std::thread::current().id(), task: cfg.task_id.clone(), shard };
        job.tell(Event::Joined { shard: job.shard.clone() });
        Ok(job)
    }

    fn comm(&self) -> Result<&Communicator, TrainError> {
        if std::thread::current().id() != self.owner {
            return Err(TrainError::Job(
                "the job's communicator was used from another thread than the one that joined".into(),
            ));
        }
        Ok(&self.comm)
    }

    /// Tells the tracker (best effort: a tracker that is gone cannot be told).
    fn tell(&self, event: Event) {
        if let Ok(c) = self.comm() {
            let _ = c.print(&Report { task: self.task.clone(), rank: self.comm.rank(), event }.line());
        }
    }

    /// Tells the tracker why this worker failed, and every other worker that it did, so that
    /// none waits for it.
    pub fn fail(&self, reason: &str) {
        self.ends_on_its_own();
        self.tell(Event::Failed { reason: reason.to_string() });
        if let Ok(c) = self.comm() {
            c.signal_error();
        }
    }

    pub fn finish(&self) {
        self.ends_on_its_own();
        self.tell(Event::Finished);
    }

    /// What to do if the tracker stops the job under this worker, before its process ends.
    pub fn on_stop(&self, hook: super::watch::OnStop) {
        if let Some(w) = &self.watch {
            w.on_stop(hook);
        }
    }

    /// No collective call follows: the worker ends on its own from here (the lead may still
    /// write its bundle's MLflow run, which the tracker's stop must not cut short).
    pub fn ends_on_its_own(&self) {
        if let Some(w) = &self.watch {
            w.done();
        }
    }
}

impl Peers for Job {
    fn rank(&self) -> usize {
        self.comm.rank()
    }

    fn world(&self) -> usize {
        self.comm.world()
    }

    fn all_gather(&self, mine: Vec<u8>) -> Result<Vec<Vec<u8>>, TrainError> {
        self.comm()?.all_gather(&mine).map_err(|e| lost(e.0))
    }

    fn sum(&self, values: &mut [f64]) -> Result<(), TrainError> {
        self.comm()?.sum_f64(values).map_err(|e| lost(e.0))
    }
}

/// A collective call that failed: a worker left the job (its process died, or it failed and
/// signalled), or the network between them broke.
fn lost(message: String) -> TrainError {
    TrainError::Job(format!(
        "the distributed job failed: a worker was lost or failed (`churn tracker` names it) ({message})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_back_from_the_trackers_log() {
        for event in [
            Event::Joined { shard: "parts/p-0.parquet".into() },
            Event::Failed { reason: "shard refused:\nmissing column `tenure`".into() },
            Event::Finished,
        ] {
            let r = Report { task: "worker 2".into(), rank: 2, event };
            let logged = format!("[04:57:01] {}", r.line());
            let back = Report::parse(&logged).unwrap();
            assert_eq!(back.rank, 2);
            assert_eq!(back.task, "worker_2");
            match (&r.event, &back.event) {
                (Event::Failed { .. }, Event::Failed { reason }) => assert!(reason.contains("missing column")),
                (a, b) => assert_eq!(a, b),
            }
        }
        assert_eq!(Report::parse("[04:57:01] WARNING: something else"), None);
    }
}
