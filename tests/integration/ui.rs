//! The web UI in real headless Chromium (tests/browser/ui.mjs, playwright-core driving Debian's
//! chromium): load, example, predict, field error, CSV upload and download, phone layout.
//! Screenshots of each state land in target/screenshots/ui.

use crate::support::*;

use std::path::Path;

#[test]
fn the_ui_scores_explains_and_batches_in_a_real_browser() {
    let d = tmp();
    let data = synth(d.path(), 3000, 31);
    let bundle = d.path().join("bundle");
    run_ok(&["train", "--data", s(&data), "--output", s(&bundle), "--trials", "0", "--no-track"]);
    let batch = d.path().join("batch.csv");
    let mut text = std::fs::read_to_string(synth(d.path(), 40, 5)).unwrap();
    text = text.replacen(",Month-to-month,", ",Weekly,", 1);
    std::fs::write(&batch, text).unwrap();
    let srv = Server::start(s(&bundle), &["--quiet"], &[]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("target/screenshots/ui");
    // From an empty folder, so a screenshot that is not written again cannot pass from an old run.
    let _ = std::fs::remove_dir_all(&shots);
    let out = std::process::Command::new("node")
        .arg(root.join("tests/browser/ui.mjs"))
        .args([&srv.url(""), s(&shots), s(&batch)])
        .current_dir(root.join("tests/browser"))
        .output()
        .expect("node runs (Node.js and tests/browser/node_modules come from scripts/test-env.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "UI check failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for f in [
        "01-loaded.png",
        "02-example-predicted.png",
        "03-field-error.png",
        "04-batch.png",
        "05-phone.png",
        "scored.csv",
    ] {
        assert!(shots.join(f).exists(), "{f} was not written");
    }
}
