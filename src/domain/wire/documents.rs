//! The fixed documents of the API: the version list, the JSON schemas clients
//! validate against (the ones Glance 33 serves, kept verbatim in
//! `src/schemas/`; the metadefs ones, `src/schemas/metadefs/`, are ours in
//! the shape of Glance's), and the `/v2/info/*` answers.

use serde_json::{json, Value};

/// The schema documents served under `/v2/schemas/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaName {
    /// `image`
    Image,
    /// `images`
    Images,
    /// `member`
    Member,
    /// `members`
    Members,
    /// `task`
    Task,
    /// `tasks`
    Tasks,
    /// `metadefs/namespace`
    MetadefNamespace,
    /// `metadefs/namespaces`
    MetadefNamespaces,
    /// `metadefs/object`
    MetadefObject,
    /// `metadefs/objects`
    MetadefObjects,
    /// `metadefs/property`
    MetadefProperty,
    /// `metadefs/properties`
    MetadefProperties,
    /// `metadefs/resource_type`
    MetadefResourceType,
    /// `metadefs/resource_types`
    MetadefResourceTypes,
    /// `metadefs/tag`
    MetadefTag,
    /// `metadefs/tags`
    MetadefTags,
}

impl SchemaName {
    /// The metadefs schemas, by their name under `/v2/schemas/metadefs/`.
    pub const METADEFS: [(&'static str, SchemaName); 10] = [
        ("namespace", SchemaName::MetadefNamespace),
        ("namespaces", SchemaName::MetadefNamespaces),
        ("object", SchemaName::MetadefObject),
        ("objects", SchemaName::MetadefObjects),
        ("property", SchemaName::MetadefProperty),
        ("properties", SchemaName::MetadefProperties),
        ("resource_type", SchemaName::MetadefResourceType),
        ("resource_types", SchemaName::MetadefResourceTypes),
        ("tag", SchemaName::MetadefTag),
        ("tags", SchemaName::MetadefTags),
    ];

    /// The schema served at `/v2/schemas/metadefs/{name}`.
    pub fn metadef(name: &str) -> Option<SchemaName> {
        SchemaName::METADEFS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }
}

/// The minor versions we announce, newest first; the first is CURRENT.
/// v2.6 brought import, v2.8-v2.13 multi-store (v2.12: image tasks),
/// v2.14 the image cache API, v2.17 the location API: all implemented.
/// CURRENT is v2.18, as Glance's when an image cache is configured (ours is
/// the edge cache, always on).
pub const API_VERSIONS: [&str; 19] = [
    "v2.18", "v2.17", "v2.16", "v2.15", "v2.14", "v2.13", "v2.12", "v2.11", "v2.10", "v2.9", "v2.8", "v2.7", "v2.6",
    "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0",
];

/// `{"versions": [...]}` with absolute `self` links to `<base>/v2/`
/// (openstacksdk takes the endpoint from that href).
pub fn versions(base_url: &str) -> Value {
    let href = format!("{}/v2/", base_url.trim_end_matches('/'));
    let versions: Vec<Value> = API_VERSIONS
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({
                "id": id,
                "status": if i == 0 { "CURRENT" } else { "SUPPORTED" },
                "links": [{"rel": "self", "href": href}],
            })
        })
        .collect();
    json!({ "versions": versions })
}

/// The schema document, as served by Glance; the image schemas get their
/// plain columns from [`crate::domain::image::columns`].
pub fn schema(name: SchemaName) -> String {
    let text = schema_file(name);
    let properties_at: &[&str] = match name {
        SchemaName::Image => &["properties"],
        SchemaName::Images => &["properties", "images", "items", "properties"],
        _ => return text.to_owned(),
    };
    let mut document: Value = serde_json::from_str(text).expect("the image schemas are JSON");
    let mut properties = &mut document;
    for key in properties_at {
        properties = &mut properties[*key];
    }
    if let Value::Object(properties) = properties {
        crate::domain::image::columns::add_to_schema(properties);
    }
    document.to_string()
}

