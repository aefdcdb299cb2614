//! Small request and response helpers every handler shares: headers,
//! bodies, JSON answers, the clock.

use serde::Serialize;
use serde_json::Value;
use worker::{Headers, Request, Response, ResponseBody};

use crate::domain::time::format_utc;
use crate::error::ApiError;

pub use crate::store::js::now_seconds;

/// Now, as Glance writes timestamps.
pub fn now() -> String {
    format_utc(now_seconds())
}

/// A request header, if present and valid text.
pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// All request headers, names lower-cased by the runtime.
pub fn request_headers(req: &Request) -> Vec<(String, String)> {
    req.headers().entries().collect()
}

/// Reads a small request body (JSON documents) into memory.
pub async fn read_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    req.bytes().await.map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))
}

/// Parses a small JSON request body.
pub async fn read_json(req: &mut Request) -> Result<Value, ApiError> {
    let body = read_body(req).await?;
    serde_json::from_slice(&body).map_err(|_| ApiError::bad_request("Malformed JSON in request body."))
}

/// A JSON response with `status`.
pub fn json_response(status: u16, value: &impl Serialize) -> Result<Response, ApiError> {
    let body = serde_json::to_string(value).map_err(internal)?;
    text_response(status, "application/json", body)
}

/// A text response with a content type.
pub fn text_response(status: u16, content_type: &str, body: String) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers.set("Content-Type", content_type).map_err(internal)?;
    Ok(Response::from_body(ResponseBody::Body(body.into_bytes()))
        .map_err(internal)?
        .with_status(status)
        .with_headers(headers))
}

/// 204 with no body.
pub fn no_content() -> Result<Response, ApiError> {
    Ok(Response::empty().map_err(internal)?.with_status(204))
}

/// Wraps a runtime error as a 500 (detail logged, not shown).
pub fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// An answer with `status` and no body (`202 Accepted`).
pub fn empty_response(status: u16) -> Result<Response, ApiError> {
    Ok(Response::empty().map_err(internal)?.with_status(status))
}
