//! Every route's answers and errors, pinned: the router is driven in process (no socket) with a
//! fixed model bundle (`tests/fixtures/model`), and each exchange is compared with its snapshot
//! in `tests/serving/snapshots`. A refactor that changes what a client sees fails here first.
//!
//! Values that change from run to run (uptime, load time, timestamps, request ids) are masked;
//! bodies that are pages or assets are pinned by status, type and length, not byte for byte.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use churn::server::{self, AppState, ServeConfig};
use churn::tracking::TrackingUri;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// The IBM file's first customer, as every test that posts one sends it.
const CUSTOMER: &str = include_str!("../fixtures/telco_customer.json");

const CSV_HEADER: &str = "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges";
const CSV_ROW: &str = "7590-VHVEG,Female,0,Yes,No,1,No,No phone service,DSL,No,Yes,No,No,No,No,Month-to-month,Yes,Electronic check,29.85,29.85";
const CSV_ROW_2: &str =
    "5575-GNVDE,Male,0,No,No,34,Yes,No,DSL,Yes,No,Yes,No,No,No,One year,No,Mailed check,56.95,1889.5";

fn fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model").display().to_string()
}

fn config(api_key: Option<&str>) -> ServeConfig {
    ServeConfig {
        model_uri: fixture(),
        tracking: TrackingUri::parse("mlruns").unwrap(),
        host: "127.0.0.1".into(),
        port: 0,
        max_concurrency: 64,
        request_timeout: Duration::from_secs(30),
        max_body_bytes: 64 * 1024,
        max_batch_rows: 3,
        api_key: api_key.map(str::to_string),
        admin_key: None,
        scoring_threads: 2,
        default_reasons: 3,
        drain_timeout: Duration::from_secs(1),
        watch: None,
    }
}

fn state(api_key: Option<&str>) -> Arc<AppState> {
    let cfg = config(api_key);
    let served = server::state::load(&cfg.model_uri, &cfg.tracking, 1).expect("the fixture model loads");
    AppState::new(cfg, served)
}

/// Keys whose values differ between runs.
const VOLATILE: [&str; 6] = ["uptime_seconds", "loaded_at", "load_seconds", "dir", "uri", "model_dir"];

fn mask(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if VOLATILE.contains(&k.as_str()) && !x.is_null() {
                    *x = Value::String("[masked]".into());
                } else {
                    mask(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask),
        _ => {}
    }
}

/// One exchange, written the way the snapshot shows it.
async fn exchange(
    st: &Arc<AppState>,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = server::router(st.clone()).oneshot(req.body(Body::from(body.to_string())).unwrap()).await.unwrap();
    let status = response.status();
    let ct = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let extra: Vec<String> = ["retry-after", "allow", "www-authenticate", "content-disposition"]
        .iter()
        .filter_map(|h| response.headers().get(*h).map(|v| format!("{h}: {}", v.to_str().unwrap_or("?"))))
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let parsed = if ct.starts_with("application/json") { serde_json::from_slice::<Value>(&bytes).ok() } else { None };
    let shown = if let Some(mut v) = parsed {
        mask(&mut v);
        serde_json::to_string_pretty(&v).unwrap()
    } else if bytes.len() < 64 {
        format!("{:?}", String::from_utf8_lossy(&bytes))
    } else if ct.starts_with("text/csv") || ct.starts_with("text/plain") && bytes.len() < 4096 {
        // The model's URI is the fixture's path on this machine.
        mask_times(&String::from_utf8_lossy(&bytes)).replace(&fixture(), "[fixture]")
    } else {
        format!("<{} bytes>", bytes.len())
    };
    let mut out = format!("{method} {path}");
    if let Some(ct) = content_type {
        out.push_str(&format!(" [{ct}]"));
    }
    out.push_str(&format!("\n=> {} {}\n", status.as_u16(), status.canonical_reason().unwrap_or("")));
    out.push_str(&format!("content-type: {ct}\n"));
    for e in extra {
        out.push_str(&e);
        out.push('\n');
    }
    out.push_str(&shown);
    out.push_str("\n\n");
    out
}

