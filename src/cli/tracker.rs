//! `churn tracker`: XGBoost's tracker for a distributed training job of N `churn train` workers,
//! run until the job ends: exit 0 when every worker finished, 1 with the reason otherwise.
//!
//! The library's tracker runs in a child process whose log this one reads, because the library
//! alone does not end a failed job: after a worker fails it waits for the job to restart. Here a
//! job that failed ends within seconds, with what each worker said (`training::job::Report`).
//! Beside it this process watches every worker through a line each holds open
//! (`training::watch`): a worker whose line closes without a word is lost, and when the job fails
//! every worker still on its line is told to stop. Workers that do not all join within
//! `--timeout` end the job too.

use super::CliError;
use crate::training::job::{Event, Report};
use crate::training::watch::{self, Sighting, Watchers, ENV_WATCH_PORT};
use crate::training::xgboost::collective::{
    Tracker, TrackerConfig, ENV_NUM_WORKER, ENV_TASK_ID, ENV_TRACKER_PORT, ENV_TRACKER_URI,
};
use crate::training::xgboost::is_trace_line;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Workers in the job: each runs `churn train` on its own shard.
    #[arg(long, env = "DMLC_NUM_WORKER", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub workers: u32,
    /// The address the workers reach the tracker at (also the one it listens on).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The port it listens on; 0 picks a free one (printed).
    #[arg(long, default_value_t = 9091)]
    pub port: u16,
    /// Seconds to wait for every worker to join before the job is abandoned (0: no limit, for a
    /// tracker that waits for scheduled workers); training itself has no time limit.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// The port the tracker watches its workers on: each worker holds a line open to it for the
    /// whole job, so a lost worker is known at once and a failed job ends every worker
    /// (default: --port + 1; workers find it the same way, or by CHURN_WATCH_PORT).
    #[arg(long)]
    pub watch_port: Option<u16>,
}

/// Set in the child process that runs the library's tracker.
const CHILD: &str = "CHURN_TRACKER_CHILD";
/// The child's line saying where it listens.
const LISTENING: &str = "churn-tracker listening ";
/// The library's line for a connection that sent no command: a worker checking that the tracker
/// answers before it joins (`collective::wait_for_tracker`).
const PROBED: &str = "Failed to initialize worker proxy";
/// After the first sign of failure, how long the workers still alive have to say what happened.
const GRACE: Duration = Duration::from_secs(10);

pub fn run(a: Args) -> Result<(), CliError> {
    if std::env::var_os(CHILD).is_some() {
        return run_library_tracker(&a);
    }
    supervise(&a)
}

/// The library's tracker, in the child: no timeout of its own (the parent keeps time).
fn run_library_tracker(a: &Args) -> Result<(), CliError> {
    let cfg = TrackerConfig { workers: a.workers as usize, host: a.host.clone(), port: a.port, timeout_s: 0 };
    let tracker =
        Tracker::start(&cfg).map_err(|e| CliError::Job(format!("cannot listen on {}:{}: {}", a.host, a.port, e.0)))?;
    let args = tracker.worker_args().map_err(|e| CliError::Job(e.0))?;
    let host = args.get("dmlc_tracker_uri").and_then(|v| v.as_str()).unwrap_or(&a.host).to_string();
    let port = args.get("dmlc_tracker_port").and_then(|v| v.as_u64()).unwrap_or(a.port as u64);
    eprintln!("{LISTENING}{host} {port}");
    tracker.wait().map_err(|e| CliError::Job(e.0))
}

enum Seen {
    Line(String),
    Watch(Sighting),
    Closed,
}

/// What the supervisor knows of the job.
#[derive(Default)]
struct Job {
    listening: Option<(String, u64)>,
    joined: BTreeMap<usize, (String, String)>,
    failed: BTreeMap<usize, String>,
    finished: BTreeMap<usize, String>,
    /// Workers whose watch line is open (and that have not said they end on their own).
    watching: BTreeSet<usize>,
    /// Workers whose watch line closed without a word: their process died or the network broke.
    lost: BTreeSet<usize>,
    /// The library said a worker signalled an error.
    library_error: Option<String>,
    child_error: Option<String>,
}

impl Job {
    fn read(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix(LISTENING) {
            let mut it = rest.split_whitespace();
            if let (Some(h), Some(p)) = (it.next(), it.next().and_then(|p| p.parse().ok())) {
                self.listening = Some((h.to_string(), p));
            }
        } else if let Some(r) = Report::parse(line) {
            match r.event {
                Event::Joined { shard } => {
                    self.joined.insert(r.rank, (r.task, shard));
                }
                Event::Failed { reason } => {
                    self.failed.insert(r.rank, reason);
                }
                Event::Finished => {
                    self.finished.insert(r.rank, r.task);
                }
            }
        } else if line.contains("eceived error from") || line.contains("ecieved error from") {
            self.library_error.get_or_insert_with(|| line.trim().to_string());
        } else if let Some(e) = line.strip_prefix("error: ") {
            self.child_error = Some(e.to_string());
        }
    }

