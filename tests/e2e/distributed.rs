//! Distributed training on XGBoost's collective, over loopback: `churn tracker` and three
//! `churn train` workers, each on its own shard, as Kubeflow's XGBoost jobs start them.

use crate::support::*;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A process of the job, its stderr read as it comes (so a test can wait for a line).
struct Proc {
    child: Child,
    err: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Proc {
    fn spawn(mut cmd: std::process::Command) -> Proc {
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("a process of the job starts");
        let err = Arc::new(Mutex::new(String::new()));
        let (stderr, sink) = (child.stderr.take().unwrap(), err.clone());
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut e = sink.lock().unwrap();
                e.push_str(&line);
                e.push('\n');
            }
        });
        Proc { child, err, reader }
    }

    fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// Waits until stderr says `needle` `times` times.
    fn wait_for(&self, needle: &str, times: usize, within: Duration) {
        let start = Instant::now();
        while self.stderr().matches(needle).count() < times {
            assert!(
                start.elapsed() < within,
                "{needle:?} not said {times} times within {within:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The child processes of this one (Linux's /proc).
    fn children(&self) -> Vec<i32> {
        let pid = self.child.id();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

/// The tracker and the workers of a job, running.
struct Job {
    tracker: Proc,
    workers: Vec<Proc>,
}

/// A job's two ports (the tracker's and its watch port), each taken free: the default watch
/// port (the tracker's + 1) may be in use on a machine running tests side by side.
#[derive(Clone, Copy)]
struct Ports {
    tracker: u16,
    watch: u16,
}

impl Ports {
    fn free() -> Ports {
        Ports { tracker: free_port(), watch: free_port() }
    }
}

fn tracker(ports: Ports, workers: usize, extra: &[&str]) -> Proc {
    let mut c = churn();
    c.args(["tracker", "--workers", &workers.to_string(), "--port", &ports.tracker.to_string()])
        .args(["--watch-port", &ports.watch.to_string()])
        .args(extra);
    Proc::spawn(c)
}

fn worker(ports: Ports, task: usize, workers: usize, args: &[String]) -> Proc {
    let mut c = churn();
    if task != usize::MAX {
        c.env("DMLC_TASK_ID", task.to_string());
    }
    c.arg("train")
        .args(args)
        .env("DMLC_TRACKER_URI", "127.0.0.1")
        .env("DMLC_TRACKER_PORT", ports.tracker.to_string())
        .env("CHURN_WATCH_PORT", ports.watch.to_string())
        .env("DMLC_NUM_WORKER", workers.to_string());
    Proc::spawn(c)
}

impl Job {
    /// Starts the tracker and one worker per shard; worker k trains `args_of(k)`. The workers
    /// wait for the tracker to listen themselves.
    fn start(n: usize, args_of: impl Fn(usize) -> Vec<String>) -> Job {
        let ports = Ports::free();
        let tracker = tracker(ports, n, &[]);
        let workers = (0..n).map(|k| worker(ports, k, n, &args_of(k))).collect();
        Job { tracker, workers }
    }
}

/// Waits for a process with a deadline; returns (exit success, stderr, seconds taken).
fn finish(mut p: Proc, within: Duration) -> (bool, String, f64) {
    let start = Instant::now();
    loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            // The reader has the last lines once the pipe closes.
            let Proc { err, reader, .. } = p;
            let _ = reader.join();
            let err = err.lock().unwrap().clone();
            return (status.success(), err, start.elapsed().as_secs_f64());
        }
        if start.elapsed() > within {
            let _ = p.child.kill();
            panic!("a process of the job did not end within {within:?}:\n{}", p.stderr());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn shards(dir: &Path, rows: u64) -> Vec<PathBuf> {
    (0..3).map(|k| synth(dir, rows, 21 + k)).collect()
}

fn train_args(data: &Path, output: &Path, more: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["--data", s(data), "--output", s(output), "--no-track", "--threads", "1"]
        .iter()
        .map(|x| x.to_string())
        .collect();
    v.extend(more.iter().map(|x| x.to_string()));
    v
}

/// Three workers on three shards write exactly one bundle (the lead's), which scores a common
/// file within 0.002 ROC AUC of one process trained on the three shards together; and the search
/// runs in step on the workers.
#[test]
fn three_workers_train_one_model_as_good_as_one_process_on_all_shards() {
    let d = tmp();
    let parts = shards(d.path(), 4000);
    let score = synth(d.path(), 6000, 99);
    let out = |k: usize| d.path().join(format!("out{k}"));
    let job = Job::start(3, |k| train_args(&parts[k], &out(k), &["--trials", "0"]));
    for w in job.workers {
        let (ok, err, _) = finish(w, Duration::from_secs(300));
        assert!(ok, "{err}");
    }
    let (ok, err, _) = finish(job.tracker, Duration::from_secs(30));
    assert!(ok && err.contains("the job of 3 workers finished"), "{err}");
    assert!(out(0).join("model.ubj").exists());
    assert!(!out(1).exists() && !out(2).exists(), "only the lead writes");
    let meta = churn::bundle::open(&out(0)).unwrap().metadata.unwrap();
    assert_eq!(meta.data.rows, 12_000, "the bundle counts every shard's rows");
    assert_eq!(meta.data.shards.len(), 3);

    // One process on the three shards as one table: a glob of the parts.
    let all = d.path().join("synth-4000-*.csv");
    let single = d.path().join("single");
    let mut args = vec!["train".to_string()];
    args.extend(train_args(&all, &single, &["--trials", "0"]));
    run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (a, b) = (roc_auc_on(&out(0), &score), roc_auc_on(&single, &score));
    assert!((a - b).abs() <= 0.002, "distributed {a:.4} against one process {b:.4}");

    // The parameter search in step: every worker fits the same sets in the same order.
    let searched = |k: usize| d.path().join(format!("search{k}"));
    let job = Job::start(3, |k| train_args(&parts[k], &searched(k), &["--trials", "4", "--time-budget", "0"]));
    for w in job.workers {
        let (ok, err, _) = finish(w, Duration::from_secs(600));
        assert!(ok, "{err}");
    }
    assert!(finish(job.tracker, Duration::from_secs(30)).0);
    let eval = churn::bundle::open(&searched(0)).unwrap().evaluation.unwrap();
    assert_eq!(eval.tuning.len(), 4);
}

/// Shards of very different sizes train together: every collective step is taken alike on every
/// worker, whatever its own row count (a learning curve's points among them), and a worker waits
/// for a slower one.
#[test]
fn shards_of_uneven_size_train_together() {
    let d = tmp();
    let (small, large) = (synth(d.path(), 2000, 31), synth(d.path(), 130_000, 32));
    let out = d.path().join("out");
    let job = Job::start(2, |k| {
        train_args(
            if k == 0 { &small } else { &large },
            &out,
            &["--trials", "0", "--max-rounds", "300", "--refit", "none"],
        )
    });
    for w in job.workers {
        let (ok, err, _) = finish(w, Duration::from_secs(300));
        assert!(ok, "{err}");
    }
    assert!(finish(job.tracker, Duration::from_secs(30)).0);
    assert_eq!(churn::bundle::open(&out).unwrap().metadata.unwrap().data.rows, 132_000);
}

/// Identical workers (no task id, one shard pattern), as ECS tasks or compose replicas start
/// them: each takes the shard of its rank.
#[test]
fn identical_workers_take_the_shard_of_their_rank() {
    let d = tmp();
    for k in 0..3u64 {
        std::fs::rename(synth(d.path(), 1000 + 500 * k, 60 + k), d.path().join(format!("shard-{k}.csv"))).unwrap();
    }
    let pattern = d.path().join("shard-{rank}.csv");
    let out = d.path().join("out");
    let ports = Ports::free();
    let tracker = tracker(ports, 3, &[]);
    let workers: Vec<Proc> =
        (0..3).map(|_| worker(ports, usize::MAX, 3, &train_args(&pattern, &out, &["--trials", "0"]))).collect();
    for w in workers {
        let (ok, err, _) = finish(w, Duration::from_secs(120));
        assert!(ok, "{err}");
    }
    assert!(finish(tracker, Duration::from_secs(30)).0);
    let meta = churn::bundle::open(&out).unwrap().metadata.unwrap();
    assert_eq!(meta.data.rows, 1000 + 1500 + 2000);
    let shards: Vec<String> = meta.data.shards.iter().map(|s| s.path.clone()).collect();
    let expected: Vec<String> = (0..3).map(|k| d.path().join(format!("shard-{k}.csv")).display().to_string()).collect();
    assert_eq!(shards, expected, "rank k read shard k");
}

/// A worker killed mid-job (once the job formed and trains): the other workers and the tracker
/// exit non-zero within 90 s, the tracker names the lost worker, and no bundle is left. A
/// survivor that cannot notice by itself (here: stopped, as one stuck inside the library would
/// be) is ended by the tracker through its watch line.
#[test]
fn a_worker_killed_mid_job_stops_the_job_and_leaves_no_bundle() {
    let d = tmp();
    let parts = shards(d.path(), 3000);
    let out = |k: usize| d.path().join(format!("out{k}"));
    // Slow enough to be killed in the middle: a tiny rate and no early stop.
    let slow = ["--trials", "0", "--param", "eta=0.0001", "--max-rounds", "200000", "--early-stopping", "200000"];
    let mut job = Job::start(3, |k| train_args(&parts[k], &out(k), &slow));
    job.tracker.wait_for(": joined, shard", 3, Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(3));
    let stuck = job.workers.pop().unwrap();
    let mut victim = job.workers.pop().unwrap();
    unsafe { libc::kill(stuck.child.id() as i32, libc::SIGSTOP) };
    unsafe { libc::kill(victim.child.id() as i32, libc::SIGKILL) };
    let killed = Instant::now();
    let _ = victim.child.wait();
    let (ok, err, _) = finish(job.workers.pop().unwrap(), Duration::from_secs(90));
    assert!(!ok, "a survivor must fail: {err}");
    assert!(err.contains("the job stopped"), "{err}");
    let (ok, err, _) = finish(job.tracker, Duration::from_secs(90));
    assert!(killed.elapsed() < Duration::from_secs(90));
    assert!(!ok, "{err}");
    assert!(err.contains("worker 1 (rank 1, ") && err.contains("was LOST: its line to the tracker closed"), "{err}");
    assert!(err.contains("worker 2 (rank 2, ") && err.contains("was stopped by the tracker"), "{err}");
    unsafe { libc::kill(stuck.child.id() as i32, libc::SIGCONT) };
    let (ok, err, _) = finish(stuck, Duration::from_secs(30));
    assert!(!ok && err.contains("the job stopped"), "{err}");
    assert!((0..3).all(|k| !out(k).join("model.ubj").exists()), "no bundle");
}

/// A job that never forms ends in bounded time too: a worker that never comes (as one killed
/// before it joined) ends the job at the tracker's --timeout, and the waiting workers with it; a tracker
/// that stops answering (here: stopped) lets a worker go at CHURN_JOIN_TIMEOUT.
#[test]
fn a_job_that_never_forms_ends_every_process_within_its_timeouts() {
    let d = tmp();
    let parts = shards(d.path(), 500);
    let out = |k: usize| d.path().join(format!("out{k}"));
    let ports = Ports::free();
    let tracker_proc = tracker(ports, 3, &["--timeout", "8"]);
    let waiting: Vec<Proc> =
        [0, 2].iter().map(|&k| worker(ports, k, 3, &train_args(&parts[k], &out(k), &["--trials", "0"]))).collect();
    let start = Instant::now();
    for w in waiting {
        let (ok, err, _) = finish(w, Duration::from_secs(60));
        assert!(!ok && err.contains("cannot join the job"), "{err}");
    }
    let (ok, err, _) = finish(tracker_proc, Duration::from_secs(30));
    assert!(!ok && err.contains("only 0 of 3 workers joined within --timeout 8 s"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(40), "{:?}", start.elapsed());

    // The library's tracker stopped: it accepts connections (the kernel does) and never answers.
    let ports = Ports::free();
    let mut stopped = tracker(ports, 2, &[]);
    stopped.wait_for("waiting for 2 workers", 1, Duration::from_secs(60));
    let inner = stopped.children();
    assert_eq!(inner.len(), 1, "the tracker runs the library's tracker in one child");
    unsafe { libc::kill(inner[0], libc::SIGSTOP) };
    let mut c = churn();
    c.arg("train")
        .args(train_args(&parts[0], &out(0), &["--trials", "0"]))
        .env("DMLC_TRACKER_URI", "127.0.0.1")
        .env("DMLC_TRACKER_PORT", ports.tracker.to_string())
        .env("DMLC_TASK_ID", "0")
        .env("CHURN_JOIN_TIMEOUT", "4");
    let (ok, err, secs) = finish(Proc::spawn(c), Duration::from_secs(60));
    assert!(!ok && err.contains("did not form within 4 s (CHURN_JOIN_TIMEOUT)"), "{err}");
    assert!(secs < 30.0, "{secs}");
    unsafe { libc::kill(inner[0], libc::SIGKILL) };
    let _ = stopped.child.kill();
    assert!(!out(0).exists() && !out(2).exists());
}

/// Shards that cannot train together are refused before training, naming the worker and its
/// shard: one without a column the schema needs, one with no rows.
#[test]
fn a_shard_with_another_schema_or_no_rows_is_refused_naming_the_worker_and_shard() {
    let d = tmp();
    let parts = shards(d.path(), 1500);
    let text = std::fs::read_to_string(&parts[1]).unwrap();
    let header = text.lines().next().unwrap().replace("tenure,", "");
    let bad = d.path().join("no-tenure.csv");
    std::fs::write(&bad, format!("{header}\n")).unwrap();
    let empty = d.path().join("empty.csv");
    std::fs::write(&empty, format!("{}\n", text.lines().next().unwrap())).unwrap();
    for (odd, said) in [(&bad, "missing column `tenure`"), (&empty, "no data rows")] {
        let out = |k: usize| d.path().join(format!("out{k}"));
        let job = Job::start(3, |k| train_args(if k == 2 { odd } else { &parts[k] }, &out(k), &["--trials", "0"]));
        for w in job.workers {
            let (ok, err, _) = finish(w, Duration::from_secs(60));
            assert!(!ok, "{err}");
            assert!(err.contains(&format!("worker 2 (shard {})", odd.display())) && err.contains(said), "{err}");
        }
        let (ok, err, _) = finish(job.tracker, Duration::from_secs(60));
        assert!(!ok && err.contains(said), "{err}");
        assert!(!out(0).exists());
    }
}

/// A port already taken, or a tracker nobody runs: a clear message within seconds, never a hang.
#[test]
fn a_taken_port_and_an_absent_tracker_fail_with_a_message_not_a_hang() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let (ok, err, secs) = finish(tracker(Ports { tracker: port, watch: free_port() }, 2, &[]), Duration::from_secs(30));
    assert!(!ok && err.contains("cannot start") && err.contains(&port.to_string()), "{err}");
    assert!(secs < 30.0);
    drop(busy);

    let d = tmp();
    let data = synth(d.path(), 500, 1);
    let nobody = Ports::free();
    let w = worker(nobody, 0, 2, &train_args(&data, &d.path().join("out"), &["--trials", "0"]));
    let (ok, err, secs) = finish(w, Duration::from_secs(60));
    assert!(!ok && err.contains(&format!("cannot join the job at 127.0.0.1:{}", nobody.tracker)), "{err}");
    assert!(secs < 60.0);

    // Workers that never come: the tracker gives up after --timeout, saying how many joined.
    let (ok, err, _) = finish(tracker(Ports::free(), 2, &["--timeout", "2"]), Duration::from_secs(30));
    assert!(!ok && err.contains("only 0 of 2 workers joined within --timeout 2 s"), "{err}");
}