/// Every UTC timestamp (`2026-12-04T19:01:33Z`) in a text body, masked.
fn mask_times(text: &str) -> String {
    let b = text.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:ddZ";
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let fits = b.len() - i >= shape.len()
            && shape.iter().zip(&b[i..]).all(|(s, c)| if *s == b'd' { c.is_ascii_digit() } else { s == c });
        if fits {
            out.push_str("[time]");
            i += shape.len();
        } else {
            let c = text[i..].chars().next().expect("a char starts here");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn customer_with(key: &str, value: Value) -> String {
    let mut v: Value = serde_json::from_str(CUSTOMER).unwrap();
    v[key] = value;
    v.to_string()
}

fn customer_without(key: &str) -> String {
    let mut v: Value = serde_json::from_str(CUSTOMER).unwrap();
    v.as_object_mut().unwrap().remove(key);
    v.to_string()
}

fn check(name: &str, text: String) {
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, text);
    });
}

#[tokio::test]
async fn health_version_model_and_docs() {
    let st = state(None);
    let mut t = String::new();
    for path in ["/", "/healthz", "/readyz", "/ping", "/health", "/model", "/nope", "/docs/nope.js"] {
        t += &exchange(&st, "GET", path, None, &[], "").await;
    }
    t += &exchange(&st, "GET", "/predict", None, &[], "").await;
    t += &exchange(&st, "DELETE", "/", None, &[], "").await;
    for path in ["/docs", "/docs/", "/ui", "/ui/", "/report", "/report/roc.png", "/report/../metadata.json"] {
        t += &exchange(&st, "GET", path, None, &[], "").await;
    }
    check("health_version_model_and_docs", t);
    let (status, v) = json(&st, "GET", "/version", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["churn"], env!("CARGO_PKG_VERSION"));
}

