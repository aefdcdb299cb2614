//! The original v1 API's view of an image: metadata in `x-image-meta-*`
//! headers (custom properties in `x-image-meta-property-*`), brief and
//! detailed list records, and the rules of the seed design document
//! (`shared/seed/004_*`): `name` required on create, `id` optional, `store`
//! must name our store, `size` must match the body, `is_public` truthy as
//! `on`/`1`/`true`, property keys normalised.
//!
//! v1 and v2 are two views of the same [`Image`]: everything here maps to and
//! from the same record the v2 API uses.

use crate::domain::image::columns::{plain_column, PLAIN_COLUMNS};
use serde_json::{json, Map, Value};

use crate::domain::image::{Image, ImageId, ValidationError, Visibility, Writer};
use crate::domain::stores::Stores;

/// Prefix of metadata headers.
pub const META_PREFIX: &str = "x-image-meta-";
/// Prefix of custom property headers.
pub const PROPERTY_PREFIX: &str = "x-image-meta-property-";
/// The seed's budget for all request headers.
pub const HEADER_BUDGET: usize = 8 * 1024;
/// Values of the seed's `x-image-meta-type`, kept as the `type` property.
pub const IMAGE_TYPES: [&str; 4] = ["kernel", "machine", "raw", "ramdisk"];

/// What a v1 create or update asks for, parsed from headers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct V1Meta {
    /// `x-image-meta-id`.
    pub id: Option<String>,
    /// `x-image-meta-size`: the announced body length.
    pub size: Option<u64>,
    /// `x-image-meta-checksum`: an md5 the data must match.
    pub checksum: Option<String>,
    /// Attribute writes, as v2 attribute names with JSON values.
    pub attributes: Vec<(String, Value)>,
}

/// `on`, `1`, `true` in any case are true; everything else is false.
pub fn truthy(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "on" | "1" | "true")
}

