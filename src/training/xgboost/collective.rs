//! XGBoost's collective: the tracker that forms a job of N workers, and the communicator each
//! worker joins it with (the engine under xgboost.dask, Spark and Kubeflow's XGBoost jobs).
//!
//! Rules the library sets (../shared/anchors/xgboost-collective.md): the communicator is held per
//! thread, so a worker makes every XGBoost call from the thread that joined; the workers run the
//! same parameters and rounds in step; rows are split across workers; one lost worker fails the
//! job (no fault tolerance), so a worker that cannot go on says so ([`Communicator::signal_error`])
//! and every process exits.

use super::handles::{c_string, check, last_error};
use super::library;
use super::XgbError;
use crate::training::watch::{self, ENV_WATCH_PORT};
use std::ffi::{c_char, c_void, CStr};
use std::ptr;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use xgboost_sys as sys;

/// How a worker finds its job: the variables Kubeflow's XGBoost jobs hand every pod.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WorkerConfig {
    /// `DMLC_TRACKER_URI`: the tracker's host name or address.
    pub tracker_host: String,
    /// `DMLC_TRACKER_PORT`.
    pub tracker_port: u16,
    /// `DMLC_TASK_ID`: this worker's name in the job; ranks follow the task ids' order. Without
    /// it (N identical tasks started at once, as ECS and compose replicas start them) the
    /// machine's host name and the process id: unique, and the ranks still settle once.
    pub task_id: String,
    /// `DMLC_NUM_WORKER`: the job's size, when given (checked against the tracker's).
    pub workers: Option<usize>,
    /// Seconds a collective operation may wait for the others before the worker gives up.
    pub timeout_s: u64,
    /// `CHURN_JOIN_TIMEOUT`: seconds a worker waits for the job to form (the tracker to answer
    /// and every worker to join) before it gives up, whatever became of the tracker.
    pub join_timeout_s: u64,
    /// `CHURN_TRACKER_WAIT`: seconds a worker waits for the tracker to answer at all.
    pub tracker_wait_s: u64,
    /// `CHURN_WATCH_PORT` (default: the tracker's port + 1; `off`: none): where `churn tracker`
    /// watches its workers ([`crate::training::watch`]).
    pub watch_port: Option<u16>,
}

/// The job's environment variables.
pub const ENV_TRACKER_URI: &str = "DMLC_TRACKER_URI";
pub const ENV_TRACKER_PORT: &str = "DMLC_TRACKER_PORT";
pub const ENV_TASK_ID: &str = "DMLC_TASK_ID";
pub const ENV_NUM_WORKER: &str = "DMLC_NUM_WORKER";
pub const ENV_JOIN_TIMEOUT: &str = "CHURN_JOIN_TIMEOUT";
pub const ENV_TRACKER_WAIT: &str = "CHURN_TRACKER_WAIT";

/// Seconds a collective operation waits by default: a worker whose peer died stops within it.
pub const DEFAULT_TIMEOUT_S: u64 = 1800;
/// Seconds a worker waits for the job to form by default: the tracker's own wait for workers
/// (`churn tracker --timeout`, 300 s) and a minute more, so a tracker that ends the forming job
/// is heard first; the worker's own limit only matters when the tracker vanished unheard.
pub const DEFAULT_JOIN_TIMEOUT_S: u64 = 360;
/// Seconds a worker waits for the tracker to answer at all, by default: schedulers start a
/// job's tasks together, so a tracker may come up a little after its workers; one that never
/// does is usually a wrong address, said soon. Where the tracker's start is slow (an image to
/// pull), `CHURN_TRACKER_WAIT` says longer.
pub const TRACKER_WAIT_S: u64 = 30;

