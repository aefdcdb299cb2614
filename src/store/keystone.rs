//! The only code that talks to Keystone: the service's own token (issued
//! from the service credentials, kept for the isolate's life and renewed
//! before it expires) and user-token validation (`GET /v3/auth/tokens`),
//! with validations remembered under the token's SHA-256 in the isolate's
//! memory and in the edge cache. What the answers mean, and for how long
//! they count, is decided in `domain::access::auth`.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::cache::EdgeCache;
use super::js::{describe, settle};
use super::web::WebError;
use crate::domain::access::auth::{
    parse_token, read_validation, token_digest, CachedValidation, Identity, KeystoneSettings, ServiceToken, Validation,
    ValidationMemo,
};

/// A Keystone call that takes longer than this counts as Keystone being down.
const KEYSTONE_TIMEOUT_MS: f64 = 10_000.0;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn js_fetch(url: &str, init: &JsValue) -> js_sys::Promise;
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout)]
    fn abort_signal_timeout(milliseconds: f64) -> JsValue;
}

thread_local! {
    // One service token per isolate: every request it serves shares it.
    static SERVICE_TOKEN: RefCell<Option<ServiceToken>> = const { RefCell::new(None) };
    // Validations this isolate made or read, so that a token in use costs
    // no edge-cache lookup per request.
    static MEMO: RefCell<ValidationMemo> = RefCell::new(ValidationMemo::default());
}

/// Why a token did not give an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// Invalid, expired or revoked: 401.
    Rejected,
    /// Keystone could not be asked or could not answer: 503.
    Unavailable(String),
}

/// Keystone, as the catalog uses it.
pub struct Keystone<'a> {
    settings: &'a KeystoneSettings,
    /// Origin for the cache keys (the Cache API wants URLs).
    cache_origin: &'a str,
}

struct Answer {
    status: u16,
    subject_token: Option<String>,
    body: String,
}