/// Lower-cases a property key and turns dashes and punctuation into `_`.
pub fn normalize_property_key(raw: &str) -> String {
    raw.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else if c.is_alphanumeric() {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Total size of the request headers as they travel (`name: value\r\n`).
pub fn header_bytes<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> usize {
    headers.into_iter().map(|(k, v)| k.len() + v.len() + 4).sum()
}

fn invalid(message: String) -> ValidationError {
    ValidationError::Invalid(message)
}

fn integer(name: &str, raw: &str) -> Result<u64, ValidationError> {
    raw.trim()
        .parse::<u64>()
        .map_err(|_| invalid(format!("x-image-meta-{name} must be a non-negative integer, got '{raw}'.")))
}

impl V1Meta {
    /// Parses the `x-image-meta-*` headers (names in any case). `store_id`
    /// is the only store `x-image-meta-store` may name.
    pub fn from_headers<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        store_id: &str,
    ) -> Result<V1Meta, ValidationError> {
        let mut meta = V1Meta::default();
        for (raw_name, value) in headers {
            let name = raw_name.to_ascii_lowercase();
            if let Some(key) = name.strip_prefix(PROPERTY_PREFIX) {
                let key = normalize_property_key(key);
                if key.is_empty() {
                    return Err(invalid("x-image-meta-property- needs a property name.".into()));
                }
                meta.attributes.push((key, Value::String(value.to_owned())));
                continue;
            }
            let Some(field) = name.strip_prefix(META_PREFIX) else { continue };
            let value = value.trim();
            match field {
                "id" => meta.id = Some(value.to_owned()),
                "size" => meta.size = Some(integer("size", value)?),
                "checksum" => meta.checksum = Some(value.to_ascii_lowercase()),
                "store" => {
                    if value != store_id {
                        return Err(invalid(format!(
                            "Store '{value}' is not configured here: the only store is '{store_id}'."
                        )));
                    }
                }
                "is_public" => {
                    let visibility = if truthy(value) { Visibility::Public } else { Visibility::Private };
                    meta.attributes.push(("visibility".into(), visibility.as_str().into()));
                }
                "protected" => meta.attributes.push(("protected".into(), truthy(value).into())),
                _ if plain_column(field).is_some() => {
                    meta.attributes.push((field.into(), integer(field, value)?.into()))
                }
                "name" | "disk_format" | "container_format" | "owner" => {
                    meta.attributes.push((field.into(), value.into()))
                }
                "type" => {
                    if !IMAGE_TYPES.contains(&value) {
                        return Err(invalid(format!(
                            "Invalid x-image-meta-type '{value}': must be one of {}.",
                            IMAGE_TYPES.join(", ")
                        )));
                    }
                    meta.attributes.push(("type".into(), value.into()));
                }
                "uri" | "location" | "status" | "created_at" | "updated_at" | "deleted_at" | "deleted" => {
                    return Err(ValidationError::ReadOnly(format!("x-image-meta-{field}")))
                }
                other => {
                    return Err(invalid(format!("Unknown image metadata header x-image-meta-{other}.")));
                }
            }
        }
        Ok(meta)
    }

    /// The image a v1 `POST` creates (name required, id optional).
    pub fn new_image(&self, writer: Writer<'_>, now: &str) -> Result<Image, ValidationError> {
        if !self.attributes.iter().any(|(k, v)| k == "name" && v.as_str().is_some_and(|s| !s.is_empty())) {
            return Err(invalid("x-image-meta-name is required.".into()));
        }
        let id = match &self.id {
            Some(raw) => ImageId::parse(raw)
                .ok_or_else(|| invalid(format!("Invalid x-image-meta-id '{raw}': must be a UUID.")))?,
            None => ImageId::generate(),
        };
        let mut image = Image::new(id, writer.project_id.map(str::to_owned), now);
        // v1 images are private unless made public.
        image.visibility = Visibility::Private;
        self.apply_to(&mut image, writer)?;
        Ok(image)
    }

    /// Applies the attribute writes to an existing image (v1 `PUT`).
    pub fn apply_to(&self, image: &mut Image, writer: Writer<'_>) -> Result<(), ValidationError> {
        for (key, value) in &self.attributes {
            image.set_attribute(key, value, writer)?;
        }
        Ok(())
    }
}

/// `2010-02-03 09:34:01` (UTC), the seed's timestamp form, from v2's form.
pub fn v1_time(v2_time: &str) -> String {
    v2_time.trim_end_matches('Z').replacen('T', " ", 1)
}

/// The store v1 names for `image` (`x-image-meta-store`, a record's
/// `store`). v1 knows one store per image, so it is the one the data is
/// read from: the heaviest store holding a copy
/// ([`Stores::download_order`]), whichever that is (an image uploaded to or
/// copied into `secondary` alone is in `secondary`). Data with no location
/// (an empty v1 image) counts as in the default store; an image without
/// data is in none.
pub fn store_of<'a>(image: &Image, stores: &'a Stores) -> Option<&'a str> {
    if !image.has_data() {
        return None;
    }
    let read_from = stores.download_order(&image.store_ids()).into_iter().next();
    Some(read_from.unwrap_or_else(|| stores.default_store()).id.as_str())
}

/// The `x-image-meta-*` response headers of an image in `store`
/// ([`store_of`]).
pub fn to_headers(image: &Image, uri: &str, store: Option<&str>) -> Vec<(String, String)> {
    let text = |v: Option<&str>| v.unwrap_or("").to_owned();
    let mut headers = vec![
        ("uri", uri.to_owned()),
        ("id", image.id.to_string()),
        ("name", text(image.name.as_deref())),
        ("disk_format", text(image.disk_format.map(|f| f.as_str()))),
        ("container_format", text(image.container_format.map(|f| f.as_str()))),
        ("size", image.size.map_or(String::new(), |s| s.to_string())),
        ("checksum", text(image.checksum.as_deref())),
        ("status", image.status.as_str().to_owned()),
        ("is_public", (image.visibility == Visibility::Public).to_string()),
        ("protected", image.protected.to_string()),
        ("owner", text(image.owner.as_deref())),
        ("created_at", v1_time(&image.created_at)),
        ("updated_at", v1_time(&image.updated_at)),
        ("deleted_at", String::new()),
        ("deleted", "false".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("{META_PREFIX}{k}"), v))
    .collect::<Vec<_>>();
    for column in PLAIN_COLUMNS {
        headers.push((format!("{META_PREFIX}{}", column.name), image.plain(column.name).to_string()));
    }
    if let Some(store) = store {
        headers.push((format!("{META_PREFIX}store"), store.to_owned()));
    }
    for (key, value) in &image.properties {
        headers.push((format!("{PROPERTY_PREFIX}{key}"), value.clone()));
    }
    headers
}

