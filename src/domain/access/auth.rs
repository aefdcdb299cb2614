//! Who the caller is, as far as it can be decided without I/O: the
//! authentication mode the worker's variables select (`noauth` for local use,
//! `keystone`), the request Keystone wants for the service's own token, how
//! to read Keystone's answer to a token validation, and the timing rules for
//! caching validations and renewing the service token. The Keystone round
//! trips themselves live in `store::keystone`.

use crate::domain::Misconfigured;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::domain::time::parse_iso8601;

/// Variable names in `wrangler.toml` (`[vars]`) and secrets.
pub mod vars {
    /// `noauth` (local default) or `keystone`.
    pub const AUTH_MODE: &str = "AUTH_MODE";
    /// `noauth` requests act as an admin of this project.
    pub const NOAUTH_PROJECT_ID: &str = "NOAUTH_PROJECT_ID";
    /// Keystone's public endpoint, e.g. `https://keystone.example.com:5000`.
    pub const KEYSTONE_URL: &str = "KEYSTONE_URL";
    /// The catalog's own Keystone user (a secret in production).
    pub const KEYSTONE_SERVICE_USER: &str = "KEYSTONE_SERVICE_USER";
    /// Its password (always a secret).
    pub const KEYSTONE_SERVICE_PASSWORD: &str = "KEYSTONE_SERVICE_PASSWORD";
    /// The project its token is scoped to.
    pub const KEYSTONE_SERVICE_PROJECT: &str = "KEYSTONE_SERVICE_PROJECT";
    /// Domain of the service user (default `Default`).
    pub const KEYSTONE_SERVICE_USER_DOMAIN: &str = "KEYSTONE_SERVICE_USER_DOMAIN";
    /// Domain of the service project (default `Default`).
    pub const KEYSTONE_SERVICE_PROJECT_DOMAIN: &str = "KEYSTONE_SERVICE_PROJECT_DOMAIN";
    /// Longest a validation is cached, in seconds (default 300).
    pub const TOKEN_CACHE_SECONDS: &str = "TOKEN_CACHE_SECONDS";
}

/// keystonemiddleware's `token_cache_time` default: five minutes.
pub const DEFAULT_TOKEN_CACHE_SECONDS: i64 = 300;

/// How requests are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// Local development: no authentication, every request is an admin of
    /// `project_id`.
    NoAuth { project_id: String },
    /// `X-Auth-Token` validated by Keystone.
    Keystone(KeystoneSettings),
}

/// Where Keystone is and how the catalog authenticates itself to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeystoneSettings {
    /// Keystone's endpoint without a trailing slash (and without `/v3`).
    pub url: String,
    /// The catalog's own identity.
    pub service: ServiceCredentials,
    /// Longest a validation is cached, in seconds.
    pub cache_seconds: i64,
}

/// Password credentials of the catalog's service user.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceCredentials {
    pub user_name: String,
    pub password: String,
    pub project_name: String,
    pub user_domain: String,
    pub project_domain: String,
}

impl std::fmt::Debug for ServiceCredentials {
    // The password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCredentials")
            .field("user_name", &self.user_name)
            .field("project_name", &self.project_name)
            .field("user_domain", &self.user_domain)
            .field("project_domain", &self.project_domain)
            .finish_non_exhaustive()
    }
}

/// Reads the mode from the worker's variables (`var` returns a variable or
/// secret by name). A half-configured `keystone` mode is an error, never a
/// silent fall back to `noauth`.
pub fn auth_mode(var: impl Fn(&str) -> Option<String>) -> Result<AuthMode, Misconfigured> {
    let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let mode = get(vars::AUTH_MODE).unwrap_or_else(|| "noauth".into());
    match mode.as_str() {
        "noauth" => Ok(AuthMode::NoAuth { project_id: get(vars::NOAUTH_PROJECT_ID).unwrap_or_else(|| "admin".into()) }),
        "keystone" => {
            let required = |name: &str| {
                get(name).ok_or_else(|| Misconfigured(format!("AUTH_MODE is keystone but {name} is not set")))
            };
            let cache_seconds = match get(vars::TOKEN_CACHE_SECONDS) {
                None => DEFAULT_TOKEN_CACHE_SECONDS,
                Some(raw) => raw.parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(|| {
                    Misconfigured(format!("TOKEN_CACHE_SECONDS must be a number of seconds, not {raw:?}"))
                })?,
            };
            Ok(AuthMode::Keystone(KeystoneSettings {
                url: required(vars::KEYSTONE_URL)?.trim_end_matches('/').trim_end_matches("/v3").to_owned(),
                service: ServiceCredentials {
                    user_name: required(vars::KEYSTONE_SERVICE_USER)?,
                    password: required(vars::KEYSTONE_SERVICE_PASSWORD)?,
                    project_name: required(vars::KEYSTONE_SERVICE_PROJECT)?,
                    user_domain: get(vars::KEYSTONE_SERVICE_USER_DOMAIN).unwrap_or_else(|| "Default".into()),
                    project_domain: get(vars::KEYSTONE_SERVICE_PROJECT_DOMAIN).unwrap_or_else(|| "Default".into()),
                },
                cache_seconds,
            }))
        }
        other => Err(Misconfigured(format!("AUTH_MODE must be noauth or keystone, not {other:?}"))),
    }
}

