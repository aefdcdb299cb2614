//! glance-download: what of the remote image's record comes along to the
//! local one. Glance copies the formats and the properties its
//! `glance_download_properties` option names (by default `hw_*`,
//! `trait:*`, `os_distro`, `os_secure_boot`, `os_type`); nothing else.

use serde_json::Value;

use crate::domain::image::{ContainerFormat, DiskFormat, Image};

/// Properties glance-download copies from the remote image; `*` ends a
/// prefix.
pub const REMOTE_PROPERTIES: [&str; 5] = ["hw_*", "trait:*", "os_distro", "os_secure_boot", "os_type"];

/// Whether glance-download copies property `key`.
pub fn copies_property(key: &str) -> bool {
    REMOTE_PROPERTIES.iter().any(|pattern| match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == *pattern,
    })
}

/// Whether the remote record (`GET /v2/images/{id}` of the other catalog)
/// is of an image whose data can be downloaded.
pub fn is_active(record: &Value) -> bool {
    record.get("status").and_then(Value::as_str) == Some("active")
}

impl Image {
    /// Takes the remote image's formats (when they are ones we know) and
    /// the properties glance-download copies (string values only, as
    /// properties are strings).
    pub fn copy_remote_record(&mut self, record: &Value) {
        if let Some(format) = record.get("disk_format").and_then(Value::as_str).and_then(|f| DiskFormat::parse(f).ok())
        {
            self.disk_format = Some(format);
        }
        if let Some(format) =
            record.get("container_format").and_then(Value::as_str).and_then(|f| ContainerFormat::parse(f).ok())
        {
            self.container_format = Some(format);
        }
        let Some(object) = record.as_object() else { return };
        for (key, value) in object {
            if let (true, Some(text)) = (copies_property(key), value.as_str()) {
                self.properties.insert(key.clone(), text.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::image::Visibility;

    #[test]
    fn the_default_properties_and_prefixes_are_copied() {
        for key in ["hw_disk_bus", "hw_", "trait:CUSTOM_X", "os_distro", "os_secure_boot", "os_type"] {
            assert!(copies_property(key), "{key}");
        }
        for key in ["os_distros", "hw", "trait", "owner", "name", "os_hash_value", "xhw_disk_bus"] {
            assert!(!copies_property(key), "{key}");
        }
    }

    #[test]
    fn a_remote_record_brings_formats_and_chosen_string_properties() {
        let mut image = Image::sample("p1", Visibility::Private);
        let before = image.clone();
        image.copy_remote_record(&json!({
            "disk_format": "qcow2", "container_format": "bare", "status": "active",
            "hw_disk_bus": "virtio", "os_distro": "cirros", "hw_count": 4,
            "name": "remote name", "owner": "someone", "secret_key": "s"
        }));
        assert_eq!(image.disk_format, Some(DiskFormat::Qcow2));
        assert_eq!(image.container_format, Some(ContainerFormat::Bare));
        assert_eq!(image.properties.get("hw_disk_bus").map(String::as_str), Some("virtio"));
        assert_eq!(image.properties.get("os_distro").map(String::as_str), Some("cirros"));
        assert!(!image.properties.contains_key("hw_count"), "only strings are properties");
        assert!(!image.properties.contains_key("secret_key"));
        assert_eq!((image.name, image.owner), (before.name, before.owner));
    }

    #[test]
    fn unknown_formats_leave_the_local_ones() {
        let mut image = Image::sample("p1", Visibility::Private);
        image.disk_format = Some(DiskFormat::Raw);
        image.copy_remote_record(&json!({"disk_format": "bogus", "container_format": 7}));
        assert_eq!(image.disk_format, Some(DiskFormat::Raw));
        assert!(is_active(&json!({"status": "active"})));
        assert!(!is_active(&json!({"status": "queued"})) && !is_active(&json!([])));
    }
}
