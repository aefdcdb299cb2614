//! The image record and its validated fields: what an image is, which of its
//! attributes a client may write, and how it looks on the wire.
//!
//! Both create (`POST /v2/images`) and update (PATCH) go through
//! [`Image::set_attribute`], so Glance's rules (read-only, reserved,
//! `os_glance_*`, formats frozen after upload, string-only custom properties,
//! quotas) live in exactly one place.

use std::collections::BTreeMap;

use serde_json::Value;

use status::ImageStatus;

pub mod columns;
pub mod data;
pub mod document;
pub mod location;
pub mod patch;
pub mod status;

use location::Location;

use crate::domain::stores::Stores;

/// Glance's default quotas (`image_property_quota`, `image_tag_quota`).
pub const MAX_PROPERTIES: usize = 128;
/// Maximum number of tags on one image.
pub const MAX_TAGS: usize = 128;
/// Maximum length of a name, tag, property key or property value.
pub const MAX_STRING: usize = 255;
/// Glance's hashing algorithm for `os_hash_value`.
pub const HASH_ALGO: &str = "sha512";

/// The md5 of no data (a zero-size image's `checksum`).
pub const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// The sha512 of no data (a zero-size image's `os_hash_value`).
pub const EMPTY_SHA512: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

/// Attributes a client can never write (403 "is read-only").
pub const READ_ONLY: [&str; 13] = [
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "os_hash_algo",
    "os_hash_value",
];

/// Attributes reserved for the server (403 "is reserved").
pub const RESERVED: [&str; 3] = ["location", "deleted", "deleted_at"];

/// The writable base attributes besides the plain columns
/// ([`columns::PLAIN_COLUMNS`]); anything else is a custom property.
pub const WRITABLE_BASE: [&str; 8] =
    ["name", "visibility", "protected", "os_hidden", "disk_format", "container_format", "owner", "tags"];

/// Why a write to an image was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// 403: the attribute is read-only.
    #[error("Attribute '{0}' is read-only.")]
    ReadOnly(String),
    /// 403: the attribute is reserved for the server.
    #[error("Attribute '{0}' is reserved.")]
    Reserved(String),
    /// 403: the caller may not make this change.
    #[error("{0}")]
    Forbidden(String),
    /// 400: the value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// 409: the change conflicts with the image's state.
    #[error("{0}")]
    Conflict(String),
    /// 413: a quota would be exceeded.
    #[error("{0}")]
    OverLimit(String),
}

/// A validated image id (a UUID, stored in canonical lower-case form).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageId(String);

impl ImageId {
    /// Accepts any UUID spelling Glance accepts; `None` otherwise.
    pub fn parse(raw: &str) -> Option<ImageId> {
        uuid::Uuid::parse_str(raw).ok().map(|u| ImageId(u.hyphenated().to_string()))
    }
    /// A fresh random id.
    pub fn generate() -> ImageId {
        ImageId(uuid::Uuid::new_v4().hyphenated().to_string())
    }
    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ImageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in Glance's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Parses a wire name, with Glance's wording on failure.
            pub fn parse(raw: &str) -> Result<$name, ValidationError> {
                Self::ALL.iter().copied().find(|v| v.as_str() == raw).ok_or_else(|| {
                    let allowed: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    ValidationError::Invalid(format!(
                        "Invalid {} '{}': must be one of {}", $what, raw, allowed.join(", ")
                    ))
                })
            }
        }
    };
}

wire_enum!(
    /// Who can see an image.
    Visibility, "visibility", {
        /// Everyone sees and lists it.
        Public => "public",
        /// Only the owner's project.
        Private => "private",
        /// The owner and accepted members.
        Shared => "shared",
        /// Everyone can use it; only the owner lists it by default.
        Community => "community",
    }
);

