//! The metadata definitions catalog (Glance's metadefs,
//! `glance/api/v2/metadef_*.py`): namespaces holding objects, properties,
//! tags and resource type associations. This module is the pure part: the
//! records, the validation of request bodies, the JSON views, the prefix
//! rules of `?resource_type=` and the namespace list query. Who may read or
//! write is in [`crate::domain::access::policy`].
//!
//! - `parse`: request bodies to records, with Glance's schema
//!   rules (lengths, field types, property definitions);
//! - `error`: [`MetadefError`], every reason a request is
//!   refused, mapped to HTTP only in `src/error.rs`.

use serde_json::{json, Map, Value};

use crate::domain::listing::{DEFAULT_LIMIT, MAX_LIMIT};

mod error;
mod parse;

pub use error::{Invalid, Item, MetadefError};
pub use parse::{
    apply_namespace_update, check_name, parse_association, parse_new_namespace, parse_object, parse_property,
    parse_tag_rename, parse_tags, MAX_DESCRIPTION, MAX_DISPLAY_NAME, MAX_NAME, MAX_OWNER, MAX_TAG, PROPERTY_TYPES,
};

fn invalid<T>(message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(message.into()))
}

/// Who may see a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceVisibility {
    /// Every reader.
    Public,
    /// The owner's project (and admins).
    Private,
}

impl NamespaceVisibility {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            NamespaceVisibility::Public => "public",
            NamespaceVisibility::Private => "private",
        }
    }

    /// The visibility with this wire name.
    pub fn parse(raw: &str) -> Option<NamespaceVisibility> {
        match raw {
            "public" => Some(NamespaceVisibility::Public),
            "private" => Some(NamespaceVisibility::Private),
            _ => None,
        }
    }
}

/// A namespace's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    /// The unique name, used in URLs.
    pub namespace: String,
    /// A name for people.
    pub display_name: Option<String>,
    /// What the namespace is for.
    pub description: Option<String>,
    /// Who may see it.
    pub visibility: NamespaceVisibility,
    /// Protected namespaces (and their contents) cannot be deleted.
    pub protected: bool,
    /// The owning project.
    pub owner: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// An object or a property: a name and its definition (every field but the
/// name, already validated).
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// The name, unique in its namespace.
    pub name: String,
    /// The other fields.
    pub body: Map<String, Value>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A tag of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The tag.
    pub name: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A namespace's association with a resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    /// The resource type (`OS::Nova::Flavor`).
    pub resource_type: String,
    /// What the resource type puts before the namespace's property names.
    pub prefix: Option<String>,
    /// Where on the resource the properties go (`image`, `volume`...).
    pub properties_target: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A resource type of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// The name.
    pub name: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// Everything inside a namespace, for its detailed view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contents {
    /// Its objects.
    pub objects: Vec<Definition>,
    /// Its properties.
    pub properties: Vec<Definition>,
    /// Its tags.
    pub tags: Vec<Tag>,
    /// Its resource type associations.
    pub associations: Vec<Association>,
}

/// A `POST /v2/metadefs/namespaces` body: the namespace and what it is
/// created with.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNamespace {
    /// The namespace.
    pub namespace: Namespace,
    /// Its initial contents.
    pub contents: Contents,
}

impl Namespace {
    /// A protected namespace cannot be deleted.
    pub fn check_deletable(&self) -> Result<(), MetadefError> {
        if self.protected {
            return Err(MetadefError::NamespaceProtected(self.namespace.clone()));
        }
        Ok(())
    }

    /// Nothing is deleted from a protected namespace, as in Glance; `what`
    /// names what the request would delete (`tag t`, `the objects`).
    pub fn check_contents_deletable(&self, what: impl Into<String>) -> Result<(), MetadefError> {
        if self.protected {
            return Err(MetadefError::ContentsProtected { namespace: self.namespace.clone(), what: what.into() });
        }
        Ok(())
    }
}

// Views.

/// `/v2/metadefs/namespaces/{ns}`.
pub fn namespace_path(namespace: &str) -> String {
    format!("/v2/metadefs/namespaces/{}", escape(namespace))
}

fn escape(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string().replace("%3A", ":")
}

fn insert_some(map: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        map.insert(key.into(), Value::String(v.clone()));
    }
}

