//! Model rollout without redeploying: re-resolve the model URI (e.g. an alias that moved) and
//! swap the model atomically. Requests in flight finish on the model they started with.

use crate::server::error::ApiError;
use crate::server::routes::health::ModelStatus;
use crate::server::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Reloaded {
    pub status: String,
    pub model: ModelStatus,
}

/// Reload the model (also on SIGHUP). Needs `Authorization: Bearer <CHURN_ADMIN_KEY>`
/// (or the API key when no admin key is set). A model that fails to load leaves the old one
/// serving and answers 409 with the reason.
#[utoipa::path(
    post,
    path = "/admin/reload",
    tag = "operations",
    responses(
        (status = 200, description = "The new model is in service", body = Reloaded),
        (status = 401, description = "Missing or wrong key", body = ApiError),
        (status = 403, description = "No admin key configured", body = ApiError),
        (status = 409, description = "The new model failed to load; the old one keeps serving", body = ApiError)
    )
)]
pub async fn reload(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Reloaded>, ApiError> {
    let key = st.config.admin_key.as_deref().or(st.config.api_key.as_deref());
    let Some(key) = key else {
        return Err(ApiError::forbidden(
            "reloading over HTTP is off: set CHURN_ADMIN_KEY (or send SIGHUP to the process)".into(),
        ));
    };
    if !crate::server::authorized(&headers, key) {
        return Err(ApiError::unauthorized("/admin/reload needs the admin key (CHURN_ADMIN_KEY)"));
    }
    match st.reload().await {
        Ok(m) => Ok(Json(Reloaded { status: "reloaded".into(), model: ModelStatus::of(&m) })),
        Err(e) => {
            Err(ApiError::reload_failed(format!("the model was not reloaded and the previous one keeps serving: {e}")))
        }
    }
}