wire_enum!(
    /// The disk format of the image data (Glance's default list).
    DiskFormat, "disk_format", {
        /// Amazon machine image.
        Ami => "ami",
        /// Amazon ramdisk image.
        Ari => "ari",
        /// Amazon kernel image.
        Aki => "aki",
        /// Virtual Hard Disk.
        Vhd => "vhd",
        /// Virtual Hard Disk v2.
        Vhdx => "vhdx",
        /// VMware disk.
        Vmdk => "vmdk",
        /// Unstructured bytes.
        Raw => "raw",
        /// QEMU copy-on-write v2.
        Qcow2 => "qcow2",
        /// VirtualBox disk.
        Vdi => "vdi",
        /// Optical disc image.
        Iso => "iso",
        /// Virtuozzo disk.
        Ploop => "ploop",
    }
);

wire_enum!(
    /// The container around the disk data (Glance's default list).
    ContainerFormat, "container_format", {
        /// Amazon machine image.
        Ami => "ami",
        /// Amazon ramdisk image.
        Ari => "ari",
        /// Amazon kernel image.
        Aki => "aki",
        /// No container.
        Bare => "bare",
        /// Open Virtualization Format.
        Ovf => "ovf",
        /// OVF archive.
        Ova => "ova",
        /// Docker tar archive.
        Docker => "docker",
        /// Compressed archive.
        Compressed => "compressed",
    }
);

/// An image as the catalog stores and shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The image id.
    pub id: ImageId,
    /// Free-form name, at most 255 characters.
    pub name: Option<String>,
    /// Lifecycle status.
    pub status: ImageStatus,
    /// Who can see it.
    pub visibility: Visibility,
    /// Protected images cannot be deleted.
    pub protected: bool,
    /// Hidden images are left out of default lists.
    pub os_hidden: bool,
    /// Hex md5 of the data.
    pub checksum: Option<String>,
    /// Algorithm of `os_hash_value` (`sha512`).
    pub os_hash_algo: Option<String>,
    /// Hex digest of the data.
    pub os_hash_value: Option<String>,
    /// Bytes of data.
    pub size: Option<u64>,
    /// Size of the disk the data expands to, when known.
    pub virtual_size: Option<u64>,
    /// The plain columns' values, every one of [`columns::PLAIN_COLUMNS`].
    pub plain: BTreeMap<&'static str, u64>,
    /// Disk format.
    pub disk_format: Option<DiskFormat>,
    /// Container format.
    pub container_format: Option<ContainerFormat>,
    /// Owning project.
    pub owner: Option<String>,
    /// Creation time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created_at: String,
    /// Last update time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub updated_at: String,
    /// Tags, unique, in the order they were added.
    pub tags: Vec<String>,
    /// Custom properties (string values).
    pub properties: BTreeMap<String, String>,
    /// Where the data lives; the image's `stores` are derived from it.
    pub locations: Vec<Location>,
    /// The stored row's revision when this record was read: every write
    /// is a compare-and-set on it, so no write silently overwrites another.
    pub version: u64,
}

/// How images are shown: the configured stores (which order an image's
/// `stores`) and whether `locations` are shown (`show_multiple_locations`).
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    /// The configured stores.
    pub stores: &'a Stores,
    /// Show the `locations` field.
    pub show_locations: bool,
}

/// Who is writing, for the attribute rules that depend on it (decided by
/// the policy table: `Writer::may_set_visibility` and `Writer::may_set_owner`
/// are implemented in `access::policy`, so the record never imports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writer<'a> {
    /// The caller is an admin.
    pub is_admin: bool,
    /// The caller's project.
    pub project_id: Option<&'a str>,
}

impl Image {
    /// A new `queued` image with Glance's defaults, owned by `owner`.
    pub fn new(id: ImageId, owner: Option<String>, now: &str) -> Image {
        Image {
            id,
            name: None,
            status: ImageStatus::Queued,
            visibility: Visibility::Shared,
            protected: false,
            os_hidden: false,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            size: None,
            virtual_size: None,
            plain: columns::PLAIN_COLUMNS.iter().map(|c| (c.name, 0)).collect(),
            disk_format: None,
            container_format: None,
            owner,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            tags: Vec::new(),
            properties: BTreeMap::new(),
            locations: Vec::new(),
            version: 0,
        }
    }

