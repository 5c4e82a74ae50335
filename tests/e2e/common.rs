use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// Writes `rows` synthetic customers and returns the path.
pub fn synth(dir: &Path, rows: u64, seed: u64) -> PathBuf {
    let p = dir.join(format!("synth-{rows}-{seed}.csv"));
    run_ok(&["synth", "--rows", &rows.to_string(), "--seed", &seed.to_string(), "--output", s(&p)]);
    p
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
    _dir: tempfile::TempDir,
}

impl MlflowServer {
    pub fn start() -> MlflowServer {
        use std::os::unix::process::CommandExt;
        let dir = tmp();
        let port = free_port();
        let py = python();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new(&py)
            .args(["-m", "mlflow", "server", "--host", "127.0.0.1", "--port", &port.to_string(), "--workers", "1"])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", dir.path().join("mlflow.db").display()))
            .arg("--artifacts-destination")
            .arg(dir.path().join("artifacts"))
            .current_dir(dir.path())
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
                let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
                panic!("mlflow server did not become healthy in 120 s:\n{log}");
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        MlflowServer { url, child, _dir: dir }
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