impl WorkerConfig {
    /// The job named by the environment, or None when `DMLC_TRACKER_URI` is unset (one machine).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<WorkerConfig>, String> {
        let Some(host) = get(ENV_TRACKER_URI).filter(|h| !h.trim().is_empty()) else { return Ok(None) };
        let need = |k: &str| {
            get(k).filter(|v| !v.trim().is_empty()).ok_or_else(|| format!("{ENV_TRACKER_URI} is set but {k} is not"))
        };
        let port = need(ENV_TRACKER_PORT)?;
        let tracker_port =
            port.trim().parse::<u16>().map_err(|_| format!("{ENV_TRACKER_PORT}={port:?} is not a port number"))?;
        let task_id = match get(ENV_TASK_ID).filter(|v| !v.trim().is_empty()) {
            Some(t) => t.trim().to_string(),
            None => format!(
                "{}-{}",
                get("HOSTNAME").filter(|h| !h.is_empty()).unwrap_or_else(host_name),
                std::process::id()
            ),
        };
        let workers = match get(ENV_NUM_WORKER).filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(n) => Some(
                n.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| format!("{ENV_NUM_WORKER}={n:?} is not a number of workers"))?,
            ),
        };
        let seconds = |name: &str, default: u64| match get(name).filter(|v| !v.trim().is_empty()) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|&s| s >= 1)
                .ok_or_else(|| format!("{name}={v:?} is not a number of seconds")),
        };
        let join_timeout_s = seconds(ENV_JOIN_TIMEOUT, DEFAULT_JOIN_TIMEOUT_S)?;
        let tracker_wait_s = seconds(ENV_TRACKER_WAIT, TRACKER_WAIT_S)?;
        let watch_port = match get(ENV_WATCH_PORT).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            None => watch::default_port(tracker_port),
            Some(v) if v == "off" => None,
            Some(v) => {
                Some(v.parse::<u16>().map_err(|_| format!("{ENV_WATCH_PORT}={v:?} is not a port number or `off`"))?)
            }
        };
        Ok(Some(WorkerConfig {
            tracker_host: host.trim().to_string(),
            tracker_port,
            task_id,
            workers,
            timeout_s: DEFAULT_TIMEOUT_S,
            join_timeout_s,
            tracker_wait_s,
            watch_port,
        }))
    }
}

/// Waits until the tracker accepts connections (its name may not resolve yet either, as with a
/// service whose pod is still starting): the library tries only a few times within seconds.
fn wait_for_tracker(host: &str, port: u16, within: Duration) -> Result<(), XgbError> {
    let start = Instant::now();
    loop {
        match watch::connect(host, port, Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) if start.elapsed() >= within => {
                return Err(XgbError(format!(
                    "cannot join the job at {host}:{port}: no tracker answered within {} s ({ENV_TRACKER_WAIT}) ({e})",
                    within.as_secs()
                )))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Ends the process with `message` unless disarmed (dropped) within `after`: the library's join
/// blocks in a call nothing can interrupt, so only leaving the process bounds it. `_exit`, not
/// `exit`: the library's destructors must not run under the thread still inside it.
struct Watchdog {
    _disarm: mpsc::Sender<()>,
}

impl Watchdog {
    fn arm(after: Duration, message: String) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(after) {
                eprintln!("{message}");
                // SAFETY: ends the process at once; nothing after it runs.
                unsafe { libc::_exit(1) };
            }
        });
        Watchdog { _disarm: tx }
    }
}

/// The machine's host name (the kernel's, as `hostname` prints it).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "worker".into())
}

/// Joined membership of a job, on the thread that joined. Leaving (finalising) happens on drop;
/// not `Send`, since the library holds it per thread.
pub struct Communicator {
    rank: usize,
    world: usize,
    _not_send: std::marker::PhantomData<*const ()>,
}

/// The largest message workers exchange (counts, sketches, predictions of a shard's rows).
const MAX_MESSAGE: usize = 1 << 32;

/// Element types and operations of `XGCommunicatorAllreduce` (the header's enums).
const U64: i32 = 11;
const F64: i32 = 2;
const SUM: i32 = 2;
const MAX: i32 = 0;