    /// Parses the body of `POST /v2/images` into a new image.
    pub fn from_create_request(body: &Value, writer: Writer<'_>, now: &str) -> Result<Image, ValidationError> {
        let Some(object) = body.as_object() else {
            return Err(ValidationError::Invalid("Image create expects a JSON object in the request body.".into()));
        };
        let id = match object.get("id") {
            None | Some(Value::Null) => ImageId::generate(),
            Some(Value::String(raw)) => ImageId::parse(raw)
                .ok_or_else(|| ValidationError::Invalid(format!("Invalid id '{raw}': must be a UUID")))?,
            Some(other) => return Err(ValidationError::Invalid(format!("Invalid id {other}: must be a UUID"))),
        };
        let mut image = Image::new(id, writer.project_id.map(str::to_owned), now);
        for (key, value) in object {
            match key.as_str() {
                "id" => {}
                "locations" | "stores" => {
                    return Err(ValidationError::Forbidden(format!(
                        "Attribute '{key}' is not allowed when creating an image."
                    )))
                }
                _ => image.set_attribute(key, value, writer)?,
            }
        }
        Ok(image)
    }

    /// Whether the image has data stored.
    pub fn has_data(&self) -> bool {
        self.size.is_some()
            && matches!(self.status, ImageStatus::Active | ImageStatus::Deactivated | ImageStatus::PendingDelete)
    }

    /// Whether the image can be queued for pre-caching into an edge cache
    /// whose entries hold at most `max_entry_bytes`: it must be active
    /// (Glance answers 400 otherwise) with data of known checksum (the cache
    /// key); empty data qualifies, as Glance queues any active image (there
    /// is just nothing to fetch).
    pub fn check_cacheable(&self, max_entry_bytes: u64) -> Result<(), ValidationError> {
        if self.status != ImageStatus::Active {
            return Err(ValidationError::Invalid(format!(
                "Image {} is {}: only active images can be queued for caching.",
                self.id, self.status
            )));
        }
        match self.size {
            Some(size) if size > max_entry_bytes => Err(ValidationError::Invalid(format!(
                "Image {} has {size} bytes: the edge cache holds at most {max_entry_bytes}.",
                self.id
            ))),
            Some(_) if self.checksum.is_some() => Ok(()),
            _ => Err(ValidationError::Invalid(format!("Image {} has no data to cache.", self.id))),
        }
    }

    /// The `virtual_size` of `size` bytes of this image's data: raw data is
    /// its own disk; other formats would need header inspection.
    pub fn virtual_size_of(&self, size: u64) -> Option<u64> {
        (self.disk_format == Some(DiskFormat::Raw)).then_some(size)
    }

    /// Refuses writes to read-only and reserved keys, as Glance does.
    pub fn check_writable_key(key: &str) -> Result<(), ValidationError> {
        if READ_ONLY.contains(&key) {
            return Err(ValidationError::ReadOnly(key.to_owned()));
        }
        if RESERVED.contains(&key) || key.starts_with("os_glance") {
            return Err(ValidationError::Reserved(key.to_owned()));
        }
        Ok(())
    }

