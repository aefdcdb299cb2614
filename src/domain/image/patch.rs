//! Image PATCH: the two media types Glance accepts, parsed into one list of
//! operations, applied all-or-nothing to a copy of the image.
//!
//! - `application/openstack-images-v2.1-json-patch`: RFC 6902 objects
//!   `{"op": "replace", "path": "/name", "value": ...}`;
//! - `application/openstack-images-v2.0-json-patch` (draft 4, what tempest
//!   sends): `{"replace": "/name", "value": ...}`.
//!
//! Each syntax is refused under the other media type. Only `add`, `remove`
//! and `replace` exist; paths are one level deep (`/tags/0` is 400: tags are
//! replaced whole).

use serde_json::Value;

use crate::domain::image::location::{NewLocation, ValidationData};
use crate::domain::image::{Image, ValidationError, Writer};
use crate::domain::import::uri_filter::UriFilter;

/// The media type of the v2.1 (RFC 6902) dialect.
pub const MEDIA_TYPE_V2_1: &str = "application/openstack-images-v2.1-json-patch";
/// The media type of the deprecated v2.0 (draft 4) dialect.
pub const MEDIA_TYPE_V2_0: &str = "application/openstack-images-v2.0-json-patch";
/// The `Accept-Patch` header sent with a 415.
pub const ACCEPT_PATCH: &str =
    "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch";

/// Which PATCH syntax the request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Draft-4 objects keyed by the operation name.
    V2_0,
    /// RFC 6902 objects with `op` and `path`.
    V2_1,
}

impl Dialect {
    /// The dialect named by a `Content-Type` (parameters ignored), if any.
    pub fn from_content_type(content_type: &str) -> Option<Dialect> {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case(MEDIA_TYPE_V2_1) {
            Some(Dialect::V2_1)
        } else if media_type.eq_ignore_ascii_case(MEDIA_TYPE_V2_0) {
            Some(Dialect::V2_0)
        } else {
            None
        }
    }
}

/// The three operations Glance supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Add a property (overwrites under v2.1, 409 under v2.0 if present).
    Add,
    /// Remove a custom property.
    Remove,
    /// Replace an existing property.
    Replace,
}

impl OpKind {
    fn parse(name: &str) -> Option<OpKind> {
        match name {
            "add" => Some(OpKind::Add),
            "remove" => Some(OpKind::Remove),
            "replace" => Some(OpKind::Replace),
            _ => None,
        }
    }
}

/// One parsed operation on one attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    /// What to do.
    pub kind: OpKind,
    /// The attribute name (the decoded JSON pointer, one level deep).
    pub attribute: String,
    /// The new value (for add and replace).
    pub value: Option<Value>,
    /// The index after `/locations/` (`N` or `-`), for location ops.
    pub index: Option<String>,
}

fn invalid(message: impl Into<String>) -> ValidationError {
    ValidationError::Invalid(message.into())
}

/// Parses a PATCH body in the given dialect.
pub fn parse(dialect: Dialect, body: &[u8]) -> Result<Vec<PatchOp>, ValidationError> {
    let document: Value = serde_json::from_slice(body).map_err(|_| invalid("Malformed JSON in request body."))?;
    let Value::Array(items) = document else {
        return Err(invalid("Request body must be a JSON array of operation objects."));
    };
    items.iter().map(|item| parse_op(dialect, item)).collect()
}

