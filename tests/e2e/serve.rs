//! The REST API on a real socket: every route, every bad-input case of the Python stack's probe
//! list, MLflow's /invocations shapes, metrics, API key, reload, load shedding, timeouts and the
//! SIGTERM drain.

use crate::support::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The IBM file's first customer (`tests/fixtures`), without its id.
static SAMPLE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    include_str!("../fixtures/telco_customer.json").replace("\"customerID\": \"7590-VHVEG\", ", "")
});

fn sample() -> Value {
    serde_json::from_str(&SAMPLE).unwrap()
}

/// A trained bundle shared by the tests of this module (training once keeps them fast).
fn bundle() -> &'static Path {
    static B: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    &B.get_or_init(|| {
        let d = tmp();
        let data = synth(d.path(), 4000, 8);
        let out = d.path().join("bundle");
        run_ok(&["train", "--data", s(&data), "--output", s(&out), "--trials", "0", "--no-track"]);
        (d, out)
    })
    .1
}

fn assert_error_shape(v: &Value, code: &str) {
    assert_eq!(v["code"], code, "{v}");
    for k in ["error_code", "type", "message"] {
        assert!(v[k].is_string(), "`{k}` missing in {v}");
    }
}

#[test]
fn health_routes_answer() {
    let s = Server::start(s(bundle()), &[], &[]);
    let (st, v) = get_json(&s, "/");
    assert_eq!(st, 200);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["model"]["inputs"], "customer fields");
    assert!(v["model"]["threshold"].as_f64().unwrap() > 0.0 && v["model"]["trees"].as_u64().unwrap() > 0);
    assert!(v["uptime_seconds"].is_number() && v["model"]["loaded_at"].is_string());
    assert_eq!(get_json(&s, "/healthz").0, 200);
    assert_eq!(get_json(&s, "/readyz").1["status"], "ready");
    assert_eq!(get_json(&s, "/version").1["churn"], env!("CARGO_PKG_VERSION"));
    for p in ["/ping", "/health"] {
        let (st, _, b) = call("GET", &s.url(p), None, b"", &[]);
        assert_eq!((st, b.as_slice()), (200, &b"\n"[..]), "{p}");
    }
    let (st, v) = get_json(&s, "/nope");
    assert_eq!(st, 404);
    assert_error_shape(&v, "not_found");
    let (st, _, b) = call("GET", &s.url("/predict"), None, b"", &[]);
    assert_eq!(st, 405);
    assert_error_shape(&serde_json::from_slice(&b).unwrap(), "method_not_allowed");
}

