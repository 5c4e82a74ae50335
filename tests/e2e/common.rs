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