fn parse_op(dialect: Dialect, item: &Value) -> Result<PatchOp, ValidationError> {
    let Some(object) = item.as_object() else {
        return Err(invalid("Operations must be JSON objects."));
    };
    let (kind, raw_path) = match dialect {
        Dialect::V2_1 => {
            if object.keys().any(|k| OpKind::parse(k).is_some()) {
                return Err(invalid(format!(
                    "Operation objects must have an 'op' member under {MEDIA_TYPE_V2_1} (the draft-4 form belongs to {MEDIA_TYPE_V2_0})."
                )));
            }
            let op = object
                .get("op")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("Operation objects must contain exactly one 'op' member."))?;
            let kind = OpKind::parse(op)
                .ok_or_else(|| invalid(format!("Invalid operation: `{op}`: must be add, remove or replace.")))?;
            let path = object.get("path").and_then(Value::as_str).ok_or_else(|| {
                invalid("Unable to find 'path' element: operation objects must contain a string 'path'.")
            })?;
            (kind, path)
        }
        Dialect::V2_0 => {
            if object.contains_key("op") || object.contains_key("path") {
                return Err(invalid(format!(
                    "Operation objects must be keyed by add, remove or replace under {MEDIA_TYPE_V2_0} (the 'op'/'path' form belongs to {MEDIA_TYPE_V2_1})."
                )));
            }
            let mut found = object.iter().filter_map(|(k, v)| OpKind::parse(k).map(|kind| (kind, v)));
            let (kind, path) = match (found.next(), found.next()) {
                (Some(one), None) => one,
                _ => return Err(invalid("Operation objects must contain exactly one of add, remove or replace.")),
            };
            let path = path.as_str().ok_or_else(|| invalid("The operation's path must be a string."))?;
            (kind, path)
        }
    };
    let (attribute, index) = decode_pointer(raw_path)?;
    let value = match kind {
        OpKind::Remove => None,
        OpKind::Add | OpKind::Replace => Some(
            object
                .get("value")
                .cloned()
                .ok_or_else(|| invalid(format!("Operation on {raw_path} requires a 'value' member.")))?,
        ),
    };
    Ok(PatchOp { kind, attribute, value, index })
}

/// Decodes a one-level JSON pointer (`/name`, `/a~1b`), or `/locations/N`
/// (`locations` and the index `N` or `-`).
fn decode_pointer(pointer: &str) -> Result<(String, Option<String>), ValidationError> {
    let bad = || invalid(format!("Invalid JSON pointer for this resource: '{pointer}'"));
    let rest = pointer.strip_prefix('/').ok_or_else(bad)?;
    let mut segments = rest.split('/');
    let first = segments.next().unwrap_or("");
    let remaining: Vec<&str> = segments.collect();
    if first.is_empty() || (!remaining.is_empty() && first != "locations") || remaining.len() > 1 {
        return Err(bad());
    }
    let mut decoded = String::with_capacity(first.len());
    let mut chars = first.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => decoded.push('~'),
                Some('1') => decoded.push('/'),
                _ => return Err(bad()),
            }
        } else {
            decoded.push(c);
        }
    }
    Ok((decoded, remaining.first().map(|s| (*s).to_owned())))
}

/// How PATCH may touch `/locations` (Glance's `show_multiple_locations`).
#[derive(Debug, Clone, Copy)]
pub struct LocationRules<'a> {
    /// Locations are shown and managed; otherwise every location op is 403.
    pub visible: bool,
    /// The read-only store http(s) locations belong to.
    pub http_store: Option<&'a str>,
    /// What a location URL may point at.
    pub filter: Option<&'a UriFilter>,
}

impl LocationRules<'_> {
    /// No location ops (the v1 API, or `show_multiple_locations` off).
    pub const HIDDEN: LocationRules<'static> = LocationRules { visible: false, http_store: None, filter: None };
}

/// Whether any operation touches `/locations`.
pub fn touches_locations(ops: &[PatchOp]) -> bool {
    ops.iter().any(|op| op.attribute == "locations")
}

/// Checks a new location's URL: http(s) only (the one kind of store a
/// client may point at), through the URI filter.
fn checked_location(value: &Value, rules: &LocationRules<'_>) -> Result<(NewLocation, String), ValidationError> {
    let new = NewLocation::parse(value)?;
    let lower = new.url.to_ascii_lowercase();
    let store = match rules.http_store {
        Some(store) if lower.starts_with("http://") || lower.starts_with("https://") => store,
        _ => {
            return Err(invalid(format!(
                "Invalid location {}: only http and https locations can be added to this catalog.",
                new.url
            )))
        }
    };
    if let Some(filter) = rules.filter {
        filter.check(&new.url).map_err(|refused| invalid(refused.to_string()))?;
    }
    Ok((new, store.to_owned()))
}