#[test]
fn predict_answers_probability_label_band_and_exact_reasons() {
    let s = Server::start(s(bundle()), &[], &[]);
    let mut c = sample();
    c["customerID"] = json!("7590-VHVEG");
    let (st, v) = post_json(&s, "/predict", &c);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["customerID"], "7590-VHVEG");
    let p = v["churn_probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    assert_eq!(v["churn"].as_bool().unwrap(), p >= v["threshold"].as_f64().unwrap());
    assert_eq!(v["label"], if v["churn"].as_bool().unwrap() { "Yes" } else { "No" });
    assert!(["high", "medium", "low"].contains(&v["risk_band"].as_str().unwrap()));
    let reasons = v["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 5);
    // Reasons are ranked by size and their points add up to the move from the base probability
    // (all five fields here carry most of it; with every field they add up exactly).
    let sizes: Vec<f64> = reasons.iter().map(|r| r["contribution"].as_f64().unwrap().abs()).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
    let (_, all) = post_json(&s, "/predict?reasons=50", &c);
    let total: f64 = all["reasons"].as_array().unwrap().iter().map(|r| r["points"].as_f64().unwrap()).sum();
    let base = all["base_probability"].as_f64().unwrap();
    assert!((total / 100.0 - (p - base)).abs() < 1e-4, "points {total} vs {p} - {base}");
    assert!(reasons[0]["text"].as_str().unwrap().contains(reasons[0]["label"].as_str().unwrap()));
    let (st, v) = post_json(&s, "/predict?explain=false", &sample());
    assert_eq!(st, 200);
    assert!(v.get("reasons").is_none() && (v["churn_probability"].as_f64().unwrap() - p).abs() < 1e-9);
    let (st, v) = post_json(&s, "/predict?bogus=1", &sample());
    assert_eq!(st, 400);
    assert_error_shape(&v, "invalid_query");
}

#[test]
fn predict_equals_batch_scoring_on_the_same_rows() {
    let srv = Server::start(s(bundle()), &[], &[]);
    let d = tmp();
    let data = synth(d.path(), 300, 77);
    let scored = d.path().join("scored.csv");
    run_ok(&["predict", "--model", s(bundle()), "--input", s(&data), "--output", s(&scored)]);
    let batch = csv_column(&scored, "churn_probability");
    // The same customers as a JSON array...
    let mut r = csv::Reader::from_path(&data).unwrap();
    let headers: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows: Vec<Value> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            let mut m = serde_json::Map::new();
            for (h, v) in headers.iter().zip(rec.iter()) {
                m.insert(h.clone(), json!(v));
            }
            Value::Object(m)
        })
        .collect();
    let json_body = serde_json::to_vec(&Value::Array(rows)).unwrap();
    let (st, _, b) = call("POST", &srv.url("/predict?explain=false"), Some("application/json"), &json_body, &[]);
    let json_text = String::from_utf8(b).unwrap();
    let v: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(st, 200, "{v}");
    let online: Vec<f64> =
        v["predictions"].as_array().unwrap().iter().map(|p| p["churn_probability"].as_f64().unwrap()).collect();
    assert_eq!(online.len(), batch.len());
    let diff = online.iter().zip(&batch).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(diff <= 1e-6, "{diff}");
    // ... and as a CSV body.
    let body = std::fs::read(&data).unwrap();
    let (st, _, b) = call("POST", &srv.url("/predict?explain=false"), Some("text/csv"), &body, &[]);
    assert_eq!(st, 200);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["scored"], 300);
    let csv_online: Vec<f64> =
        v["predictions"].as_array().unwrap().iter().map(|p| p["churn_probability"].as_f64().unwrap()).collect();
    assert_eq!(csv_online, online);
    // One number format, whatever the input shape and output: the digits are the same text in
    // the JSON answers to a JSON and a CSV body, and in the batch file.
    let csv_text = String::from_utf8(b).unwrap();
    let digits = |text: &str| -> Vec<String> {
        text.split("\"churn_probability\":").skip(1).map(|t| t.split([',', '}']).next().unwrap().to_string()).collect()
    };
    assert_eq!(digits(&json_text), digits(&csv_text));
    let mut r = csv::Reader::from_path(&scored).unwrap();
    let col = r.headers().unwrap().iter().position(|h| h == "churn_probability").unwrap();
    let file_text: Vec<String> = r.records().map(|rec| rec.unwrap()[col].to_string()).collect();
    assert_eq!(digits(&json_text), file_text);
}

