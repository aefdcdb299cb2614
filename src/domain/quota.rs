//! Per-project quotas: Glance's four unified limits (`image_size_total`,
//! `image_stage_total`, `image_count_total`, `image_count_uploading`), what
//! a project uses of each, and the one check (oslo.limit's: usage plus the
//! request's delta may not exceed the limit; -1 is unlimited) with Glance's
//! wording for a refusal. Where the limits come from (configuration, or
//! Keystone) and how usage is counted (D1) is the store's business.

use std::fmt;

use serde_json::{json, Map, Value};

use super::Misconfigured;

/// Variable names in `wrangler.toml` (`[vars]`).
pub mod vars {
    /// Per-project limits, the same for every project: `name=value` pairs,
    /// see [`super::Limits::parse_list`]. Unset: no quotas.
    pub const IMAGE_QUOTAS: &str = "IMAGE_QUOTAS";
    /// Each project's limits from Keystone's unified limits (keystone mode).
    pub const USE_KEYSTONE_LIMITS: &str = "USE_KEYSTONE_LIMITS";
    /// The service the limits are registered for, by name (default glance).
    pub const KEYSTONE_LIMITS_SERVICE: &str = "KEYSTONE_LIMITS_SERVICE";
    /// The region they are registered in (default RegionOne).
    pub const KEYSTONE_LIMITS_REGION: &str = "KEYSTONE_LIMITS_REGION";
    /// Seconds an isolate may reuse a project's limits (default 0).
    pub const KEYSTONE_LIMITS_CACHE_SECONDS: &str = "KEYSTONE_LIMITS_CACHE_SECONDS";
}

/// One of the limited resources, named as Keystone registers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// MiB of image data stored (each store's copy counts).
    ImageSizeTotal,
    /// MiB of data in staging (uploading, importing or copying images).
    ImageStageTotal,
    /// Images that exist (neither killed nor deleted).
    ImageCountTotal,
    /// Images being uploaded, staged, imported or copied.
    ImageCountUploading,
}

impl Resource {
    /// Every resource, in Glance's order.
    pub const ALL: [Resource; 4] =
        [Resource::ImageSizeTotal, Resource::ImageStageTotal, Resource::ImageCountTotal, Resource::ImageCountUploading];

    /// The registered limit's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::ImageSizeTotal => "image_size_total",
            Resource::ImageStageTotal => "image_stage_total",
            Resource::ImageCountTotal => "image_count_total",
            Resource::ImageCountUploading => "image_count_uploading",
        }
    }

    /// The resource a limit's name names.
    pub fn parse(name: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A project's limits: one value per resource, -1 for unlimited. A
/// resource with no limit at all is refused any use, as oslo.limit does
/// when nothing is registered for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    values: [Option<i64>; 4],
}

impl Limits {
    /// Limits with `value` for each resource given.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Resource, i64)>) -> Limits {
        let mut limits = Limits::default();
        for (resource, value) in pairs {
            limits.set(resource, value);
        }
        limits
    }

    /// Sets one resource's limit.
    pub fn set(&mut self, resource: Resource, value: i64) {
        self.values[resource as usize] = Some(value);
    }

    /// The limit on `resource` (`None`: none registered, which refuses any
    /// use).
    pub fn get(&self, resource: Resource) -> Option<i64> {
        self.values[resource as usize]
    }

    /// The most a project may use of `resource` (`None`: unlimited, -1):
    /// oslo.limit's reading, a resource with no limit registered allows 0.
    pub fn allowed(&self, resource: Resource) -> Option<u64> {
        match self.get(resource) {
            Some(value) if value < 0 => None,
            Some(value) => Some(value as u64),
            None => Some(0),
        }
    }
}

/// Where a deployment's limits come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitSource {
    /// No quotas (Glance's `use_keystone_limits = False`): nothing is
    /// enforced and `/v2/info/usage` is empty.
    Off,
    /// The same limits for every project, from the configuration.
    Configured(Limits),
    /// Each project's own, from Keystone's unified limits (Glance's
    /// `use_keystone_limits`).
    Keystone(KeystoneLimits),
}