/// A namespace's view: its fields, its associations when known, and with
/// `contents` its objects, properties and tags. With `prefix`, property
/// names carry the prefix of the resource type asked for.
pub fn namespace_json(ns: &Namespace, contents: Option<&Contents>, prefix: Option<&str>) -> Value {
    let mut map = Map::new();
    map.insert("namespace".into(), json!(ns.namespace));
    insert_some(&mut map, "display_name", &ns.display_name);
    insert_some(&mut map, "description", &ns.description);
    map.insert("visibility".into(), json!(ns.visibility.as_str()));
    map.insert("protected".into(), json!(ns.protected));
    insert_some(&mut map, "owner", &ns.owner);
    map.insert("created_at".into(), json!(ns.created_at));
    map.insert("updated_at".into(), json!(ns.updated_at));
    map.insert("schema".into(), json!("/v2/schemas/metadefs/namespace"));
    map.insert("self".into(), json!(namespace_path(&ns.namespace)));
    if let Some(contents) = contents {
        if !contents.associations.is_empty() {
            map.insert(
                "resource_type_associations".into(),
                Value::Array(contents.associations.iter().map(association_json).collect()),
            );
        }
        if !contents.properties.is_empty() {
            map.insert("properties".into(), properties_map(&contents.properties, prefix));
        }
        if !contents.objects.is_empty() {
            let objects = contents
                .objects
                .iter()
                .map(|o| {
                    let mut view = object_json(&ns.namespace, o);
                    if let (Some(prefix), Some(properties)) = (prefix, view.get_mut("properties")) {
                        *properties = with_prefix(properties, prefix);
                    }
                    view
                })
                .collect();
            map.insert("objects".into(), Value::Array(objects));
        }
        if !contents.tags.is_empty() {
            map.insert("tags".into(), Value::Array(contents.tags.iter().map(|t| json!({"name": t.name})).collect()));
        }
    }
    Value::Object(map)
}

fn with_prefix(properties: &Value, prefix: &str) -> Value {
    match properties {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (format!("{prefix}{k}"), v.clone())).collect()),
        other => other.clone(),
    }
}

/// Properties as Glance lists them: an object keyed by name.
pub fn properties_map(properties: &[Definition], prefix: Option<&str>) -> Value {
    Value::Object(
        properties
            .iter()
            .map(|p| (format!("{}{}", prefix.unwrap_or(""), p.name), Value::Object(p.body.clone())))
            .collect(),
    )
}

/// An object's view.
pub fn object_json(namespace: &str, object: &Definition) -> Value {
    let mut map = Map::new();
    map.insert("name".into(), json!(object.name));
    map.extend(object.body.clone());
    map.entry("required").or_insert_with(|| json!([]));
    map.entry("properties").or_insert_with(|| json!({}));
    map.insert("created_at".into(), json!(object.created_at));
    map.insert("updated_at".into(), json!(object.updated_at));
    map.insert("schema".into(), json!("/v2/schemas/metadefs/object"));
    map.insert("self".into(), json!(format!("{}/objects/{}", namespace_path(namespace), escape(&object.name))));
    Value::Object(map)
}

/// A property's view (shown as `name`, or under another name when a
/// resource type prefix was stripped from the request).
pub fn property_json(property: &Definition, shown_name: &str) -> Value {
    let mut map = Map::new();
    map.insert("name".into(), json!(shown_name));
    map.extend(property.body.clone());
    Value::Object(map)
}

/// A tag's view.
pub fn tag_json(tag: &Tag) -> Value {
    json!({"name": tag.name, "created_at": tag.created_at, "updated_at": tag.updated_at})
}

/// An association's view.
pub fn association_json(association: &Association) -> Value {
    let mut map = Map::new();
    map.insert("name".into(), json!(association.resource_type));
    insert_some(&mut map, "prefix", &association.prefix);
    insert_some(&mut map, "properties_target", &association.properties_target);
    map.insert("created_at".into(), json!(association.created_at));
    map.insert("updated_at".into(), json!(association.updated_at));
    Value::Object(map)
}

/// A resource type's view.
pub fn resource_type_json(resource_type: &ResourceType) -> Value {
    json!({"name": resource_type.name, "created_at": resource_type.created_at, "updated_at": resource_type.updated_at})
}

/// `GET .../properties/{name}?resource_type=T`: the stored name behind
/// `requested`, given the prefix of the namespace's association with `T`.
/// Glance answers 404 when a prefix exists and the name does not start
/// with it.
pub fn strip_prefix<'a>(requested: &'a str, prefix: Option<&str>) -> Option<&'a str> {
    match prefix.filter(|p| !p.is_empty()) {
        None => Some(requested),
        Some(prefix) => requested.strip_prefix(prefix),
    }
}

/// The `resource_type` of a query string, if given.
pub fn resource_type_param(raw_query: &str) -> Option<String> {
    form_urlencoded::parse(raw_query.as_bytes())
        .find(|(k, _)| k == "resource_type")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

// The namespace list.

/// A namespace with its resource type associations, as the list shows it.
pub type Listed = (Namespace, Vec<Association>);

/// What namespaces are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Creation time (the default).
    CreatedAt,
    /// Last change.
    UpdatedAt,
    /// The name.
    Namespace,
}