#[test]
fn csv_body_reports_bad_lines_and_can_answer_csv() {
    let s = Server::start(s(bundle()), &[], &[]);
    let d = tmp();
    let data = synth(d.path(), 5, 3);
    let mut text = std::fs::read_to_string(&data).unwrap();
    text = text.replacen("Month-to-month", "Weekly", 1);
    text.push_str("9999-ZZZZZ,Male,0,No,No,abc,Yes,No,DSL,No,No,No,No,No,No,One year,No,Mailed check,50,100,No\n");
    let (st, _, b) = call("POST", &s.url("/predict"), Some("text/csv"), text.as_bytes(), &[]);
    assert_eq!(st, 200);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["rows"], 6);
    assert_eq!(v["rejected"], 2, "{v}");
    let errors = v["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e["field"] == "tenure" && e["line"] == 7), "{v}");
    assert!(errors.iter().any(|e| e["field"] == "Contract" && e["code"] == "unknown_category"), "{v}");
    let (st, hs, b) = call("POST", &s.url("/predict"), Some("text/csv"), text.as_bytes(), &[("Accept", "text/csv")]);
    assert_eq!(st, 200);
    assert!(hs.iter().any(|(k, v)| k == "content-type" && v.starts_with("text/csv")));
    let out = String::from_utf8(b).unwrap();
    assert_eq!(out.lines().count(), 7, "{out}");
    assert!(out.lines().next().unwrap().starts_with("customerID,line,churn_probability"));
    assert!(out.contains("9999-ZZZZZ") || out.contains("`tenure`"), "{out}");
}

/// The sample customer with one field set.
fn with(k: &str, v: Value) -> Value {
    let mut c = sample();
    c[k] = v;
    c
}

/// A raw body posted to /predict: (status, the JSON answer or null).
fn post_raw(s: &Server, body: &[u8], content_type: Option<&str>) -> (u16, Value) {
    let (st, _, b) = call("POST", &s.url("/predict"), content_type, body, &[]);
    (st, serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null))
}

/// Every case of ../shared/anchors/seed-stack/results/bad_inputs.md, here and in the tests below.
#[test]
fn every_bad_value_of_the_python_probe_gets_a_422_naming_the_field_and_its_code() {
    let s = Server::start(s(bundle()), &[], &[]);
    let mut without_total = sample();
    without_total.as_object_mut().unwrap().remove("TotalCharges");
    // (body, code, field)
    let cases: Vec<(Value, &str, &str)> = vec![
        (without_total, "missing_field", "TotalCharges"),
        (with("tenure", json!("abc")), "not_a_number", "tenure"),
        (with("tenure", json!(12.5)), "not_an_integer", "tenure"),
        (with("Contract", json!("Weekly")), "unknown_category", "Contract"),
        (with("Contract", json!("month-to-month")), "unknown_category", "Contract"),
        (with("tenure", json!(-5)), "out_of_range", "tenure"),
        (with("tenure", json!(1_000_000_000_000i64)), "out_of_range", "tenure"),
        (with("SeniorCitizen", json!("Yes")), "not_a_number", "SeniorCitizen"),
        (with("SeniorCitizen", json!(7)), "out_of_range", "SeniorCitizen"),
        (with("gender", json!({"a": 1})), "wrong_type", "gender"),
        (with("tenure", json!(true)), "wrong_type", "tenure"),
        (with("Contrakt", json!("One year")), "unknown_field", "Contrakt"),
        (json!({}), "missing_field", "gender"),
    ];
    for (body, code, field) in cases {
        let (st, v) = post_json(&s, "/predict", &body);
        assert_eq!(st, 422, "{body} -> {v}");
        assert_error_shape(&v, "invalid_fields");
        let e = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["field"] == field)
            .unwrap_or_else(|| panic!("{field} not named in {v}"));
        assert_eq!(e["code"], code, "{v}");
        assert!(v["message"].as_str().unwrap().contains(field));
    }
}

#[test]
fn a_case_slip_in_a_category_gets_the_allowed_levels_and_a_hint() {
    let s = Server::start(s(bundle()), &[], &[]);
    let (_, v) = post_json(&s, "/predict", &with("Contract", json!("month-to-month")));
    assert_eq!(v["errors"][0]["expected"], json!(["Month-to-month", "One year", "Two year"]));
    assert!(v["message"].as_str().unwrap().contains("did you mean \"Month-to-month\""));
}