    fn watch(&mut self, s: Sighting) {
        match s {
            Sighting::Watching { rank, .. } => {
                self.watching.insert(rank);
            }
            Sighting::Done { rank } => {
                self.watching.remove(&rank);
            }
            Sighting::Gone { rank } => {
                self.watching.remove(&rank);
                self.lost.insert(rank);
            }
        }
    }

    fn failing(&self) -> bool {
        !self.failed.is_empty() || !self.lost.is_empty() || self.library_error.is_some()
    }

    /// Every worker that joined has said how it ended, or is known lost.
    fn all_accounted(&self) -> bool {
        self.joined
            .keys()
            .all(|r| self.failed.contains_key(r) || self.finished.contains_key(r) || self.lost.contains(r))
    }

    /// What became of each worker, for the failure message.
    fn summary(&self, workers: usize) -> String {
        let mut lines = Vec::new();
        for rank in 0..workers {
            let Some((task, shard)) = self.joined.get(&rank) else {
                lines.push(format!("  rank {rank}: never joined"));
                continue;
            };
            let fate = if let Some(reason) = self.failed.get(&rank) {
                format!("failed: {reason}")
            } else if self.lost.contains(&rank) {
                "was LOST: its line to the tracker closed without a word (its process died or its network broke)".into()
            } else if self.finished.contains_key(&rank) {
                "finished".into()
            } else if self.watching.contains(&rank) {
                "was stopped by the tracker while it waited on the others".into()
            } else {
                "was LOST: no word from it since it joined (its process died or its network broke)".into()
            };
            lines.push(format!("  worker {task} (rank {rank}, {shard}) {fate}"));
        }
        lines.join("\n")
    }
}

/// The library's tracker in a child process, and the watch on the workers.
struct Supervised {
    child: std::process::Child,
    watchers: Watchers,
}

impl Supervised {
    /// Ends the job: the workers still watching are told why, the library's tracker stops.
    fn end(&mut self, why: &str) {
        self.watchers.stop(why);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_child(a: &Args, tx: mpsc::Sender<Seen>) -> Result<std::process::Child, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Io { context: "cannot find churn's own binary".into(), source: e })?;
    let mut child = Command::new(exe)
        .args(["tracker", "--workers", &a.workers.to_string(), "--host", &a.host, "--port", &a.port.to_string()])
        .env(CHILD, "1")
        .env_remove(ENV_NUM_WORKER)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CliError::Io { context: "cannot start the tracker process".into(), source: e })?;
    let stderr = child.stderr.take().expect("piped above");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(Seen::Line(line)).is_err() {
                return;
            }
        }
        let _ = tx.send(Seen::Closed);
    });
    Ok(child)
}

/// The watch on the workers: listening before the library's tracker does, so that no worker
/// joins before it can be watched.
fn start_watch(a: &Args, tx: &mpsc::Sender<Seen>) -> Result<Watchers, CliError> {
    let wanted = a.watch_port.or_else(|| if a.port == 0 { Some(0) } else { watch::default_port(a.port) }).unwrap_or(0);
    let tx = tx.clone();
    Watchers::listen(&a.host, wanted, move |s| {
        let _ = tx.send(Seen::Watch(s));
    })
    .map_err(|e| {
        CliError::Job(format!(
            "the tracker cannot start: its watch port {}:{wanted} cannot be opened ({e}); choose another with --watch-port",
            a.host
        ))
    })
}

/// The line telling how to start the workers, once the library's tracker listens.
fn say_how_to_join(workers: usize, host: &str, port: u64, watch_port: u16) {
    let extra = match watch::default_port(port as u16) {
        Some(p) if p == watch_port => String::new(),
        _ => format!("{ENV_WATCH_PORT}={watch_port} "),
    };
    eprintln!(
        "tracker: waiting for {workers} workers at {host}:{port} (watching them on port {watch_port}); start each with\n  \
         {ENV_TRACKER_URI}={host} {ENV_TRACKER_PORT}={port} {extra}{ENV_TASK_ID}=<0..{}> {ENV_NUM_WORKER}={workers} churn train --data <its shard> ...",
        workers - 1
    );
}

