//! Helpers shared by both test tiers: running the real `churn` binary, temp folders, synthetic
//! data, a server on a random port, and the outside tools of the integration tier (the pinned
//! MLflow in Python, an `mlflow server`).
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn churn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_churn"))
}

/// Runs churn with args; returns (status ok, stdout, stderr).
pub fn run(args: &[&str]) -> (bool, String, String) {
    let out: Output = churn().args(args).output().expect("churn runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn run_ok(args: &[&str]) -> String {
    let (ok, stdout, stderr) = run(args);
    assert!(ok, "churn {args:?} failed:\n{stderr}");
    stdout
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The real IBM Telco file: $TELCO_CSV, or ../shared/data/telco next to the repository.
/// Its absence is a failure, not a skip: CI provides it.
pub fn telco_csv() -> PathBuf {
    if let Ok(p) = std::env::var("TELCO_CSV") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv");
    assert!(p.exists(), "the IBM Telco CSV is needed: set TELCO_CSV (looked at {})", p.display());
    p
}

/// A reproducible stream of uniform numbers in [0, 1) (a 64-bit LCG), for hand-made tables.
pub fn uniforms(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    }
}

/// Writes `rows` synthetic customers and returns the path.
pub fn synth(dir: &Path, rows: u64, seed: u64) -> PathBuf {
    let p = dir.join(format!("synth-{rows}-{seed}.csv"));
    run_ok(&["synth", "--rows", &rows.to_string(), "--seed", &seed.to_string(), "--output", s(&p)]);
    p
}

/// The ROC AUC a model scores on a file whose outcomes are known (`churn monitor`).
pub fn roc_auc_on(model: &Path, data: &Path) -> f64 {
    let out = run_ok(&["monitor", "--model", s(model), "--data", s(data), "--json", "--no-track"]);
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["roc_auc"].as_f64().unwrap()
}

/// Trains `rows` synthetic customers (seed `seed`) into the registry of `tracking` as a new
/// version of `churn`, with `alias` when given; returns the version.
pub fn register_version(dir: &Path, tracking: &str, rows: u64, seed: u64, alias: Option<&str>) -> String {
    let data = synth(dir, rows, seed);
    let out = dir.join(format!("model-{rows}-{seed}"));
    let mut args = vec![
        "train",
        "--data",
        s(&data),
        "--output",
        s(&out),
        "--trials",
        "0",
        "--tracking-uri",
        tracking,
        "--register",
        "churn",
        "--json",
    ];
    if let Some(a) = alias {
        args.extend_from_slice(&["--alias", a]);
    }
    let v: Value = serde_json::from_str(&run_ok(&args)).unwrap();
    v["tracked"]["registered"][1].as_str().unwrap().to_string()
}

/// The Python with MLflow that the integration tests drive ($CHURN_TEST_PYTHON, set up by
/// scripts/test-env.sh). Missing is a failure, not a skip.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("CHURN_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test/bin/python");
    assert!(p.exists(), "Python with mlflow is needed: run `. scripts/test-env.sh` (or set CHURN_TEST_PYTHON)");
    p
}