#[test]
fn numeric_strings_integral_floats_blank_totals_and_the_id_are_accepted() {
    // As CSV cells are; a blank or null TotalCharges is the IBM file's "not billed yet".
    let s = Server::start(s(bundle()), &[], &[]);
    for body in [
        with("tenure", json!("12")),
        with("tenure", json!(12.0)),
        with("TotalCharges", json!(" ")),
        with("TotalCharges", Value::Null),
        with("customerID", json!("x")),
    ] {
        assert_eq!(post_json(&s, "/predict", &body).0, 200, "{body}");
    }
    let (_, blank) = post_json(&s, "/predict?reasons=50", &with("TotalCharges", json!(" ")));
    let (_, null) = post_json(&s, "/predict?reasons=50", &with("TotalCharges", Value::Null));
    assert_eq!(blank["churn_probability"], null["churn_probability"]);
    let total = blank["reasons"].as_array().unwrap().iter().find(|r| r["field"] == "TotalCharges").unwrap();
    assert_eq!(total["value"], "missing", "{total}");
}

#[test]
fn bodies_that_are_not_the_right_json_get_their_own_codes() {
    let s = Server::start(s(bundle()), &[], &[]);
    let json = Some("application/json");
    let nan = SAMPLE.replace("29.85, \"TotalCharges\"", "NaN, \"TotalCharges\"");
    assert_eq!(post_raw(&s, nan.as_bytes(), json).1["code"], "invalid_json");
    assert_eq!(post_raw(&s, b"", json).1["code"], "empty_body");
    assert_eq!(post_raw(&s, b"{\"gender\": \"Fem", json).1["code"], "invalid_json");
    assert_eq!(post_raw(&s, b"[]", json).1["code"], "empty_batch");
    assert_eq!(post_raw(&s, b"42", json).1["code"], "wrong_body_type");
    let (st, v) = post_raw(&s, SAMPLE.as_bytes(), Some("text/plain"));
    assert_eq!((st, v["code"].as_str()), (415, Some("unsupported_media_type")));
    assert_eq!(post_raw(&s, SAMPLE.as_bytes(), Some("application/json; charset=latin-1")).0, 415);
}

#[test]
fn an_array_is_a_batch_and_its_bad_customer_is_named_by_row() {
    let s = Server::start(s(bundle()), &[], &[]);
    let (st, v) = post_json(&s, "/predict", &json!([sample(), sample()]));
    assert_eq!((st, v["predictions"].as_array().map(Vec::len)), (200, Some(2)));
    let (st, v) = post_json(&s, "/predict", &json!([sample(), with("tenure", json!(-1))]));
    assert_eq!(st, 422);
    assert_eq!(v["errors"][0]["row"], 1);
}

#[test]
fn ten_megabyte_bodies_are_refused_before_they_are_read() {
    let s = Server::start(s(bundle()), &[], &[]);
    let big = "9".repeat(10 * 1024 * 1024);
    for body in [
        with("junk", json!(big)).to_string(),
        with("gender", json!(big)).to_string(),
        SAMPLE.replace("\"tenure\": 1", &format!("\"tenure\": {big}")),
        big.clone(),
    ] {
        let (st, v) = post_raw(&s, body.as_bytes(), Some("application/json"));
        assert_eq!(st, 413);
        assert_error_shape(&v, "body_too_large");
    }
}

#[test]
fn a_long_value_is_never_echoed_back_whole() {
    let s = Server::start(s(bundle()), &[], &[]);
    let (st, _, b) = call(
        "POST",
        &s.url("/predict"),
        Some("application/json"),
        with("gender", json!("x".repeat(100_000))).to_string().as_bytes(),
        &[],
    );
    assert_eq!(st, 422);
    assert!(b.len() < 2_000, "{} bytes", b.len());
}