impl KeystoneSettings {
    /// `{url}/v3/auth/tokens`: issue (POST) and validate (GET).
    pub fn tokens_url(&self) -> String {
        format!("{}/v3/auth/tokens", self.url)
    }

    /// The `WWW-Authenticate` value of a 401, as keystonemiddleware sends it.
    pub fn www_authenticate(&self) -> String {
        format!("Keystone uri=\"{}\"", self.url)
    }

    /// The body of `POST /v3/auth/tokens` for the service's own token,
    /// scoped to its project (validating users' tokens), or to the system
    /// (reading unified limits: Keystone shows a project-scoped token only
    /// its own project's limits; the service user needs `reader` on the
    /// system, as Glance's `[oslo_limit]` user does).
    pub fn service_token_request(&self, scope: ServiceScope) -> Value {
        let service = &self.service;
        let scope = match scope {
            ServiceScope::Project => {
                json!({"project": {"name": service.project_name, "domain": {"name": service.project_domain}}})
            }
            ServiceScope::System => json!({"system": {"all": true}}),
        };
        json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": service.user_name,
                "domain": {"name": service.user_domain},
                "password": service.password,
            }}},
            "scope": scope,
        }})
    }
}

/// What the catalog's own token is scoped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceScope {
    /// Its service project: validates users' tokens.
    Project,
    /// The system: reads every project's unified limits.
    System,
}

/// A validated token: who the caller is, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user_id: String,
    /// What the token is scoped to.
    pub scope: Scope,
    /// Role names the token carries on its scope (a project, a domain or
    /// the system).
    pub roles: Vec<String>,
    /// When the token expires, seconds since the epoch.
    pub expires_at: i64,
}

/// What a Keystone token is scoped to: the one of `token.project`,
/// `token.domain` and `token.system` its document holds. Only a project
/// scope gives roles Glance's policies accept (they all have
/// `scope_types=['project']`, enforced): see `RequestContext::from_identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Scoped to this project (its id).
    Project(String),
    /// Scoped to this domain (its id).
    Domain(String),
    /// Scoped to the whole deployment (`"system": {"all": true}`).
    System,
    /// Not scoped (Keystone gives such a token no roles).
    Unscoped,
}

impl Identity {
    /// The project of a project-scoped token.
    pub fn project_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Project(id) => Some(id),
            Scope::Domain(_) | Scope::System | Scope::Unscoped => None,
        }
    }
}

/// A token document that cannot be read: what is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnreadableToken(pub &'static str);

/// Reads a token document (`{"token": {"user", "project", "roles",
/// "expires_at", ...}}`), the body of both a validation and an issue.
pub fn parse_token(body: &Value) -> Result<Identity, UnreadableToken> {
    let token = body.get("token").ok_or(UnreadableToken("no \"token\" in Keystone's answer"))?;
    let user_id =
        token.pointer("/user/id").and_then(Value::as_str).ok_or(UnreadableToken("the token names no user"))?.to_owned();
    let id_of = |pointer: &str| token.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
    // Keystone puts exactly one of these in a scoped token; `system` is
    // `{"all": true}` today, any object counts.
    let scope = if let Some(project) = id_of("/project/id") {
        Scope::Project(project)
    } else if let Some(domain) = id_of("/domain/id") {
        Scope::Domain(domain)
    } else if token.get("system").is_some_and(|system| !system.is_null()) {
        Scope::System
    } else {
        Scope::Unscoped
    };
    let roles = token
        .get("roles")
        .and_then(Value::as_array)
        .map(|roles| roles.iter().filter_map(|r| r.get("name").and_then(Value::as_str)).map(str::to_owned).collect())
        .unwrap_or_default();
    let expires_at = token
        .get("expires_at")
        .and_then(Value::as_str)
        .and_then(parse_iso8601)
        .ok_or(UnreadableToken("the token has no readable expires_at"))?;
    Ok(Identity { user_id, scope, roles, expires_at })
}

