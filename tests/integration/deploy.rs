//! The deploy files, checked for real: the linters the issue names, the CloudFormation template
//! deployed into a local moto server and read back, and the Docker image built and run.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from the lint environment ($CHURN_LINT_BIN, set by scripts/test-env.sh).
fn lint_tool(name: &str) -> PathBuf {
    let dir = std::env::var("CHURN_LINT_BIN").map(PathBuf::from).unwrap_or_else(|_| root().join(".venv-lint/bin"));
    let p = dir.join(name);
    assert!(p.exists(), "{name} is needed: run `. scripts/test-env.sh` (looked in {})", dir.display());
    p
}

fn run_tool(cmd: &mut Command) -> (bool, String) {
    let out = cmd.current_dir(root()).output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn hadolint_actionlint_cfn_lint_and_checkov_pass() {
    let dockerfiles = ["Dockerfile", "infra/mlflow/Dockerfile", "infra/trainer/Dockerfile"];
    let (ok, out) = run_tool(Command::new(lint_tool("hadolint")).args(dockerfiles));
    assert!(ok, "hadolint:\n{out}");
    let workflows: Vec<PathBuf> =
        std::fs::read_dir(root().join(".github/workflows")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(workflows.len() >= 2);
    let (ok, out) = run_tool(Command::new(lint_tool("actionlint")).args(&workflows));
    assert!(ok, "actionlint:\n{out}");
    let (ok, out) = run_tool(Command::new(lint_tool("cfn-lint")).args(["infra/churn.yaml", "infra/training-job.yaml"]));
    assert!(ok, "cfn-lint:\n{out}");
    let targets = [
        ("cloudformation", "infra/churn.yaml"),
        ("cloudformation", "infra/training-job.yaml"),
        ("kubernetes", "infra/k8s/training-job.yaml"),
        ("dockerfile", dockerfiles[0]),
        ("dockerfile", dockerfiles[1]),
        ("dockerfile", dockerfiles[2]),
    ];
    for (framework, target) in targets {
        let (ok, out) = run_tool(Command::new(lint_tool("checkov")).args([
            "--skip-download",
            "--quiet",
            "--compact",
            "--framework",
            framework,
            "-f",
            target,
        ]));
        assert!(ok, "checkov {framework}:\n{out}");
    }
    let (ok, out) = run_tool(Command::new(lint_tool("checkov")).args([
        "--skip-download",
        "--quiet",
        "--compact",
        "--framework",
        "github_actions",
        "-d",
        ".github",
    ]));
    assert!(ok, "checkov github_actions:\n{out}");
    // Accepted findings are skipped inline, each with its reason.
    for file in ["infra/churn.yaml", "infra/training-job.yaml"] {
        let template = std::fs::read_to_string(root().join(file)).unwrap();
        for skip in template.split("- id: CKV_").skip(1) {
            assert!(
                skip.lines().nth(1).is_some_and(|l| l.trim_start().starts_with("comment: ") && l.len() > 30),
                "a checkov skip without a reason in {file}: CKV_{skip}"
            );
        }
    }
}

/// The local stack's file as docker-compose itself resolves it (the stack is started by
/// compose.rs).
#[test]
fn the_compose_stack_resolves_with_the_service_and_an_mlflow_server() {
    let (ok, out) = run_tool(Command::new("docker-compose").args(["-f", "docker-compose.yml", "config"]));
    assert!(ok, "docker-compose config:\n{out}");
    for expected in [
        "image: postgres:15-bookworm",
        "image: churn-mlflow:3.17.2",
        "--backend-store-uri postgresql+psycopg2://mlflow:",
        "--serve-artifacts",
        "MLFLOW_TRACKING_URI: http://mlflow:5000",
        "MODEL_URI: /model",
        "condition: service_healthy",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from the resolved stack:\n{out}");
    }
    // Published on the host's loopback only (compose v1 and v2 render it differently).
    assert!(out.contains("127.0.0.1:8000:8000") || out.contains("host_ip: 127.0.0.1"), "{out}");
    assert!(!out.contains("- 8000:8000") && !out.contains("- 5000:5000"), "{out}");
    // MODEL_URI from the environment reaches the service (a registered model instead of the baked one).
    let (ok, out) = run_tool(
        Command::new("docker-compose")
            .args(["-f", "docker-compose.yml", "config"])
            .env("MODEL_URI", "models:/churn@champion"),
    );
    assert!(ok && out.contains("MODEL_URI: models:/churn@champion"), "{out}");

    // The training job: a tracker and identical workers that find it by its service name.
    let (ok, out) = run_tool(Command::new("docker-compose").args(["-f", "docker-compose.train.yml", "config"]));
    assert!(ok, "docker-compose config (train):\n{out}");
    for expected in ["DMLC_TRACKER_URI: tracker", "DMLC_TRACKER_PORT: '9091'", "/data/shards/{rank}", "--workers"] {
        assert!(out.contains(expected), "{expected:?} missing from the resolved training job:\n{out}");
    }
}

/// A moto server on a free port, for one template's read-back script.
fn moto_checks(script: &str, template: &str) -> serde_json::Value {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let mut moto = Command::new(lint_tool("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "moto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, out) =
        run_tool(Command::new(lint_tool("python")).arg(script).arg(format!("http://127.0.0.1:{port}")).arg(template));
    stop_group(&mut moto);
    assert!(ok, "{script} failed:\n{out}");
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

#[test]
fn the_template_deploys_into_moto_and_reads_back() {
    let v = moto_checks("tests/deploy/check_stack.py", "infra/churn.yaml");
    assert!(v["checks"].as_object().unwrap().len() >= 30, "{v}");
}

/// The distributed training job on ECS: a tracker service found through Cloud Map, N workers
/// on a schedule over a shared EFS volume, the collective open between the job's tasks only.
#[test]
fn the_training_job_template_deploys_into_moto_and_reads_back() {
    let v = moto_checks("tests/deploy/check_training_job.py", "infra/training-job.yaml");
    assert!(v["checks"].as_object().unwrap().len() >= 20, "{v}");
}

/// The Kubernetes training job reads back as what churn expects of a job: a tracker behind a
/// Service, an indexed Job of workers whose completion index is their task id, their size and
/// the tracker's port agreeing everywhere, the trainer image's user, traffic between the job's
/// pods only.
#[test]
fn the_kubernetes_training_job_agrees_with_itself_and_the_image() {
    let text = std::fs::read_to_string(root().join("infra/k8s/training-job.yaml")).unwrap();
    let docs: Vec<serde_yaml_ng::Value> =
        serde_yaml_ng::Deserializer::from_str(&text).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect();
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name}"))
    };
    let service = find("Service", "churn-tracker");
    let port = service["spec"]["ports"][0]["port"].as_u64().unwrap();
    let tracker = &find("Job", "churn-tracker")["spec"]["template"]["spec"]["containers"][0];
    let workers = &find("Job", "churn-workers")["spec"];
    assert_eq!(workers["completionMode"], "Indexed");
    assert_eq!(workers["backoffLimit"], 0, "a lost worker fails the job whole");
    let n = workers["completions"].as_u64().unwrap();
    assert_eq!(workers["parallelism"].as_u64(), Some(n), "every worker runs at once");
    let targs: Vec<&str> = tracker["args"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(targs[targs.iter().position(|a| *a == "--workers").unwrap() + 1], n.to_string());
    assert_eq!(targs[targs.iter().position(|a| *a == "--port").unwrap() + 1], port.to_string());
    let w = &workers["template"]["spec"]["containers"][0];
    let env = |name: &str| w["env"].as_sequence().unwrap().iter().find(|e| e["name"] == name).unwrap().clone();
    assert_eq!(env("DMLC_TRACKER_URI")["value"], "churn-tracker");
    assert_eq!(env("DMLC_TRACKER_PORT")["value"], port.to_string());
    assert_eq!(env("DMLC_NUM_WORKER")["value"], n.to_string());
    assert_eq!(
        env("DMLC_TASK_ID")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    let wargs: Vec<&str> = w["args"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(wargs[wargs.iter().position(|a| *a == "--data").unwrap() + 1], "/data/shards/{rank}");
    let trainer = std::fs::read_to_string(root().join("infra/trainer/Dockerfile")).unwrap();
    for pod in [&find("Job", "churn-tracker")["spec"]["template"]["spec"], &workers["template"]["spec"]] {
        let uid = pod["securityContext"]["runAsUser"].as_u64().unwrap();
        assert!(trainer.contains(&format!("USER {uid}")), "the trainer image runs as {uid}");
    }
    let policy = find("NetworkPolicy", "churn-training");
    let label = &policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/part-of"];
    assert_eq!(
        &policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/part-of"],
        label
    );
}

pub struct Container(pub String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker runs (scripts/docker-env.sh)");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The image built (once per test run) from everything .dockerignore lets in, with a freshly
/// trained bundle as ./model, tagged by this process so runs side by side do not meet. Shared by
/// the image test and the compose stack test so the two do not compile the project twice side
/// by side on two cores. Images of runs that have ended are removed here.
pub fn churn_image() -> &'static str {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let tag = format!("churn:it-{}", std::process::id());
        remove_images_of_ended_runs();
        build_image(&tag);
        tag
    })
}

fn remove_images_of_ended_runs() {
    for tag in docker(&["images", "churn", "--format", "{{.Tag}}"]).lines() {
        let ended = tag
            .strip_prefix("it-")
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists());
        if ended {
            let _ = Command::new("docker").args(["rmi", &format!("churn:{tag}")]).output();
        }
    }
}

fn build_image(tag: &str) {
    let d = tmp();
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    // Everything .dockerignore lets in (so a file the Dockerfile needs cannot be missed here
    // and found missing only by the release build), but the model, which is trained below.
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let allowed = ignore.lines().filter_map(|l| l.trim().strip_prefix('!')).map(|p| p.trim_end_matches('/'));
    for entry in ["Dockerfile", ".dockerignore"].into_iter().chain(allowed).filter(|e| *e != "model") {
        let ok = Command::new("cp").arg("-r").arg(root().join(entry)).arg(&ctx).status().unwrap().success();
        assert!(ok, "copy {entry} into the build context");
    }
    let data = synth(d.path(), 2000, 3);
    run_ok(&["train", "--data", s(&data), "--output", s(&ctx.join("model")), "--trials", "0", "--no-track"]);
    // Build-stage images of earlier builds are removed once this one is made; this build's is
    // kept as the next build's dependency cache (scripts/test.sh says how to remove it).
    let build_started = jiff::Timestamp::now().to_string();
    let build =
        Command::new("docker").args(["build", "--network", "host", "-t", tag, "."]).current_dir(&ctx).output().unwrap();
    assert!(
        build.status.success(),
        "docker build failed:\n{}\n{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );
    let until = format!("until={build_started}");
    let _ = Command::new("docker")
        .args(["image", "prune", "-f", "--filter", "label=churn.stage=build", "--filter", &until])
        .output();
}

#[test]
fn the_image_builds_serves_the_baked_model_as_non_root_and_stops_cleanly() {
    let tag = churn_image();
    let size: u64 = docker(&["image", "inspect", "--format", "{{.Size}}", tag]).parse().unwrap();
    eprintln!("image {tag}: {:.1} MB", size as f64 / 1e6);
    assert!(size < 50_000_000, "the image is {size} bytes; the goal is under 50 MB");
    assert_eq!(docker(&["image", "inspect", "--format", "{{.Config.User}}", tag]), "10001:10001");

    let port = free_port();
    let name = format!("churn-e2e-{}", std::process::id());
    let started = Instant::now();
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "-e",
        &format!("PORT={port}"),
        "-e",
        "HOST=127.0.0.1",
        tag,
    ]);
    let _guard = Container(name.clone());
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let agent = agent();
    loop {
        if agent.get(&url("/")).call().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "/ did not answer 200 within 10 s");
        std::thread::sleep(Duration::from_millis(25));
    }
    eprintln!("container start to healthy: {} ms", started.elapsed().as_millis());
    let sample = std::fs::read(root().join("tests/e2e/sample_customer.json")).unwrap();
    let (st, _, body) = call("POST", &url("/predict"), Some("application/json"), &sample, &[]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(call("GET", &url("/ui"), None, b"", &[]).0, 200);
    assert_eq!(call("GET", &url("/model"), None, b"", &[]).0, 200);
    let pid = docker(&["inspect", "--format", "{{.State.Pid}}", &name]);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.split_whitespace().skip(1).all(|u| u == "10001"), "the server runs as {uid}");
    // The image's HEALTHCHECK (churn healthcheck) reports healthy.
    let start = Instant::now();
    while docker(&["inspect", "--format", "{{.State.Health.Status}}", &name]) != "healthy" {
        assert!(start.elapsed() < Duration::from_secs(40), "the HEALTHCHECK did not report healthy");
        std::thread::sleep(Duration::from_millis(500));
    }
    // SIGTERM: a clean, quick exit.
    let stop = Instant::now();
    docker(&["stop", "-t", "20", &name]);
    assert!(stop.elapsed() < Duration::from_secs(10), "SIGTERM took {:?}", stop.elapsed());
    assert_eq!(docker(&["inspect", "--format", "{{.State.ExitCode}}", &name]), "0");
    let logs = Command::new("docker").args(["logs", &name]).output().unwrap();
    assert!(String::from_utf8_lossy(&logs.stdout).contains("\"event\":\"stopped\""));
}