#[test]
fn invocations_speaks_mlflow() {
    let s = Server::start(s(bundle()), &[], &[]);
    let c = sample();
    let cols: Vec<String> = c.as_object().unwrap().keys().cloned().collect();
    let row: Vec<Value> = cols.iter().map(|k| c[k].clone()).collect();
    let (st, single) = post_json(&s, "/predict?explain=false", &c);
    assert_eq!(st, 200);
    let p = single["churn_probability"].as_f64().unwrap();
    let bodies = [
        json!({"dataframe_split": {"columns": cols, "data": [row.clone(), row.clone()]}}),
        json!({"dataframe_split": {"columns": cols, "data": [row.clone(), row.clone()], "index": [0, 1]}}),
        json!({"dataframe_records": [c.clone(), c.clone()]}),
        json!({"instances": [c.clone(), c.clone()]}),
        json!({"inputs": cols.iter().map(|k| (k.clone(), json!([c[k].clone(), c[k].clone()]))).collect::<serde_json::Map<_, _>>()}),
        json!({"dataframe_records": [c.clone(), c.clone()], "params": {"output_margin": true}}),
    ];
    for b in bodies {
        let (st, v) = post_json(&s, "/invocations", &b);
        assert_eq!(st, 200, "{b} -> {v}");
        let preds = v["predictions"].as_array().unwrap();
        assert_eq!(preds.len(), 2);
        assert!((preds[0].as_f64().unwrap() - p).abs() < 1e-6);
    }
    // The model's own columns (the MLmodel signature's), e.g. its serving input example.
    let example: Value =
        serde_json::from_slice(&std::fs::read(bundle().join("serving_input_example.json")).unwrap()).unwrap();
    let (st, v) = post_json(&s, "/invocations", &example);
    assert_eq!((st, v["predictions"].as_array().map(Vec::len)), (200, Some(2)), "{v}");
    // CSV.
    let csv = format!(
        "{}\n{}\n",
        cols.join(","),
        row.iter().map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string())).collect::<Vec<_>>().join(",")
    );
    let (st, _, b) = call("POST", &s.url("/invocations"), Some("text/csv"), csv.as_bytes(), &[]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    // MLflow's errors: 400 for the old 1.x shape, bad JSON and missing inputs; 415 for text/plain.
    let (st, v) = post_json(&s, "/invocations", &json!({"columns": cols, "data": [row]}));
    assert_eq!(st, 400);
    assert!(v["message"].as_str().unwrap().contains("exactly one of the input fields"), "{v}");
    let (st, _, _) = call("POST", &s.url("/invocations"), Some("application/json"), b"{nope", &[]);
    assert_eq!(st, 400);
    let mut missing = c.clone();
    missing.as_object_mut().unwrap().remove("tenure");
    let (st, v) = post_json(&s, "/invocations", &json!({"dataframe_records": [missing]}));
    assert_eq!(st, 400);
    assert!(v["message"].as_str().unwrap().contains("`tenure`: required field is missing"), "{v}");
    let (st, _, _) = call("POST", &s.url("/invocations"), Some("text/plain"), b"x", &[]);
    assert_eq!(st, 415);
}