    /// Sets one attribute from its JSON value, enforcing every write rule.
    pub fn set_attribute(&mut self, key: &str, value: &Value, writer: Writer<'_>) -> Result<(), ValidationError> {
        Self::check_writable_key(key)?;
        match key {
            "name" => self.name = optional_string(key, value, MAX_STRING)?,
            "visibility" => {
                let raw = required_string(key, value)?;
                let visibility = Visibility::parse(raw)?;
                writer.may_set_visibility(visibility).map_err(|r| ValidationError::Forbidden(r.to_string()))?;
                self.visibility = visibility;
            }
            "protected" => self.protected = boolean(key, value)?,
            "os_hidden" => self.os_hidden = boolean(key, value)?,
            _ if columns::plain_column(key).is_some() => {
                let column = columns::plain_column(key).expect("matched");
                self.plain.insert(column.name, column.parse(value)?);
            }
            "disk_format" => {
                let format = optional_string(key, value, MAX_STRING)?.map(|raw| DiskFormat::parse(&raw)).transpose()?;
                if format != self.disk_format {
                    self.check_formats_mutable(key)?;
                }
                self.disk_format = format;
            }
            "container_format" => {
                let format =
                    optional_string(key, value, MAX_STRING)?.map(|raw| ContainerFormat::parse(&raw)).transpose()?;
                if format != self.container_format {
                    self.check_formats_mutable(key)?;
                }
                self.container_format = format;
            }
            "owner" => {
                let owner = optional_string(key, value, MAX_STRING)?;
                writer
                    .may_set_owner(self.owner.as_deref(), owner.as_deref())
                    .map_err(|r| ValidationError::Forbidden(r.to_string()))?;
                self.owner = owner;
            }
            "tags" => self.tags = parse_tags(value)?,
            _ => {
                let text = custom_value(key, value)?;
                if !self.properties.contains_key(key) && self.properties.len() >= MAX_PROPERTIES {
                    return Err(ValidationError::OverLimit(format!(
                        "Maximum number of image properties ({MAX_PROPERTIES}) exceeded."
                    )));
                }
                self.properties.insert(key.to_owned(), text);
            }
        }
        Ok(())
    }

    /// Removes a custom property (base properties cannot be removed).
    pub fn remove_attribute(&mut self, key: &str) -> Result<(), ValidationError> {
        Self::check_writable_key(key)?;
        if WRITABLE_BASE.contains(&key) || columns::plain_column(key).is_some() {
            return Err(ValidationError::Forbidden(format!("Base property '{key}' cannot be removed.")));
        }
        if self.properties.remove(key).is_none() {
            return Err(ValidationError::Conflict(format!("Property {key} does not exist.")));
        }
        Ok(())
    }

    /// Whether `key` currently has a value (base attributes always do).
    pub fn has_attribute(&self, key: &str) -> bool {
        WRITABLE_BASE.contains(&key) || columns::plain_column(key).is_some() || self.properties.contains_key(key)
    }

    /// Upload needs both formats (Glance answers 400 otherwise).
    pub fn check_ready_for_data(&self) -> Result<(), ValidationError> {
        if self.disk_format.is_none() || self.container_format.is_none() {
            return Err(ValidationError::Invalid(
                "Properties disk_format, container_format must be set prior to saving data.".into(),
            ));
        }
        Ok(())
    }

    fn check_formats_mutable(&self, key: &str) -> Result<(), ValidationError> {
        if matches!(self.status, ImageStatus::Queued | ImageStatus::Importing) {
            Ok(())
        } else {
            Err(ValidationError::Forbidden(format!(
                "Attribute {key} can be only replaced for a queued image (this one is {}).",
                self.status
            )))
        }
    }

    /// The v2 JSON representation, keys in Glance's order (custom properties
    /// first). `stores` (heaviest first) appears once the image has a
    /// location; `locations` when the catalog shows them.
    pub fn to_json(&self, view: &ImageView<'_>) -> Value {
        serde_json::to_value(self.document(view)).expect("an image document is always JSON")
    }

    /// The v2 JSON representation, for writing straight to an answer.
    pub fn document<'a>(&'a self, view: &'a ImageView<'a>) -> document::ImageDocument<'a> {
        document::ImageDocument::new(self, view)
    }
}

pub(crate) fn type_error(key: &str, value: &Value, expected: &str) -> ValidationError {
    ValidationError::Invalid(format!(
        "Provided object does not match schema 'image': {value} is not of type {expected} (attribute '{key}')"
    ))
}

fn required_string<'v>(key: &str, value: &'v Value) -> Result<&'v str, ValidationError> {
    value.as_str().ok_or_else(|| type_error(key, value, "'string'"))
}