impl LimitSource {
    /// Reads where the limits come from out of the worker's variables
    /// (`var` returns one by name); `keystone_mode` says whether callers
    /// are authenticated by Keystone. Half or doubly configured quotas are
    /// an error, never a silent "no quotas".
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, keystone_mode: bool) -> Result<LimitSource, Misconfigured> {
        let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let use_keystone = match get(vars::USE_KEYSTONE_LIMITS).as_deref() {
            None | Some("false" | "False" | "0" | "no" | "off") => false,
            Some("true" | "True" | "1" | "yes" | "on") => true,
            Some(other) => {
                return Err(Misconfigured(format!(
                    "{} must be true or false, not {other:?}",
                    vars::USE_KEYSTONE_LIMITS
                )))
            }
        };
        match (use_keystone, get(vars::IMAGE_QUOTAS)) {
            (true, Some(_)) => Err(Misconfigured(format!(
                "{} and {} are both set: the limits come from one or the other",
                vars::USE_KEYSTONE_LIMITS,
                vars::IMAGE_QUOTAS
            ))),
            (true, None) if !keystone_mode => Err(Misconfigured(format!(
                "{} needs AUTH_MODE keystone (the limits are Keystone's)",
                vars::USE_KEYSTONE_LIMITS
            ))),
            (true, None) => {
                let cache_seconds = match get(vars::KEYSTONE_LIMITS_CACHE_SECONDS) {
                    None => 0,
                    Some(raw) => raw.parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(|| {
                        Misconfigured(format!(
                            "{} must be a whole number of seconds, not {raw:?}",
                            vars::KEYSTONE_LIMITS_CACHE_SECONDS
                        ))
                    })?,
                };
                Ok(LimitSource::Keystone(KeystoneLimits {
                    service: get(vars::KEYSTONE_LIMITS_SERVICE).unwrap_or_else(|| "glance".into()),
                    region: get(vars::KEYSTONE_LIMITS_REGION).unwrap_or_else(|| "RegionOne".into()),
                    cache_seconds,
                }))
            }
            (false, Some(raw)) => Limits::parse_list(&raw)
                .map(LimitSource::Configured)
                .map_err(|e| Misconfigured(format!("{}: {e}", vars::IMAGE_QUOTAS))),
            (false, None) => Ok(LimitSource::Off),
        }
    }
}

/// Where Glance's limits are registered in Keystone: the service (by
/// name, as Glance's `[oslo_limit] endpoint_service_name`) and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeystoneLimits {
    /// The name of the service the limits are registered for.
    pub service: String,
    /// The region they are registered in.
    pub region: String,
    /// How long an isolate may reuse a project's limits, in seconds (0:
    /// read at every check, as Glance does, so a changed limit counts at
    /// once).
    pub cache_seconds: i64,
}

/// A Keystone limits document that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Keystone's {document} could not be read: {reason}")]
pub struct UnreadableLimits {
    /// Which document (`registered_limits` or `limits`).
    pub document: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl Limits {
    /// A project's limits from Keystone's answers to
    /// `GET /v3/registered_limits` (the defaults) and `GET /v3/limits`
    /// (the project's own, which win), both already filtered to the
    /// service, region and project: oslo.limit's reading. Entries for
    /// resources other than the four are ignored; a resource in neither
    /// has no limit (refused any use).
    pub fn from_keystone(registered: &Value, project: &Value) -> Result<Limits, UnreadableLimits> {
        let mut limits = Limits::default();
        for (document, field) in [("registered_limits", "default_limit"), ("limits", "resource_limit")] {
            let answer = if document == "limits" { project } else { registered };
            let unreadable = |reason: String| UnreadableLimits { document, reason };
            let entries = answer
                .get(document)
                .and_then(Value::as_array)
                .ok_or_else(|| unreadable(format!("no '{document}' list")))?;
            for entry in entries {
                let Some(resource) = entry.get("resource_name").and_then(Value::as_str).and_then(Resource::parse)
                else {
                    continue;
                };
                let value = entry
                    .get(field)
                    .and_then(Value::as_i64)
                    .ok_or_else(|| unreadable(format!("{resource} has no integer '{field}'")))?;
                limits.set(resource, value);
            }
        }
        Ok(limits)
    }
}

/// A limit list that cannot be used (the operator's setting, named).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitListError {
    /// An entry is not `name=value`.
    #[error("'{0}' is not name=value")]
    NotAPair(String),
    /// The name is none of the four resources.
    #[error("'{0}' is not a limit (image_size_total, image_stage_total, image_count_total, image_count_uploading)")]
    UnknownResource(String),
    /// The value is not an integer of at least -1.
    #[error("the limit of {0} must be an integer of at least -1 (unlimited), got '{1}'")]
    BadValue(String, String),
}