/// Runs a helper script from tests/mlflow with the test Python; returns stdout, fails loudly.
pub fn python_script(script: &str, args: &[&str], envs: &[(&str, &str)]) -> String {
    let py = python();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mlflow").join(script);
    let out = Command::new(&py)
        .arg(&path)
        .args(args)
        .envs(envs.iter().copied())
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .env("PATH", venv_path(&py))
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn venv_path(py: &Path) -> String {
    let bin = py.parent().expect("python sits in a bin folder");
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A real `mlflow server` (the pinned MLflow) on 127.0.0.1 with its store in a temp folder;
/// stopped (with its workers) when dropped.
pub struct MlflowServer {
    pub url: String,
    child: std::process::Child,
    _dir: Option<tempfile::TempDir>,
}

impl MlflowServer {
    /// `mlflow ui` started in `dir` with no flag: MLflow's own defaults.
    pub fn start_bare(dir: &Path) -> MlflowServer {
        let (url, child) = MlflowServer::launch(dir, false);
        MlflowServer { url, child, _dir: None }
    }

    /// A server with its own database and artifact folder in a temp folder.
    pub fn start() -> MlflowServer {
        let dir = tmp();
        let (url, child) = MlflowServer::launch(dir.path(), true);
        MlflowServer { url, child, _dir: Some(dir) }
    }

    fn launch(dir: &Path, own_store: bool) -> (String, std::process::Child) {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let py = python();
        let log_path = dir.join(".mlflow-server.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(&py);
        if own_store {
            cmd.args(["-m", "mlflow", "server", "--host", "127.0.0.1", "--port", &port.to_string(), "--workers", "1"])
                .arg("--backend-store-uri")
                .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
                .arg("--artifacts-destination")
                .arg(dir.join("artifacts"));
        } else {
            cmd.args(["-m", "mlflow", "ui", "--port", &port.to_string()]).env_remove("MLFLOW_TRACKING_URI");
        }
        let child = cmd
            .current_dir(dir)
            .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
            .env("MLFLOW_DISABLE_TELEMETRY", "true")
            .env("PATH", venv_path(&py))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("mlflow server starts");
        let url = format!("http://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::{Read, Write};
                let _ = s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                if buf.starts_with("HTTP/1.1 200") || buf.starts_with("HTTP/1.0 200") {
                    break;
                }
            }
            if started.elapsed().as_secs() > 120 {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("mlflow server did not become healthy in 120 s:\n{log}");
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        (url, child)
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

/// Stops a child started with `process_group(0)` and everything it forked. (Not through the
/// `kill` command: procps-ng 4.0.2's `kill -TERM -<pgid>` signals every process on the machine.)
pub fn stop_group(child: &mut std::process::Child) {
    let pgid = child.id() as libc::pid_t;
    unsafe {
        libc::killpg(pgid, libc::SIGTERM);
    }
    for _ in 0..50 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
    let _ = child.wait();
}

/// Reads one numeric column of a CSV.
pub fn csv_column(path: &Path, column: &str) -> Vec<f64> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let idx = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no column {column} in {}", path.display()));
    r.records().map(|rec| rec.unwrap()[idx].parse::<f64>().unwrap()).collect()
}

pub struct Server {
    pub port: u16,
    child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(model: &str, args: &[&str], envs: &[(&str, &str)]) -> Server {
        use std::os::unix::process::CommandExt;
        let mut child = churn()
            .args(["serve", "--model", model, "--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("churn serve starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("\"event\":\"started\"") {
                    let _ = tx.send(line.clone());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let started = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let mut err = String::new();
                child.stderr.take().unwrap().read_to_string(&mut err).ok();
                panic!("churn serve did not start:\n{err}");
            }
        };
        // From here on stderr is read too: a pipe nobody reads would fill and stall the server.
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let v: Value = serde_json::from_str(&started).unwrap();
        let port = v["listen"].as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap();
        Server { port, child, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    pub fn wait(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// (status, headers, body)
pub fn call(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let a = agent();
    let resp = match method {
        "GET" => {
            let mut r = a.get(url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        _ => {
            let mut r = if method == "PUT" { a.put(url) } else { a.post(url) };
            if let Some(ct) = content_type {
                r = r.header("Content-Type", ct);
            }
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.send(body)
        }
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let hs = resp.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let bytes = resp.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
    (status, hs, bytes)
}

pub fn post_json(s: &Server, path: &str, body: &Value) -> (u16, Value) {
    let (st, _, b) = call("POST", &s.url(path), Some("application/json"), body.to_string().as_bytes(), &[]);
    (st, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

pub fn get_json(s: &Server, path: &str) -> (u16, Value) {
    let (st, _, b) = call("GET", &s.url(path), None, b"", &[]);
    (st, serde_json::from_slice(&b).unwrap_or(Value::Null))
}