async fn json(st: &Arc<AppState>, method: &str, path: &str, ct: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    let r = server::router(st.clone()).oneshot(req.body(Body::from(body.to_string())).unwrap()).await.unwrap();
    let status = r.status();
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn predict_answers() {
    let st = state(None);
    let j = Some("application/json");
    let mut t = String::new();
    t += &exchange(&st, "POST", "/predict", j, &[], CUSTOMER).await;
    t += &exchange(&st, "POST", "/predict?explain=false", j, &[], CUSTOMER).await;
    t += &exchange(&st, "POST", "/predict?reasons=1", j, &[], CUSTOMER).await;
    t += &exchange(&st, "POST", "/predict", j, &[], &format!("[{CUSTOMER}, {CUSTOMER}]")).await;
    t += &exchange(&st, "POST", "/predict", j, &[], &customer_with("TotalCharges", Value::String(" ".into()))).await;
    t += &exchange(&st, "POST", "/predict", j, &[], &customer_with("TotalCharges", Value::Null)).await;
    t += &exchange(&st, "POST", "/predict", j, &[], &customer_with("tenure", Value::String("12".into()))).await;
    t += &exchange(&st, "POST", "/predict", None, &[], CUSTOMER).await;
    let csv = format!("{CSV_HEADER}\n{CSV_ROW}\n{CSV_ROW_2}\n");
    t += &exchange(&st, "POST", "/predict", Some("text/csv"), &[], &csv).await;
    t += &exchange(&st, "POST", "/predict", Some("text/csv"), &[("accept", "text/csv")], &csv).await;
    check("predict_answers", t);
}

#[tokio::test]
async fn predict_refusals() {
    let st = state(None);
    let j = Some("application/json");
    let mut t = String::new();
    let cases: Vec<String> = vec![
        customer_with("Contract", "Weekly".into()),
        customer_with("Contract", "month-to-month".into()),
        customer_with("tenure", (-5).into()),
        customer_with("tenure", 1e12.into()),
        customer_with("tenure", 12.5.into()),
        customer_with("tenure", "abc".into()),
        customer_with("tenure", "NaN".into()),
        customer_with("SeniorCitizen", 7.into()),
        customer_with("gender", Value::Null),
        customer_with("gender", true.into()),
        customer_with("gender", serde_json::json!({"a": 1})),
        customer_with("gender", "x".repeat(300).into()),
        customer_with("Tenure", 3.into()),
        customer_with("customerID", "i".repeat(300).into()),
        customer_without("tenure"),
        r#"{"gender": "Female", "gender": "Male"}"#.into(),
        "{\"gender\": ".into(),
        "".into(),
        "[]".into(),
        "42".into(),
        "\"text\"".into(),
        "[1, 2]".into(),
        format!("[{CUSTOMER}, {CUSTOMER}, {CUSTOMER}, {CUSTOMER}]"),
        format!("[{CUSTOMER}, {}]", customer_with("tenure", (-1).into())),
    ];
    for body in &cases {
        t += &exchange(&st, "POST", "/predict", j, &[], body).await;
    }
    t += &exchange(&st, "POST", "/predict", Some("text/plain"), &[], CUSTOMER).await;
    t += &exchange(&st, "POST", "/predict", Some("application/json; charset=latin-1"), &[], CUSTOMER).await;
    t += &exchange(&st, "POST", "/predict", j, &[], &"x".repeat(70 * 1024)).await;
    t += &exchange(&st, "POST", "/predict?reasons=abc", j, &[], CUSTOMER).await;
    t += &exchange(&st, "POST", "/predict?format=csv", j, &[], CUSTOMER).await;
    let bad_csv = format!("{CSV_HEADER}\n{CSV_ROW}\n{}\n7590-X,Female\n", CSV_ROW_2.replace("One year", "Weekly"));
    t += &exchange(&st, "POST", "/predict", Some("text/csv"), &[], &bad_csv).await;
    t += &exchange(&st, "POST", "/predict", Some("text/csv"), &[], "gender,tenure\nFemale,1\n").await;
    t += &exchange(&st, "POST", "/predict", Some("text/csv"), &[], &format!("{CSV_HEADER}\n")).await;
    check("predict_refusals", t);
}

#[tokio::test]
async fn invocations_shapes() {
    let st = state(None);
    let j = Some("application/json");
    let customer: Value = serde_json::from_str(CUSTOMER).unwrap();
    let columns: Vec<String> = customer.as_object().unwrap().keys().cloned().collect();
    let row: Vec<Value> = columns.iter().map(|c| customer[c].clone()).collect();
    let mut t = String::new();
    let bodies = vec![
        serde_json::json!({"dataframe_split": {"columns": columns, "data": [row]}}).to_string(),
        serde_json::json!({"dataframe_records": [customer]}).to_string(),
        serde_json::json!({"instances": [customer]}).to_string(),
        serde_json::json!({"inputs": [customer]}).to_string(),
        serde_json::json!({"inputs": customer.as_object().unwrap().iter().map(|(k, v)| (k.clone(), Value::Array(vec![v.clone()]))).collect::<serde_json::Map<_, _>>()}).to_string(),
        serde_json::json!({"dataframe_records": [customer], "params": {"x": 1}}).to_string(),
        serde_json::json!({"dataframe_records": [customer], "instances": []}).to_string(),
        serde_json::json!({"records": [customer]}).to_string(),
        serde_json::json!({"dataframe_split": {"columns": ["gender"], "data": [["Female"]]}}).to_string(),
        serde_json::json!({"dataframe_split": {"columns": columns, "data": [[1, 2]]}}).to_string(),
        serde_json::json!({"dataframe_records": [customer_with("tenure", (-3).into()).parse::<Value>().unwrap()]})
            .to_string(),
        serde_json::json!({"dataframe_records": []}).to_string(),
        serde_json::json!({"dataframe_records": "x"}).to_string(),
        "[1]".into(),
        "{".into(),
    ];
    for b in &bodies {
        t += &exchange(&st, "POST", "/invocations", j, &[], b).await;
    }
    let csv = format!("{CSV_HEADER}\n{CSV_ROW}\n{CSV_ROW_2}\n");
    t += &exchange(&st, "POST", "/invocations", Some("text/csv"), &[], &csv).await;
    t += &exchange(&st, "POST", "/invocations", Some("text/xml"), &[], "<a/>").await;
    check("invocations_shapes", t);
}

#[tokio::test]
async fn keys_reload_and_metrics() {
    let st = state(Some("secret"));
    let j = Some("application/json");
    let mut t = String::new();
    t += &exchange(&st, "POST", "/predict", j, &[], CUSTOMER).await;
    t += &exchange(&st, "POST", "/predict", j, &[("x-api-key", "wrong")], CUSTOMER).await;
    t += &exchange(&st, "POST", "/predict", j, &[("x-api-key", "secret")], CUSTOMER).await;
    t += &exchange(&st, "POST", "/invocations", j, &[("authorization", "Bearer secret")], "{}").await;
    t += &exchange(&st, "GET", "/", None, &[], "").await;
    t += &exchange(&st, "POST", "/admin/reload", None, &[], "").await;
    t += &exchange(&st, "POST", "/admin/reload", None, &[("x-api-key", "wrong")], "").await;
    t += &exchange(&st, "POST", "/admin/reload", None, &[("x-api-key", "secret")], "").await;
    check("keys_reload_and_metrics", t);

    // Metrics: the names and labels a dashboard relies on, after the traffic above.
    let r = server::router(st.clone())
        .oneshot(Request::builder().uri("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = String::from_utf8(axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
    let families: std::collections::BTreeSet<String> =
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(str::to_string).collect();
    check("metric_families", families.into_iter().collect::<Vec<_>>().join("\n"));
    for needle in [
        "churn_http_requests_total{route=\"/predict\",status=\"401\"} 2",
        "churn_http_requests_total{route=\"/predict\",status=\"200\"} 1",
        "churn_predictions_total{label=\"",
        "churn_model_reloads_total{result=\"ok\"} 1",
        "churn_drift_window_customers 0",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }
}

#[tokio::test]
async fn openapi_lists_every_route_with_the_model_schema() {
    let st = state(None);
    let (status, doc) = json(&st, "GET", "/openapi.json", None, "").await;
    assert_eq!(status, StatusCode::OK);
    let mut paths: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| format!("{} {p}", m.to_uppercase())))
        .collect();
    paths.sort();
    let mut schemas: Vec<String> = doc["components"]["schemas"].as_object().unwrap().keys().cloned().collect();
    schemas.sort();
    check("openapi_outline", format!("paths:\n{}\n\nschemas:\n{}", paths.join("\n"), schemas.join("\n")));
}

/// A model without churn's pipeline (as Python's `mlflow.xgboost.log_model` leaves it): its
/// inputs are its own feature columns, and an encoded row of a churn model goes to
/// `/invocations` by those columns too.
#[tokio::test]
async fn foreign_models_and_model_columns() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("model.json"),
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/forest/testdata/tiny_model.json")),
    )
    .unwrap();
    let mut cfg = config(None);
    cfg.model_uri = d.path().display().to_string();
    let served = server::state::load(&cfg.model_uri, &cfg.tracking, 1).expect("the foreign model loads");
    let st = AppState::new(cfg, served);
    let j = Some("application/json");
    let mut t = String::new();
    for body in [
        r#"{"a": 0.2, "b": 3}"#,
        r#"{"a": "0.2", "b": null}"#,
        r#"{"a": "x", "b": 1}"#,
        r#"{"a": true, "b": 1}"#,
        r#"{"a": 1}"#,
        r#"{"a": 1, "b": 2, "c": 3}"#,
        r#"[{"a": 0.2, "b": 3}, {"a": 0.9, "b": 1}]"#,
    ] {
        t += &exchange(&st, "POST", "/predict", j, &[], body).await;
    }
    for body in [
        r#"{"dataframe_split": {"columns": ["a", "b"], "data": [[0.2, 3], [0.9, null]]}}"#,
        r#"{"dataframe_records": [{"a": "1e-1", "b": ""}]}"#,
        r#"{"inputs": {"a": [0.1, 0.2], "b": [1, 2]}}"#,
        r#"{"instances": [{"a": "inf", "b": 1}]}"#,
        r#"{"instances": [{"a": [1], "b": 1}]}"#,
    ] {
        t += &exchange(&st, "POST", "/invocations", j, &[], body).await;
    }
    t += &exchange(&st, "POST", "/invocations", Some("text/csv"), &[], "a,b\n0.2,3\n,1\n").await;
    t += &exchange(&st, "POST", "/predict", Some("text/csv"), &[], "a,b\n0.2,3\nx,1\n").await;
    t += &exchange(&st, "GET", "/model", None, &[], "").await;
    t += &exchange(&st, "GET", "/", None, &[], "").await;
    check("foreign_models", t);
    // Its document names no id column, and its answers hold no key the schema does not name.
    let (_, doc) = json(&st, "GET", "/openapi.json", None, "").await;
    let id = &doc["components"]["schemas"]["CustomerId"];
    assert!(id.get("additionalProperties").is_none() && id.get("properties").is_none(), "{id}");
    let documented = doc["components"]["schemas"]["Prediction"]["allOf"][1]["properties"].as_object().unwrap();
    let (_, answer) = json(&st, "POST", "/predict", j, r#"{"a": 0.2, "b": 3}"#).await;
    for key in answer.as_object().unwrap().keys() {
        assert!(documented.contains_key(key), "{key} is not in the schema of a prediction");
    }

    // The churn fixture, fed its own encoded columns.
    let st = state(None);
    let pipeline: Value =
        serde_json::from_slice(&std::fs::read(Path::new(&fixture()).join("churn/pipeline.json")).unwrap()).unwrap();
    let names: Vec<String> =
        pipeline["features"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_string()).collect();
    let row: Vec<Value> = (0..names.len()).map(|i| Value::from((i % 3) as f64)).collect();
    let mut t = String::new();
    let body = serde_json::json!({"dataframe_split": {"columns": names, "data": [row]}}).to_string();
    t += &exchange(&st, "POST", "/invocations", j, &[], &body).await;
    let mut short = names.clone();
    short.pop();
    let body = serde_json::json!({"dataframe_split": {"columns": short, "data": [[1]]}}).to_string();
    t += &exchange(&st, "POST", "/invocations", j, &[], &body).await;
    check("model_columns", t);
}

