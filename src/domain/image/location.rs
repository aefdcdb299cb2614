//! Where an image's data lives, and Glance's rules for changing that list:
//! the `locations` of an image (an object in one of our R2 stores, or an
//! http(s) URL of the read-only `web` store), the `validation_data` a new
//! location may carry, and the PATCH operations on `/locations` that
//! `show_multiple_locations` enables (`glance/api/v2/images.py`
//! `_do_add_locations`, `_do_replace_locations`, `_do_remove_locations`).
//!
//! An image's `stores` are derived from its locations (`metadata.store`),
//! so the two can never disagree.

use crate::domain::hash::HashAlgorithm;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::status::ImageStatus;
use super::{Image, ValidationError};

/// Glance's `image_location_quota`.
pub const MAX_LOCATIONS: usize = 10;

/// The longest URL a location (or an import) may have, in bytes. Glance's
/// image schema caps a PATCH location's `url` at 255 characters and its
/// add-location and import APIs set no cap at all; signed object-store URLs
/// run to a few kilobytes, and 8 KiB is what common web servers accept as a
/// request line, so a longer URL could not be fetched anyway. Checked when
/// the value is parsed, before anything is read or written.
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// The largest `metadata` a location may carry, as JSON, in bytes: room for
/// any store's bookkeeping, while the ten locations of an image stay well
/// inside one D1 row (2 MB at most).
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Refuses a URL longer than [`MAX_URL_BYTES`] (400), naming the field.
pub fn check_url_length(field: &str, url: &str) -> Result<(), ValidationError> {
    if url.len() > MAX_URL_BYTES {
        return Err(ValidationError::Invalid(format!(
            "{field} is too long: {} bytes, at most {MAX_URL_BYTES} are allowed.",
            url.len()
        )));
    }
    Ok(())
}

/// `text` as an error message quotes it: whole when short, else its start
/// and its length (a client's value may be megabytes long).
pub fn shown(text: &str) -> String {
    const SHOWN: usize = 64;
    match text.char_indices().nth(SHOWN) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}... ({} bytes)", &text[..cut], text.len()),
    }
}

/// The size of `value` written as JSON, in bytes.
pub fn json_len(value: &impl Serialize) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

/// One copy of the image's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// `r2://{store}/{key}` or an http(s) URL.
    pub url: String,
    /// Free-form metadata; `store` names the store holding this copy.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

impl Location {
    /// A location in store `store` at `url`.
    pub fn new(store: &str, url: String) -> Location {
        let mut metadata = Map::new();
        metadata.insert("store".into(), Value::String(store.to_owned()));
        Location { url, metadata }
    }

    /// The R2 object of an image in one of our stores.
    pub fn in_r2(store: &str, key: &str) -> Location {
        Location::new(store, format!("r2://{store}/{key}"))
    }

    /// The object key of a copy in R2 store `store` (the inverse of
    /// [`Location::in_r2`]); a URL of another shape is taken as the key.
    pub fn r2_key(&self, store: &str) -> &str {
        self.url.strip_prefix(&format!("r2://{store}/")).unwrap_or(&self.url)
    }

    /// The store holding this copy.
    pub fn store(&self) -> Option<&str> {
        self.metadata.get("store").and_then(Value::as_str)
    }

    /// Whether this copy is at an http(s) URL (read-through, read-only).
    pub fn is_http(&self) -> bool {
        let lower = self.url.to_ascii_lowercase();
        lower.starts_with("http://") || lower.starts_with("https://")
    }

    /// The wire form `{"url", "metadata"}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "url": self.url, "metadata": self.metadata })
    }
}