fn apply_location_op(updated: &mut Image, op: &PatchOp, rules: &LocationRules<'_>) -> Result<(), ValidationError> {
    if !rules.visible {
        return Err(ValidationError::Forbidden(
            "It's not allowed to update locations if locations are invisible.".into(),
        ));
    }
    match (op.kind, &op.value, op.index.as_deref()) {
        (OpKind::Add, Some(value), Some(index)) => {
            ValidationData::check_raw_against(value.get("validation_data"), updated)?;
            let (new, store) = checked_location(value, rules)?;
            updated.check_new_location(&new)?;
            if let Some(validation) = &new.validation {
                validation.apply_to(updated);
            }
            let location = new.into_location(&store);
            match index {
                "-" => updated.locations.push(location),
                n => {
                    let at = n
                        .parse::<usize>()
                        .ok()
                        .filter(|at| *at <= updated.locations.len())
                        .ok_or_else(|| invalid(format!("Invalid location index {n}.")))?;
                    updated.locations.insert(at, location);
                }
            }
        }
        (OpKind::Replace, Some(value), None) => {
            if value.as_array().is_some_and(Vec::is_empty) {
                return Err(ValidationError::Forbidden("Cannot set locations to empty list.".into()));
            }
            if updated.locations.is_empty() {
                let items = value.as_array().ok_or_else(|| invalid("The value of /locations must be a list."))?;
                for item in items {
                    let (new, store) = checked_location(item, rules)?;
                    updated.check_new_location(&new)?;
                    if let Some(validation) = &new.validation {
                        validation.apply_to(updated);
                    }
                    updated.locations.push(new.into_location(&store));
                }
            } else {
                updated.locations = updated.replaced_locations(value)?;
            }
        }
        (OpKind::Remove, None, Some(index)) => {
            let at = index.parse::<usize>().map_err(|_| invalid(format!("Invalid location index {index}.")))?;
            updated.check_remove_location(at)?;
            updated.locations.remove(at);
        }
        _ => return Err(invalid("Invalid operation on /locations.")),
    }
    Ok(())
}