impl Limits {
    /// Parses `name=value` pairs separated by commas (sizes in MiB, -1 for
    /// unlimited); a resource not listed is unlimited.
    pub fn parse_list(raw: &str) -> Result<Limits, LimitListError> {
        let mut limits = Limits::from_pairs(Resource::ALL.map(|r| (r, -1)));
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, value) = entry.split_once('=').ok_or_else(|| LimitListError::NotAPair(entry.into()))?;
            let (name, value) = (name.trim(), value.trim());
            let resource = Resource::parse(name).ok_or_else(|| LimitListError::UnknownResource(name.into()))?;
            let value = value
                .parse::<i64>()
                .ok()
                .filter(|v| *v >= -1)
                .ok_or_else(|| LimitListError::BadValue(name.into(), value.into()))?;
            limits.set(resource, value);
        }
        Ok(limits)
    }
}

/// What a project uses of each resource (sizes in whole MiB, rounded down
/// as Glance rounds them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// MiB stored, each store's copy counted.
    pub size_total_mib: u64,
    /// MiB in staging.
    pub stage_total_mib: u64,
    /// Images that exist.
    pub count_total: u64,
    /// Images being uploaded, imported or copied.
    pub count_uploading: u64,
}

impl Usage {
    /// The usage of `resource`.
    pub fn of(&self, resource: Resource) -> u64 {
        match resource {
            Resource::ImageSizeTotal => self.size_total_mib,
            Resource::ImageStageTotal => self.stage_total_mib,
            Resource::ImageCountTotal => self.count_total,
            Resource::ImageCountUploading => self.count_uploading,
        }
    }
}

/// Whole MiB of `bytes`, rounded down (Glance's `size // units.Mi`).
pub fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

/// One resource a request would take over its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excess {
    /// The resource.
    pub resource: Resource,
    /// Its limit (`None`: none registered, read as 0).
    pub limit: Option<i64>,
    /// The project's usage before the request.
    pub usage: u64,
    /// What the request adds.
    pub delta: u64,
}

/// A refusal: the request would take the project over one or more limits.
/// Displayed as Glance's 413 body (its `LimitExceeded` around oslo.limit's
/// `ProjectOverLimit`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct OverLimit {
    /// The project.
    pub project: String,
    /// Each resource over its limit.
    pub excesses: Vec<Excess>,
}

impl fmt::Display for OverLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let each: Vec<String> = self
            .excesses
            .iter()
            .map(|e| {
                format!(
                    "Resource {} is over limit of {} due to current usage {} and delta {}",
                    e.resource,
                    e.limit.unwrap_or(0),
                    e.usage,
                    e.delta
                )
            })
            .collect();
        write!(
            f,
            "The request returned a 413 Request Entity Too Large. This generally means that rate limiting or a \
             quota threshold was breached.\n\nThe response body:\nProject {} is over a limit for [{}]",
            self.project,
            each.join(", ")
        )
    }
}

/// oslo.limit's check: for each `(resource, delta)`, usage + delta may not
/// exceed the limit (-1: unlimited; no limit registered: 0). A delta of 0
/// checks the usage alone, so a project already over a limit is refused
/// even a request that adds nothing (Glance's soft size limits: one upload
/// may cross, the next is refused).
pub fn enforce(project: &str, limits: &Limits, usage: &Usage, deltas: &[(Resource, u64)]) -> Result<(), OverLimit> {
    let excesses: Vec<Excess> = deltas
        .iter()
        .filter_map(|&(resource, delta)| {
            let limit = limits.get(resource);
            let used = usage.of(resource);
            let over = limits.allowed(resource).is_some_and(|max| used.saturating_add(delta) > max);
            over.then_some(Excess { resource, limit, usage: used, delta })
        })
        .collect();
    if excesses.is_empty() {
        Ok(())
    } else {
        Err(OverLimit { project: project.to_owned(), excesses })
    }
}

