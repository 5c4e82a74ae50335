//! The README's "Using it" block, run verbatim, in order, in a fresh folder right after what
//! `./scripts/demo.sh --no-serve` runs (`churn demo --no-serve`, after the build): a newcomer's
//! first commands must work as written, `churn serve` included.

use crate::support::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MARKER: &str = "<!-- verbatim after demo.sh --no-serve -->";

/// The bash block that follows the marker.
fn using_it_block() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let after = &readme[readme.find(MARKER).expect("the README marks the block the demo is followed by")..];
    let body = after.split_once("```bash\n").expect("a bash block follows the marker").1;
    body.split_once("\n```").expect("the block ends").0.to_string()
}

/// A shell whose PATH finds this build's `churn` first, with no tracking set from outside.
fn shell(dir: &Path, script: &str) -> Command {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_churn")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = Command::new("bash");
    c.args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MODEL_URI");
    c
}

#[test]
fn the_using_it_block_runs_as_written_after_the_demo() {
    let d = tmp();
    let demo =
        churn().args(["demo", "--no-serve"]).current_dir(d.path()).env_remove("MLFLOW_TRACKING_URI").output().unwrap();
    let demo_err = String::from_utf8_lossy(&demo.stderr);
    assert!(demo.status.success(), "churn demo --no-serve:\n{demo_err}");
    assert!(demo_err.contains("next: cd churn-demo"), "the demo says where to go next:\n{demo_err}");

    let block = using_it_block();
    let lines: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).collect();
    let (serve, before) = lines.split_last().unwrap();
    assert!(serve.starts_with("churn serve"), "the block ends with churn serve: {serve}");
    assert!(lines.iter().all(|l| l.starts_with("churn ") || l.starts_with("cd ")), "only churn and cd:\n{block}");

    // Each command on its own, so a failure names it; `cd` carries over as in a terminal.
    let mut cds = String::new();
    for line in before {
        if line.starts_with("cd ") {
            cds.push_str(line);
            cds.push('\n');
            continue;
        }
        let out = shell(d.path(), &format!("{cds}{line}")).output().unwrap();
        assert!(
            out.status.success(),
            "README command failed: {line}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let demo_dir = d.path().join("churn-demo");
    for f in ["new-customers.csv", "scored.csv", "model-2/MLmodel", "model-2/report/report.html", "my-schema.toml"] {
        assert!(demo_dir.join(f).exists(), "{f} was written");
    }
    let scored = csv_column(&demo_dir.join("scored.csv"), "churn_probability");
    assert_eq!(scored.len(), 2000);

    // `churn serve` until it answers, then stopped as Ctrl-C / SIGTERM would: exit 0.
    let port = free_port();
    use std::os::unix::process::CommandExt;
    let mut child = shell(d.path(), &format!("{cds}exec {serve}"))
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let agent = agent();
    let health = loop {
        let r = agent.get(&format!("http://127.0.0.1:{port}/")).call();
        if let Ok(mut r) = r {
            break (r.status().as_u16(), r.body_mut().read_to_string().unwrap());
        }
        assert!(start.elapsed() < Duration::from_secs(30), "churn serve did not answer on :{port}");
        assert!(child.try_wait().unwrap().is_none(), "churn serve exited: {serve}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(health.0, 200, "{}", health.1);
    assert!(health.1.contains("models:/churn@champion"), "{}", health.1);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "churn serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "churn serve after SIGTERM: {status:?}");
}