/// Applies the operations to a copy of `image`; on any error nothing changes.
pub fn apply(
    image: &Image,
    dialect: Dialect,
    ops: &[PatchOp],
    writer: Writer<'_>,
    rules: &LocationRules<'_>,
) -> Result<Image, ValidationError> {
    let mut updated = image.clone();
    for op in ops {
        let key = op.attribute.as_str();
        if key == "locations" {
            apply_location_op(&mut updated, op, rules)?;
            continue;
        }
        match (op.kind, &op.value) {
            (OpKind::Remove, _) => updated.remove_attribute(key)?,
            (OpKind::Add, Some(value)) => {
                Image::check_writable_key(key)?;
                let is_custom = !crate::domain::image::WRITABLE_BASE.contains(&key);
                if dialect == Dialect::V2_0 && is_custom && updated.has_attribute(key) {
                    return Err(ValidationError::Conflict(format!("Property {key} already present.")));
                }
                updated.set_attribute(key, value, writer)?;
            }
            (OpKind::Replace, Some(value)) => {
                Image::check_writable_key(key)?;
                if !updated.has_attribute(key) {
                    return Err(ValidationError::Conflict(format!("Property {key} does not exist.")));
                }
                updated.set_attribute(key, value, writer)?;
            }
            (OpKind::Add | OpKind::Replace, None) => {
                return Err(invalid(format!("Operation on /{key} requires a 'value' member.")))
            }
        }
    }
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::status::ImageStatus;
    use serde_json::json;

    const ADMIN: Writer<'static> = Writer { is_admin: true, project_id: Some("p1") };

    fn image() -> Image {
        let body = json!({"name": "n", "k": "v", "disk_format": "raw", "container_format": "bare", "tags": ["a"]});
        Image::from_create_request(&body, ADMIN, "2026-01-01T00:00:00Z").unwrap()
    }

    fn patch(dialect: Dialect, body: Value) -> Result<Image, ValidationError> {
        let ops = parse(dialect, body.to_string().as_bytes())?;
        apply(&image(), dialect, &ops, ADMIN, &LocationRules::HIDDEN)
    }

    #[test]
    fn media_types_select_the_dialect() {
        assert_eq!(Dialect::from_content_type(MEDIA_TYPE_V2_1), Some(Dialect::V2_1));
        assert_eq!(
            Dialect::from_content_type("application/openstack-images-v2.0-json-patch; charset=UTF-8"),
            Some(Dialect::V2_0)
        );
        assert_eq!(Dialect::from_content_type("application/json"), None);
        assert_eq!(Dialect::from_content_type(""), None);
    }

    #[test]
    fn v2_1_add_and_replace_work_like_the_recording() {
        let updated = patch(
            Dialect::V2_1,
            json!([{"op":"add","path":"/k2","value":"v"},{"op":"replace","path":"/name","value":"sample2"}]),
        )
        .unwrap();
        assert_eq!(updated.name.as_deref(), Some("sample2"));
        assert_eq!(updated.properties["k2"], "v");
    }

    #[test]
    fn v2_1_add_overwrites_but_v2_0_add_conflicts() {
        let updated = patch(Dialect::V2_1, json!([{"op":"add","path":"/k","value":"w"}])).unwrap();
        assert_eq!(updated.properties["k"], "w");
        assert!(matches!(patch(Dialect::V2_0, json!([{"add":"/k","value":"w"}])), Err(ValidationError::Conflict(_))));
    }

    #[test]
    fn v2_0_syntax_works_under_its_media_type() {
        let updated = patch(Dialect::V2_0, json!([{"replace":"/name","value":"x"},{"remove":"/k"}])).unwrap();
        assert_eq!(updated.name.as_deref(), Some("x"));
        assert!(updated.properties.is_empty());
    }

    #[test]
    fn each_syntax_is_refused_under_the_other_media_type() {
        assert!(matches!(
            patch(Dialect::V2_1, json!([{"replace":"/name","value":"x"}])),
            Err(ValidationError::Invalid(_))
        ));
        assert!(matches!(
            patch(Dialect::V2_0, json!([{"op":"replace","path":"/name","value":"x"}])),
            Err(ValidationError::Invalid(_))
        ));
    }

    #[test]
    fn malformed_bodies_are_400() {
        for body in [
            json!({"op":"add"}),
            json!(["x"]),
            json!([{"op":"move","path":"/name","from":"/k"}]),
            json!([{"op":"test","path":"/name","value":"n"}]),
            json!([{"op":"add","path":"/name"}]),
            json!([{"op":"add","value":"x"}]),
            json!([{"op":"add","path":"name","value":"x"}]),
            json!([{"op":"add","path":"/","value":"x"}]),
            json!([{"op":"add","path":"/tags/0","value":"x"}]),
            json!([{"op":"add","path":"/a/b","value":"x"}]),
            json!([{"op":"add","path":"/a~2","value":"x"}]),
        ] {
            assert!(matches!(patch(Dialect::V2_1, body.clone()), Err(ValidationError::Invalid(_))), "{body}");
        }
        assert!(matches!(parse(Dialect::V2_1, b"{not json"), Err(ValidationError::Invalid(_))));
        assert!(matches!(patch(Dialect::V2_0, json!([{"add":"/a","remove":"/b"}])), Err(ValidationError::Invalid(_))));
    }

    #[test]
    fn pointer_escapes_are_decoded() {
        let updated = patch(Dialect::V2_1, json!([{"op":"add","path":"/a~1b~0c","value":"v"}])).unwrap();
        assert_eq!(updated.properties["a/b~c"], "v");
    }

    #[test]
    fn read_only_reserved_and_missing_properties() {
        assert_eq!(
            patch(Dialect::V2_1, json!([{"op":"replace","path":"/status","value":"active"}])),
            Err(ValidationError::ReadOnly("status".into()))
        );
        assert_eq!(
            patch(Dialect::V2_1, json!([{"op":"add","path":"/os_glance_x","value":"1"}])),
            Err(ValidationError::Reserved("os_glance_x".into()))
        );
        assert!(matches!(
            patch(Dialect::V2_1, json!([{"op":"remove","path":"/stores"}])),
            Err(ValidationError::Conflict(_))
        ));
        assert!(matches!(
            patch(Dialect::V2_1, json!([{"op":"replace","path":"/missing","value":"v"}])),
            Err(ValidationError::Conflict(_))
        ));
        assert!(matches!(
            patch(Dialect::V2_1, json!([{"op":"remove","path":"/name"}])),
            Err(ValidationError::Forbidden(_))
        ));
        assert!(matches!(
            patch(Dialect::V2_1, json!([{"op":"add","path":"/locations/-","value":{}}])),
            Err(ValidationError::Forbidden(_))
        ));
    }

    #[test]
    fn a_failing_op_leaves_the_image_unchanged() {
        let original = image();
        let ops = parse(
            Dialect::V2_1,
            json!([{"op":"replace","path":"/name","value":"changed"},{"op":"replace","path":"/min_ram","value":-1}])
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert!(apply(&original, Dialect::V2_1, &ops, ADMIN, &LocationRules::HIDDEN).is_err());
        assert_eq!(original.name.as_deref(), Some("n"));
    }

    #[test]
    fn formats_cannot_change_after_upload() {
        let mut active = image();
        active.status = ImageStatus::Active;
        let ops = parse(Dialect::V2_1, br#"[{"op":"replace","path":"/disk_format","value":"qcow2"}]"#).unwrap();
        assert!(matches!(
            apply(&active, Dialect::V2_1, &ops, ADMIN, &LocationRules::HIDDEN),
            Err(ValidationError::Forbidden(_))
        ));
    }

    #[test]
    fn tags_are_replaced_whole() {
        let updated = patch(Dialect::V2_1, json!([{"op":"replace","path":"/tags","value":["x","y"]}])).unwrap();
        assert_eq!(updated.tags, vec!["x", "y"]);
    }

    #[test]
    fn location_ops_follow_show_multiple_locations() {
        let filter = UriFilter::default();
        let rules = LocationRules { visible: true, http_store: Some("web"), filter: Some(&filter) };
        let ops = |body: Value| parse(Dialect::V2_1, body.to_string().as_bytes()).unwrap();
        let add = ops(
            json!([{"op": "add", "path": "/locations/-", "value": {"url": "http://example.com/a", "metadata": {"k": "v"}}}]),
        );
        assert!(matches!(
            apply(&image(), Dialect::V2_1, &add, ADMIN, &LocationRules::HIDDEN),
            Err(ValidationError::Forbidden(_))
        ));
        let one = apply(&image(), Dialect::V2_1, &add, ADMIN, &rules).unwrap();
        assert_eq!(one.locations.len(), 1);
        assert_eq!(one.locations[0].store(), Some("web"));
        assert_eq!(one.locations[0].metadata["k"], "v");
        let gopher = ops(json!([{"op": "add", "path": "/locations/-", "value": {"url": "gopher://info.cern.ch"}}]));
        assert!(matches!(apply(&image(), Dialect::V2_1, &gopher, ADMIN, &rules), Err(ValidationError::Invalid(_))));
        let private = ops(json!([{"op": "add", "path": "/locations/-", "value": {"url": "http://169.254.169.254/"}}]));
        let refused = apply(&image(), Dialect::V2_1, &private, ADMIN, &rules).unwrap_err();
        assert!(refused.to_string().contains("does not pass filtering"), "{refused}");
        let add_second =
            ops(json!([{"op": "add", "path": "/locations/-", "value": {"url": "http://example.com/a#new"}}]));
        let two = apply(&one, Dialect::V2_1, &add_second, ADMIN, &rules).unwrap();
        let remove_first = ops(json!([{"op": "remove", "path": "/locations/0"}]));
        let left = apply(&two, Dialect::V2_1, &remove_first, ADMIN, &rules).unwrap();
        assert_eq!(left.locations[0].url, "http://example.com/a#new");
        assert!(matches!(
            apply(&left, Dialect::V2_1, &remove_first, ADMIN, &rules),
            Err(ValidationError::Forbidden(_))
        ));
        let empty = ops(json!([{"op": "replace", "path": "/locations", "value": []}]));
        assert!(matches!(apply(&two, Dialect::V2_1, &empty, ADMIN, &rules), Err(ValidationError::Forbidden(_))));
    }
}
