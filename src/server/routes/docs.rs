//! The OpenAPI document, generated from the handlers' annotations plus the model's own input
//! schema, and Swagger UI served from the binary (no CDN: the service runs inside a VPC).

use crate::server::error::ApiError;
use crate::server::state::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use std::sync::Arc;

const SWAGGER_JS: &[u8] = include_bytes!("../../../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../../assets/swagger-ui/swagger-ui.css");

pub async fn openapi_json(State(st): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], st.model.load().openapi.clone()).into_response()
}

pub async fn docs_page() -> Html<&'static str> {
    Html(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>churn API</title><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div><script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null});</script>
</body></html>"##,
    )
}

pub async fn asset(Path(asset): Path<String>) -> Result<Response, ApiError> {
    let (ct, body) = match asset.as_str() {
        "swagger-ui-bundle.js" => ("application/javascript", SWAGGER_JS),
        "swagger-ui.css" => ("text/css", SWAGGER_CSS),
        _ => return Err(ApiError::not_found(&format!("/docs/{asset}"))),
    };
    Ok(([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "public, max-age=86400")], body).into_response())
}
