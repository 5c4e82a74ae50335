//! The Open Inference Protocol with clients nobody here wrote: tritonclient's HTTP client (in
//! binary tensor data, its default, and in JSON) and KServe's InferenceRESTClient call `churn
//! serve` on a model trained here (with a blank `TotalCharges` in the customers), and get
//! `/predict`'s probabilities and labels (within 1e-6) and reasons.

use crate::support::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// The Python with tritonclient and KServe's SDK ($CHURN_OIP_PYTHON, set up by
/// scripts/test-env.sh). Missing is a failure, not a skip.
fn oip_python() -> PathBuf {
    if let Ok(p) = std::env::var("CHURN_OIP_PYTHON") {
        return PathBuf::from(p);
    }
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-oip/bin/python");
    assert!(p.exists(), "tritonclient and kserve are needed: run `. scripts/test-env.sh` (or set CHURN_OIP_PYTHON)");
    p
}

#[test]
fn tritonclient_and_kserve_get_the_probabilities_of_predict() {
    let d = tmp();
    let data = synth(d.path(), 1500, 21);
    let model = d.path().join("model");
    run_ok(&[
        "train",
        "--data",
        s(&data),
        "--output",
        s(&model),
        "--no-track",
        "--trials",
        "0",
        "--param",
        "max_depth=4",
    ]);
    // Eight customers, one of them not billed yet (a blank TotalCharges).
    let text = std::fs::read_to_string(&data).unwrap();
    let mut lines: Vec<String> = text.lines().take(9).map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let total = header.iter().position(|h| *h == "TotalCharges").unwrap();
    let mut cells: Vec<String> = lines[3].split(',').map(str::to_string).collect();
    cells[total] = String::new();
    lines[3] = cells.join(",");
    let customers = d.path().join("customers.csv");
    std::fs::write(&customers, lines.join("\n") + "\n").unwrap();

    let srv = Server::start(s(&model), &["--quiet"], &[]);
    let (_, card) = get_json(&srv, "/model");
    let name = card["model"]["name"].as_str().unwrap().to_string();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oip/clients.py");
    let out = Command::new(oip_python())
        .arg(&script)
        .args([&srv.url(""), &name, s(&customers)])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "clients.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();

    let csv = std::fs::read_to_string(&customers).unwrap();
    let (status, _, bytes) = call("POST", &srv.url("/predict?reasons=5"), Some("text/csv"), csv.as_bytes(), &[]);
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status, 200, "{body}");
    let expected: Vec<(f64, bool)> = body["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["churn_probability"].as_f64().unwrap(), p["churn"].as_bool().unwrap()))
        .collect();
    assert_eq!(expected.len(), 8);
    let triton = &got["triton"];
    assert_eq!(
        (triton["live"].as_bool(), triton["ready"].as_bool(), triton["model_ready"].as_bool()),
        (Some(true), Some(true), Some(true))
    );
    for (client, answer) in
        [("triton binary", &triton["binary"]), ("triton json", &triton["json"]), ("kserve", &got["kserve"])]
    {
        for (i, (p, churn)) in expected.iter().enumerate() {
            let q = answer["churn_probability"][i].as_f64().unwrap();
            assert!((q - p).abs() <= 1e-6, "{client}, customer {i}: {q} against /predict's {p}");
            assert_eq!(answer["churn"][i].as_bool(), Some(*churn), "{client}, customer {i}");
        }
    }
    // The reasons are /predict's, in the same order.
    for (i, p) in body["predictions"].as_array().unwrap().iter().enumerate() {
        let theirs: Vec<&str> =
            triton["reasons"][i].as_array().unwrap().iter().map(|r| r["text"].as_str().unwrap()).collect();
        let ours: Vec<&str> = p["reasons"].as_array().unwrap().iter().map(|r| r["text"].as_str().unwrap()).collect();
        assert_eq!(theirs, ours, "customer {i}");
    }
    assert_eq!(got["kserve"]["id"], "kserve-1");
    assert!(got["kserve"]["ready"].as_bool().unwrap() && got["kserve"]["model_ready"].as_bool().unwrap());
    let error = triton["unknown_model_error"].as_str().unwrap_or("");
    assert!(error.contains("no-such-model") && error.contains(&name), "{error}");
}
