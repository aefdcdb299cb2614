//! Documents that need no storage: versions, schemas, `/v2/info/import`.

use worker::Response;

use super::respond::{json_response, text_response};
use crate::domain::import::request::ImportMethod;
use crate::domain::wire::documents;
use crate::domain::wire::documents::SchemaName;
use crate::error::ApiError;

/// `GET /` (300) and `GET /versions` (200).
pub fn versions(base_url: &str, status: u16) -> Result<Response, ApiError> {
    json_response(status, &documents::versions(base_url))
}

/// `GET /v2/schemas/{name}`.
pub fn schema(name: SchemaName) -> Result<Response, ApiError> {
    text_response(200, "application/json", documents::schema(name))
}

/// `GET /v2/info/import`: the methods this catalog runs.
pub fn import_info(methods: &[ImportMethod]) -> Result<Response, ApiError> {
    let names: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
    json_response(200, &documents::import_info(&names))
}
