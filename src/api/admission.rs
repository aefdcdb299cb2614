//! What a request must pass before any handler runs: the header budget and
//! authentication (who is calling, by the configured mode).

use worker::Request;

use super::config::Config;
use super::respond::{header, now_seconds, request_headers};
use crate::context::RequestContext;
use crate::domain::access::auth::AuthMode;
use crate::domain::wire::v1::{header_bytes, HEADER_BUDGET};
use crate::error::ApiError;
use crate::store::keystone::{AuthFailure, Keystone};

/// The seed's 8 KiB budget for request headers, answered with a clear 431
/// (Glance under uWSGI just drops such a connection).
pub fn check_header_budget(req: &Request) -> Result<(), ApiError> {
    let headers = request_headers(req);
    let bytes = header_bytes(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if bytes > HEADER_BUDGET {
        return Err(ApiError::headers_too_large(format!(
            "The request headers take {bytes} bytes, more than the {HEADER_BUDGET} byte budget; send fewer or shorter x-image-meta-property-* headers."
        )));
    }
    Ok(())
}

/// Who is calling, by the configured mode. `keystone`: the `X-Auth-Token`
/// validated by Keystone (401 without a valid one, 503 when Keystone cannot
/// answer); `noauth`: the local admin.
pub async fn authenticate(
    req: &Request,
    config: &Config,
    request_id: String,
    base_url: &str,
) -> Result<RequestContext, ApiError> {
    let mode = config.auth.as_ref().map_err(Clone::clone)?;
    let settings = match mode {
        AuthMode::NoAuth { project_id } => return Ok(RequestContext::noauth_admin(request_id, project_id)),
        AuthMode::Keystone(settings) => settings,
    };
    let unauthorized = |why: &str| {
        ApiError::unauthorized(format!("The request you have made requires authentication: {why}."))
            .with_header("WWW-Authenticate", settings.www_authenticate())
    };
    let token = header(req, "x-auth-token")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| unauthorized("send a Keystone token in X-Auth-Token"))?;
    match Keystone::new(settings, base_url).validate(token.trim(), now_seconds()).await {
        Ok(identity) => Ok(RequestContext::from_identity(request_id, identity)),
        Err(AuthFailure::Rejected) => Err(unauthorized("the X-Auth-Token is invalid, expired or revoked")),
        Err(AuthFailure::Unavailable(detail)) => {
            worker::console_error!("Keystone unavailable: {detail}");
            Err(ApiError::unavailable("Keystone, the identity service, is unavailable; please retry later."))
        }
    }
}