fn schema_file(name: SchemaName) -> &'static str {
    match name {
        SchemaName::Image => include_str!("../../schemas/image.json"),
        SchemaName::Images => include_str!("../../schemas/images.json"),
        SchemaName::Member => include_str!("../../schemas/member.json"),
        SchemaName::Members => include_str!("../../schemas/members.json"),
        SchemaName::Task => include_str!("../../schemas/task.json"),
        SchemaName::Tasks => include_str!("../../schemas/tasks.json"),
        SchemaName::MetadefNamespace => include_str!("../../schemas/metadefs/namespace.json"),
        SchemaName::MetadefNamespaces => include_str!("../../schemas/metadefs/namespaces.json"),
        SchemaName::MetadefObject => include_str!("../../schemas/metadefs/object.json"),
        SchemaName::MetadefObjects => include_str!("../../schemas/metadefs/objects.json"),
        SchemaName::MetadefProperty => include_str!("../../schemas/metadefs/property.json"),
        SchemaName::MetadefProperties => include_str!("../../schemas/metadefs/properties.json"),
        SchemaName::MetadefResourceType => include_str!("../../schemas/metadefs/resource_type.json"),
        SchemaName::MetadefResourceTypes => include_str!("../../schemas/metadefs/resource_types.json"),
        SchemaName::MetadefTag => include_str!("../../schemas/metadefs/tag.json"),
        SchemaName::MetadefTags => include_str!("../../schemas/metadefs/tags.json"),
    }
}

/// `GET /v2/info/import`.
pub fn import_info(methods: &[&str]) -> Value {
    json!({"import-methods": {"description": "Import methods available.", "type": "array", "value": methods}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_have_one_current_and_absolute_links() {
        let doc = versions("http://127.0.0.1:8787/");
        let list = doc["versions"].as_array().unwrap();
        assert_eq!(list.len(), API_VERSIONS.len());
        assert_eq!(list.iter().filter(|v| v["status"] == "CURRENT").count(), 1);
        assert_eq!(list[0]["id"], "v2.18");
        assert!(list.iter().all(|v| v["links"][0]["href"] == "http://127.0.0.1:8787/v2/"));
    }

    #[test]
    fn every_schema_is_valid_json_named_after_itself() {
        for (name, expected) in [
            (SchemaName::Image, "image"),
            (SchemaName::Images, "images"),
            (SchemaName::Member, "member"),
            (SchemaName::Members, "members"),
            (SchemaName::Task, "task"),
            (SchemaName::Tasks, "tasks"),
        ] {
            let doc: Value = serde_json::from_str(&schema(name)).unwrap();
            assert_eq!(doc["name"], expected);
        }
    }

    #[test]
    fn metadef_schemas_carry_the_names_clients_check() {
        for (path, name) in SchemaName::METADEFS {
            let doc: Value = serde_json::from_str(&schema(name)).unwrap();
            let expected = match path {
                "resource_type" => "resource_type_association",
                "resource_types" => "resource_type_associations",
                other => other,
            };
            assert_eq!(doc["name"], expected, "metadefs/{path}");
        }
    }

    #[test]
    fn image_schema_enums_match_the_domain() {
        use crate::domain::image::status::ImageStatus;
        use crate::domain::image::{ContainerFormat, DiskFormat, Visibility};
        let doc: Value = serde_json::from_str(&schema(SchemaName::Image)).unwrap();
        let names = |key: &str| -> Vec<String> {
            doc["properties"][key]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        };
        assert_eq!(names("disk_format"), DiskFormat::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>());
        assert_eq!(names("container_format"), ContainerFormat::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>());
        let mut statuses = names("status");
        statuses.sort();
        let mut ours: Vec<&str> = ImageStatus::ALL.iter().map(|s| s.as_str()).collect();
        ours.sort();
        assert_eq!(statuses, ours);
        let mut visibilities = names("visibility");
        visibilities.sort();
        let mut ours: Vec<&str> = Visibility::ALL.iter().map(|v| v.as_str()).collect();
        ours.sort();
        assert_eq!(visibilities, ours);
    }
}