#[test]
fn openapi_docs_and_metrics_are_served_from_the_binary() {
    let s = Server::start(s(bundle()), &[], &[]);
    let (st, doc) = get_json(&s, "/openapi.json");
    assert_eq!(st, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in ["/", "/predict", "/invocations", "/metrics", "/admin/reload", "/model"] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from the OpenAPI document");
    }
    assert_eq!(
        doc["components"]["schemas"]["Customer"]["properties"]["Contract"]["enum"],
        json!(["Month-to-month", "One year", "Two year"])
    );
    assert_eq!(doc["components"]["schemas"]["Customer"]["properties"]["tenure"]["type"], "integer");
    let (st, _, page) = call("GET", &s.url("/docs"), None, b"", &[]);
    let page = String::from_utf8(page).unwrap();
    assert_eq!(st, 200);
    assert!(
        page.contains("/docs/swagger-ui-bundle.js") && !page.contains("http"),
        "the docs page must not load anything from outside"
    );
    let (st, _, js) = call("GET", &s.url("/docs/swagger-ui-bundle.js"), None, b"", &[]);
    assert!(st == 200 && js.len() > 500_000);
    post_json(&s, "/predict", &sample());
    post_json(&s, "/predict", &json!({"tenure": "x"}));
    let (st, _, m) = call("GET", &s.url("/metrics"), None, b"", &[]);
    let m = String::from_utf8(m).unwrap();
    assert_eq!(st, 200);
    for needle in [
        "churn_http_requests_total{route=\"/predict\",status=\"200\"} 1",
        "churn_http_requests_total{route=\"/predict\",status=\"422\"} 1",
        "churn_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/predict\"}",
        "churn_predictions_total{label=",
        "churn_prediction_score_bucket{le=\"0.5\"}",
        "churn_feature_drift_psi{field=\"tenure\"}",
        "churn_model_info{",
    ] {
        assert!(m.contains(needle), "{needle} not in:\n{m}");
    }
    let (st, card) = get_json(&s, "/model");
    assert_eq!(st, 200);
    assert_eq!(card["inputs"].as_array().unwrap().len(), 19);
    assert_eq!(card["lift"].as_array().unwrap().len(), 10);
    assert_eq!(card["examples"].as_array().unwrap().len(), 2);
    // The model's own example customers score, and the first is the riskier.
    let ex = card["examples"].as_array().unwrap();
    let (_, a) = post_json(&s, "/predict", &ex[0]["customer"]);
    let (_, b) = post_json(&s, "/predict", &ex[1]["customer"]);
    assert!(a["churn_probability"].as_f64().unwrap() > b["churn_probability"].as_f64().unwrap());
}

#[test]
fn drift_shows_when_requests_leave_the_training_profile() {
    let s = Server::start(s(bundle()), &[], &[]);
    let mut c = sample();
    c["tenure"] = json!(70);
    let batch = Value::Array((0..500).map(|_| c.clone()).collect());
    post_json(&s, "/predict?explain=false", &batch);
    let (_, _, m) = call("GET", &s.url("/metrics"), None, b"", &[]);
    let m = String::from_utf8(m).unwrap();
    let psi = |field: &str| -> f64 {
        let line = m.lines().find(|l| l.starts_with(&format!("churn_feature_drift_psi{{field=\"{field}\"}}"))).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(psi("tenure") > 1.0, "every request at tenure 70 is far from the training mix");
    assert!(m.contains("churn_drift_window_customers 500"));
}

#[test]
fn api_key_guards_scoring_but_not_health() {
    let s = Server::start(s(bundle()), &[], &[("CHURN_API_KEY", "s3cret")]);
    let body = SAMPLE.as_bytes();
    let (st, _, b) = call("POST", &s.url("/predict"), Some("application/json"), body, &[]);
    assert_eq!(st, 401);
    assert_error_shape(&serde_json::from_slice(&b).unwrap(), "unauthorized");
    assert_eq!(
        call("POST", &s.url("/predict"), Some("application/json"), body, &[("Authorization", "Bearer wrong")]).0,
        401
    );
    assert_eq!(
        call("POST", &s.url("/predict"), Some("application/json"), body, &[("Authorization", "Bearer s3cret")]).0,
        200
    );
    assert_eq!(call("POST", &s.url("/predict"), Some("application/json"), body, &[("X-API-Key", "s3cret")]).0, 200);
    assert_eq!(call("POST", &s.url("/invocations"), Some("application/json"), b"{}", &[]).0, 401);
    assert_eq!(get_json(&s, "/").0, 200);
    // The admin route takes the API key when no admin key is set.
    assert_eq!(call("POST", &s.url("/admin/reload"), None, b"", &[]).0, 401);
    assert_eq!(call("POST", &s.url("/admin/reload"), None, b"", &[("Authorization", "Bearer s3cret")]).0, 200);
}

#[test]
fn the_server_refuses_to_start_without_a_usable_model() {
    let d = tmp();
    let (ok, _, err) = run(&["serve", "--model", s(&d.path().join("nope")), "--port", "0"]);
    assert!(!ok && err.contains("no model folder") && err.contains("nope"), "{err}");
    let broken = d.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("model.ubj"), b"{garbage").unwrap();
    let (ok, _, err) = run(&["serve", "--model", s(&broken), "--port", "0"]);
    assert!(!ok && err.contains("model.ubj"), "{err}");
    let (ok, _, err) = run(&[
        "serve",
        "--model",
        "models:/churn@champion",
        "--tracking-uri",
        s(&d.path().join("mlruns")),
        "--port",
        "0",
    ]);
    assert!(!ok && err.contains("no MLflow file store"), "{err}");
}