impl Communicator {
    /// Connects to the tracker and waits until the whole job has joined: within
    /// `cfg.join_timeout_s` in every case, since the library's own wait has no limit (a worker
    /// whose peer dies while the job forms waits on the tracker, and the tracker on that peer).
    pub fn join(cfg: &WorkerConfig) -> Result<Communicator, XgbError> {
        library::ensure()?;
        let within = Duration::from_secs(cfg.join_timeout_s);
        wait_for_tracker(&cfg.tracker_host, cfg.tracker_port, within.min(Duration::from_secs(cfg.tracker_wait_s)))?;
        let _watchdog = Watchdog::arm(
            within,
            format!(
                "error: worker {}: the job at {}:{} did not form within {} s ({ENV_JOIN_TIMEOUT}): a worker never \
                 joined, or the tracker is gone",
                cfg.task_id, cfg.tracker_host, cfg.tracker_port, cfg.join_timeout_s
            ),
        );
        let config = serde_json::json!({
            "dmlc_communicator": "rabit",
            "dmlc_tracker_uri": cfg.tracker_host,
            "dmlc_tracker_port": cfg.tracker_port,
            "dmlc_task_id": cfg.task_id,
            "dmlc_timeout": cfg.timeout_s,
            "dmlc_retry": 3,
        });
        let config = c_string(&config.to_string())?;
        // SAFETY: a NUL-terminated JSON document.
        check(unsafe { sys::XGCommunicatorInit(config.as_ptr()) }).map_err(|e| {
            XgbError(format!("cannot join the job at {}:{}: {}", cfg.tracker_host, cfg.tracker_port, e.0))
        })?;
        // SAFETY: plain queries of the communicator just initialised.
        let (rank, world) = unsafe { (sys::XGCommunicatorGetRank(), sys::XGCommunicatorGetWorldSize()) };
        if rank < 0 || world < 1 {
            return Err(XgbError(format!("the communicator reports rank {rank} of {world}: {}", last_error())));
        }
        let comm = Communicator { rank: rank as usize, world: world as usize, _not_send: std::marker::PhantomData };
        if let Some(n) = cfg.workers.filter(|&n| n != comm.world) {
            return Err(XgbError(format!(
                "{ENV_NUM_WORKER}={n}, but the tracker formed a job of {} workers",
                comm.world
            )));
        }
        Ok(comm)
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world(&self) -> usize {
        self.world
    }

    /// Element-wise sums over every worker.
    pub fn sum_u64(&self, values: &mut [u64]) -> Result<(), XgbError> {
        // SAFETY: a buffer of `values.len()` u64 the library reduces in place.
        check(unsafe { sys::XGCommunicatorAllreduce(values.as_mut_ptr().cast(), values.len(), U64, SUM) })
    }

    pub fn sum_f64(&self, values: &mut [f64]) -> Result<(), XgbError> {
        // SAFETY: as above, f64.
        check(unsafe { sys::XGCommunicatorAllreduce(values.as_mut_ptr().cast(), values.len(), F64, SUM) })
    }

    pub fn max_u64(&self, values: &mut [u64]) -> Result<(), XgbError> {
        // SAFETY: as above.
        check(unsafe { sys::XGCommunicatorAllreduce(values.as_mut_ptr().cast(), values.len(), U64, MAX) })
    }

    /// `root`'s bytes, on every worker.
    pub fn broadcast(&self, bytes: &mut Vec<u8>, root: usize) -> Result<(), XgbError> {
        let mut len = [bytes.len() as u64];
        // SAFETY: eight bytes, then `len` bytes, sent from `root` and received in place elsewhere.
        check(unsafe { sys::XGCommunicatorBroadcast(len.as_mut_ptr().cast::<c_void>(), 8, root as i32) })?;
        // A peer that failed inside the call can leave a length no message has: an error, not an
        // allocation that aborts the process.
        let len = usize::try_from(len[0]).ok().filter(|&n| n <= MAX_MESSAGE).ok_or_else(|| {
            XgbError(format!("worker {root} announced a message of {} bytes: the job is broken", len[0]))
        })?;
        bytes.try_reserve_exact(len.saturating_sub(bytes.len())).map_err(|e| XgbError(format!("{len} bytes: {e}")))?;
        bytes.resize(len, 0);
        if len > 0 {
            check(unsafe {
                sys::XGCommunicatorBroadcast(bytes.as_mut_ptr().cast::<c_void>(), bytes.len(), root as i32)
            })?;
        }
        Ok(())
    }

    /// Every worker's bytes, in rank order, on every worker.
    pub fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>, XgbError> {
        (0..self.world)
            .map(|root| {
                let mut buf = if root == self.rank { mine.to_vec() } else { Vec::new() };
                self.broadcast(&mut buf, root)?;
                Ok(buf)
            })
            .collect()
    }

    /// Sends a line to the tracker, which prints it (the job's own log).
    pub fn print(&self, message: &str) -> Result<(), XgbError> {
        let text = c_string(message)?;
        // SAFETY: a NUL-terminated string.
        check(unsafe { sys::XGCommunicatorPrint(text.as_ptr()) })
    }

    /// Tells the job this worker failed: the library makes every other worker's next
    /// collective call fail instead of waiting for it.
    pub fn signal_error(&self) {
        // SAFETY: no arguments; failure to signal leaves the others to time out.
        unsafe { sys::XGCommunicatorSignalError() };
    }
}

impl Drop for Communicator {
    fn drop(&mut self) {
        // SAFETY: finalises the communicator this thread initialised.
        unsafe { sys::XGCommunicatorFinalize() };
    }
}

/// The library's tracker: forms a job of `workers`, assigns ranks, and watches it to the end.
pub struct Tracker {
    handle: sys::TrackerHandle,
}

// SAFETY: the tracker runs its own threads; its handle may be used from any one thread at a time.
unsafe impl Send for Tracker {}

#[derive(Debug, Clone)]
pub struct TrackerConfig {
    pub workers: usize,
    /// Address the tracker listens on and tells the workers.
    pub host: String,
    /// 0: any free port.
    pub port: u16,
    /// Seconds to form the job and to shut it down (not the training itself).
    pub timeout_s: u64,
}

impl Tracker {
    /// Starts listening; the workers may connect from now on.
    pub fn start(cfg: &TrackerConfig) -> Result<Tracker, XgbError> {
        library::ensure()?;
        let config = serde_json::json!({
            "dmlc_communicator": "rabit",
            "n_workers": cfg.workers,
            "host": cfg.host,
            "port": cfg.port,
            "sortby": 1,
            "timeout": cfg.timeout_s,
        });
        let config = c_string(&config.to_string())?;
        let mut handle = ptr::null_mut();
        // SAFETY: a NUL-terminated JSON document and an out-pointer.
        check(unsafe { sys::XGTrackerCreate(config.as_ptr(), &mut handle) })?;
        let tracker = Tracker { handle };
        // SAFETY: a valid handle; returns once the tracker listens.
        check(unsafe { sys::XGTrackerRun(tracker.handle, c"{}".as_ptr()) })?;
        Ok(tracker)
    }