/// `GET /v2/info/usage`: limit and usage of each resource with a limit, as
/// Glance answers (`{"usage": {name: {"limit": .., "usage": ..}}}`; empty
/// when quotas are off).
pub fn usage_document(limits: Option<&Limits>, usage: &Usage) -> Value {
    let mut each = Map::new();
    if let Some(limits) = limits {
        for resource in Resource::ALL {
            let limit = limits.get(resource).unwrap_or(0);
            each.insert(resource.as_str().into(), json!({ "limit": limit, "usage": usage.of(resource) }));
        }
    }
    json!({ "usage": each })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(pairs: &[(&str, &str)], keystone_mode: bool) -> Result<LimitSource, Misconfigured> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LimitSource::from_vars(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()), keystone_mode)
    }

    #[test]
    fn the_limit_source_is_off_configured_or_keystone_and_never_both() {
        assert_eq!(source(&[], true), Ok(LimitSource::Off));
        assert_eq!(source(&[("USE_KEYSTONE_LIMITS", "false")], true), Ok(LimitSource::Off));
        let configured = source(&[("IMAGE_QUOTAS", "image_count_total=2")], false).unwrap();
        let LimitSource::Configured(limits) = configured else { panic!("{configured:?}") };
        assert_eq!(limits.get(Resource::ImageCountTotal), Some(2));
        assert_eq!(
            source(&[("USE_KEYSTONE_LIMITS", "true")], true),
            Ok(LimitSource::Keystone(KeystoneLimits {
                service: "glance".into(),
                region: "RegionOne".into(),
                cache_seconds: 0
            }))
        );
        let named = [
            ("USE_KEYSTONE_LIMITS", "yes"),
            ("KEYSTONE_LIMITS_SERVICE", "images"),
            ("KEYSTONE_LIMITS_REGION", "Edge"),
            ("KEYSTONE_LIMITS_CACHE_SECONDS", "30"),
        ];
        assert_eq!(
            source(&named, true),
            Ok(LimitSource::Keystone(KeystoneLimits {
                service: "images".into(),
                region: "Edge".into(),
                cache_seconds: 30
            }))
        );
        for (pairs, keystone_mode, names) in [
            (&[("USE_KEYSTONE_LIMITS", "true")][..], false, "AUTH_MODE"),
            (&[("USE_KEYSTONE_LIMITS", "true"), ("IMAGE_QUOTAS", "image_count_total=1")][..], true, "IMAGE_QUOTAS"),
            (&[("USE_KEYSTONE_LIMITS", "maybe")][..], true, "USE_KEYSTONE_LIMITS"),
            (&[("USE_KEYSTONE_LIMITS", "true"), ("KEYSTONE_LIMITS_CACHE_SECONDS", "-1")][..], true, "CACHE_SECONDS"),
            (&[("IMAGE_QUOTAS", "cores=1")][..], false, "IMAGE_QUOTAS"),
        ] {
            let error = source(pairs, keystone_mode).unwrap_err();
            assert!(error.0.contains(names), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn keystone_limits_are_the_registered_defaults_overridden_by_the_projects_own() {
        let registered = json!({"registered_limits": [
            {"resource_name": "image_size_total", "default_limit": 1000, "region_id": "RegionOne"},
            {"resource_name": "image_count_total", "default_limit": -1},
            {"resource_name": "image_count_uploading", "default_limit": 5},
            {"resource_name": "cores", "default_limit": 20},
        ]});
        let project = json!({"limits": [
            {"resource_name": "image_count_total", "resource_limit": 3, "project_id": "p"},
            {"resource_name": "image_stage_total", "resource_limit": 0, "project_id": "p"},
        ]});
        let limits = Limits::from_keystone(&registered, &project).unwrap();
        assert_eq!(limits.get(Resource::ImageSizeTotal), Some(1000));
        assert_eq!(limits.get(Resource::ImageCountTotal), Some(3));
        assert_eq!(limits.get(Resource::ImageStageTotal), Some(0));
        assert_eq!(limits.get(Resource::ImageCountUploading), Some(5));
        let nothing = Limits::from_keystone(&json!({"registered_limits": []}), &json!({"limits": []})).unwrap();
        assert_eq!(nothing.allowed(Resource::ImageCountTotal), Some(0), "nothing registered allows nothing");
    }

    #[test]
    fn a_keystone_limits_document_without_its_list_or_with_a_non_integer_limit_is_unreadable() {
        let ok = json!({"limits": []});
        let error = Limits::from_keystone(&json!({"error": {}}), &ok).unwrap_err();
        assert_eq!(error.document, "registered_limits");
        let bad = json!({"registered_limits": [{"resource_name": "image_size_total", "default_limit": "lots"}]});
        let error = Limits::from_keystone(&bad, &ok).unwrap_err();
        assert!(error.to_string().contains("image_size_total"), "{error}");
    }

    fn usage() -> Usage {
        Usage { size_total_mib: 10, stage_total_mib: 5, count_total: 3, count_uploading: 1 }
    }

    #[test]
    fn names_round_trip() {
        for resource in Resource::ALL {
            assert_eq!(Resource::parse(resource.as_str()), Some(resource));
        }
        assert_eq!(Resource::parse("image_count"), None);
    }

    #[test]
    fn a_request_within_its_limit_passes_and_one_beyond_is_refused_with_glances_words() {
        let limits = Limits::from_pairs([(Resource::ImageCountTotal, 4)]);
        assert_eq!(enforce("p1", &limits, &usage(), &[(Resource::ImageCountTotal, 1)]), Ok(()));
        let refused = enforce("p1", &limits, &usage(), &[(Resource::ImageCountTotal, 2)]).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "The request returned a 413 Request Entity Too Large. This generally means that rate limiting or a \
             quota threshold was breached.\n\nThe response body:\nProject p1 is over a limit for [Resource \
             image_count_total is over limit of 4 due to current usage 3 and delta 2]"
        );
    }

    #[test]
    fn minus_one_is_unlimited_and_a_missing_limit_is_zero() {
        let limits = Limits::from_pairs([(Resource::ImageSizeTotal, -1)]);
        assert_eq!(enforce("p", &limits, &usage(), &[(Resource::ImageSizeTotal, u64::MAX)]), Ok(()));
        let refused = enforce("p", &limits, &usage(), &[(Resource::ImageStageTotal, 0)]).unwrap_err();
        assert_eq!(
            refused.excesses,
            vec![Excess { resource: Resource::ImageStageTotal, limit: None, usage: 5, delta: 0 }]
        );
        assert_eq!(enforce("p", &limits, &Usage::default(), &[(Resource::ImageStageTotal, 0)]), Ok(()));
    }

    #[test]
    fn a_delta_of_zero_refuses_a_project_already_over_its_soft_size_limit() {
        let limits = Limits::from_pairs([(Resource::ImageSizeTotal, 10)]);
        assert_eq!(enforce("p", &limits, &usage(), &[(Resource::ImageSizeTotal, 0)]), Ok(()));
        let over = Usage { size_total_mib: 11, ..usage() };
        assert!(enforce("p", &limits, &over, &[(Resource::ImageSizeTotal, 0)]).is_err());
    }

    #[test]
    fn every_resource_over_is_named() {
        let limits = Limits::from_pairs(Resource::ALL.map(|r| (r, 0)));
        let refused =
            enforce("p", &limits, &usage(), &[(Resource::ImageCountTotal, 1), (Resource::ImageCountUploading, 0)])
                .unwrap_err();
        let named: Vec<Resource> = refused.excesses.iter().map(|e| e.resource).collect();
        assert_eq!(named, vec![Resource::ImageCountTotal, Resource::ImageCountUploading]);
    }

    #[test]
    fn the_usage_document_is_glances() {
        let limits = Limits::from_pairs([(Resource::ImageCountTotal, 4), (Resource::ImageSizeTotal, -1)]);
        let doc = usage_document(Some(&limits), &usage());
        assert_eq!(doc["usage"]["image_count_total"], json!({"limit": 4, "usage": 3}));
        assert_eq!(doc["usage"]["image_size_total"], json!({"limit": -1, "usage": 10}));
        assert_eq!(doc["usage"]["image_stage_total"], json!({"limit": 0, "usage": 5}));
        assert_eq!(usage_document(None, &usage()), json!({"usage": {}}));
    }

    #[test]
    fn a_limit_list_names_its_limits_and_leaves_the_others_unlimited() {
        let limits = Limits::parse_list(" image_count_total = 3, image_size_total=100 ,").unwrap();
        assert_eq!(limits.get(Resource::ImageCountTotal), Some(3));
        assert_eq!(limits.get(Resource::ImageSizeTotal), Some(100));
        assert_eq!(limits.get(Resource::ImageStageTotal), Some(-1));
        assert_eq!(limits.get(Resource::ImageCountUploading), Some(-1));
        assert_eq!(Limits::parse_list("").unwrap(), Limits::from_pairs(Resource::ALL.map(|r| (r, -1))));
        assert_eq!(
            Limits::parse_list("image_count_total").unwrap_err(),
            LimitListError::NotAPair("image_count_total".into())
        );
        assert!(matches!(Limits::parse_list("images=3"), Err(LimitListError::UnknownResource(_))));
        assert!(matches!(Limits::parse_list("image_count_total=-2"), Err(LimitListError::BadValue(..))));
        assert!(matches!(Limits::parse_list("image_count_total=many"), Err(LimitListError::BadValue(..))));
    }

    #[test]
    fn sizes_count_in_whole_mib_rounded_down() {
        assert_eq!(mib(0), 0);
        assert_eq!(mib((1 << 20) - 1), 0);
        assert_eq!(mib(3 << 20), 3);
    }
}