/// What a validation answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// The token is good.
    Valid(Identity),
    /// Keystone does not know the token (invalid, expired or revoked): 401.
    Rejected,
    /// Keystone refused *our* token: renew it and ask again.
    ServiceTokenRefused,
    /// Keystone could not answer: 503.
    Unavailable(String),
}

/// Interprets Keystone's answer to `GET /v3/auth/tokens`.
pub fn read_validation(status: u16, body: &str, now: i64) -> Validation {
    match status {
        200 => match serde_json::from_str::<Value>(body)
            .map_err(|_| UnreadableToken("the answer is not JSON"))
            .and_then(|v| parse_token(&v))
        {
            // Keystone answers 404 for expired tokens; a clock skew between
            // us and Keystone must not stretch a token's life.
            Ok(identity) if identity.expires_at <= now => Validation::Rejected,
            Ok(identity) => Validation::Valid(identity),
            Err(e) => Validation::Unavailable(format!("unreadable validation answer: {e}")),
        },
        // 404: unknown, expired or revoked. 400: not a token at all.
        400 | 404 => Validation::Rejected,
        401 | 403 => Validation::ServiceTokenRefused,
        other => Validation::Unavailable(format!("Keystone answered {other} to a token validation")),
    }
}

/// How long a validation may be cached: never past the token's expiry,
/// never longer than `max_seconds`. Zero means "do not cache".
pub fn cache_seconds(identity: &Identity, now: i64, max_seconds: i64) -> i64 {
    (identity.expires_at - now).min(max_seconds).max(0)
}

/// A cached validation: the identity and when the entry stops counting
/// (checked on read, so an entry the cache keeps too long is never trusted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedValidation {
    pub identity: Identity,
    pub valid_until: i64,
}

impl CachedValidation {
    /// A cache entry for `identity` validated at `now`, if it may be cached.
    pub fn new(identity: Identity, now: i64, max_seconds: i64) -> Option<CachedValidation> {
        let seconds = cache_seconds(&identity, now, max_seconds);
        (seconds > 0).then_some(CachedValidation { valid_until: now + seconds, identity })
    }

    /// The identity if the entry still counts at `now`.
    pub fn fresh(self, now: i64) -> Option<Identity> {
        (now < self.valid_until && now < self.identity.expires_at).then_some(self.identity)
    }
}

/// Most validations an isolate remembers in memory.
pub const MEMO_CAPACITY: usize = 1024;

/// Validations remembered in the isolate's memory, in front of the edge
/// cache (which costs a lookup per request): the same freshness rules,
/// keyed by the same digest, at most [`MEMO_CAPACITY`] entries.
#[derive(Debug, Default)]
pub struct ValidationMemo {
    entries: std::collections::HashMap<String, CachedValidation>,
}

impl ValidationMemo {
    /// The identity remembered for `digest`, if still fresh at `now`.
    pub fn get(&mut self, digest: &str, now: i64) -> Option<Identity> {
        let identity = self.entries.get(digest)?.clone().fresh(now);
        if identity.is_none() {
            self.entries.remove(digest);
        }
        identity
    }

    /// Remembers `entry`; when full, forgets stale entries first, then the
    /// ones that would go stale soonest.
    pub fn insert(&mut self, digest: String, entry: CachedValidation, now: i64) {
        if self.entries.len() >= MEMO_CAPACITY && !self.entries.contains_key(&digest) {
            self.entries.retain(|_, e| e.clone().fresh(now).is_some());
            while self.entries.len() >= MEMO_CAPACITY {
                let soonest = self.entries.iter().min_by_key(|(_, e)| e.valid_until).map(|(k, _)| k.clone());
                match soonest {
                    Some(key) => self.entries.remove(&key),
                    None => break,
                };
            }
        }
        self.entries.insert(digest, entry);
    }

