//! The MLflow xgboost flavor: the `MLmodel` file and its companions, written the way
//! `mlflow.xgboost.log_model` writes them (MLflow 3.17.2), and read back from models Python
//! logged. See ../shared/anchors/mlflow/README.md, section 4.

use serde_json::json;

pub const MLFLOW_VERSION: &str = "3.17.2";
pub const XGBOOST_VERSION: &str = "3.2.0";
pub const PYTHON_VERSION: &str = "3.11.7";

/// What churn needs from an MLmodel file.
#[derive(Debug, Clone, PartialEq)]
pub struct MlModel {
    /// `flavors.xgboost.data`: the model file inside the folder.
    pub model_file: Option<String>,
    /// `flavors.xgboost.model_class`: `xgboost.core.Booster` or `xgboost.sklearn.XGBClassifier`.
    pub model_class: Option<String>,
    /// Column names of the signature's inputs, in order.
    pub signature_inputs: Option<Vec<String>>,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
    pub utc_time_created: Option<String>,
    pub has_python_function: bool,
}

pub fn parse(text: &str) -> Result<MlModel, String> {
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| format!("MLmodel is not valid YAML: {e}"))?;
    let s = |v: Option<&serde_yaml_ng::Value>| v.and_then(|x| x.as_str()).map(str::to_string);
    let flavors = doc.get("flavors");
    let xgb = flavors.and_then(|f| f.get("xgboost"));
    if xgb.is_none() {
        let names: Vec<String> = flavors
            .and_then(|f| f.as_mapping())
            .map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        return Err(format!(
            "the MLmodel has no xgboost flavor (flavors: {}); churn serves XGBoost models",
            if names.is_empty() { "none".into() } else { names.join(", ") }
        ));
    }
    let signature_inputs = s(doc.get("signature").and_then(|sig| sig.get("inputs"))).and_then(|inputs| {
        let cols: serde_json::Value = serde_json::from_str(&inputs).ok()?;
        let names: Vec<String> =
            cols.as_array()?.iter().filter_map(|c| c.get("name")?.as_str().map(str::to_string)).collect();
        (!names.is_empty()).then_some(names)
    });
    Ok(MlModel {
        model_file: s(xgb.and_then(|x| x.get("data"))),
        model_class: s(xgb.and_then(|x| x.get("model_class"))),
        signature_inputs,
        run_id: s(doc.get("run_id")),
        model_id: s(doc.get("model_id")),
        utc_time_created: s(doc.get("utc_time_created")),
        has_python_function: flavors.and_then(|f| f.get("python_function")).is_some(),
    })
}

/// What goes into an MLmodel file churn writes.
pub struct Info<'a> {
    pub model_file: &'a str,
    pub model_size: u64,
    pub features: &'a [String],
    pub run_id: Option<&'a str>,
    pub model_id: Option<&'a str>,
    pub artifact_path: Option<&'a str>,
    pub created_utc: &'a str,
}

/// A YAML single-quoted scalar.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub fn mlmodel_yaml(info: &Info) -> String {
    let inputs: Vec<serde_json::Value> =
        info.features.iter().map(|f| json!({"type": "double", "name": f, "required": true})).collect();
    let inputs = serde_json::to_string(&inputs).expect("signature serialises").replace("\",\"", "\", \"");
    let mut y = String::new();
    if let Some(p) = info.artifact_path {
        y.push_str(&format!("artifact_path: {}\n", quoted(p)));
    }
    y.push_str(&format!(
        "flavors:
  python_function:
    data: {file}
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.xgboost
    python_version: {PYTHON_VERSION}
  xgboost:
    code: null
    data: {file}
    model_class: xgboost.core.Booster
    model_format: ubj
    xgb_version: {XGBOOST_VERSION}
is_signature_from_type_hint: false
metadata:
  churn_bundle: churn
mlflow_version: {MLFLOW_VERSION}
",
        file = info.model_file
    ));
    if let Some(id) = info.model_id {
        y.push_str(&format!("model_id: {id}\n"));
    }
    let uuid = info.model_id.map(str::to_string).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    y.push_str(&format!("model_size_bytes: {}\nmodel_uuid: {uuid}\n", info.model_size));
    if let Some(run) = info.run_id {
        y.push_str(&format!("run_id: {run}\n"));
    }
    y.push_str(&format!(
        "saved_input_example_info:
  artifact_path: input_example.json
  pandas_orient: split
  serving_input_path: serving_input_example.json
  type: dataframe
signature:
  inputs: {}
  outputs: '[{{\"type\": \"float\", \"required\": true}}]'
  params: null
type_hint_from_example: false
utc_time_created: {}
",
        quoted(&inputs),
        quoted(info.created_utc)
    ));
    y
}

/// The MLmodel file and its companions, as (file name, content).
pub fn files(info: &Info, example_rows: &[Vec<f32>]) -> Vec<(&'static str, String)> {
    let data: Vec<Vec<serde_json::Value>> = example_rows
        .iter()
        .map(|r| r.iter().map(|&v| if v.is_nan() { serde_json::Value::Null } else { json!(v as f64) }).collect())
        .collect();
    let split = json!({"columns": info.features, "data": data});
    vec![
        ("MLmodel", mlmodel_yaml(info)),
        ("requirements.txt", format!("mlflow=={MLFLOW_VERSION}\nnumpy\npandas\nxgboost=={XGBOOST_VERSION}\n")),
        (
            "python_env.yaml",
            format!("python: {PYTHON_VERSION}\nbuild_dependencies:\n- pip\n- setuptools\n- wheel\ndependencies:\n- -r requirements.txt\n"),
        ),
        (
            "conda.yaml",
            format!(
                "channels:\n- conda-forge\ndependencies:\n- python={PYTHON_VERSION}\n- pip\n- pip:\n  - mlflow=={MLFLOW_VERSION}\n  - numpy\n  - pandas\n  - xgboost=={XGBOOST_VERSION}\nname: mlflow-env\n"
            ),
        ),
        ("input_example.json", split.to_string()),
        ("serving_input_example.json", json!({"dataframe_split": split}).to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_mlmodel_parses_back() {
        let features = vec!["tenure".to_string(), "Contract_Month-to-month".to_string(), "it's".to_string()];
        let info = Info {
            model_file: "model.ubj",
            model_size: 10,
            features: &features,
            run_id: Some("abc"),
            model_id: Some("m-123"),
            artifact_path: None,
            created_utc: "2026-11-26 07:18:35.675878",
        };
        let m = parse(&mlmodel_yaml(&info)).unwrap();
        assert_eq!(m.model_file.as_deref(), Some("model.ubj"));
        assert_eq!(m.model_class.as_deref(), Some("xgboost.core.Booster"));
        assert_eq!(m.signature_inputs.unwrap(), features);
        assert_eq!(m.run_id.as_deref(), Some("abc"));
        assert_eq!(m.model_id.as_deref(), Some("m-123"));
        assert!(m.has_python_function);
    }

    #[test]
    fn a_model_without_the_xgboost_flavor_is_refused_by_name() {
        let e = parse("flavors:\n  sklearn:\n    pickled_model: model.pkl\n").unwrap_err();
        assert!(e.contains("no xgboost flavor") && e.contains("sklearn"), "{e}");
    }
}