/// Opens a request whose body is only partly sent: the server is busy with it until the rest.
fn hold_request(port: u16, path: &str) -> TcpStream {
    let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        SAMPLE.len()
    );
    t.write_all(head.as_bytes()).unwrap();
    t.write_all(&SAMPLE.as_bytes()[..10]).unwrap();
    t
}

fn finish_request(mut t: TcpStream) -> String {
    t.write_all(&SAMPLE.as_bytes()[10..]).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = t.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn sigterm_drains_in_flight_requests_then_exits() {
    let mut s = Server::start(s(bundle()), &[], &[]);
    let held = hold_request(s.port, "/predict");
    std::thread::sleep(Duration::from_millis(200));
    s.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    assert!(s.wait(Duration::from_millis(10)).is_none(), "the server must wait for the request in flight");
    let answer = finish_request(held);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let status = s.wait(Duration::from_secs(10)).expect("the server exits after draining");
    assert!(status.success(), "{status:?}");
    let log = s.log.lock().unwrap().join("\n");
    assert!(log.contains("\"event\":\"draining\"") && log.contains("\"event\":\"stopped\""), "{log}");
}

#[test]
fn load_is_shed_with_503_and_retry_after() {
    let s = Server::start(s(bundle()), &["--max-concurrency", "1"], &[]);
    let held = hold_request(s.port, "/predict");
    std::thread::sleep(Duration::from_millis(200));
    let (st, hs, b) = call("POST", &s.url("/predict"), Some("application/json"), SAMPLE.as_bytes(), &[]);
    assert_eq!(st, 503);
    assert!(hs.iter().any(|(k, v)| k == "retry-after" && v == "1"), "{hs:?}");
    assert_error_shape(&serde_json::from_slice(&b).unwrap(), "overloaded");
    assert_eq!(get_json(&s, "/").0, 200, "health checks are never shed");
    assert!(finish_request(held).starts_with("HTTP/1.1 200"));
    assert_eq!(call("POST", &s.url("/predict"), Some("application/json"), SAMPLE.as_bytes(), &[]).0, 200);
    let (_, _, m) = call("GET", &s.url("/metrics"), None, b"", &[]);
    assert!(String::from_utf8(m).unwrap().contains("churn_requests_shed_total 1"));
}

#[test]
fn slow_requests_time_out_with_504() {
    let s = Server::start(s(bundle()), &["--request-timeout-ms", "300"], &[]);
    let mut held = hold_request(s.port, "/predict");
    held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = held.read(&mut buf).unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 504") && answer.contains("\"code\":\"timeout\""), "{answer}");
}

#[test]
fn one_json_log_line_per_request_without_customer_fields() {
    let s = Server::start(s(bundle()), &[], &[]);
    post_json(&s, "/predict", &sample());
    post_json(&s, "/predict", &json!({"Contract": "Weekly"}));
    std::thread::sleep(Duration::from_millis(300));
    let log = s.log.lock().unwrap().clone();
    let requests: Vec<Value> = log
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "churn::access")
        .collect();
    assert_eq!(requests.len(), 2, "{log:?}");
    for r in &requests {
        for k in ["timestamp", "level", "request_id", "method", "route", "status", "latency_ms"] {
            assert!(r.get(k).is_some(), "{k} missing in {r}");
        }
    }
    assert_eq!(requests[1]["status"], 422);
    let all = log.join("\n");
    assert!(!all.contains("Weekly") && !all.contains("Electronic check"), "customer fields must not be logged");
}

