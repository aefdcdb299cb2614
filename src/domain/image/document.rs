//! The v2 JSON document of an image, written straight to the serializer:
//! keys in Glance's order (custom properties first), no intermediate
//! `serde_json::Value` (building that map cost more than the D1 query of a
//! list page). [`super::Image::to_json`] is this document as a `Value`.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::columns::PLAIN_COLUMNS;
use super::location::Location;
use super::{Image, ImageView};

/// The names the document itself uses (besides the plain columns): a
/// custom property never takes one (the write rules refuse them), and is
/// left out if a record had it.
const CORE_KEYS: [&str; 21] = [
    "name",
    "disk_format",
    "container_format",
    "visibility",
    "size",
    "virtual_size",
    "status",
    "checksum",
    "protected",
    "owner",
    "os_hidden",
    "os_hash_algo",
    "os_hash_value",
    "id",
    "created_at",
    "updated_at",
    "tags",
    "self",
    "file",
    "schema",
    "stores",
];

/// An image as `GET /v2/images/{id}` shows it.
pub struct ImageDocument<'a> {
    image: &'a Image,
    view: &'a ImageView<'a>,
}

impl<'a> ImageDocument<'a> {
    /// The document of `image` as `view` shows it.
    pub fn new(image: &'a Image, view: &'a ImageView<'a>) -> ImageDocument<'a> {
        ImageDocument { image, view }
    }
}

impl Serialize for ImageDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let image = self.image;
        let id = image.id.as_str();
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in &image.properties {
            let core = CORE_KEYS.contains(&key.as_str()) || (self.view.show_locations && key == "locations");
            if !core && !PLAIN_COLUMNS.iter().any(|c| c.name == key) {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry("name", &image.name)?;
        map.serialize_entry("disk_format", &image.disk_format.map(|f| f.as_str()))?;
        map.serialize_entry("container_format", &image.container_format.map(|f| f.as_str()))?;
        map.serialize_entry("visibility", image.visibility.as_str())?;
        map.serialize_entry("size", &image.size)?;
        map.serialize_entry("virtual_size", &image.virtual_size)?;
        map.serialize_entry("status", image.status.as_str())?;
        map.serialize_entry("checksum", &image.checksum)?;
        map.serialize_entry("protected", &image.protected)?;
        for column in PLAIN_COLUMNS {
            map.serialize_entry(column.name, &image.plain(column.name))?;
        }
        map.serialize_entry("owner", &image.owner)?;
        map.serialize_entry("os_hidden", &image.os_hidden)?;
        map.serialize_entry("os_hash_algo", &image.os_hash_algo)?;
        map.serialize_entry("os_hash_value", &image.os_hash_value)?;
        map.serialize_entry("id", id)?;
        map.serialize_entry("created_at", &image.created_at)?;
        map.serialize_entry("updated_at", &image.updated_at)?;
        map.serialize_entry("tags", &image.tags)?;
        map.serialize_entry("self", &format_args!("/v2/images/{id}"))?;
        map.serialize_entry("file", &format_args!("/v2/images/{id}/file"))?;
        map.serialize_entry("schema", "/v2/schemas/image")?;
        if !image.locations.is_empty() {
            map.serialize_entry("stores", &self.view.stores.format_stores(image.store_ids()))?;
        }
        if self.view.show_locations {
            let locations: Vec<_> = image.locations.iter().map(Location::to_json).collect();
            map.serialize_entry("locations", &locations)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::{Image, ImageView, Writer};
    use crate::domain::stores::Stores;

    fn image(body: Value) -> Image {
        Image::from_create_request(&body, Writer { is_admin: true, project_id: Some("p1") }, "2026-12-07T19:00:00Z")
            .unwrap()
    }

    fn keys(text: &str) -> Vec<String> {
        // serde_json keeps the written order (preserve_order).
        let value: Value = serde_json::from_str(text).unwrap();
        value.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn the_document_has_custom_properties_first_then_glances_keys_in_glances_order() {
        let stores = Stores::single("r2", "IMAGES");
        let view = ImageView { stores: &stores, show_locations: false };
        let image = image(json!({"name": "n", "zeta": "z", "alpha": "a"}));
        let text = serde_json::to_string(&image.document(&view)).unwrap();
        let expected: Vec<&str> = "alpha zeta name disk_format container_format visibility size virtual_size \
            status checksum protected min_ram min_disk owner os_hidden os_hash_algo os_hash_value id created_at \
            updated_at tags self file schema"
            .split_whitespace()
            .collect();
        assert_eq!(keys(&text), expected);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), image.to_json(&view));
        let shown = ImageView { stores: &stores, show_locations: true };
        assert_eq!(keys(&serde_json::to_string(&image.document(&shown)).unwrap()).last().unwrap(), "locations");
    }

    #[test]
    fn a_stored_property_named_like_a_key_of_the_document_is_never_written_twice() {
        let stores = Stores::single("r2", "IMAGES");
        let view = ImageView { stores: &stores, show_locations: true };
        let mut image = image(json!({"name": "real"}));
        // Every key the document writes itself (taken from the document, so
        // a key added there without joining CORE_KEYS fails here), and
        // `stores`, written only for an image with locations.
        let own = keys(&serde_json::to_string(&image.document(&view)).unwrap());
        for key in own.iter().map(String::as_str).chain(["stores", "custom"]) {
            image.properties.insert(key.into(), "from a property".into());
        }
        let text = serde_json::to_string(&image.document(&view)).unwrap();
        let all = keys(&text);
        assert_eq!(all.len(), text.matches("\":").count(), "no key twice: {text}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["name"], "real");
        assert_eq!(value["status"], "queued");
        assert_eq!(value["min_ram"], 0);
        assert_eq!(value["locations"], json!([]));
        assert_eq!(value["custom"], "from a property");
    }
}
