//! The local stack (docker-compose.yml) started for real: PostgreSQL, an MLflow server on it
//! proxying artifacts, and churn serving the registered `@champion`. churn trains against the
//! server, registers, serves, and picks up a new champion on reload after the alias moves.
//! Images: the churn image of the deploy test, the MLflow server built by compose from
//! infra/mlflow, postgres/python as pulled or (no registry) built by scripts/docker-env.sh.

use crate::deploy::{churn_image, docker};
use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Stack {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Stack {
    fn compose(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("docker-compose");
        cmd.args(args).current_dir(self.dir.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().expect("docker-compose runs (scripts/test-env.sh installs it)")
    }

    fn compose_ok(&self, args: &[&str]) -> String {
        let out = self.compose(args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            let logs = self.compose(&["logs", "--no-color", "--tail", "40"]);
            panic!("docker-compose {args:?} failed:\n{text}\nlogs:\n{}", String::from_utf8_lossy(&logs.stdout));
        }
        text
    }

    fn psql(&self, sql: &str) -> String {
        self.compose_ok(&["exec", "-T", "postgres", "psql", "-U", "mlflow", "-d", "mlflow", "-tAc", sql])
            .trim()
            .to_string()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let out = self.compose(&["down", "-v", "--timeout", "10"]);
        if !out.status.success() {
            eprintln!("docker-compose down: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// Stacks of test runs that were killed before their clean-up (containers, network, volumes).
fn sweep_stacks_of_ended_runs() {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=com.docker.compose.project",
            "--format",
            "{{.Label \"com.docker.compose.project\"}}",
        ])
        .output()
        .unwrap();
    let mut projects: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    projects.sort();
    projects.dedup();
    for p in projects {
        let ended = p
            .strip_prefix("churn-it-")
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists());
        if ended {
            let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml");
            let _ = Command::new("docker-compose")
                .args(["-p", &p, "-f"])
                .arg(&file)
                .args(["down", "-v", "--timeout", "5"])
                .output();
        }
    }
}

fn wait_http(url: &str, within: Duration) {
    let start = Instant::now();
    let agent = agent();
    while !agent.get(url).call().is_ok_and(|r| r.status() == 200) {
        assert!(start.elapsed() < within, "{url} did not answer 200 within {within:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The model in service, as GET /model describes it.
fn served(url: &str) -> Value {
    let (st, _, body) = call("GET", url, None, b"", &[]);
    assert_eq!(st, 200, "GET {url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice::<Value>(&body).unwrap()["model"].clone()
}

fn train_and_register(dir: &Path, seed: u64, tracking: &str) -> String {
    let data = synth(dir, 1500, seed);
    let out = dir.join(format!("model-{seed}"));
    run_ok(&[
        "train",
        "--data",
        s(&data),
        "--output",
        s(&out),
        "--trials",
        "0",
        "--tracking-uri",
        tracking,
        "--experiment",
        "compose",
        "--register",
        "churn",
        "--alias",
        "champion",
    ])
}

#[test]
fn the_stack_trains_registers_serves_and_reloads_the_new_champion() {
    let image = churn_image();
    let dir = tmp();
    for entry in ["docker-compose.yml", "infra"] {
        let ok = Command::new("cp")
            .arg("-r")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(entry))
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "copy {entry}");
    }
    sweep_stacks_of_ended_runs();
    let mut stack = Stack {
        env: vec![
            ("COMPOSE_PROJECT_NAME".into(), format!("churn-it-{}", std::process::id())),
            ("CHURN_IMAGE".into(), image.to_string()),
            ("POSTGRES_PASSWORD".into(), format!("pw-{}", std::process::id())),
            ("CHURN_ADMIN_KEY".into(), "compose-admin".into()),
            ("MODEL_URI".into(), "models:/churn@champion".into()),
        ],
        dir,
    };
    let started = Instant::now();
    // The server image is built first (cached after), so each port is taken just before use.
    stack.compose_ok(&["build", "mlflow"]);
    let mlflow_port = free_port();
    stack.env.push(("MLFLOW_PORT".into(), mlflow_port.to_string()));
    // MLflow waits for PostgreSQL's health check.
    stack.compose_ok(&["up", "-d", "--no-build", "mlflow"]);
    let tracking = format!("http://127.0.0.1:{mlflow_port}");
    wait_http(&format!("{tracking}/health"), Duration::from_secs(120));
    eprintln!("postgres + mlflow healthy after {:.1} s", started.elapsed().as_secs_f64());

    // A registered champion, then churn serving it from the registry (no model in the request path).
    let work = tmp();
    let first = train_and_register(work.path(), 3, &tracking);
    assert!(first.contains("registered: models:/churn/1, alias @champion -> version 1"), "{first}");
    let churn_port = free_port();
    stack.env.push(("CHURN_PORT".into(), churn_port.to_string()));
    stack.compose_ok(&["up", "-d", "--no-build", "churn"]);
    let url = |p: &str| format!("http://127.0.0.1:{churn_port}{p}");
    wait_http(&url("/"), Duration::from_secs(60));
    let model = served(&url("/model"));
    assert_eq!(model["version"], "1", "{model}");
    assert_eq!(model["uri"], "models:/churn@champion", "{model}");
    let first_run = model["run_id"].as_str().unwrap().to_string();
    let sample = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/sample_customer.json")).unwrap();
    let (st, _, body) = call("POST", &url("/predict"), Some("application/json"), &sample, &[]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let before: Value = serde_json::from_slice(&body).unwrap();

    // The runs and the registry are in PostgreSQL, the artifacts behind the server's proxy.
    assert_eq!(stack.psql("select count(*) from runs"), "1");
    let artifact_uri = stack.psql("select artifact_uri from runs");
    assert!(artifact_uri.starts_with("mlflow-artifacts:/"), "{artifact_uri}");

    // A new champion: the alias moves; the served model changes only on reload, then at once.
    train_and_register(work.path(), 11, &tracking);
    assert_eq!(stack.psql("select version from registered_model_aliases where alias = 'champion'"), "2");
    assert_eq!(served(&url("/model"))["version"], "1");
    let auth = [("authorization", "Bearer compose-admin")];
    let (st, _, body) = call("POST", &url("/admin/reload"), None, b"", &auth);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let model = served(&url("/model"));
    assert_eq!(model["version"], "2", "{model}");
    assert_eq!(model["generation"], 2, "{model}");
    assert_ne!(model["run_id"].as_str().unwrap(), first_run);
    let (st, _, body) = call("POST", &url("/predict"), Some("application/json"), &sample, &[]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let after: Value = serde_json::from_slice(&body).unwrap();
    assert_ne!(before["churn_probability"], after["churn_probability"], "{before} / {after}");

    // The server is the whole truth: churn restarted from scratch resolves the new champion.
    stack.compose_ok(&["restart", "churn"]);
    wait_http(&url("/"), Duration::from_secs(60));
    assert_eq!(served(&url("/model"))["version"], "2");
    let id = stack.compose_ok(&["ps", "-q", "churn"]);
    assert_eq!(docker(&["inspect", "--format", "{{.Config.User}}", id.trim()]), "10001:10001");
    eprintln!("compose stack test: {:.1} s", started.elapsed().as_secs_f64());
}

/// The training job of docker-compose.train.yml for real: a tracker container and three
/// identical worker containers over a shared volume of Parquet parts, the collective across the
/// compose network. One bundle and one finished MLflow run, written by rank 0, on the volume.
/// (The trainer image here is the tested binary on debian:bookworm-slim with the XGBoost library
/// churn fetched; infra/trainer/Dockerfile builds the same from source.)
#[test]
fn the_training_job_runs_a_tracker_and_three_workers_over_the_network() {
    sweep_stacks_of_ended_runs();
    let image = format!("churn-trainer:it-{}", std::process::id());
    build_trainer_image(&image);
    let dir = tmp();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.train.yml"),
        dir.path().join("docker-compose.train.yml"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut rows = 0;
    for k in 0..3u64 {
        let shard = data.join("shards").join(k.to_string());
        std::fs::create_dir_all(&shard).unwrap();
        for part in 0..2u64 {
            let n = 1500 + 250 * k;
            rows += n;
            let path = shard.join(format!("part-{part}.parquet"));
            run_ok(&[
                "synth",
                "--rows",
                &n.to_string(),
                "--seed",
                &(70 + 10 * k + part).to_string(),
                "--output",
                s(&path),
            ]);
        }
    }
    assert!(Command::new("chmod").args(["-R", "a+w"]).arg(&data).status().unwrap().success());
    let stack = Stack {
        env: vec![
            ("COMPOSE_PROJECT_NAME".into(), format!("churn-it-{}-train", std::process::id())),
            ("CHURN_TRAINER_IMAGE".into(), image.clone()),
            ("CHURN_DATA".into(), s(&data).to_string()),
            ("WORKERS".into(), "3".into()),
            ("THREADS".into(), "1".into()),
        ],
        dir,
    };
    let started = Instant::now();
    stack.compose_ok(&["-f", "docker-compose.train.yml", "up", "-d", "--no-build", "--scale", "worker=3"]);
    let tracker = stack.compose_ok(&["-f", "docker-compose.train.yml", "ps", "-q", "tracker"]);
    let code = docker(&["wait", tracker.trim()]);
    let logs = stack.compose(&["-f", "docker-compose.train.yml", "logs", "--no-color"]);
    let logs = String::from_utf8_lossy(&logs.stdout).into_owned();
    assert_eq!(code, "0", "the tracker's exit code is the job's:\n{logs}");
    assert!(logs.contains("the job of 3 workers finished"), "{logs}");
    let workers = stack.compose_ok(&["-f", "docker-compose.train.yml", "ps", "-q", "worker"]);
    for id in workers.lines() {
        assert_eq!(docker(&["wait", id.trim()]), "0", "{logs}");
    }
    let meta = churn::bundle::open(&data.join("model")).unwrap().metadata.unwrap();
    assert_eq!(meta.data.rows as u64, rows, "every shard's rows");
    let mut shards: Vec<String> = meta.data.shards.iter().map(|s| s.path.clone()).collect();
    shards.sort();
    assert_eq!(shards, ["/data/shards/0", "/data/shards/1", "/data/shards/2"]);
    let db = rusqlite_status(&data.join("mlflow.db"));
    assert_eq!(db, ["FINISHED"], "one run, finished");
    let _ = stack.compose(&["-f", "docker-compose.train.yml", "down", "-v", "--timeout", "5"]);
    let _ = Command::new("docker").args(["rmi", &image]).output();
    eprintln!("compose training job: {:.1} s", started.elapsed().as_secs_f64());
}

/// The statuses of the runs in an MLflow SQLite store.
fn rusqlite_status(db: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare("select status from runs").unwrap();
    st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
}

/// A trainer image from the binary under test and the XGBoost library churn fetched, on
/// debian:bookworm-slim (the base scripts/docker-env.sh provides), as the non-root user the
/// trainer Dockerfile makes.
fn build_trainer_image(tag: &str) {
    let ctx = tmp();
    std::fs::copy(env!("CARGO_BIN_EXE_churn"), ctx.path().join("churn")).unwrap();
    let cache = std::env::var("CHURN_CACHE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| Path::new(&std::env::var("HOME").unwrap()).join(".cache/churn"));
    let lib = cache.join("xgboost-cpu-3.2.0");
    assert!(lib.is_dir(), "the XGBoost library churn fetched is in {}", lib.display());
    assert!(Command::new("cp").arg("-r").arg(&lib).arg(ctx.path().join("cache")).status().unwrap().success());
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM debian:bookworm-slim\n\
         COPY churn /usr/local/bin/churn\n\
         COPY cache /opt/churn/xgboost-cpu-3.2.0\n\
         RUN useradd --system --uid 10001 --home-dir /work --shell /usr/sbin/nologin churn && mkdir -p /work && chown churn /work\n\
         ENV CHURN_CACHE_DIR=/opt/churn\n\
         USER 10001:10001\n\
         WORKDIR /work\n",
    )
    .unwrap();
    docker(&["build", "--network", "host", "-t", tag, s(ctx.path())]);
}