fn supervise(a: &Args) -> Result<(), CliError> {
    let (tx, rx) = mpsc::channel();
    let watchers = start_watch(a, &tx)?;
    let watch_port = watchers.port;
    let mut run = Supervised { child: start_child(a, tx)?, watchers };
    let workers = a.workers as usize;
    let started = Instant::now();
    let mut job = Job::default();
    let mut failing_since: Option<Instant> = None;
    let mut closed = false;
    let mut probed = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Seen::Line(line)) => {
                let was = job.listening.is_some();
                job.read(&line);
                match (&job.listening, was) {
                    (Some((host, port)), false) => say_how_to_join(workers, host, *port, watch_port),
                    _ if line.starts_with(LISTENING) || line.starts_with("error: ") => {}
                    _ if is_trace_line(&line) => {}
                    // A worker's check that the tracker answers, before it joins: not a failure.
                    _ if line.contains(PROBED) => probed = true,
                    _ if probed && line.starts_with("- [") => {}
                    _ => {
                        probed = false;
                        eprintln!("{line}")
                    }
                }
            }
            Ok(Seen::Watch(s)) => job.watch(s),
            Ok(Seen::Closed) | Err(mpsc::RecvTimeoutError::Disconnected) => closed = true,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if job.failing() && failing_since.is_none() {
            failing_since = Some(Instant::now());
        }
        if let Some(since) = failing_since {
            if job.all_accounted() || since.elapsed() >= GRACE || closed {
                let summary = job.summary(workers);
                run.end(&format!("the job failed: {}", summary.trim()));
                return Err(CliError::Job(format!("the job failed:\n{summary}")));
            }
            continue;
        }
        if closed {
            return ended(&mut run.child, &job, workers);
        }
        if a.timeout > 0 && job.joined.len() < workers && started.elapsed() >= Duration::from_secs(a.timeout) {
            let (host, port) = job.listening.clone().unwrap_or((a.host.clone(), a.port as u64));
            let why = format!(
                "only {} of {workers} workers joined within --timeout {} s (each must reach {host}:{port}):\n{}",
                job.joined.len(),
                a.timeout,
                job.summary(workers)
            );
            run.end(&why);
            return Err(CliError::Job(why));
        }
    }
}

/// The library's tracker ended by itself: the job finished, or it could not run.
fn ended(child: &mut std::process::Child, job: &Job, workers: usize) -> Result<(), CliError> {
    let status = child.wait().map_err(|e| CliError::Io { context: "the tracker process".into(), source: e })?;
    if status.success() && job.failed.is_empty() {
        eprintln!("tracker: the job of {workers} workers finished");
        return Ok(());
    }
    let why = job.child_error.clone().unwrap_or_else(|| format!("the tracker process ended ({status})"));
    if job.listening.is_none() {
        return Err(CliError::Job(format!("the tracker cannot start: {why}")));
    }
    Err(CliError::Job(format!("the job failed: {why}\n{}", job.summary(workers))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job whose three workers t0..t2 joined on shards `s{rank}{ext}`, watched or not.
    fn joined(ext: &str, watched: bool) -> Job {
        let mut job = Job::default();
        for rank in 0..3 {
            let r = Report { task: format!("t{rank}"), rank, event: Event::Joined { shard: format!("s{rank}{ext}") } };
            job.read(&r.line());
            if watched {
                job.watch(Sighting::Watching { rank, task: format!("t{rank}") });
            }
        }
        job
    }

    #[test]
    fn a_silent_worker_among_failing_ones_is_named_lost() {
        let mut job = joined(".csv", false);
        job.read(&Report { task: "t0".into(), rank: 0, event: Event::Failed { reason: "EOF".into() } }.line());
        assert!(job.failing() && !job.all_accounted());
        job.read(&Report { task: "t1".into(), rank: 1, event: Event::Failed { reason: "EOF".into() } }.line());
        let s = job.summary(3);
        assert!(s.contains("worker t2 (rank 2, s2.csv) was LOST"), "{s}");
        assert!(s.contains("worker t0 (rank 0, s0.csv) failed: EOF"), "{s}");
    }

    #[test]
    fn a_closed_watch_line_is_a_lost_worker_and_a_done_one_is_not() {
        let mut job = joined("", true);
        job.watch(Sighting::Done { rank: 0 });
        assert!(!job.failing(), "a worker that ends on its own is not a failure");
        job.read(&Report { task: "t0".into(), rank: 0, event: Event::Finished }.line());
        job.watch(Sighting::Gone { rank: 1 });
        assert!(job.failing() && !job.all_accounted());
        let s = job.summary(3);
        assert!(s.contains("worker t1 (rank 1, s1) was LOST: its line to the tracker closed"), "{s}");
        assert!(s.contains("worker t2 (rank 2, s2) was stopped by the tracker"), "{s}");
        assert!(s.contains("worker t0 (rank 0, s0) finished"), "{s}");
    }
}