    /// How many validations are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The cache key part for a token: its SHA-256, so the token itself is never
/// stored or logged.
pub fn token_digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The service's own token and its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceToken {
    pub token: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

impl ServiceToken {
    /// Renew once less than a quarter of the token's life (at most five
    /// minutes) is left, so a validation never goes out with a token about
    /// to expire in flight.
    pub fn needs_renewal(&self, now: i64) -> bool {
        let margin = ((self.expires_at - self.issued_at) / 4).clamp(1, 300);
        self.expires_at - now <= margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    const KEYSTONE_VARS: &[(&str, &str)] = &[
        ("AUTH_MODE", "keystone"),
        ("KEYSTONE_URL", "http://127.0.0.1:5000/v3/"),
        ("KEYSTONE_SERVICE_USER", "edge-glance"),
        ("KEYSTONE_SERVICE_PASSWORD", "s3cret"),
        ("KEYSTONE_SERVICE_PROJECT", "service"),
    ];

    fn settings() -> KeystoneSettings {
        match auth_mode(vars(KEYSTONE_VARS)).unwrap() {
            AuthMode::Keystone(settings) => settings,
            other => panic!("expected keystone, got {other:?}"),
        }
    }

    #[test]
    fn noauth_is_the_default_mode() {
        assert_eq!(auth_mode(vars(&[])), Ok(AuthMode::NoAuth { project_id: "admin".into() }));
        assert_eq!(
            auth_mode(vars(&[("AUTH_MODE", "noauth"), ("NOAUTH_PROJECT_ID", "demo")])),
            Ok(AuthMode::NoAuth { project_id: "demo".into() })
        );
    }

    #[test]
    fn keystone_mode_reads_url_credentials_and_cache_time() {
        let settings = settings();
        assert_eq!(settings.url, "http://127.0.0.1:5000");
        assert_eq!(settings.tokens_url(), "http://127.0.0.1:5000/v3/auth/tokens");
        assert_eq!(settings.www_authenticate(), "Keystone uri=\"http://127.0.0.1:5000\"");
        assert_eq!(settings.cache_seconds, 300);
        assert_eq!(settings.service.user_domain, "Default");
        let body = settings.service_token_request(ServiceScope::Project);
        assert_eq!(body.pointer("/auth/identity/password/user/name"), Some(&json!("edge-glance")));
        assert_eq!(body.pointer("/auth/identity/password/user/password"), Some(&json!("s3cret")));
        assert_eq!(body.pointer("/auth/scope/project/name"), Some(&json!("service")));
        let system = settings.service_token_request(ServiceScope::System);
        assert_eq!(system.pointer("/auth/scope"), Some(&json!({"system": {"all": true}})));
        assert_eq!(system.pointer("/auth/identity"), body.pointer("/auth/identity"));
        assert!(!format!("{settings:?}").contains("s3cret"), "the password must not reach logs");
    }

    #[test]
    fn half_configured_keystone_mode_is_an_error_not_noauth() {
        for missing in
            ["KEYSTONE_URL", "KEYSTONE_SERVICE_USER", "KEYSTONE_SERVICE_PASSWORD", "KEYSTONE_SERVICE_PROJECT"]
        {
            let pairs: Vec<_> = KEYSTONE_VARS.iter().copied().filter(|(k, _)| *k != missing).collect();
            let error = auth_mode(vars(&pairs)).unwrap_err();
            assert!(error.0.contains(missing), "{error}");
        }
        let mut pairs = KEYSTONE_VARS.to_vec();
        pairs.push(("TOKEN_CACHE_SECONDS", "soon"));
        assert!(auth_mode(vars(&pairs)).unwrap_err().0.contains("TOKEN_CACHE_SECONDS"));
        assert!(auth_mode(vars(&[("AUTH_MODE", "oauth")])).unwrap_err().0.contains("oauth"));
    }

    fn validation_body(expires_at: &str) -> String {
        json!({"token": {
            "user": {"id": "u1", "name": "alice"},
            "project": {"id": "p1", "name": "alpha"},
            "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}],
            "expires_at": expires_at,
            "issued_at": "2026-12-01T00:00:00.000000Z",
        }})
        .to_string()
    }

    const NOON: i64 = 1_796_126_400; // 2026-12-01T12:00:00Z

    #[test]
    fn a_validation_gives_user_project_roles_and_expiry() {
        let identity = Identity {
            user_id: "u1".into(),
            scope: Scope::Project("p1".into()),
            roles: vec!["member".into(), "reader".into()],
            expires_at: NOON + 3600,
        };
        assert_eq!(
            read_validation(200, &validation_body("2026-12-01T13:00:00.000000Z"), NOON),
            Validation::Valid(identity)
        );
    }

    #[test]
    fn keystone_answers_map_to_401_renewal_or_503() {
        assert_eq!(read_validation(200, &validation_body("2026-12-01T11:59:59Z"), NOON), Validation::Rejected);
        assert_eq!(read_validation(404, "{}", NOON), Validation::Rejected);
        assert_eq!(read_validation(400, "{}", NOON), Validation::Rejected);
        assert_eq!(read_validation(401, "{}", NOON), Validation::ServiceTokenRefused);
        assert_eq!(read_validation(403, "{}", NOON), Validation::ServiceTokenRefused);
        assert!(matches!(read_validation(500, "", NOON), Validation::Unavailable(_)));
        assert!(matches!(read_validation(503, "", NOON), Validation::Unavailable(_)));
        assert!(matches!(read_validation(200, "<html>", NOON), Validation::Unavailable(_)));
        assert!(matches!(read_validation(200, r#"{"token": {}}"#, NOON), Validation::Unavailable(_)));
    }

    #[test]
    fn unscoped_tokens_have_no_project() {
        let body = json!({"token": {"user": {"id": "u"}, "expires_at": "2026-12-01T13:00:00Z"}});
        let identity = parse_token(&body).unwrap();
        assert_eq!(identity.scope, Scope::Unscoped);
        assert_eq!(identity.project_id(), None);
        assert!(identity.roles.is_empty());
    }

    /// Keystone's validation answers for a system-scoped and a
    /// domain-scoped admin token (the shape Keystone 30 sends): the scope
    /// is read, and no project comes out of either.
    #[test]
    fn system_and_domain_tokens_name_their_scope_and_no_project() {
        let admin =
            json!([{"id": "r1", "name": "admin"}, {"id": "r2", "name": "member"}, {"id": "r3", "name": "reader"}]);
        let system = json!({"token": {
            "user": {"id": "u", "name": "admin", "domain": {"id": "default"}},
            "system": {"all": true},
            "roles": admin,
            "expires_at": "2026-12-01T13:00:00Z",
        }});
        let identity = parse_token(&system).unwrap();
        assert_eq!(identity.scope, Scope::System);
        assert_eq!(identity.project_id(), None);
        assert_eq!(identity.roles, ["admin", "member", "reader"]);
        let domain = json!({"token": {
            "user": {"id": "u"},
            "domain": {"id": "default", "name": "Default"},
            "roles": admin,
            "expires_at": "2026-12-01T13:00:00Z",
        }});
        let identity = parse_token(&domain).unwrap();
        assert_eq!(identity.scope, Scope::Domain("default".into()));
        assert_eq!(identity.project_id(), None);
        let project = json!({"token": {
            "user": {"id": "u"},
            "project": {"id": "p1", "domain": {"id": "default"}},
            "roles": admin,
            "expires_at": "2026-12-01T13:00:00Z",
        }});
        assert_eq!(parse_token(&project).unwrap().project_id(), Some("p1"));
    }

    #[test]
    fn validations_are_cached_no_longer_than_the_token_or_the_setting() {
        let identity =
            |ttl: i64| Identity { user_id: "u".into(), scope: Scope::Unscoped, roles: vec![], expires_at: NOON + ttl };
        assert_eq!(cache_seconds(&identity(3600), NOON, 300), 300);
        assert_eq!(cache_seconds(&identity(42), NOON, 300), 42);
        assert_eq!(cache_seconds(&identity(-5), NOON, 300), 0);
        assert_eq!(cache_seconds(&identity(3600), NOON, 0), 0);
        assert_eq!(CachedValidation::new(identity(-5), NOON, 300), None);
        let entry = CachedValidation::new(identity(42), NOON, 300).unwrap();
        assert_eq!(entry.valid_until, NOON + 42);
        assert!(entry.clone().fresh(NOON + 41).is_some());
        assert!(entry.fresh(NOON + 42).is_none());
        let entry = CachedValidation::new(identity(3600), NOON, 300).unwrap();
        assert!(entry.clone().fresh(NOON + 299).is_some());
        assert!(entry.fresh(NOON + 300).is_none());
    }

    #[test]
    fn the_memo_keeps_the_cache_rules_and_its_size() {
        let identity =
            |ttl: i64| Identity { user_id: "u".into(), scope: Scope::Unscoped, roles: vec![], expires_at: NOON + ttl };
        let mut memo = ValidationMemo::default();
        memo.insert("a".into(), CachedValidation::new(identity(42), NOON, 300).unwrap(), NOON);
        assert_eq!(memo.get("a", NOON + 41), Some(identity(42)));
        assert_eq!(memo.get("a", NOON + 42), None, "not past the token's expiry");
        assert!(memo.is_empty(), "a stale entry is forgotten");
        memo.insert("b".into(), CachedValidation::new(identity(3600), NOON, 10).unwrap(), NOON);
        assert!(memo.get("b", NOON + 9).is_some());
        assert!(memo.get("b", NOON + 10).is_none(), "not past the configured cache time");
        for i in 0..MEMO_CAPACITY + 5 {
            let ttl = 100 + i as i64;
            memo.insert(format!("k{i}"), CachedValidation::new(identity(ttl), NOON, 300).unwrap(), NOON);
        }
        assert_eq!(memo.len(), MEMO_CAPACITY);
        assert!(memo.get("k0", NOON).is_none(), "the soonest-stale entries go first");
        assert!(memo.get(&format!("k{}", MEMO_CAPACITY + 4), NOON).is_some());
    }

    #[test]
    fn cache_keys_never_contain_the_token() {
        let digest = token_digest("gAAAAABsecret-token");
        assert_eq!(digest.len(), 64);
        assert!(!digest.contains("secret"));
        assert_eq!(digest, token_digest("gAAAAABsecret-token"));
        assert_ne!(digest, token_digest("gAAAAABsecret-tokem"));
        assert_eq!(token_digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn the_service_token_is_renewed_before_it_expires() {
        let hour = ServiceToken { token: "t".into(), issued_at: NOON, expires_at: NOON + 3600 };
        assert!(!hour.needs_renewal(NOON));
        assert!(!hour.needs_renewal(NOON + 3600 - 301));
        assert!(hour.needs_renewal(NOON + 3600 - 300));
        assert!(hour.needs_renewal(NOON + 4000));
        let minute = ServiceToken { token: "t".into(), issued_at: NOON, expires_at: NOON + 60 };
        assert!(!minute.needs_renewal(NOON + 44));
        assert!(minute.needs_renewal(NOON + 45));
    }
}

/// The URL of the `image` service's `interface` endpoint in `region`, in a
/// Keystone service catalog (`GET /v3/auth/catalog`); how glance-download
/// finds another region's catalog.
pub fn image_endpoint_in(catalog: &serde_json::Value, region: &str, interface: &str) -> Option<String> {
    catalog
        .get("catalog")?
        .as_array()?
        .iter()
        .filter(|service| service.get("type").and_then(serde_json::Value::as_str) == Some("image"))
        .flat_map(|service| service.get("endpoints").and_then(serde_json::Value::as_array).into_iter().flatten())
        .find(|endpoint| {
            let field = |k: &str| endpoint.get(k).and_then(serde_json::Value::as_str);
            field("interface") == Some(interface)
                && (field("region_id") == Some(region) || field("region") == Some(region))
        })
        .and_then(|endpoint| endpoint.get("url")?.as_str().map(str::to_owned))
}

#[cfg(test)]
mod catalog_tests {
    use super::image_endpoint_in;
    use serde_json::json;

    #[test]
    fn the_image_endpoint_is_found_by_region_and_interface() {
        let catalog = json!({"catalog": [
            {"type": "identity", "endpoints": [{"interface": "public", "region_id": "R1", "url": "http://k"}]},
            {"type": "image", "endpoints": [
                {"interface": "internal", "region_id": "R1", "url": "http://i"},
                {"interface": "public", "region_id": "R1", "url": "http://p1"},
                {"interface": "public", "region": "R2", "url": "http://p2"}
            ]}
        ]});
        assert_eq!(image_endpoint_in(&catalog, "R1", "public").as_deref(), Some("http://p1"));
        assert_eq!(image_endpoint_in(&catalog, "R2", "public").as_deref(), Some("http://p2"));
        assert_eq!(image_endpoint_in(&catalog, "R1", "internal").as_deref(), Some("http://i"));
        assert_eq!(image_endpoint_in(&catalog, "nowhere", "public"), None);
        assert_eq!(image_endpoint_in(&json!({}), "R1", "public"), None);
    }
}