impl<'a> Keystone<'a> {
    pub fn new(settings: &'a KeystoneSettings, cache_origin: &'a str) -> Keystone<'a> {
        Keystone { settings, cache_origin }
    }

    /// Who `token` belongs to: from the isolate's memory or the edge cache
    /// when a fresh validation is there, otherwise from Keystone (and then
    /// remembered in both).
    pub async fn validate(&self, token: &str, now: i64) -> Result<Identity, AuthFailure> {
        let digest = token_digest(token);
        if let Some(identity) = MEMO.with(|memo| memo.borrow_mut().get(&digest, now)) {
            return Ok(identity);
        }
        let cache = EdgeCache::open();
        let key = format!("{}/__edge-cache/tokens/{digest}", self.cache_origin);
        if let Some(cache) = &cache {
            let cached =
                cache.get_text(&key).await.and_then(|text| serde_json::from_str::<CachedValidation>(&text).ok());
            if let Some(entry) = cached {
                if let Some(identity) = entry.clone().fresh(now) {
                    MEMO.with(|memo| memo.borrow_mut().insert(digest, entry, now));
                    return Ok(identity);
                }
            }
        }
        let identity = self.validate_with_keystone(token, now).await?;
        if let Some(entry) = CachedValidation::new(identity.clone(), now, self.settings.cache_seconds) {
            if let (Some(cache), Ok(text)) = (&cache, serde_json::to_string(&entry)) {
                if let Err(e) = cache.put_text(&key, &text, entry.valid_until - now).await {
                    worker::console_warn!("could not cache a token validation: {e}");
                }
            }
            MEMO.with(|memo| memo.borrow_mut().insert(digest, entry, now));
        }
        Ok(identity)
    }

    async fn validate_with_keystone(&self, token: &str, now: i64) -> Result<Identity, AuthFailure> {
        // Keystone refusing our own token (revoked, or expired early) gets
        // one renewal and a second try; a second refusal is an outage.
        for attempt in 0..2 {
            let service_token = self.service_token(now, attempt > 0).await?;
            let answer =
                self.call("GET", &[("X-Auth-Token", &service_token), ("X-Subject-Token", token)], None).await?;
            match read_validation(answer.status, &answer.body, now) {
                Validation::Valid(identity) => return Ok(identity),
                Validation::Rejected => return Err(AuthFailure::Rejected),
                Validation::Unavailable(reason) => return Err(AuthFailure::Unavailable(reason)),
                Validation::ServiceTokenRefused => continue,
            }
        }
        Err(AuthFailure::Unavailable("Keystone refused the catalog's service token twice".into()))
    }

    /// The service token, issued anew when there is none, when it is near
    /// its expiry, or when `renew` says Keystone just refused it.
    async fn service_token(&self, now: i64, renew: bool) -> Result<String, AuthFailure> {
        let current = SERVICE_TOKEN.with(|slot| slot.borrow().clone());
        if let Some(current) = current.filter(|t| !renew && !t.needs_renewal(now)) {
            return Ok(current.token);
        }
        let body = self.settings.service_token_request().to_string();
        let answer = self.call("POST", &[("Content-Type", "application/json")], Some(&body)).await?;
        if answer.status != 201 {
            return Err(AuthFailure::Unavailable(format!(
                "Keystone answered {} when the catalog asked for its service token",
                answer.status
            )));
        }
        let token = answer
            .subject_token
            .ok_or_else(|| AuthFailure::Unavailable("Keystone issued no X-Subject-Token".into()))?;
        let identity = serde_json::from_str(&answer.body)
            .map_err(|e| AuthFailure::Unavailable(format!("unreadable service token: {e}")))
            .and_then(|v| {
                parse_token(&v).map_err(|e| AuthFailure::Unavailable(format!("unreadable service token: {e}")))
            })?;
        let service_token = ServiceToken { token: token.clone(), issued_at: now, expires_at: identity.expires_at };
        SERVICE_TOKEN.with(|slot| *slot.borrow_mut() = Some(service_token));
        Ok(token)
    }

    /// One request to `/v3/auth/tokens`, bounded by a timeout.
    async fn call(&self, method: &str, headers: &[(&str, &str)], body: Option<&str>) -> Result<Answer, AuthFailure> {
        let unavailable = |what: String| AuthFailure::Unavailable(format!("Keystone at {}: {what}", self.settings.url));
        let js_headers = web_sys::Headers::new().map_err(|e| unavailable(describe(&e)))?;
        for (name, value) in headers {
            js_headers.append(name, value).map_err(|e| unavailable(describe(&e)))?;
        }
        let init = js_sys::Object::new();
        let set = |key: &str, value: &JsValue| js_sys::Reflect::set(&init, &key.into(), value).map(|_| ());
        set("method", &method.into())
            .and_then(|_| set("headers", &js_headers))
            .and_then(|_| set("signal", &abort_signal_timeout(KEYSTONE_TIMEOUT_MS)))
            .and_then(|_| body.map_or(Ok(()), |b| set("body", &b.into())))
            .map_err(|e| unavailable(describe(&e)))?;
        let response: web_sys::Response = settle(js_fetch(&self.settings.tokens_url(), &init))
            .await
            .map_err(|e| unavailable(e.0))?
            .dyn_into()
            .map_err(|_| unavailable("fetch gave no Response".into()))?;
        let text_promise = response.text().map_err(|e| unavailable(describe(&e)))?;
        let body = settle(text_promise).await.map_err(|e| unavailable(e.0))?.as_string().unwrap_or_default();
        Ok(Answer {
            status: response.status(),
            subject_token: response.headers().get("X-Subject-Token").ok().flatten(),
            body,
        })
    }
}

/// The `image` endpoint of `region`/`interface` in the service catalog
/// `token` sees (glance-download's remote catalog).
pub async fn image_endpoint(
    settings: &KeystoneSettings,
    token: &str,
    region: &str,
    interface: &str,
) -> Result<String, WebError> {
    let failed = |e: JsValue| WebError::Failed(describe(&e));
    let url = format!("{}/v3/auth/catalog", settings.url);
    let headers = web_sys::Headers::new().map_err(failed)?;
    headers.append("X-Auth-Token", token).map_err(failed)?;
    let init = js_sys::Object::new();
    js_sys::Reflect::set(&init, &"headers".into(), &headers).map_err(failed)?;
    js_sys::Reflect::set(&init, &"signal".into(), &abort_signal_timeout(KEYSTONE_TIMEOUT_MS)).map_err(failed)?;
    let response: web_sys::Response = settle(js_fetch(&url, &init))
        .await?
        .dyn_into()
        .map_err(|_| WebError::Failed("fetch gave no Response".into()))?;
    if response.status() != 200 {
        return Err(WebError::Failed(format!("Keystone's catalog answered HTTP {}", response.status())));
    }
    let text = settle(response.text().map_err(failed)?).await?.as_string().unwrap_or_default();
    let catalog: serde_json::Value = serde_json::from_str(&text).map_err(|e| WebError::Failed(e.to_string()))?;
    crate::domain::access::auth::image_endpoint_in(&catalog, region, interface).ok_or_else(|| {
        WebError::Failed(format!("no {interface} image endpoint in region '{region}' in the service catalog"))
    })
}