/// A `GET /v2/metadefs/namespaces` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceQuery {
    /// Page size.
    pub limit: u32,
    /// The last namespace of the previous page.
    pub marker: Option<String>,
    /// Sort key.
    pub sort_key: SortKey,
    /// Ascending order (default: descending, newest first).
    pub ascending: bool,
    /// Only this visibility.
    pub visibility: Option<NamespaceVisibility>,
    /// Only namespaces associated with one of these resource types.
    pub resource_types: Vec<String>,
}

impl NamespaceQuery {
    /// Parses the query string.
    pub fn parse(raw: &str) -> Result<NamespaceQuery, Invalid> {
        let mut query = NamespaceQuery {
            limit: DEFAULT_LIMIT,
            marker: None,
            sort_key: SortKey::CreatedAt,
            ascending: false,
            visibility: None,
            resource_types: Vec::new(),
        };
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            match key.as_ref() {
                "limit" => {
                    let limit: i64 = value.parse().map_err(|_| Invalid(format!("Invalid limit '{value}'.")))?;
                    if limit < 0 {
                        return invalid("limit param must be positive");
                    }
                    query.limit = (limit as u64).min(MAX_LIMIT as u64) as u32;
                }
                "marker" => query.marker = Some(value.into_owned()),
                "sort_key" => {
                    query.sort_key = match value.as_ref() {
                        "created_at" => SortKey::CreatedAt,
                        "updated_at" => SortKey::UpdatedAt,
                        "namespace" => SortKey::Namespace,
                        other => return invalid(format!("Invalid sort key: {other}.")),
                    }
                }
                "sort_dir" => {
                    query.ascending = match value.as_ref() {
                        "asc" => true,
                        "desc" => false,
                        other => return invalid(format!("Invalid sort direction: {other}.")),
                    }
                }
                "visibility" => {
                    query.visibility = Some(
                        NamespaceVisibility::parse(&value)
                            .ok_or_else(|| Invalid(format!("Invalid visibility '{value}'.")))?,
                    )
                }
                "resource_types" => {
                    query.resource_types =
                        value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
                }
                _ => {}
            }
        }
        Ok(query)
    }

    fn key<'a>(&self, ns: &'a Namespace) -> (&'a str, &'a str) {
        match self.sort_key {
            SortKey::CreatedAt => (&ns.created_at, &ns.namespace),
            SortKey::UpdatedAt => (&ns.updated_at, &ns.namespace),
            SortKey::Namespace => (&ns.namespace, &ns.namespace),
        }
    }

    /// Filters, sorts and pages `visible` (every namespace the caller may
    /// see, with its associations): the page, and whether more follow.
    /// An unknown marker is a 400, as Glance's.
    pub fn page(&self, mut visible: Vec<Listed>) -> Result<(Vec<Listed>, bool), Invalid> {
        visible.retain(|(ns, associations)| {
            self.visibility.is_none_or(|v| ns.visibility == v)
                && (self.resource_types.is_empty()
                    || associations.iter().any(|a| self.resource_types.contains(&a.resource_type)))
        });
        visible.sort_by(|(a, _), (b, _)| {
            let order = self.key(a).cmp(&self.key(b));
            if self.ascending {
                order
            } else {
                order.reverse()
            }
        });
        let start = match &self.marker {
            None => 0,
            Some(marker) => {
                visible
                    .iter()
                    .position(|(ns, _)| &ns.namespace == marker)
                    .ok_or_else(|| Invalid(format!("Namespace {marker} could not be found.")))?
                    + 1
            }
        };
        let rest: Vec<_> = visible.into_iter().skip(start).collect();
        let more = rest.len() > self.limit as usize;
        Ok((rest.into_iter().take(self.limit as usize).collect(), more))
    }

    /// The link to the page after the one ending at `last`.
    pub fn next_link(&self, last: &str) -> String {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        serializer.append_pair("marker", last);
        serializer.append_pair("limit", &self.limit.to_string());
        let sort_key = match self.sort_key {
            SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
            SortKey::Namespace => "namespace",
        };
        serializer.append_pair("sort_key", sort_key);
        serializer.append_pair("sort_dir", if self.ascending { "asc" } else { "desc" });
        if let Some(v) = self.visibility {
            serializer.append_pair("visibility", v.as_str());
        }
        if !self.resource_types.is_empty() {
            serializer.append_pair("resource_types", &self.resource_types.join(","));
        }
        format!("/v2/metadefs/namespaces?{}", serializer.finish())
    }
}

#[cfg(test)]
mod tests;
