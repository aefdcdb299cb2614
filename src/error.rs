//! The one error type that reaches HTTP, and its one rendering.
//!
//! Layers: the domain returns its own errors (`ValidationError`,
//! `InvalidTransition`, `QueryError`, ...); the store returns `StoreError`;
//! both convert into [`ApiError`] here, with `From`, and only
//! [`ApiError::body`] turns an error into a body. The body is Glance's JSON
//! shape (`fixtures/glance/error-404-json.http`):
//! `{"message": ..., "code": "404 Not Found", "title": "Not Found"}`.
//! Glance sends that JSON only to clients that ask for `application/json`
//! and a webob HTML page otherwise; python-glanceclient (which sends
//! `Accept: */*`) shows an HTML error as its title and message,
//! `HTTP 409 Conflict: <message>`. Clients that don't ask for JSON get JSON here too,
//! nested under `"error"` (the only JSON shape glanceclient can read) with
//! the message prefixed by the status line, so glanceclient prints exactly
//! what it prints against Glance, status code included.
//! Internal errors keep their detail for the log and show clients a generic
//! message, so nothing about the runtime leaks.

use serde_json::json;

use crate::domain::image::data::UploadFailure;
use crate::domain::image::status::{Contended, ImageEvent, InvalidTransition};
use crate::domain::image::ValidationError;
use crate::domain::import::uri_filter::UriRefused;
use crate::domain::listing::QueryError;
use crate::domain::quota::OverLimit;
use crate::domain::resumable::protocol::{TusError, TUS_VERSION};
use crate::domain::stores::{self, NotWritable};
use crate::domain::task::{InvalidTaskTransition, TaskRequestError};
use crate::domain::wire::range::RangeError;
use crate::domain::Misconfigured;
use crate::store::StoreError;

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code (4xx or 5xx).
    pub status: u16,
    /// What was wrong, in words a client can act on.
    pub message: String,
    /// Extra response headers (`Allow`, `Accept-Patch`, `Content-Range`, ...).
    pub headers: Vec<(&'static str, String)>,
    /// Detail for the log only (internal errors).
    pub log_detail: Option<String>,
}

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), headers: Vec::new(), log_detail: None }
    }

    /// 400: the request is malformed or a value is invalid.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    /// 401: no valid identity.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, message)
    }
    /// 403: the caller may see the image but not do this to it.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, message)
    }
    /// 404: no such resource (or one the caller may not see).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }
    /// 404 for an image id, worded as Glance words it.
    pub fn image_not_found(id: &str) -> Self {
        Self::not_found(format!("No image found with ID {id}"))
    }
    /// 405 with the `Allow` header listing what the route accepts.
    pub fn method_not_allowed(method: &str, allowed: &[&str]) -> Self {
        Self::new(405, format!("The method {method} is not allowed for this resource."))
            .with_header("Allow", allowed.join(", "))
    }
    /// 409: the resource is in a state that forbids the request.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }
    /// 412: a precondition (`If-Match`) does not hold.
    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(412, message)
    }
    /// 410: the resource went away during the request.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, message)
    }
    /// 413: a quota or size limit was exceeded.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(413, message)
    }
    /// 415: the request body has the wrong media type.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, message)
    }
    /// 416 with `Content-Range: bytes */size`.
    pub fn range_not_satisfiable(size: u64) -> Self {
        Self::new(416, format!("Requested range not satisfiable: the image has {size} bytes"))
            .with_header("Content-Range", format!("bytes */{size}"))
    }
    /// 431: request headers larger than the server accepts.
    pub fn headers_too_large(message: impl Into<String>) -> Self {
        Self::new(431, message)
    }
    /// 503: a dependency is unavailable; retrying may help.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, message)
    }
    /// 500: something broke on our side; `detail` goes to the log only.
    pub fn internal(detail: impl Into<String>) -> Self {
        let mut error =
            Self::new(500, "The server has either erred or is incapable of performing the requested operation.");
        error.log_detail = Some(detail.into());
        error
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// `"404 Not Found"`, as Glance's `code` field.
    pub fn code(&self) -> String {
        format!("{} {}", self.status, reason_phrase(self.status))
    }

    /// The JSON body for a client that sent `accept`: Glance's flat shape
    /// when it asks for `application/json`; otherwise nested under `"error"`
    /// with the message led by the status line, as glanceclient shows
    /// Glance's HTML errors.
    pub fn body(&self, accept: Option<&str>) -> String {
        let wants_json = accept.is_some_and(|a| a.to_ascii_lowercase().contains("application/json"));
        let message = if wants_json { self.message.clone() } else { format!("{}: {}", self.code(), self.message) };
        let fields = json!({
            "message": message,
            "code": self.code(),
            "title": reason_phrase(self.status),
        });
        if wants_json {
            fields.to_string()
        } else {
            json!({ "error": fields }).to_string()
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message)?;
        if let Some(detail) = &self.log_detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// The standard reason phrase of the codes we answer with.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        423 => "Locked",
        460 => "Checksum Mismatch",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

// The one mapping of every lower layer's errors to HTTP.

impl From<InvalidTransition> for ApiError {
    fn from(e: InvalidTransition) -> Self {
        match e.event {
            // Glance answers an action in the wrong status with 403.
            ImageEvent::Deactivate | ImageEvent::Reactivate => {
                let verb = if e.event == ImageEvent::Deactivate { "deactivate" } else { "reactivate" };
                ApiError::forbidden(format!("Not allowed to {verb} image in status '{}'.", e.from))
            }
            _ => ApiError::conflict(e.to_string()),
        }
    }
}

impl From<InvalidTaskTransition> for ApiError {
    fn from(e: InvalidTaskTransition) -> Self {
        // Handlers move only tasks they just made: a refusal is our bug.
        ApiError::internal(e.to_string())
    }
}

impl From<Contended> for ApiError {
    fn from(e: Contended) -> Self {
        ApiError::conflict(e.to_string())
    }
}

impl From<UploadFailure> for ApiError {
    fn from(failure: UploadFailure) -> Self {
        match failure {
            UploadFailure::SizeMismatch { expected, .. } => ApiError::bad_request(format!(
                "Size mismatch: the request body did not contain the declared {expected} bytes."
            )),
            UploadFailure::TooLarge { limit } => {
                ApiError::too_large(format!("Image data exceeds the size cap of {limit} bytes."))
            }
            UploadFailure::Stalled { seconds } => ApiError::bad_request(format!(
                "The upload was abandoned: the request body sent nothing for {seconds} seconds."
            )),
            UploadFailure::Body(e) => ApiError::bad_request(format!("The upload was interrupted ({e}).")),
            // Glance's answer to data its format inspection refuses.
            UploadFailure::Refused(refusal) => ApiError::unsupported_media_type(refusal.to_string()),
            // Ours, never the client's: a 503 it may retry.
            UploadFailure::Storage(e) => {
                let mut error =
                    ApiError::unavailable("The image store failed while storing the data; retry the upload.");
                error.log_detail = Some(e);
                error
            }
        }
    }
}

impl From<TusError> for ApiError {
    fn from(e: TusError) -> Self {
        let status = match &e {
            TusError::Version(_) => 412,
            TusError::Header { .. } | TusError::Concat(_) => 400,
            TusError::TooLarge { .. } | TusError::PastLength { .. } => 413,
            TusError::OffsetMismatch { .. } => 409,
            TusError::Locked => 423,
            TusError::ChecksumMismatch { .. } => 460,
            TusError::FinalNotPatchable => 403,
            TusError::ContentType => 415,
            TusError::NotFound(_) => 404,
            TusError::Expired(_) => 410,
        };
        let error = ApiError::new(status, e.to_string());
        match e {
            TusError::Version(_) => error.with_header("Tus-Version", TUS_VERSION),
            _ => error,
        }
    }
}

impl From<TaskRequestError> for ApiError {
    fn from(e: TaskRequestError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<UriRefused> for ApiError {
    fn from(e: UriRefused) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<stores::StoreError> for ApiError {
    fn from(e: stores::StoreError) -> Self {
        match e {
            // Glance answers an unknown store with 409, other mistakes with 400.
            stores::StoreError::Unknown(_) => ApiError::conflict(e.to_string()),
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

impl From<NotWritable> for ApiError {
    fn from(e: NotWritable) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<RangeError> for ApiError {
    fn from(e: RangeError) -> Self {
        match e {
            RangeError::Invalid => {
                ApiError::bad_request("Invalid Range header: send a single range such as bytes=0-1023 or bytes=-1024.")
            }
            RangeError::Unsatisfiable { size } => ApiError::range_not_satisfiable(size),
        }
    }
}

/// A quota refusal: 413 with Glance's words, and no `Retry-After` (waiting
/// does not free a quota).
impl From<OverLimit> for ApiError {
    fn from(e: OverLimit) -> Self {
        ApiError::too_large(e.to_string())
    }
}

// The quota checks run in the worker only.
#[cfg(target_arch = "wasm32")]
impl From<crate::store::quotas::QuotaError> for ApiError {
    fn from(e: crate::store::quotas::QuotaError) -> Self {
        use crate::store::quotas::QuotaError;
        match e {
            QuotaError::Over(over) => over.into(),
            QuotaError::Store(e) => e.into(),
            QuotaError::Misconfigured(e) => e.into(),
            QuotaError::LimitsUnavailable(reason) => {
                worker::console_error!("quota limits unavailable: {reason}");
                ApiError::unavailable("Keystone's unified limits could not be read; please retry later.")
            }
        }
    }
}

impl From<crate::domain::wire::bookmark::NotABookmark> for ApiError {
    fn from(e: crate::domain::wire::bookmark::NotABookmark) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<Misconfigured> for ApiError {
    fn from(e: Misconfigured) -> Self {
        ApiError::internal(format!("misconfigured: {e}"))
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let message = e.to_string();
        match e {
            ValidationError::ReadOnly(_) | ValidationError::Reserved(_) | ValidationError::Forbidden(_) => {
                ApiError::forbidden(message)
            }
            ValidationError::Invalid(_) => ApiError::bad_request(message),
            ValidationError::Conflict(_) => ApiError::conflict(message),
            ValidationError::OverLimit(_) => ApiError::too_large(message),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::bad_request(e.0)
    }
}

impl From<crate::domain::metadefs::Invalid> for ApiError {
    fn from(e: crate::domain::metadefs::Invalid) -> Self {
        ApiError::bad_request(e.0)
    }
}

impl From<crate::domain::metadefs::MetadefError> for ApiError {
    fn from(e: crate::domain::metadefs::MetadefError) -> Self {
        use crate::domain::metadefs::MetadefError as M;
        let message = e.to_string();
        match e {
            M::Invalid(_) => ApiError::bad_request(message),
            M::NamespaceNotFound(_) | M::NotFound { .. } | M::NotPrefixed { .. } | M::NotAssociated { .. } => {
                ApiError::not_found(message)
            }
            M::NamespaceExists(_) | M::Exists { .. } | M::TagExists { .. } | M::AlreadyAssociated { .. } => {
                ApiError::conflict(message)
            }
            M::NamespaceProtected(_) | M::ContentsProtected { .. } | M::WriteForbidden | M::ReadForbidden(_) => {
                ApiError::forbidden(message)
            }
            M::Hidden => ApiError::not_found(message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate => ApiError::conflict("An image with this identifier already exists."),
            StoreError::InvalidBookmark(reason) => ApiError::bad_request(format!(
                "X-D1-Bookmark is not a bookmark this catalog's database knows: send one a previous answer carried ({reason})."
            )),
            other => ApiError::internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_body_has_glances_shape() {
        let error = ApiError::image_not_found("00000000-0000-0000-0000-000000000000");
        let body: serde_json::Value = serde_json::from_str(&error.body(Some("application/json"))).unwrap();
        assert_eq!(
            body,
            json!({
                "message": "No image found with ID 00000000-0000-0000-0000-000000000000",
                "code": "404 Not Found",
                "title": "Not Found"
            })
        );
    }

    #[test]
    fn clients_not_asking_for_json_get_the_fields_nested_under_error() {
        let error = ApiError::image_not_found("x");
        for accept in [None, Some("*/*"), Some("text/html")] {
            let body: serde_json::Value = serde_json::from_str(&error.body(accept)).unwrap();
            assert_eq!(body["error"]["message"], "404 Not Found: No image found with ID x", "{accept:?}");
            assert_eq!(body["error"]["code"], "404 Not Found");
            assert_eq!(body.as_object().unwrap().len(), 1);
        }
        let flat: serde_json::Value = serde_json::from_str(&error.body(Some("application/json, text/plain"))).unwrap();
        assert_eq!(flat["title"], "Not Found");
    }

    #[test]
    fn method_not_allowed_lists_allowed_methods() {
        let error = ApiError::method_not_allowed("POST", &["GET", "PUT"]);
        assert_eq!(error.status, 405);
        assert_eq!(error.headers, vec![("Allow", "GET, PUT".to_string())]);
    }

    #[test]
    fn internal_errors_hide_their_detail_from_the_body() {
        let error = ApiError::internal("D1_ERROR: no such table: images");
        assert!(!error.body(None).contains("D1_ERROR"));
        assert!(!error.body(Some("application/json")).contains("D1_ERROR"));
        assert!(error.to_string().contains("D1_ERROR"));
    }

    #[test]
    fn a_storage_failure_is_a_503_naming_storage_and_never_blames_the_client() {
        let error = ApiError::from(UploadFailure::Storage("R2 put: internal error".into()));
        assert_eq!(error.status, 503);
        assert!(error.message.contains("image store failed"), "{}", error.message);
        assert!(!error.body(None).contains("internal error"), "the detail stays in the log");
        for failure in [
            UploadFailure::SizeMismatch { expected: 10, received: 3 },
            UploadFailure::Stalled { seconds: 6 },
            UploadFailure::Body("reset".into()),
        ] {
            assert_eq!(ApiError::from(failure.clone()).status, 400, "{failure:?}");
        }
        assert_eq!(ApiError::from(UploadFailure::TooLarge { limit: 1 }).status, 413);
    }

    #[test]
    fn refused_transitions_are_409_except_actions_which_glance_answers_403() {
        use crate::domain::image::status::ImageStatus;
        let upload = ApiError::from(ImageStatus::Active.apply(ImageEvent::BeginUpload).unwrap_err());
        assert_eq!(
            (upload.status, upload.message.as_str()),
            (409, "Image status transition from active to saving is not allowed")
        );
        let action = ApiError::from(ImageStatus::Queued.apply(ImageEvent::Deactivate).unwrap_err());
        assert_eq!(
            (action.status, action.message.as_str()),
            (403, "Not allowed to deactivate image in status 'queued'.")
        );
        assert_eq!(ApiError::from(Contended("x".into())).status, 409);
    }

    #[test]
    fn unsatisfiable_range_names_the_size() {
        let error = ApiError::range_not_satisfiable(1024);
        assert_eq!(error.headers, vec![("Content-Range", "bytes */1024".to_string())]);
    }
}
