//! The only code that talks to Keystone: the service's own tokens (issued
//! from the service credentials, one scoped to its project and one to the
//! system, kept for the isolate's life and renewed before they expire),
//! user-token validation (`GET /v3/auth/tokens`), with validations
//! remembered under the token's SHA-256 in the isolate's memory and in the
//! edge cache, and a project's unified limits (`GET /v3/registered_limits`
//! and `/v3/limits`). What the answers mean, and for how long they count,
//! is decided in `domain::access::auth` and `domain::quota`.

use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::cache::EdgeCache;
use super::js::{describe, settle};
use super::web::WebError;
use crate::domain::access::auth::{
    parse_token, read_validation, token_digest, CachedValidation, Identity, KeystoneSettings, ServiceScope,
    ServiceToken, Validation, ValidationMemo,
};
use crate::domain::quota::{KeystoneLimits, Limits};

/// A Keystone call that takes longer than this counts as Keystone being down.
const KEYSTONE_TIMEOUT_MS: f64 = 10_000.0;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn js_fetch(url: &str, init: &JsValue) -> js_sys::Promise;
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout)]
    fn abort_signal_timeout(milliseconds: f64) -> JsValue;
    #[wasm_bindgen(js_name = encodeURIComponent)]
    fn encode_uri_component(text: &str) -> String;
}

/// An isolate remembers this many projects' limits at most.
const LIMITS_MEMO_ENTRIES: usize = 1024;

thread_local! {
    // One service token per scope and isolate: every request it serves
    // shares them.
    static PROJECT_TOKEN: RefCell<Option<ServiceToken>> = const { RefCell::new(None) };
    static SYSTEM_TOKEN: RefCell<Option<ServiceToken>> = const { RefCell::new(None) };
    // Service ids by name (an id never changes).
    static SERVICE_IDS: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
    // Projects' limits and when they were read (when limits may be reused).
    static LIMITS: RefCell<HashMap<String, (i64, Limits)>> = RefCell::new(HashMap::new());
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
            let service_token = self.service_token(ServiceScope::Project, now, attempt > 0).await?;
            let headers = [("X-Auth-Token", service_token.as_str()), ("X-Subject-Token", token)];
            let answer = self.call("GET", &self.settings.tokens_url(), &headers, None).await?;
            match read_validation(answer.status, &answer.body, now) {
                Validation::Valid(identity) => return Ok(identity),
                Validation::Rejected => return Err(AuthFailure::Rejected),
                Validation::Unavailable(reason) => return Err(AuthFailure::Unavailable(reason)),
                Validation::ServiceTokenRefused => continue,
            }
        }
        Err(AuthFailure::Unavailable("Keystone refused the catalog's service token twice".into()))
    }

    /// The service token of `scope`, issued anew when there is none, when
    /// it is near its expiry, or when `renew` says Keystone just refused it.
    async fn service_token(&self, scope: ServiceScope, now: i64, renew: bool) -> Result<String, AuthFailure> {
        let slot = match scope {
            ServiceScope::Project => &PROJECT_TOKEN,
            ServiceScope::System => &SYSTEM_TOKEN,
        };
        let current = slot.with(|slot| slot.borrow().clone());
        if let Some(current) = current.filter(|t| !renew && !t.needs_renewal(now)) {
            return Ok(current.token);
        }
        let body = self.settings.service_token_request(scope).to_string();
        let headers = [("Content-Type", "application/json")];
        let answer = self.call("POST", &self.settings.tokens_url(), &headers, Some(&body)).await?;
        if answer.status != 201 {
            return Err(AuthFailure::Unavailable(format!(
                "Keystone answered {} when the catalog asked for its {scope:?}-scoped service token",
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
        slot.with(|slot| *slot.borrow_mut() = Some(service_token));
        Ok(token)
    }

    /// `project`'s unified limits for the service and region of `registry`:
    /// the registered defaults overridden by the project's own, read with
    /// the system-scoped service token (reused for `cache_seconds`).
    pub async fn project_limits(
        &self,
        project: &str,
        registry: &KeystoneLimits,
        now: i64,
    ) -> Result<Limits, AuthFailure> {
        let remembered = LIMITS.with(|memo| memo.borrow().get(project).cloned());
        if let Some((read_at, limits)) = remembered {
            if now - read_at < registry.cache_seconds {
                return Ok(limits);
            }
        }
        let service = self.service_id(&registry.service, now).await?;
        let (service, region) = (encode_uri_component(&service), encode_uri_component(&registry.region));
        let registered = self
            .read_with_system_token(&format!("/v3/registered_limits?service_id={service}&region_id={region}"), now)
            .await?;
        let project_id = encode_uri_component(project);
        let own = self
            .read_with_system_token(
                &format!("/v3/limits?service_id={service}&region_id={region}&project_id={project_id}"),
                now,
            )
            .await?;
        let limits = Limits::from_keystone(&registered, &own).map_err(|e| AuthFailure::Unavailable(e.to_string()))?;
        if registry.cache_seconds > 0 {
            LIMITS.with(|memo| {
                let mut memo = memo.borrow_mut();
                if memo.len() >= LIMITS_MEMO_ENTRIES {
                    memo.clear();
                }
                memo.insert(project.to_owned(), (now, limits.clone()));
            });
        }
        Ok(limits)
    }

    /// The id of the service named `name` (remembered for the isolate's
    /// life).
    async fn service_id(&self, name: &str, now: i64) -> Result<String, AuthFailure> {
        if let Some(id) = SERVICE_IDS.with(|ids| ids.borrow().get(name).cloned()) {
            return Ok(id);
        }
        let answer =
            self.read_with_system_token(&format!("/v3/services?name={}", encode_uri_component(name)), now).await?;
        let id = answer
            .get("services")
            .and_then(serde_json::Value::as_array)
            .and_then(|services| {
                services.iter().find(|s| s.get("name").and_then(serde_json::Value::as_str) == Some(name))
            })
            .and_then(|service| service.get("id").and_then(serde_json::Value::as_str))
            .ok_or_else(|| {
                AuthFailure::Unavailable(format!("Keystone has no service named '{name}' to read limits for"))
            })?
            .to_owned();
        SERVICE_IDS.with(|ids| ids.borrow_mut().insert(name.to_owned(), id.clone()));
        Ok(id)
    }

    /// A JSON document at `path` under Keystone's URL, read with the
    /// system-scoped service token (renewed once if Keystone refuses it).
    async fn read_with_system_token(&self, path: &str, now: i64) -> Result<serde_json::Value, AuthFailure> {
        let url = format!("{}{path}", self.settings.url);
        for attempt in 0..2 {
            let token = self.service_token(ServiceScope::System, now, attempt > 0).await?;
            let answer = self.call("GET", &url, &[("X-Auth-Token", &token)], None).await?;
            match answer.status {
                200 => {
                    return serde_json::from_str(&answer.body)
                        .map_err(|e| AuthFailure::Unavailable(format!("unreadable answer from {path}: {e}")))
                }
                401 => continue,
                status => {
                    return Err(AuthFailure::Unavailable(format!("Keystone answered {status} to GET {path}")));
                }
            }
        }
        Err(AuthFailure::Unavailable("Keystone refused the catalog's system-scoped token twice".into()))
    }

    /// One request to Keystone, bounded by a timeout.
    async fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Answer, AuthFailure> {
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
        let response: web_sys::Response = settle(js_fetch(url, &init))
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