#[test]
fn reload_swaps_the_model_when_the_alias_moves_without_failing_a_request() {
    let d = tmp();
    let store = d.path().join("mlruns");
    let train = |seed: u64, depth: &str| {
        let data = synth(d.path(), 2500, seed);
        let out = d.path().join(format!("b{seed}"));
        run_ok(&[
            "train",
            "--data",
            s(&data),
            "--output",
            s(&out),
            "--trials",
            "0",
            "--param",
            depth,
            "--tracking-uri",
            s(&store),
            "--register",
            "churn",
            "--alias",
            "champion",
        ]);
    };
    train(1, "max_depth=1");
    let mut srv =
        Server::start("models:/churn@champion", &["--tracking-uri", s(&store)], &[("CHURN_ADMIN_KEY", "adm")]);
    let (_, h) = get_json(&srv, "/");
    assert_eq!(h["model"]["version"], "1");
    assert_eq!(h["model"]["uri"], "models:/churn@champion");
    let p1 = post_json(&srv, "/predict", &sample()).1["churn_probability"].as_f64().unwrap();

    // A client keeps scoring through every reload below.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let hammer = {
        let (stop, statuses, url) = (stop.clone(), statuses.clone(), srv.url("/predict"));
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (st, _, _) = call("POST", &url, Some("application/json"), SAMPLE.as_bytes(), &[]);
                statuses.lock().unwrap().push(st);
            }
        })
    };

    train(2, "max_depth=3");
    assert_eq!(call("POST", &srv.url("/admin/reload"), None, b"", &[]).0, 401);
    let (st, _, b) = call("POST", &srv.url("/admin/reload"), None, b"", &[("Authorization", "Bearer adm")]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    let (_, h) = get_json(&srv, "/");
    assert_eq!(h["model"]["version"], "2");
    assert_eq!(h["model"]["generation"], 2);
    let p2 = post_json(&srv, "/predict", &sample()).1["churn_probability"].as_f64().unwrap();
    assert_ne!(p1, p2);

    // An alias pointing at nothing: the reload fails, says why, and version 2 keeps serving.
    std::fs::write(store.join("models/churn/aliases/champion"), "9").unwrap();
    let (st, _, b) = call("POST", &srv.url("/admin/reload"), None, b"", &[("Authorization", "Bearer adm")]);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(st, 409, "{v}");
    assert!(v["message"].as_str().unwrap().contains("previous one keeps serving"), "{v}");
    let (_, h) = get_json(&srv, "/");
    assert_eq!(h["model"]["version"], "2");
    assert!(h["last_reload_error"].as_str().unwrap().contains("version 9"), "{h}");

    // SIGHUP reloads too.
    std::fs::write(store.join("models/churn/aliases/champion"), "1").unwrap();
    srv.signal(libc::SIGHUP);
    let start = Instant::now();
    while get_json(&srv, "/").1["model"]["version"] != "1" {
        assert!(start.elapsed() < Duration::from_secs(10), "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(get_json(&srv, "/").1["last_reload_error"].is_null());

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    hammer.join().unwrap();
    let statuses = statuses.lock().unwrap();
    assert!(statuses.len() > 20, "{}", statuses.len());
    assert!(statuses.iter().all(|&s| s == 200), "a request failed during reloads: {statuses:?}");
    let (_, _, m) = call("GET", &srv.url("/metrics"), None, b"", &[]);
    let m = String::from_utf8(m).unwrap();
    assert!(
        m.contains("churn_model_reloads_total{result=\"ok\"} 2")
            && m.contains("churn_model_reloads_total{result=\"failed\"} 1"),
        "{m}"
    );
    let _ = srv.wait(Duration::from_millis(1));
}
