//! `GET /v2/info/usage`: the caller's project's quota limits and usage,
//! in Glance's JSON (empty when quotas are off).

use worker::Response;

use crate::api::app::App;
use crate::api::quota;
use crate::api::respond::json_response;
use crate::error::ApiError;

/// `GET /v2/info/usage`.
pub async fn show(app: &App) -> Result<Response, ApiError> {
    json_response(200, &quota::usage_document(app).await?)
}