    /// What a worker needs to join (`dmlc_tracker_uri`, `dmlc_tracker_port`).
    pub fn worker_args(&self) -> Result<serde_json::Value, XgbError> {
        let mut out: *const c_char = ptr::null();
        // SAFETY: a valid handle; the string is owned by the tracker.
        check(unsafe { sys::XGTrackerWorkerArgs(self.handle, &mut out) })?;
        // SAFETY: NUL-terminated.
        let text = unsafe { CStr::from_ptr(out) }.to_string_lossy().into_owned();
        serde_json::from_str(&text).map_err(|e| XgbError(format!("the tracker's worker arguments {text:?}: {e}")))
    }

    /// Blocks until the job ends: Ok when every worker finished, the library's reason otherwise.
    pub fn wait(&self) -> Result<(), XgbError> {
        // SAFETY: a valid handle.
        check(unsafe { sys::XGTrackerWaitFor(self.handle, c"{}".as_ptr()) })
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        // SAFETY: the handle is owned and freed once.
        unsafe { sys::XGTrackerFree(self.handle) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn a_job_is_read_from_kubeflows_variables() {
        assert_eq!(WorkerConfig::from_env(env(&[])).unwrap(), None);
        let cfg = WorkerConfig::from_env(env(&[
            (ENV_TRACKER_URI, "tracker.local"),
            (ENV_TRACKER_PORT, "9091"),
            (ENV_TASK_ID, "2"),
            (ENV_NUM_WORKER, "3"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (cfg.tracker_host.as_str(), cfg.tracker_port, cfg.task_id.as_str(), cfg.workers),
            ("tracker.local", 9091, "2", Some(3))
        );
        let err = WorkerConfig::from_env(env(&[(ENV_TRACKER_URI, "h"), (ENV_TRACKER_PORT, "x"), (ENV_TASK_ID, "0")]))
            .unwrap_err();
        assert!(err.contains("DMLC_TRACKER_PORT=\"x\""), "{err}");
        let anonymous = WorkerConfig::from_env(env(&[
            (ENV_TRACKER_URI, "h"),
            (ENV_TRACKER_PORT, "1"),
            ("HOSTNAME", "ip-10-0-1-7"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(anonymous.task_id, format!("ip-10-0-1-7-{}", std::process::id()));
    }
}