/// The customer as Open Inference Protocol tensors: one per field, BYTES for text, FP64 for
/// numbers (`skip` leaves one out).
fn v2_inputs(skip: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(CUSTOMER).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.as_str() != skip)
        .map(|(k, x)| match x {
            Value::String(_) => serde_json::json!({"name": k, "shape": [1], "datatype": "BYTES", "data": [x]}),
            _ => serde_json::json!({"name": k, "shape": [1, 1], "datatype": "FP64", "data": [[x]]}),
        })
        .collect()
}

/// The Open Inference Protocol: health, metadata and inference, answers and errors pinned, and
/// the same probability as `/predict` for the same customer.
#[tokio::test]
async fn open_inference_protocol() {
    let st = state(None);
    let j = Some("application/json");
    let mut t = String::new();
    let (_, card) = json(&st, "GET", "/model", None, "").await;
    let name = card["model"]["name"].as_str().unwrap().to_string();
    for path in [
        "/v2".to_string(),
        "/v2/health/live".into(),
        "/v2/health/ready".into(),
        format!("/v2/models/{name}"),
        format!("/v2/models/{name}/ready"),
    ] {
        t += &exchange(&st, "GET", &path, None, &[], "").await;
    }
    t += &exchange(&st, "GET", "/v2/models/other", None, &[], "").await;
    t += &exchange(&st, "GET", &format!("/v2/models/{name}/versions/3/ready"), None, &[], "").await;
    let infer = &format!("/v2/models/{name}/infer");
    let request = |inputs: Vec<Value>, extra: Value| {
        let mut r = serde_json::json!({"id": "r-1", "inputs": inputs});
        if let Value::Object(m) = extra {
            r.as_object_mut().unwrap().extend(m);
        }
        r.to_string()
    };
    t += &exchange(&st, "POST", infer, j, &[], &request(v2_inputs(""), Value::Null)).await;
    let reasons = serde_json::json!({"outputs": [{"name": "churn_probability"}, {"name": "reasons"}], "parameters": {"reasons": 2}});
    t += &exchange(&st, "POST", infer, j, &[], &request(v2_inputs(""), reasons)).await;
    let mut bad_value = v2_inputs("Contract");
    bad_value.push(serde_json::json!({"name": "Contract", "shape": [1], "datatype": "BYTES", "data": ["Weekly"]}));
    let mut unknown = v2_inputs("");
    unknown.push(serde_json::json!({"name": "Shoe size", "shape": [1], "datatype": "FP32", "data": [42]}));
    let mut wrong_shape = v2_inputs("tenure");
    wrong_shape.push(serde_json::json!({"name": "tenure", "shape": [2], "datatype": "FP64", "data": [1]}));
    let mut wrong_type = v2_inputs("tenure");
    wrong_type.push(serde_json::json!({"name": "tenure", "shape": [1], "datatype": "FP64", "data": ["one"]}));
    for body in [
        request(bad_value, Value::Null),
        request(v2_inputs("tenure"), Value::Null),
        request(unknown, Value::Null),
        request(wrong_shape, Value::Null),
        request(wrong_type, Value::Null),
        request(v2_inputs(""), serde_json::json!({"outputs": [{"name": "uplift"}]})),
        "{\"inputs\": 3}".to_string(),
    ] {
        t += &exchange(&st, "POST", infer, j, &[], &body).await;
    }
    t += &exchange(&st, "POST", "/v2/models/other/infer", j, &[], &request(v2_inputs(""), Value::Null)).await;
    check("open_inference_protocol", t);

    // The same customer scores as on /predict.
    let (_, p) = json(&st, "POST", "/predict", j, CUSTOMER).await;
    let (status, v) = json(&st, "POST", infer, j, &request(v2_inputs(""), Value::Null)).await;
    assert_eq!(status, StatusCode::OK);
    let as_f32 = |v: &Value| v.as_f64().map(|x| x as f32);
    assert_eq!(as_f32(&v["outputs"][0]["data"][0]), as_f32(&p["churn_probability"]));
    assert_eq!(v["outputs"][1]["data"][0], p["churn"]);
}

