//! The OpenAPI document: routes and shapes from the handlers' `utoipa` annotations, and the
//! `Customer` schema from the model in service (field types, allowed values, bounds), so the
//! docs and clients generated from them always match what the server validates.

use super::error::{ApiError, FieldProblem};
use super::routes;
use crate::bundle::Inputs;
use crate::schema::{Blank, FieldKind};
use crate::scoring::Scorer;
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "churn",
        description = "Customer churn scoring with per-customer reasons. `/predict` takes the raw customer fields; `/invocations` speaks MLflow's scoring protocol; `/v2/...` the Open Inference Protocol (KServe V2). Errors have the `ApiError` shape, on `/v2` the protocol's `{\"error\": ...}`.",
        license(name = "MIT")
    ),
    paths(
        routes::health::root,
        routes::health::live,
        routes::health::ready,
        routes::health::version,
        routes::health::mlflow_ping,
        routes::predict::predict,
        routes::invocations::invocations,
        routes::model::card,
        routes::model::report,
        routes::metrics::metrics,
        routes::admin::reload,
        routes::v2::live,
        routes::v2::ready,
        routes::v2::server_metadata,
        routes::v2::model_metadata,
        routes::v2::model_ready,
        routes::v2::infer,
    ),
    components(schemas(
        ApiError,
        FieldProblem,
        crate::scoring::output::Prediction,
        crate::scoring::output::CustomerId,
        crate::scoring::RiskBand,
        crate::forest::reasons::Reason,
        crate::forest::reasons::Direction,
        routes::predict::BatchAnswer,
        routes::predict::CustomerDoc,
        routes::health::Health,
        routes::health::ModelStatus,
        routes::health::Version,
        routes::admin::Reloaded,
        routes::v2::V2Error,
        routes::v2::Live,
        routes::v2::Ready,
    )),
    tags(
        (name = "scoring", description = "Churn predictions with reasons"),
        (name = "mlflow", description = "MLflow scoring-server compatibility"),
        (name = "model", description = "The model in service"),
        (name = "health", description = "Health checks"),
        (name = "operations", description = "Metrics and model reload"),
        (name = "open inference protocol", description = "KServe V2 / Open Inference Protocol (REST): the API Triton, MLServer and KServe clients speak"),
    )
)]
struct ApiDoc;

/// The customer object a model takes, from its schema.
fn customer_schema(scorer: &Scorer) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    match &scorer.model.inputs {
        Inputs::Customers(p) => {
            if let Some(id) = &p.schema.id {
                props.insert(
                    id.clone(),
                    json!({"type": "string", "description": "Customer id, echoed back", "maxLength": crate::ingest::MAX_ID_BYTES}),
                );
            }
            for f in &p.schema.fields {
                let (schema, optional) = match &f.kind {
                    FieldKind::Categorical(c) => {
                        let schema = json!({"type": "string", "enum": c.values, "description": f.display_label()});
                        let blank_ok = !matches!(c.blank, Blank::Error);
                        (if blank_ok { json!({"anyOf": [schema, {"type": "null"}]}) } else { schema }, blank_ok)
                    }
                    FieldKind::Date(d) => {
                        let blank_ok = !matches!(d.blank, Blank::Error);
                        let schema = json!({"type": "string", "format": "date", "description": f.display_label()});
                        (if blank_ok { json!({"anyOf": [schema, {"type": "null"}]}) } else { schema }, blank_ok)
                    }
                    FieldKind::Numeric(n) => {
                        let mut s = Map::new();
                        let blank_ok = !matches!(n.blank, Blank::Error);
                        let number = if n.integer { "integer" } else { "number" };
                        s.insert("type".into(), if blank_ok { json!([number, "null"]) } else { json!(number) });
                        if let Some(m) = n.min {
                            s.insert("minimum".into(), json!(m));
                        }
                        if let Some(m) = n.max {
                            s.insert("maximum".into(), json!(m));
                        }
                        let mut desc = f.display_label().to_string();
                        if blank_ok {
                            desc.push_str(" (null or a blank string allowed: read as the schema's blank value)");
                        }
                        s.insert("description".into(), json!(desc));
                        (Value::Object(s), blank_ok)
                    }
                };
                let _ = optional;
                props.insert(f.name.clone(), schema);
                required.push(f.name.clone());
            }
            props.insert(
                p.schema.target.column.clone(),
                json!({"type": "string", "description": "The target column, if present, is ignored"}),
            );
        }
        Inputs::Features(names) => {
            for n in names {
                props.insert(n.clone(), json!({"type": "number"}));
                required.push(n.clone());
            }
        }
    }
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

/// The full document for the model in service, as JSON text.
pub fn document(scorer: &Scorer) -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    doc["components"]["schemas"]["Customer"] = customer_schema(scorer);
    doc["components"]["securitySchemes"] = json!({
        "api_key": {"type": "http", "scheme": "bearer", "description": "Needed when the server runs with CHURN_API_KEY"}
    });
    let customer = json!({"$ref": "#/components/schemas/Customer"});
    let body = &mut doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    *body = json!({"oneOf": [customer, {"type": "array", "items": customer, "minItems": 1}]});
    doc["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]["schema"] = json!({"oneOf": [
        {"$ref": "#/components/schemas/Prediction"},
        {"$ref": "#/components/schemas/BatchAnswer"}
    ]});
    let records = json!({"type": "array", "minItems": 1, "items": {"type": "object"}});
    doc["paths"]["/invocations"]["post"]["requestBody"]["content"]["application/json"]["schema"] = json!({"oneOf": [
        {"type": "object", "required": ["dataframe_split"], "additionalProperties": false, "properties": {
            "dataframe_split": {"type": "object", "required": ["columns", "data"], "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "items": {"type": "array"}},
                "index": {"type": "array"}}},
            "params": {"type": "object"}}},
        {"type": "object", "required": ["dataframe_records"], "additionalProperties": false, "properties": {"dataframe_records": records, "params": {"type": "object"}}},
        {"type": "object", "required": ["instances"], "additionalProperties": false, "properties": {"instances": records, "params": {"type": "object"}}},
        {"type": "object", "required": ["inputs"], "additionalProperties": false, "properties": {"inputs": {"oneOf": [{"type": "object", "minProperties": 1}, records]}, "params": {"type": "object"}}}
    ]});
    // The answer echoes the id under the model's own id column; the example is the model's own.
    let id = &mut doc["components"]["schemas"]["CustomerId"];
    match scorer.id_column() {
        Some(column) => {
            id["properties"] = json!({column: {"type": "string", "description": "The customer's id, echoed back when the request carried it"}});
        }
        None => id["description"] = json!("This model has no id column: no id is echoed"),
    }
    let example = scorer.model.evaluation.as_ref().and_then(|e| e.examples.first()).map(|e| json!(e.customer));
    let content = &mut doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"];
    match example {
        Some(example) => content["example"] = example,
        None => {
            content.as_object_mut().map(|m| m.remove("example"));
        }
    }
    doc.to_string()
}
