//! Distributed training on XGBoost's collective, over loopback: `churn tracker` and three
//! `churn train` workers, each on its own shard, as Kubeflow's XGBoost jobs start them.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The tracker and the workers of a job, running.
struct Job {
    tracker: Child,
    workers: Vec<Child>,
}

fn tracker(port: u16, workers: usize, extra: &[&str]) -> Child {
    churn()
        .args(["tracker", "--workers", &workers.to_string(), "--port", &port.to_string()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tracker starts")
}

fn worker(port: u16, task: usize, workers: usize, args: &[String]) -> Child {
    let mut c = churn();
    if task != usize::MAX {
        c.env("DMLC_TASK_ID", task.to_string());
    }
    c.arg("train")
        .args(args)
        .env("DMLC_TRACKER_URI", "127.0.0.1")
        .env("DMLC_TRACKER_PORT", port.to_string())
        .env("DMLC_NUM_WORKER", workers.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("a worker starts")
}

impl Job {
    /// Starts the tracker and one worker per shard; worker k trains `args_of(k)`.
    fn start(n: usize, args_of: impl Fn(usize) -> Vec<String>) -> Job {
        let port = free_port();
        let tracker = tracker(port, n, &[]);
        std::thread::sleep(Duration::from_millis(300));
        let workers = (0..n).map(|k| worker(port, k, n, &args_of(k))).collect();
        Job { tracker, workers }
    }
}

/// Waits for a process with a deadline; returns (exit success, stderr, seconds taken).
fn finish(mut child: Child, within: Duration) -> (bool, String, f64) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return (status.success(), err, start.elapsed().as_secs_f64());
        }
        if start.elapsed() > within {
            let _ = child.kill();
            panic!("a process of the job did not end within {within:?}");
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
    let port = free_port();
    let tracker = tracker(port, 3, &[]);
    std::thread::sleep(Duration::from_millis(300));
    let workers: Vec<Child> =
        (0..3).map(|_| worker(port, usize::MAX, 3, &train_args(&pattern, &out, &["--trials", "0"]))).collect();
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

/// A worker killed mid-job: the other workers and the tracker exit non-zero within 90 s, the
/// tracker names the lost worker, and no bundle is left.
#[test]
fn a_worker_killed_mid_job_stops_the_job_and_leaves_no_bundle() {
    let d = tmp();
    let parts = shards(d.path(), 3000);
    let out = |k: usize| d.path().join(format!("out{k}"));
    // Slow enough to be killed in the middle: a tiny rate and no early stop.
    let slow = ["--trials", "0", "--param", "eta=0.0001", "--max-rounds", "200000", "--early-stopping", "200000"];
    let mut job = Job::start(3, |k| train_args(&parts[k], &out(k), &slow));
    std::thread::sleep(Duration::from_secs(8));
    let mut victim = job.workers.remove(1);
    unsafe { libc::kill(victim.id() as i32, libc::SIGKILL) };
    let killed = Instant::now();
    let _ = victim.wait();
    for w in job.workers {
        let (ok, err, _) = finish(w, Duration::from_secs(90));
        assert!(!ok, "a survivor must fail: {err}");
        assert!(err.contains("the job stopped"), "{err}");
    }
    let (ok, err, _) = finish(job.tracker, Duration::from_secs(90));
    assert!(killed.elapsed() < Duration::from_secs(90));
    assert!(!ok, "{err}");
    assert!(err.contains("worker 1 (rank 1") && err.contains("LOST"), "{err}");
    assert!((0..3).all(|k| !out(k).join("model.ubj").exists()), "no bundle");
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
    let (ok, err, secs) = finish(tracker(port, 2, &[]), Duration::from_secs(30));
    assert!(!ok && err.contains("cannot start") && err.contains(&port.to_string()), "{err}");
    assert!(secs < 30.0);
    drop(busy);

    let d = tmp();
    let data = synth(d.path(), 500, 1);
    let nobody = free_port();
    let w = worker(nobody, 0, 2, &train_args(&data, &d.path().join("out"), &["--trials", "0"]));
    let (ok, err, secs) = finish(w, Duration::from_secs(60));
    assert!(!ok && err.contains(&format!("cannot join the job at 127.0.0.1:{nobody}")), "{err}");
    assert!(secs < 60.0);

    // Workers that never come: the tracker gives up after --timeout, saying how many joined.
    let (ok, err, _) = finish(tracker(free_port(), 2, &["--timeout", "2"]), Duration::from_secs(30));
    assert!(!ok && err.contains("only 0 of 2 workers joined within --timeout 2 s"), "{err}");
}
