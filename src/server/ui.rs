//! The web UI at `/ui`: one page embedded in the binary, talking only to the public API.

use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::error::ApiError;

const PAGE: &str = include_str!("../../assets/ui/index.html");
const SCRIPT: &str = include_str!("../../assets/ui/app.js");
const STYLE: &str = include_str!("../../assets/ui/app.css");

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

pub async fn asset(Path(asset): Path<String>) -> Result<Response, ApiError> {
    let (ct, body) = match asset.as_str() {
        "app.js" => ("application/javascript; charset=utf-8", SCRIPT),
        "app.css" => ("text/css; charset=utf-8", STYLE),
        _ => return Err(ApiError::not_found(&format!("/ui/{asset}"))),
    };
    Ok(([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "no-cache")], body).into_response())
}