/// The checked `validation_data` of a new location.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationData {
    /// Expected md5 (`checksum`).
    pub checksum: Option<String>,
    /// Algorithm of `os_hash_value`.
    pub os_hash_algo: Option<String>,
    /// Expected digest.
    pub os_hash_value: Option<String>,
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl ValidationData {
    /// Parses and checks `validation_data` (`None` when absent): unknown
    /// keys, an unknown algorithm, a digest of the wrong length or an
    /// `os_hash_value` without its algorithm are 400s.
    pub fn parse(value: Option<&Value>) -> Result<Option<ValidationData>, ValidationError> {
        let Some(value) = value else { return Ok(None) };
        let Some(object) = value.as_object() else {
            return Err(ValidationError::Invalid("validation_data must be an object.".into()));
        };
        let mut data = ValidationData::default();
        for (key, raw) in object {
            let text = raw
                .as_str()
                .ok_or_else(|| ValidationError::Invalid(format!("validation_data.{} must be a string.", shown(key))))?
                .to_ascii_lowercase();
            match key.as_str() {
                "checksum" => data.checksum = Some(text),
                "os_hash_algo" => data.os_hash_algo = Some(text),
                "os_hash_value" => data.os_hash_value = Some(text),
                other => {
                    return Err(ValidationError::Invalid(format!(
                        "validation_data has an unknown key '{}': only checksum, os_hash_algo and os_hash_value are allowed.",
                        shown(other)
                    )))
                }
            }
        }
        if let Some(checksum) = &data.checksum {
            if checksum.len() != 32 || !is_hex(checksum) {
                return Err(ValidationError::Invalid(format!(
                    "validation_data.checksum must be 32 hex digits (an md5), got '{}'.",
                    shown(checksum)
                )));
            }
        }
        match (&data.os_hash_algo, &data.os_hash_value) {
            (None, Some(_)) => {
                return Err(ValidationError::Invalid(
                    "validation_data.os_hash_value needs os_hash_algo naming its algorithm.".into(),
                ))
            }
            (Some(_), None) => {
                return Err(ValidationError::Invalid(
                    "validation_data.os_hash_algo needs os_hash_value, the digest to check.".into(),
                ))
            }
            (Some(algo), Some(value)) => {
                // Glance accepts what `hashlib` offers; these are the ones the
                // runtime can compute while streaming.
                let Some(length) = HashAlgorithm::parse(algo).map(HashAlgorithm::hex_len) else {
                    let known: Vec<&str> = HashAlgorithm::ALL.iter().map(|a| a.as_str()).collect();
                    return Err(ValidationError::Invalid(format!(
                        "validation_data.os_hash_algo '{}' is not supported: use one of {}.",
                        shown(algo),
                        known.join(", ")
                    )));
                };
                if value.len() != length || !is_hex(value) {
                    return Err(ValidationError::Invalid(format!(
                        "validation_data.os_hash_value is not a valid {algo} digest: expected {length} hex digits, got {}.",
                        value.len()
                    )));
                }
            }
            (None, None) => {}
        }
        Ok(Some(data))
    }

    /// Glance's first check of a new location's `validation_data` (before
    /// its format): a value the image already has differently is a 409
    /// ("already set with a different value").
    pub fn check_raw_against(raw: Option<&Value>, image: &Image) -> Result<(), ValidationError> {
        let Some(object) = raw.and_then(Value::as_object) else { return Ok(()) };
        let mine = |key: &str| match key {
            "checksum" => image.checksum.as_deref(),
            "os_hash_algo" => image.os_hash_algo.as_deref(),
            "os_hash_value" => image.os_hash_value.as_deref(),
            _ => None,
        };
        for (key, value) in object {
            if let (Some(current), Some(given)) = (mine(key), value.as_str()) {
                if !current.eq_ignore_ascii_case(given) {
                    return Err(ValidationError::Conflict(format!(
                        "The image's {key} is already set with a different value ({current})."
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks the data against what the image already records: a location
    /// claiming other data than the image has is a 409.
    pub fn check_against(&self, image: &Image) -> Result<(), ValidationError> {
        let clash = |what: &str, mine: &Option<String>, theirs: &Option<String>| match (mine, theirs) {
            (Some(a), Some(b)) if a != b => Err(ValidationError::Conflict(format!(
                "The new location's {what} ({a}) does not match the image's ({b})."
            ))),
            _ => Ok(()),
        };
        clash("checksum", &self.checksum, &image.checksum)?;
        clash("os_hash_algo", &self.os_hash_algo, &image.os_hash_algo)?;
        clash("os_hash_value", &self.os_hash_value, &image.os_hash_value)
    }

    /// Writes the values onto an image that has none yet.
    pub fn apply_to(&self, image: &mut Image) {
        if image.checksum.is_none() {
            image.checksum.clone_from(&self.checksum);
        }
        if image.os_hash_value.is_none() && self.os_hash_value.is_some() {
            image.os_hash_algo.clone_from(&self.os_hash_algo);
            image.os_hash_value.clone_from(&self.os_hash_value);
        }
    }
}

/// A location a client asks for (PATCH value or `POST /locations` body).
#[derive(Debug, Clone, PartialEq)]
pub struct NewLocation {
    /// The location (its store set by the caller).
    pub url: String,
    /// Client metadata.
    pub metadata: Map<String, Value>,
    /// Checked validation data.
    pub validation: Option<ValidationData>,
}

impl NewLocation {
    /// Parses `{"url", "metadata"?, "validation_data"?}`; the url and the
    /// metadata are bounded ([`MAX_URL_BYTES`], [`MAX_METADATA_BYTES`]).
    pub fn parse(value: &Value) -> Result<NewLocation, ValidationError> {
        let Some(object) = value.as_object() else {
            return Err(ValidationError::Invalid("A location must be an object with a 'url'.".into()));
        };
        let url = object
            .get("url")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ValidationError::Invalid("A location needs a 'url' string.".into()))?;
        check_url_length("The location's url", url)?;
        let url = url.to_owned();
        let metadata = match object.get("metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => {
                let size = json_len(m);
                if size > MAX_METADATA_BYTES {
                    return Err(ValidationError::Invalid(format!(
                        "The location's metadata is too large: {size} bytes as JSON, at most {MAX_METADATA_BYTES} are allowed."
                    )));
                }
                m.clone()
            }
            Some(_) => return Err(ValidationError::Invalid("A location's 'metadata' must be an object.".into())),
        };
        for key in object.keys() {
            if !["url", "metadata", "validation_data"].contains(&key.as_str()) {
                return Err(ValidationError::Invalid(format!("A location has no attribute '{}'.", shown(key))));
            }
        }
        let validation = ValidationData::parse(object.get("validation_data"))?;
        Ok(NewLocation { url, metadata, validation })
    }

    /// The stored location, in `store`.
    pub fn into_location(self, store: &str) -> Location {
        let mut location = Location::new(store, self.url);
        for (key, value) in self.metadata {
            if key != "store" {
                location.metadata.insert(key, value);
            }
        }
        location
    }
}

impl Image {
    /// The ids of the stores holding the data, in location order, once each.
    pub fn store_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for id in self.locations.iter().filter_map(Location::store) {
            if !ids.iter().any(|known| known == id) {
                ids.push(id.to_owned());
            }
        }
        ids
    }

    /// The location in `store`, if the image has one there.
    pub fn location_in(&self, store: &str) -> Option<&Location> {
        self.locations.iter().find(|l| l.store() == Some(store))
    }

    /// Checks that a location may be added (PATCH add, `POST /locations`):
    /// the image takes locations while queued or active, up to the quota,
    /// never the same URL twice, and its validation data must agree.
    pub fn check_new_location(&self, new: &NewLocation) -> Result<(), ValidationError> {
        if !matches!(self.status, ImageStatus::Queued | ImageStatus::Active) {
            return Err(ValidationError::Conflict(format!(
                "Locations can only be added to queued or active images; this one is {}.",
                self.status
            )));
        }
        if self.locations.len() >= MAX_LOCATIONS {
            return Err(ValidationError::OverLimit(format!(
                "Maximum number of image locations ({MAX_LOCATIONS}) exceeded."
            )));
        }
        if self.locations.iter().any(|l| l.url == new.url) {
            return Err(ValidationError::Invalid(format!("The image already has the location {}.", new.url)));
        }
        if let Some(validation) = &new.validation {
            validation.check_against(self)?;
        }
        Ok(())
    }

    /// `replace /locations`: on an image with locations, only their
    /// metadata may change (same URLs, same order); removing or swapping a
    /// URL this way is refused, as in Glance. Returns the new list.
    pub fn replaced_locations(&self, value: &Value) -> Result<Vec<Location>, ValidationError> {
        let Some(items) = value.as_array() else {
            return Err(ValidationError::Invalid("The value of /locations must be a list.".into()));
        };
        let new: Vec<NewLocation> = items.iter().map(NewLocation::parse).collect::<Result<_, _>>()?;
        if self.locations.is_empty() {
            return Err(ValidationError::Invalid(
                "The image has no locations to replace: add them with 'add /locations/-'.".into(),
            ));
        }
        let same_urls =
            new.len() == self.locations.len() && new.iter().zip(&self.locations).all(|(n, old)| n.url == old.url);
        if !same_urls {
            return Err(ValidationError::Invalid(
                "Cannot replace locations with a different list: only their metadata can be changed; add or remove locations one at a time.".into(),
            ));
        }
        Ok(new
            .into_iter()
            .zip(&self.locations)
            .map(|(n, old)| n.into_location(old.store().unwrap_or_default()))
            .collect())
    }

    /// `remove /locations/N`: the last location can never be removed (403).
    pub fn check_remove_location(&self, index: usize) -> Result<(), ValidationError> {
        if index >= self.locations.len() {
            return Err(ValidationError::Invalid(format!("The image has no location {index}.")));
        }
        if self.locations.len() == 1 {
            return Err(ValidationError::Forbidden(
                "Cannot remove the last location of an image: delete the image instead.".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::ImageId;
    use serde_json::json;

    fn image() -> Image {
        Image::new(ImageId::generate(), Some("p".into()), "2026-01-01T00:00:00Z")
    }

    #[test]
    fn validation_data_is_checked_like_glance() {
        let sha256 = "a".repeat(64);
        assert!(ValidationData::parse(Some(&json!({"os_hash_algo": "sha512", "os_hash_value": "dbc9e0f8"}))).is_err());
        assert!(ValidationData::parse(Some(&json!({"os_hash_value": sha256}))).is_err());
        assert!(ValidationData::parse(Some(&json!({"os_hash_algo": "sha123", "os_hash_value": sha256}))).is_err());
        assert!(ValidationData::parse(Some(&json!({"os_hash_algo": "sha512", "os_hash_value": sha256}))).is_err());
        assert!(ValidationData::parse(Some(&json!({"checksum": "xyz"}))).is_err());
        assert!(ValidationData::parse(Some(&json!({"other": "1"}))).is_err());
        let ok = ValidationData::parse(Some(&json!({"os_hash_algo": "sha256", "os_hash_value": sha256}))).unwrap();
        assert_eq!(ok.unwrap().os_hash_algo.as_deref(), Some("sha256"));
        assert_eq!(ValidationData::parse(None).unwrap(), None);
    }

    #[test]
    fn location_urls_and_metadata_are_bounded_when_parsed() {
        let at_limit = format!("http://h/{}", "a".repeat(MAX_URL_BYTES - 9));
        assert_eq!(NewLocation::parse(&json!({"url": at_limit})).unwrap().url.len(), MAX_URL_BYTES);
        let over = format!("{at_limit}a");
        let error = NewLocation::parse(&json!({"url": over})).unwrap_err();
        assert!(matches!(&error, ValidationError::Invalid(m) if m.contains("url is too long")), "{error:?}");

        let big = json!({"note": "m".repeat(MAX_METADATA_BYTES)});
        let error = NewLocation::parse(&json!({"url": "http://h/a", "metadata": big})).unwrap_err();
        assert!(matches!(&error, ValidationError::Invalid(m) if m.contains("metadata is too large")), "{error:?}");
        let fits = json!({"note": "m".repeat(MAX_METADATA_BYTES - 20)});
        assert!(NewLocation::parse(&json!({"url": "http://h/a", "metadata": fits})).is_ok());

        // Values refused for their content are quoted, but never whole.
        let huge = "x".repeat(1 << 20);
        for bad in [
            json!({"url": "http://h/a", huge.clone(): 1}),
            json!({"url": "http://h/a", "validation_data": {"checksum": huge}}),
        ] {
            let ValidationError::Invalid(message) = NewLocation::parse(&bad).unwrap_err() else { panic!("400") };
            assert!(message.len() < 300 && message.contains("(1048576 bytes)"), "{message}");
        }

        // The same bounds hold for every way a location comes in: PATCH's
        // `replace /locations` parses each item the same way.
        let mut image = image();
        image.locations = vec![Location::new("web", "http://h/a".into())];
        let replace = json!([{"url": "http://h/a", "metadata": {"note": "m".repeat(MAX_METADATA_BYTES)}}]);
        assert!(matches!(image.replaced_locations(&replace), Err(ValidationError::Invalid(_))));
    }

    #[test]
    fn stores_come_from_locations_once_each() {
        let mut image = image();
        image.locations = vec![
            Location::in_r2("primary", "images/x"),
            Location::in_r2("secondary", "images/x"),
            Location::new("primary", "r2://primary/other".into()),
        ];
        assert_eq!(image.store_ids(), vec!["primary", "secondary"]);
        assert_eq!(image.locations[1].r2_key("secondary"), "images/x");
        assert!(image.location_in("secondary").is_some());
        assert!(image.location_in("web").is_none());
    }

    #[test]
    fn new_locations_respect_status_quota_duplicates_and_hashes() {
        let mut image = image();
        let new = |url: &str| NewLocation::parse(&json!({"url": url})).unwrap();
        assert!(image.check_new_location(&new("http://h/a")).is_ok());
        image.locations.push(Location::new("web", "http://h/a".into()));
        assert!(image.check_new_location(&new("http://h/a")).is_err());
        image.checksum = Some("1".repeat(32));
        let clash = NewLocation::parse(&json!({"url": "http://h/b", "validation_data": {"checksum": "2".repeat(32)}}));
        assert!(matches!(image.check_new_location(&clash.unwrap()), Err(ValidationError::Conflict(_))));
        image.status = ImageStatus::Saving;
        assert!(matches!(image.check_new_location(&new("http://h/c")), Err(ValidationError::Conflict(_))));
        image.status = ImageStatus::Active;
        for i in 0..MAX_LOCATIONS {
            image.locations.push(Location::new("web", format!("http://h/{i}")));
        }
        assert!(matches!(image.check_new_location(&new("http://h/z")), Err(ValidationError::OverLimit(_))));
    }

    #[test]
    fn replace_changes_metadata_only_and_remove_keeps_the_last() {
        let mut image = image();
        image.locations = vec![Location::new("web", "http://h/a".into()), Location::new("web", "http://h/b".into())];
        let same = json!([{"url": "http://h/a", "metadata": {"date": "x"}}, {"url": "http://h/b", "metadata": {}}]);
        let replaced = image.replaced_locations(&same).unwrap();
        assert_eq!(replaced[0].metadata["date"], "x");
        assert_eq!(replaced[0].store(), Some("web"));
        assert!(image.replaced_locations(&json!([{"url": "http://h/a"}])).is_err());
        assert!(image.replaced_locations(&json!([{"url": "http://h/a"}, {"url": "http://h/c"}])).is_err());
        assert!(image.check_remove_location(0).is_ok());
        image.locations.pop();
        assert!(matches!(image.check_remove_location(0), Err(ValidationError::Forbidden(_))));
    }
}
