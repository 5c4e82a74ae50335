//! The MLflow xgboost flavor: the `MLmodel` file and its companions, written the way
//! `mlflow.xgboost.log_model` writes them (MLflow 3.17.2), and read back from models Python
//! logged. See ../shared/anchors/mlflow/README.md, section 4.

use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

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

#[derive(Serialize)]
struct PythonFunction<'a> {
    data: &'a str,
    env: BTreeMap<&'static str, &'static str>,
    loader_module: &'static str,
    python_version: &'static str,
}

#[derive(Serialize)]
struct XgboostFlavor<'a> {
    code: Option<&'static str>,
    data: &'a str,
    model_class: &'static str,
    model_format: &'static str,
    xgb_version: &'static str,
}

#[derive(Serialize)]
struct Flavors<'a> {
    python_function: PythonFunction<'a>,
    xgboost: XgboostFlavor<'a>,
}

#[derive(Serialize)]
struct ExampleInfo {
    artifact_path: &'static str,
    pandas_orient: &'static str,
    serving_input_path: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Signature {
    /// MLflow keeps the signature as JSON text inside the YAML.
    inputs: String,
    outputs: String,
    params: Option<String>,
}

/// The MLmodel file, keys in the order `mlflow.xgboost.log_model` writes them.
#[derive(Serialize)]
struct MlModelFile<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_path: Option<&'a str>,
    flavors: Flavors<'a>,
    is_signature_from_type_hint: bool,
    metadata: BTreeMap<&'static str, &'static str>,
    mlflow_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_id: Option<&'a str>,
    model_size_bytes: u64,
    model_uuid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<&'a str>,
    saved_input_example_info: ExampleInfo,
    signature: Signature,
    type_hint_from_example: bool,
    utc_time_created: &'a str,
}

/// A list of JSON objects as Python's `json.dumps` writes it (", " and ": ", keys in the given
/// order), as MLflow stores signatures.
fn python_json_list(items: &[Vec<(&str, serde_json::Value)>]) -> String {
    let objects: Vec<String> = items
        .iter()
        .map(|fields| {
            let pairs: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}: {v}", serde_json::to_string(k).expect("a key serialises")))
                .collect();
            format!("{{{}}}", pairs.join(", "))
        })
        .collect();
    format!("[{}]", objects.join(", "))
}

pub fn mlmodel_yaml(info: &Info) -> String {
    let inputs: Vec<Vec<(&str, serde_json::Value)>> = info
        .features
        .iter()
        .map(|f| vec![("type", json!("double")), ("name", json!(f)), ("required", json!(true))])
        .collect();
    let file = MlModelFile {
        artifact_path: info.artifact_path,
        flavors: Flavors {
            python_function: PythonFunction {
                data: info.model_file,
                env: BTreeMap::from([("conda", "conda.yaml"), ("virtualenv", "python_env.yaml")]),
                loader_module: "mlflow.xgboost",
                python_version: PYTHON_VERSION,
            },
            xgboost: XgboostFlavor {
                code: None,
                data: info.model_file,
                model_class: "xgboost.core.Booster",
                model_format: "ubj",
                xgb_version: XGBOOST_VERSION,
            },
        },
        is_signature_from_type_hint: false,
        metadata: BTreeMap::from([("churn_bundle", "churn")]),
        mlflow_version: MLFLOW_VERSION,
        model_id: info.model_id,
        model_size_bytes: info.model_size,
        model_uuid: info.model_id.map(str::to_string).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
        run_id: info.run_id,
        saved_input_example_info: ExampleInfo {
            artifact_path: "input_example.json",
            pandas_orient: "split",
            serving_input_path: "serving_input_example.json",
            kind: "dataframe",
        },
        signature: Signature {
            inputs: python_json_list(&inputs),
            outputs: python_json_list(&[vec![("type", json!("float")), ("required", json!(true))]]),
            params: None,
        },
        type_hint_from_example: false,
        utc_time_created: info.created_utc,
    };
    serde_yaml_ng::to_string(&file).expect("MLmodel serialises")
}

#[derive(Serialize)]
struct PythonEnv {
    python: &'static str,
    build_dependencies: [&'static str; 3],
    dependencies: [&'static str; 1],
}

#[derive(Serialize)]
#[serde(untagged)]
enum CondaDependency {
    Package(String),
    Pip { pip: Vec<String> },
}

#[derive(Serialize)]
struct CondaEnv {
    channels: [&'static str; 1],
    dependencies: Vec<CondaDependency>,
    name: &'static str,
}

/// The MLmodel file and its companions, as (file name, content).
pub fn files(info: &Info, example_rows: &[Vec<f32>]) -> Vec<(&'static str, String)> {
    let data: Vec<Vec<serde_json::Value>> = example_rows
        .iter()
        .map(|r| r.iter().map(|&v| if v.is_nan() { serde_json::Value::Null } else { json!(v as f64) }).collect())
        .collect();
    let split = json!({"columns": info.features, "data": data});
    let requirements = vec![
        format!("mlflow=={MLFLOW_VERSION}"),
        "numpy".to_string(),
        "pandas".to_string(),
        format!("xgboost=={XGBOOST_VERSION}"),
    ];
    let python_env = PythonEnv {
        python: PYTHON_VERSION,
        build_dependencies: ["pip", "setuptools", "wheel"],
        dependencies: ["-r requirements.txt"],
    };
    let conda = CondaEnv {
        channels: ["conda-forge"],
        dependencies: vec![
            CondaDependency::Package(format!("python={PYTHON_VERSION}")),
            CondaDependency::Package("pip".into()),
            CondaDependency::Pip { pip: requirements.clone() },
        ],
        name: "mlflow-env",
    };
    vec![
        ("MLmodel", mlmodel_yaml(info)),
        ("requirements.txt", requirements.join("\n") + "\n"),
        ("python_env.yaml", serde_yaml_ng::to_string(&python_env).expect("python_env serialises")),
        ("conda.yaml", serde_yaml_ng::to_string(&conda).expect("conda.yaml serialises")),
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
        let yaml = mlmodel_yaml(&info);
        assert!(yaml.contains(r#"{"type": "double", "name": "it''s", "required": true}"#), "{yaml}");
        assert!(yaml.starts_with("flavors:\n  python_function:\n    data: model.ubj\n"), "{yaml}");
    }

    #[test]
    fn environment_files_read_as_mlflow_writes_them() {
        let f = files(
            &Info {
                model_file: "model.ubj",
                model_size: 1,
                features: &[],
                run_id: None,
                model_id: None,
                artifact_path: None,
                created_utc: "x",
            },
            &[],
        );
        let get = |name: &str| f.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(
            get("python_env.yaml"),
            format!("python: {PYTHON_VERSION}\nbuild_dependencies:\n- pip\n- setuptools\n- wheel\ndependencies:\n- -r requirements.txt\n")
        );
        let conda: serde_yaml_ng::Value = serde_yaml_ng::from_str(&get("conda.yaml")).unwrap();
        assert_eq!(conda["dependencies"][2]["pip"][0], format!("mlflow=={MLFLOW_VERSION}").as_str());
    }

    #[test]
    fn a_model_without_the_xgboost_flavor_is_refused_by_name() {
        let e = parse("flavors:\n  sklearn:\n    pickled_model: model.pkl\n").unwrap_err();
        assert!(e.contains("no xgboost flavor") && e.contains("sklearn"), "{e}");
    }
}