/// A header value that survives HTTP: printable ASCII is kept, anything
/// else is percent-encoded (UTF-8), so values round-trip losslessly.
pub fn header_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The brief list record (`GET /v1/images`).
pub fn brief(image: &Image, uri: &str) -> Value {
    json!({
        "uri": uri,
        "id": image.id.as_str(),
        "name": image.name,
        "disk_format": image.disk_format.map(|f| f.as_str()),
        "container_format": image.container_format.map(|f| f.as_str()),
        "size": image.size,
        "checksum": image.checksum,
    })
}

/// The detailed list record (`GET /v1/images/detail`) of an image in
/// `store` ([`store_of`]).
pub fn detailed(image: &Image, uri: &str, store: Option<&str>) -> Value {
    let mut record = brief(image, uri);
    let properties: Map<String, Value> =
        image.properties.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let extra = json!({
        "status": image.status.as_str(),
        "is_public": image.visibility == Visibility::Public,
        "protected": image.protected,
        "owner": image.owner,
        "store": store,
        "created_at": v1_time(&image.created_at),
        "updated_at": v1_time(&image.updated_at),
        "deleted_at": Value::Null,
        "deleted": false,
        "properties": properties,
    });
    if let (Some(record), Value::Object(extra)) = (record.as_object_mut(), extra) {
        record.extend(extra);
        for column in PLAIN_COLUMNS {
            record.insert(column.name.into(), image.plain(column.name).into());
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::status::ImageStatus;

    const WRITER: Writer<'static> = Writer { is_admin: true, project_id: Some("p1") };
    const NOW: &str = "2026-11-22T12:13:07Z";

    fn parse(headers: &[(&str, &str)]) -> Result<V1Meta, ValidationError> {
        V1Meta::from_headers(headers.iter().copied(), "r2")
    }

    #[test]
    fn truthy_values_are_on_1_true_in_any_case() {
        for yes in ["on", "ON", "1", "true", "True", " TRUE "] {
            assert!(truthy(yes), "{yes}");
        }
        for no in ["off", "0", "false", "yes", ""] {
            assert!(!truthy(no), "{no}");
        }
    }

    #[test]
    fn property_keys_are_lower_cased_with_punctuation_as_underscores() {
        assert_eq!(normalize_property_key("Distro"), "distro");
        assert_eq!(normalize_property_key("OS-Version.Major"), "os_version_major");
        assert_eq!(normalize_property_key("hw:cpu/policy"), "hw_cpu_policy");
    }

    #[test]
    fn headers_become_an_image() {
        let meta = parse(&[
            ("X-Image-Meta-Name", "Ubuntu 10.10 5G"),
            ("x-image-meta-type", "machine"),
            ("x-image-meta-is_public", "On"),
            ("x-image-meta-disk_format", "raw"),
            ("x-image-meta-container_format", "bare"),
            ("X-Image-Meta-Property-Distro", "Ubuntu 10.10"),
            ("x-image-meta-size", "10"),
            ("x-image-meta-store", "r2"),
            ("content-type", "application/octet-stream"),
        ])
        .unwrap();
        assert_eq!(meta.size, Some(10));
        let image = meta.new_image(WRITER, NOW).unwrap();
        assert_eq!(image.name.as_deref(), Some("Ubuntu 10.10 5G"));
        assert_eq!(image.visibility, Visibility::Public);
        assert_eq!(image.properties["distro"], "Ubuntu 10.10");
        assert_eq!(image.properties["type"], "machine");
        assert_eq!(image.status, ImageStatus::Queued);
    }

    #[test]
    fn images_are_private_unless_public() {
        let image = parse(&[("x-image-meta-name", "n")]).unwrap().new_image(WRITER, NOW).unwrap();
        assert_eq!(image.visibility, Visibility::Private);
        let image = parse(&[("x-image-meta-name", "n"), ("x-image-meta-is_public", "no")])
            .unwrap()
            .new_image(WRITER, NOW)
            .unwrap();
        assert_eq!(image.visibility, Visibility::Private);
    }

    #[test]
    fn the_seeds_rules_are_enforced() {
        assert!(
            matches!(parse(&[]).unwrap().new_image(WRITER, NOW), Err(ValidationError::Invalid(m)) if m.contains("x-image-meta-name is required"))
        );
        assert!(
            matches!(parse(&[("x-image-meta-store", "swift")]), Err(ValidationError::Invalid(m)) if m.contains("swift"))
        );
        assert!(matches!(parse(&[("x-image-meta-size", "big")]), Err(ValidationError::Invalid(_))));
        assert!(matches!(parse(&[("x-image-meta-type", "floppy")]), Err(ValidationError::Invalid(_))));
        assert!(matches!(parse(&[("x-image-meta-status", "active")]), Err(ValidationError::ReadOnly(_))));
        assert!(matches!(parse(&[("x-image-meta-bogus", "1")]), Err(ValidationError::Invalid(_))));
        let meta = parse(&[("x-image-meta-name", "n"), ("x-image-meta-id", "not-a-uuid")]).unwrap();
        assert!(matches!(meta.new_image(WRITER, NOW), Err(ValidationError::Invalid(_))));
        let id = "57c061a3-05d8-49c1-a8f5-4be99d58db30";
        let meta = parse(&[("x-image-meta-name", "n"), ("x-image-meta-id", id)]).unwrap();
        assert_eq!(meta.new_image(WRITER, NOW).unwrap().id.as_str(), id);
    }

    #[test]
    fn an_image_becomes_headers_and_records() {
        let mut image = parse(&[("x-image-meta-name", "n"), ("x-image-meta-property-distro", "debian")])
            .unwrap()
            .new_image(WRITER, NOW)
            .unwrap();
        image.status = ImageStatus::Active;
        image.size = Some(5);
        let headers = to_headers(&image, "http://h/v1/images/x", Some("r2"));
        let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("x-image-meta-size"), Some("5"));
        assert_eq!(get("x-image-meta-is_public"), Some("false"));
        assert_eq!(get("x-image-meta-store"), Some("r2"));
        assert_eq!(get("x-image-meta-property-distro"), Some("debian"));
        assert_eq!(get("x-image-meta-created_at"), Some("2026-11-22 12:13:07"));
        let record = detailed(&image, "http://h/v1/images/x", Some("r2"));
        assert_eq!(record["properties"]["distro"], "debian");
        assert_eq!(record["uri"], "http://h/v1/images/x");
        let short = brief(&image, "u");
        assert_eq!(short.as_object().unwrap().len(), 7);
    }

    #[test]
    fn the_store_named_is_the_one_the_data_is_read_from() {
        use crate::domain::image::location::Location;
        let stores = Stores::parse(
            r#"[{"id":"primary","binding":"A","weight":100,"default":true},{"id":"secondary","binding":"B","weight":50},{"id":"web","type":"http"}]"#,
        )
        .unwrap();
        let mut image = parse(&[("x-image-meta-name", "n")]).unwrap().new_image(WRITER, NOW).unwrap();
        assert_eq!(store_of(&image, &stores), None, "no data, no store");
        image.status = ImageStatus::Active;
        image.size = Some(5);
        image.locations = vec![Location::in_r2("secondary", "images/x")];
        assert_eq!(store_of(&image, &stores), Some("secondary"), "only in secondary");
        image.locations.push(Location::in_r2("primary", "images/x"));
        assert_eq!(store_of(&image, &stores), Some("primary"), "the heaviest copy is read");
        image.locations = vec![Location::new("web", "http://h/x".into())];
        assert_eq!(store_of(&image, &stores), Some("web"));
        image.locations.clear();
        image.size = Some(0);
        assert_eq!(store_of(&image, &stores), Some("primary"), "empty data: the default store");
        let headers = to_headers(&image, "u", None);
        assert!(headers.iter().all(|(name, _)| name != "x-image-meta-store"));
        assert_eq!(detailed(&image, "u", Some("secondary"))["store"], "secondary");
    }

    #[test]
    fn header_values_are_made_safe_and_reversible() {
        assert_eq!(header_safe("Ubuntu 10.10"), "Ubuntu 10.10");
        assert_eq!(header_safe("100%"), "100%25");
        assert_eq!(header_safe("café"), "caf%C3%A9");
        assert_eq!(header_safe("a\r\nb"), "a%0D%0Ab");
    }

    #[test]
    fn header_budget_counts_names_and_values() {
        assert_eq!(header_bytes([("a", "bc")]), 7);
        let big = "v".repeat(HEADER_BUDGET);
        assert!(header_bytes([("x-image-meta-property-k", big.as_str())]) > HEADER_BUDGET);
    }
}
