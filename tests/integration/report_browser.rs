//! The training report drawn completely in headless Chromium, with no request leaving the file.

use crate::support::*;
use std::path::Path;

const CHARTS: [&str; 9] = ["roc", "pr", "calibration", "gains", "lift", "profit", "confusion", "importance", "scores"];

#[test]
fn chromium_draws_the_served_report_without_a_failed_request() {
    let d = tmp();
    let data = synth(d.path(), 2500, 17);
    let bundle = d.path().join("bundle");
    run_ok(&[
        "train",
        "--data",
        s(&data),
        "--output",
        s(&bundle),
        "--trials",
        "0",
        "--no-track",
        "--offer-cost",
        "15",
        "--customer-value",
        "300",
    ]);
    let html = std::fs::read_to_string(bundle.join("report/report.html")).unwrap();
    for c in CHARTS {
        assert!(html.contains(&format!("id=\"chart-{c}\"")), "chart {c} missing");
        let png = std::fs::read(bundle.join(format!("report/{c}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{c}.png is not a PNG");
    }
    assert!(
        !html.contains("http://")
            || html.matches("http://").all(|_| html.contains("xmlns=\"http://www.w3.org/2000/svg\""))
    );
    assert!(
        !html.contains("<script") && !html.contains("src=") && !html.contains("<link"),
        "the report must not load anything"
    );
    assert!(
        html.contains("offer cost 15") && html.contains("profit-optimal"),
        "the profit chart uses the model's own economics"
    );

    // `churn report` rebuilds it elsewhere, with other economics.
    let out = d.path().join("again");
    run_ok(&["report", "--model", s(&bundle), "--output", s(&out), "--offer-cost", "5", "--customer-value", "50"]);
    assert!(std::fs::read_to_string(out.join("report.html")).unwrap().contains("offer cost of 5"));

    // Served at /report, drawn by Chromium with no failed request.
    let srv = Server::start(s(&bundle), &["--quiet"], &[]);
    let (st, _, _) = call("GET", &srv.url("/report"), None, b"", &[]);
    assert_eq!(st, 200);
    assert_eq!(call("GET", &srv.url("/report/roc.png"), None, b"", &[]).0, 200);
    assert_eq!(call("GET", &srv.url("/report/..%2Fmodel.ubj"), None, b"", &[]).0, 404);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("target/screenshots/report");
    // From an empty folder, so a screenshot that is not written again cannot pass from an old run.
    let _ = std::fs::remove_dir_all(&shots);
    let res = std::process::Command::new("node")
        .arg(root.join("tests/browser/report.mjs"))
        .args([&srv.url("/report"), s(&shots)])
        .current_dir(root.join("tests/browser"))
        .output()
        .expect("node runs");
    assert!(res.status.success(), "{}\n{}", String::from_utf8_lossy(&res.stdout), String::from_utf8_lossy(&res.stderr));
    // The model card links to it.
    let (_, _, card) = call("GET", &srv.url("/model"), None, b"", &[]);
    assert!(String::from_utf8_lossy(&card).contains("\"report\":\"/report\""));
}