fn optional_string(key: &str, value: &Value, max: usize) -> Result<Option<String>, ValidationError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= max => Ok(Some(s.clone())),
        Value::String(_) => {
            Err(ValidationError::Invalid(format!("Attribute '{key}' is too long: at most {max} characters.")))
        }
        other => Err(type_error(key, other, "'null', 'string'")),
    }
}

fn boolean(key: &str, value: &Value) -> Result<bool, ValidationError> {
    value.as_bool().ok_or_else(|| type_error(key, value, "'boolean'"))
}

pub use columns::MAX_MIN_VALUE;

fn custom_value(key: &str, value: &Value) -> Result<String, ValidationError> {
    let length = key.chars().count();
    if length > MAX_STRING {
        // Not echoed: it may be megabytes long.
        return Err(ValidationError::Invalid(format!(
            "Property key of {length} characters is too long: a key must be 1 to {MAX_STRING} characters long."
        )));
    }
    if key.is_empty() {
        return Err(ValidationError::Invalid(format!("Property key '' must be 1 to {MAX_STRING} characters long.")));
    }
    match value {
        Value::String(s) if s.chars().count() <= MAX_STRING => Ok(s.clone()),
        Value::String(_) => Err(ValidationError::Invalid(format!(
            "Value of property '{key}' is too long: at most {MAX_STRING} characters."
        ))),
        other => Err(type_error(key, other, "'string'")),
    }
}

/// A tag must be a non-empty string of at most 255 characters.
pub fn validate_tag(tag: &str) -> Result<(), ValidationError> {
    if tag.is_empty() || tag.chars().count() > MAX_STRING {
        return Err(ValidationError::Invalid(format!("Tag must be 1 to {MAX_STRING} characters long.")));
    }
    Ok(())
}

fn parse_tags(value: &Value) -> Result<Vec<String>, ValidationError> {
    let Some(items) = value.as_array() else {
        return Err(type_error("tags", value, "'array'"));
    };
    let mut tags: Vec<String> = Vec::new();
    for item in items {
        let tag = item.as_str().ok_or_else(|| type_error("tags", item, "'string'"))?;
        validate_tag(tag)?;
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ValidationError::OverLimit(format!("Maximum number of tags ({MAX_TAGS}) exceeded.")));
    }
    Ok(tags)
}

#[cfg(test)]
impl Image {
    /// A queued image owned by `owner` with `visibility`, for tests.
    pub fn sample(owner: &str, visibility: Visibility) -> Image {
        let mut image = Image::new(ImageId::generate(), Some(owner.into()), "2026-01-01T00:00:00Z");
        image.visibility = visibility;
        image
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_data_hashes_are_the_hashes_of_nothing() {
        use sha2::Digest;
        let sha: String = sha2::Sha512::digest(b"").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sha, EMPTY_SHA512);
        #[cfg(not(target_arch = "wasm32"))]
        {
            let md5: String = md5::Md5::digest(b"").iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(md5, EMPTY_MD5);
        }
    }
    use serde_json::{json, Map};

    const NOW: &str = "2026-11-22T12:13:07Z";
    const ADMIN: Writer<'static> = Writer { is_admin: true, project_id: Some("p1") };
    const MEMBER: Writer<'static> = Writer { is_admin: false, project_id: Some("p1") };

    fn create(body: Value) -> Result<Image, ValidationError> {
        Image::from_create_request(&body, ADMIN, NOW)
    }

    #[test]
    fn empty_create_gets_glances_defaults() {
        let image = create(json!({})).unwrap();
        let shown = image.to_json(&ImageView { stores: &Stores::single("r2", "IMAGES"), show_locations: false });
        assert_eq!(shown["status"], "queued");
        assert_eq!(shown["visibility"], "shared");
        assert_eq!(shown["protected"], false);
        assert_eq!(shown["os_hidden"], false);
        assert_eq!(shown["min_disk"], 0);
        assert_eq!(shown["owner"], "p1");
        assert_eq!(shown["tags"], json!([]));
        assert!(shown["size"].is_null() && shown["checksum"].is_null());
        assert!(shown.get("stores").is_none());
        let id = shown["id"].as_str().unwrap();
        assert_eq!(shown["self"], format!("/v2/images/{id}"));
        assert_eq!(shown["file"], format!("/v2/images/{id}/file"));
    }