/// The KServe InferenceService (custom predictor) reads back as what the image serves: the
/// Open Inference Protocol's health routes as its probes, the image's port and user.
#[test]
fn the_kserve_manifest_probes_the_v2_routes_on_the_image_port_as_its_user() {
    let text = std::fs::read_to_string(root().join("infra/kserve/inferenceservice.yaml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(doc["kind"], "InferenceService");
    assert_eq!(doc["apiVersion"], "serving.kserve.io/v1beta1");
    let c = &doc["spec"]["predictor"]["containers"][0];
    assert_eq!(c["name"], "kserve-container", "KServe looks for its container by this name");
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let port = c["ports"][0]["containerPort"].as_u64().unwrap();
    assert!(dockerfile.contains(&format!("EXPOSE {port}")), "the image exposes {port}");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/v2/health/ready");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/v2/health/live");
    let user = c["securityContext"]["runAsUser"].as_u64().unwrap();
    assert!(dockerfile.contains(&format!("USER {user}")), "the image runs as {user}");
    // The probes are routes the server answers.
    let st = {
        let model = root().join("tests/fixtures/model");
        let cfg = churn::server::ServeConfig {
            model_uri: model.display().to_string(),
            tracking: churn::tracking::TrackingUri::parse("mlruns").unwrap(),
            host: "127.0.0.1".into(),
            port: 0,
            max_concurrency: 8,
            request_timeout: std::time::Duration::from_secs(5),
            max_body_bytes: 1 << 20,
            max_batch_rows: 10,
            api_key: None,
            admin_key: None,
            scoring_threads: 1,
            default_reasons: 3,
            drain_timeout: std::time::Duration::from_secs(1),
            watch: None,
        };
        let served = churn::server::state::load(&cfg.model_uri, &cfg.tracking, 1).unwrap();
        churn::server::AppState::new(cfg, served)
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = c[probe]["httpGet"]["path"].as_str().unwrap().to_string();
        let status = rt.block_on(async {
            use tower::ServiceExt;
            let req = axum::http::Request::get(&path).body(axum::body::Body::empty()).unwrap();
            churn::server::router(st.clone()).oneshot(req).await.unwrap().status()
        });
        assert_eq!(status, 200, "{probe} {path}");
    }
}