/// Binary tensor data both ways (the extension tritonclient uses by default): the JSON header's
/// length in `Inference-Header-Content-Length`, then the tensors' bytes.
#[tokio::test]
async fn open_inference_protocol_binary_tensors() {
    let st = state(None);
    let mut inputs = v2_inputs("tenure");
    let tenure = 1i64.to_le_bytes();
    inputs.push(
        serde_json::json!({"name": "tenure", "shape": [1], "datatype": "INT64", "parameters": {"binary_data_size": 8}}),
    );
    let head = serde_json::json!({"inputs": inputs, "parameters": {"binary_data_output": true}}).to_string();
    let (_, card) = json(&st, "GET", "/model", None, "").await;
    let name = card["model"]["name"].as_str().unwrap().to_string();
    let mut body = head.clone().into_bytes();
    body.extend(tenure);
    let req = Request::builder()
        .method("POST")
        .uri(format!("/v2/models/{name}/infer"))
        .header("content-type", "application/octet-stream")
        .header("inference-header-content-length", head.len())
        .body(Body::from(body))
        .unwrap();
    let r = server::router(st.clone()).oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let n: usize = r.headers()["inference-header-content-length"].to_str().unwrap().parse().unwrap();
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap();
    let answer: Value = serde_json::from_slice(&bytes[..n]).unwrap();
    assert_eq!(answer["outputs"][0]["parameters"]["binary_data_size"], 4);
    assert_eq!(answer["outputs"][1]["parameters"]["binary_data_size"], 1);
    let probability = f32::from_le_bytes(bytes[n..n + 4].try_into().unwrap());
    let (_, p) = json(&st, "POST", "/predict", Some("application/json"), CUSTOMER).await;
    assert_eq!(probability, p["churn_probability"].as_f64().unwrap() as f32);
    assert_eq!(bytes[n + 4] != 0, p["churn"].as_bool().unwrap());
    assert_eq!(bytes.len(), n + 5);
}

/// A shape whose product would wrap, and a path the protocol does not have: 400 and 404 in its
/// error shape, never a panic or an allocation sized by the client.
#[tokio::test]
async fn open_inference_protocol_refuses_shapes_that_do_not_hold_their_data() {
    let st = state(None);
    let (_, card) = json(&st, "GET", "/model", None, "").await;
    let name = card["model"]["name"].as_str().unwrap().to_string();
    let body = serde_json::json!({"inputs": [{"name": "x", "shape": [4611686018427387904i64, 4], "datatype": "FP32", "data": []}]});
    let (status, v) =
        json(&st, "POST", &format!("/v2/models/{name}/infer"), Some("application/json"), &body.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("does not hold"), "{v}");
    let body = serde_json::json!({"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1.0]}]});
    let (status, v) =
        json(&st, "POST", &format!("/v2/models/{name}/infer"), Some("application/json"), &body.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = json(&st, "GET", "/v2/repository/index", None, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().is_some(), "{v}");
}