    #[test]
    fn create_accepts_the_recorded_sample() {
        let image = create(json!({"name":"sample","disk_format":"raw","container_format":"bare","os_distro":"debian","tags":["a","b","a"]})).unwrap();
        let shown = image.to_json(&ImageView { stores: &Stores::single("r2", "IMAGES"), show_locations: false });
        assert_eq!(shown["os_distro"], "debian");
        assert_eq!(shown["tags"], json!(["a", "b"]));
        let keys: Vec<&String> = shown.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "os_distro", "custom properties come first, as in Glance");
    }

    #[test]
    fn create_keeps_a_given_id_in_canonical_form() {
        let image = create(json!({"id": "57C061A3-05D8-49C1-A8F5-4BE99D58DB30"})).unwrap();
        assert_eq!(image.id.as_str(), "57c061a3-05d8-49c1-a8f5-4be99d58db30");
        assert!(matches!(create(json!({"id": "nope"})), Err(ValidationError::Invalid(_))));
    }

    #[test]
    fn read_only_reserved_and_os_glance_keys_are_refused_on_create() {
        for key in READ_ONLY.iter().filter(|k| **k != "id") {
            assert_eq!(create(json!({ *key: "x" })), Err(ValidationError::ReadOnly(key.to_string())), "{key}");
        }
        for key in ["location", "deleted", "deleted_at", "os_glance_foo", "os_glance"] {
            assert_eq!(create(json!({ key: "x" })), Err(ValidationError::Reserved(key.into())));
        }
        assert!(matches!(create(json!({"locations": []})), Err(ValidationError::Forbidden(_))));
        assert!(matches!(create(json!({"stores": "r2"})), Err(ValidationError::Forbidden(_))));
    }

    #[test]
    fn bad_values_are_400() {
        for body in [
            json!({"name": "x".repeat(256)}),
            json!({"name": 5}),
            json!({"disk_format": "nope"}),
            json!({"container_format": "nope"}),
            json!({"visibility": "secret"}),
            json!({"protected": "yes"}),
            json!({"min_disk": -1}),
            json!({"min_ram": "1"}),
            json!({"tags": "a"}),
            json!({"tags": [""]}),
            json!({"tags": [1]}),
            json!({"custom": 1}),
            json!({"custom": "v".repeat(256)}),
            json!({ "k".repeat(256): "v" }),
            json!([]),
        ] {
            assert!(matches!(create(body.clone()), Err(ValidationError::Invalid(_))), "{body}");
        }
    }

    #[test]
    fn any_active_image_with_known_data_is_cacheable_even_an_empty_one() {
        let mut image = Image::new(ImageId::generate(), Some("p1".into()), NOW);
        assert!(matches!(image.check_cacheable(100), Err(ValidationError::Invalid(m)) if m.contains("queued")));
        image.status = ImageStatus::Active;
        image.size = Some(0);
        image.checksum = Some(EMPTY_MD5.into());
        assert_eq!(image.check_cacheable(100), Ok(()), "an empty image is queued like any other");
        image.size = Some(100);
        assert_eq!(image.check_cacheable(100), Ok(()));
        image.size = Some(101);
        assert!(matches!(image.check_cacheable(100), Err(ValidationError::Invalid(m)) if m.contains("at most 100")));
        image.size = Some(1);
        image.checksum = None;
        assert!(matches!(image.check_cacheable(100), Err(ValidationError::Invalid(m)) if m.contains("no data")));
        image.checksum = Some(EMPTY_MD5.into());
        image.status = ImageStatus::Deactivated;
        assert!(image.check_cacheable(100).is_err());
    }

    #[test]
    fn quotas_are_413() {
        let mut body = Map::new();
        for i in 0..=MAX_PROPERTIES {
            body.insert(format!("k{i}"), json!("v"));
        }
        assert!(matches!(create(Value::Object(body)), Err(ValidationError::OverLimit(_))));
        let tags: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert!(matches!(create(json!({ "tags": tags })), Err(ValidationError::OverLimit(_))));
    }

    #[test]
    fn only_admins_publicize_and_change_owner() {
        let body = json!({"visibility": "public"});
        assert!(Image::from_create_request(&body, ADMIN, NOW).is_ok());
        assert!(matches!(Image::from_create_request(&body, MEMBER, NOW), Err(ValidationError::Forbidden(_))));
        let body = json!({"owner": "p2"});
        assert!(matches!(Image::from_create_request(&body, MEMBER, NOW), Err(ValidationError::Forbidden(_))));
        assert!(Image::from_create_request(&json!({"owner": "p1"}), MEMBER, NOW).is_ok());
        assert_eq!(Image::from_create_request(&body, ADMIN, NOW).unwrap().owner.as_deref(), Some("p2"));
    }

    #[test]
    fn formats_are_frozen_once_data_exists() {
        let mut image = create(json!({"disk_format": "raw", "container_format": "bare"})).unwrap();
        image.status = ImageStatus::Active;
        assert!(matches!(
            image.set_attribute("disk_format", &json!("qcow2"), ADMIN),
            Err(ValidationError::Forbidden(_))
        ));
        // Setting the same value again is not a change.
        assert!(image.set_attribute("disk_format", &json!("raw"), ADMIN).is_ok());
        image.status = ImageStatus::Importing;
        assert!(image.set_attribute("container_format", &json!("ovf"), ADMIN).is_ok());
    }

    #[test]
    fn removing_base_or_missing_properties_is_refused() {
        let mut image = create(json!({"k": "v"})).unwrap();
        assert!(matches!(image.remove_attribute("name"), Err(ValidationError::Forbidden(_))));
        assert!(matches!(image.remove_attribute("missing"), Err(ValidationError::Conflict(_))));
        assert_eq!(image.remove_attribute("status"), Err(ValidationError::ReadOnly("status".into())));
        assert!(image.remove_attribute("k").is_ok());
        assert!(image.properties.is_empty());
    }

    #[test]
    fn tags_longer_than_255_characters_are_refused() {
        assert!(validate_tag("a").is_ok());
        assert!(validate_tag(&"t".repeat(256)).is_err());
    }

    #[test]
    fn upload_needs_both_formats() {
        let image = create(json!({"disk_format": "raw"})).unwrap();
        assert!(matches!(image.check_ready_for_data(), Err(ValidationError::Invalid(_))));
        let image = create(json!({"disk_format": "raw", "container_format": "bare"})).unwrap();
        assert!(image.check_ready_for_data().is_ok());
    }

    #[test]
    fn stores_come_from_locations_heaviest_first_and_locations_show_on_request() {
        let stores = Stores::parse(
            r#"[{"id":"b","binding":"B","weight":10,"default":true},{"id":"a","binding":"A","weight":1}]"#,
        )
        .unwrap();
        let hidden = ImageView { stores: &stores, show_locations: false };
        let mut image = create(json!({})).unwrap();
        assert!(image.to_json(&hidden).get("stores").is_none());
        assert!(image.to_json(&hidden).get("locations").is_none());
        image.status = ImageStatus::Active;
        image.size = Some(1);
        image.locations = vec![Location::in_r2("a", "images/x"), Location::in_r2("b", "images/x")];
        assert_eq!(image.to_json(&hidden)["stores"], "b,a");
        let shown = image.to_json(&ImageView { stores: &stores, show_locations: true });
        assert_eq!(shown["locations"][0]["url"], "r2://a/images/x");
        assert_eq!(shown["locations"][1]["metadata"]["store"], "b");
    }
}
