//! The metadata definitions catalog (Glance's metadefs,
//! `glance/api/v2/metadef_*.py`): namespaces holding objects, properties,
//! tags and resource type associations. This module is the pure part: the
//! records, the validation of request bodies, the JSON views, the prefix
//! rules of `?resource_type=` and the namespace list query. Who may read or
//! write is in [`crate::domain::access::policy`].

use serde_json::{json, Map, Value};

use crate::domain::listing::{DEFAULT_LIMIT, MAX_LIMIT};

/// A request body or query the catalog refuses (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(message.into()))
}

/// Longest namespace, object and property name (Glance's schemas).
pub const MAX_NAME: usize = 80;
/// Longest tag name.
pub const MAX_TAG: usize = 255;

/// The JSON types a property definition may declare.
pub const PROPERTY_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// The fields of a property definition besides `name` (Glance's
/// `PropertyType`); anything else is refused.
const PROPERTY_FIELDS: [&str; 18] = [
    "title",
    "description",
    "type",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "items",
    "uniqueItems",
    "additionalItems",
    "readonly",
    "operators",
    "minItems",
    "maxItems",
    "additionalProperties",
];

/// Fields a client may echo back from a view; ignored on writes.
const READ_ONLY: [&str; 4] = ["created_at", "updated_at", "schema", "self"];

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

fn object_of(body: &Value) -> Result<&Map<String, Value>, Invalid> {
    body.as_object().ok_or_else(|| Invalid("The request body must be a JSON object.".into()))
}

fn name_field(body: &Map<String, Value>, key: &str, max: usize, what: &str) -> Result<String, Invalid> {
    match body.get(key) {
        Some(Value::String(s)) => check_name(s, max, what).map(|_| s.clone()),
        Some(_) => invalid(format!("The {what} name must be a string.")),
        None => invalid(format!("The {what} needs a '{key}'.")),
    }
}

/// Checks a name taken from a body or a URL.
pub fn check_name(name: &str, max: usize, what: &str) -> Result<(), Invalid> {
    if name.trim().is_empty() {
        return invalid(format!("The {what} name may not be empty."));
    }
    if name.chars().count() > max {
        return invalid(format!("The {what} name is longer than {max} characters."));
    }
    Ok(())
}

fn optional_text(body: &Map<String, Value>, key: &str) -> Result<Option<String>, Invalid> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => invalid(format!("'{key}' must be a string.")),
    }
}

fn reject_unknown(body: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), Invalid> {
    match body.keys().find(|k| !known.contains(&k.as_str()) && !READ_ONLY.contains(&k.as_str())) {
        Some(key) => invalid(format!("Additional properties are not allowed ('{key}' was unexpected) in the {what}.")),
        None => Ok(()),
    }
}

fn visibility_field(body: &Map<String, Value>) -> Result<Option<NamespaceVisibility>, Invalid> {
    match body.get("visibility") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => NamespaceVisibility::parse(s)
            .map(Some)
            .ok_or_else(|| Invalid(format!("Invalid visibility '{s}': it must be 'public' or 'private'."))),
        Some(_) => invalid("'visibility' must be a string."),
    }
}

fn protected_field(body: &Map<String, Value>) -> Result<Option<bool>, Invalid> {
    match body.get("protected") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => invalid("'protected' must be a boolean."),
    }
}

const NAMESPACE_FIELDS: [&str; 10] = [
    "namespace",
    "display_name",
    "description",
    "visibility",
    "protected",
    "owner",
    "objects",
    "properties",
    "tags",
    "resource_type_associations",
];

/// Validates a namespace creation body. The namespace belongs to `owner`
/// (the caller's project) unless the body names one.
pub fn parse_new_namespace(body: &Value, owner: Option<&str>, now: &str) -> Result<NewNamespace, Invalid> {
    let body = object_of(body)?;
    reject_unknown(body, &NAMESPACE_FIELDS, "namespace")?;
    let namespace = Namespace {
        namespace: name_field(body, "namespace", MAX_NAME, "namespace")?,
        display_name: optional_text(body, "display_name")?,
        description: optional_text(body, "description")?,
        visibility: visibility_field(body)?.unwrap_or(NamespaceVisibility::Private),
        protected: protected_field(body)?.unwrap_or(false),
        owner: optional_text(body, "owner")?.or_else(|| owner.map(str::to_owned)),
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    };
    let mut contents = Contents::default();
    if let Some(objects) = body.get("objects").filter(|v| !v.is_null()) {
        let list = objects.as_array().ok_or_else(|| Invalid("'objects' must be a list.".into()))?;
        for object in list {
            contents.objects.push(parse_object(object, now)?);
        }
    }
    if let Some(properties) = body.get("properties").filter(|v| !v.is_null()) {
        let map = properties.as_object().ok_or_else(|| Invalid("'properties' must be an object.".into()))?;
        for (name, definition) in map {
            contents.properties.push(parse_property(definition, Some(name), now)?);
        }
    }
    if let Some(tags) = body.get("tags").filter(|v| !v.is_null()) {
        contents.tags = parse_tag_list(tags, now)?;
    }
    if let Some(associations) = body.get("resource_type_associations").filter(|v| !v.is_null()) {
        let list =
            associations.as_array().ok_or_else(|| Invalid("'resource_type_associations' must be a list.".into()))?;
        for association in list {
            contents.associations.push(parse_association(association, now)?);
        }
    }
    for (what, names) in [
        ("object", contents.objects.iter().map(|d| d.name.as_str()).collect::<Vec<_>>()),
        ("tag", contents.tags.iter().map(|t| t.name.as_str()).collect()),
        ("resource type association", contents.associations.iter().map(|a| a.resource_type.as_str()).collect()),
    ] {
        if let Some(name) = first_duplicate(&names) {
            return invalid(format!("Duplicate {what} '{name}' in the request."));
        }
    }
    Ok(NewNamespace { namespace, contents })
}

fn first_duplicate<'a>(names: &[&'a str]) -> Option<&'a str> {
    names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)).map(|(_, n)| *n)
}

/// Applies a `PUT /v2/metadefs/namespaces/{ns}` body to `current`: the
/// fields the body carries replace the current ones.
pub fn apply_namespace_update(current: &Namespace, body: &Value, now: &str) -> Result<Namespace, Invalid> {
    let map = object_of(body)?;
    reject_unknown(map, &NAMESPACE_FIELDS, "namespace")?;
    let mut updated = current.clone();
    if map.contains_key("namespace") {
        updated.namespace = name_field(map, "namespace", MAX_NAME, "namespace")?;
    }
    if map.contains_key("display_name") {
        updated.display_name = optional_text(map, "display_name")?;
    }
    if map.contains_key("description") {
        updated.description = optional_text(map, "description")?;
    }
    if let Some(visibility) = visibility_field(map)? {
        updated.visibility = visibility;
    }
    if let Some(protected) = protected_field(map)? {
        updated.protected = protected;
    }
    if let Some(owner) = optional_text(map, "owner")? {
        updated.owner = Some(owner);
    }
    updated.updated_at = now.to_owned();
    Ok(updated)
}

/// Validates an object definition (`name`, `description`, `required`,
/// `properties`).
pub fn parse_object(body: &Value, now: &str) -> Result<Definition, Invalid> {
    let map = object_of(body)?;
    reject_unknown(map, &["name", "description", "required", "properties"], "object")?;
    let name = name_field(map, "name", MAX_NAME, "object")?;
    let mut definition = Map::new();
    if let Some(description) = optional_text(map, "description")? {
        definition.insert("description".into(), Value::String(description));
    }
    match map.get("required") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            definition.insert("required".into(), Value::Array(items.clone()));
        }
        Some(_) => return invalid("'required' must be a list of property names."),
    }
    let mut properties = Map::new();
    match map.get("properties") {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => {
            for (key, value) in given {
                let property = parse_property(value, Some(key), now)?;
                properties.insert(property.name, Value::Object(property.body));
            }
        }
        Some(_) => return invalid("'properties' must be an object."),
    }
    definition.insert("properties".into(), Value::Object(properties));
    Ok(Definition { name, body: definition, created_at: now.to_owned(), updated_at: now.to_owned() })
}

/// Validates a property definition. `name` is the key it was given under
/// (inside a namespace or object body); otherwise the body's `name`.
pub fn parse_property(body: &Value, name: Option<&str>, now: &str) -> Result<Definition, Invalid> {
    let map = object_of(body)?;
    reject_unknown(map, &[&["name"][..], &PROPERTY_FIELDS[..]].concat(), "property")?;
    let name = match (name, map.get("name")) {
        (Some(key), _) => {
            check_name(key, MAX_NAME, "property")?;
            key.to_owned()
        }
        (None, _) => name_field(map, "name", MAX_NAME, "property")?,
    };
    match map.get("title") {
        Some(Value::String(_)) => {}
        Some(_) => return invalid("The property's 'title' must be a string."),
        None => return invalid(format!("The property {name} needs a 'title'.")),
    }
    match map.get("type") {
        Some(Value::String(t)) if PROPERTY_TYPES.contains(&t.as_str()) => {}
        Some(other) => {
            return invalid(format!("Invalid property type {other}: it must be one of {}.", PROPERTY_TYPES.join(", ")))
        }
        None => return invalid(format!("The property {name} needs a 'type'.")),
    }
    for key in ["minimum", "maximum"] {
        if map.get(key).is_some_and(|v| !v.is_number() && !v.is_null()) {
            return invalid(format!("'{key}' must be a number."));
        }
    }
    for key in ["minLength", "maxLength", "minItems", "maxItems"] {
        if map.get(key).is_some_and(|v| !v.is_u64() && !v.is_null()) {
            return invalid(format!("'{key}' must be a non-negative integer."));
        }
    }
    for key in ["readonly", "uniqueItems", "additionalItems"] {
        if map.get(key).is_some_and(|v| !v.is_boolean() && !v.is_null()) {
            return invalid(format!("'{key}' must be a boolean."));
        }
    }
    for key in ["enum", "operators"] {
        if map.get(key).is_some_and(|v| !v.is_array() && !v.is_null()) {
            return invalid(format!("'{key}' must be a list."));
        }
    }
    let body: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| PROPERTY_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Definition { name, body, created_at: now.to_owned(), updated_at: now.to_owned() })
}

fn parse_tag(body: &Value, now: &str) -> Result<Tag, Invalid> {
    let map = object_of(body)?;
    reject_unknown(map, &["name"], "tag")?;
    Ok(Tag { name: name_field(map, "name", MAX_TAG, "tag")?, created_at: now.to_owned(), updated_at: now.to_owned() })
}

fn parse_tag_list(tags: &Value, now: &str) -> Result<Vec<Tag>, Invalid> {
    let list = tags.as_array().ok_or_else(|| Invalid("'tags' must be a list.".into()))?;
    list.iter().map(|t| parse_tag(t, now)).collect()
}

/// Validates a `POST .../tags` body (`{"tags": [{"name": ...}]}`); a name
/// given twice is reported as the duplicate it would be (`Err(Ok(name))`).
pub fn parse_tags(body: &Value, now: &str) -> Result<Vec<Tag>, Result<String, Invalid>> {
    let map = object_of(body).map_err(Err)?;
    let tags = map.get("tags").ok_or_else(|| Err(Invalid("The request needs 'tags'.".into())))?;
    let tags = parse_tag_list(tags, now).map_err(Err)?;
    let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
    if let Some(name) = first_duplicate(&names) {
        return Err(Ok(name.to_owned()));
    }
    Ok(tags)
}

/// Validates a `PUT .../tags/{tag}` body: the new name.
pub fn parse_tag_rename(body: &Value) -> Result<String, Invalid> {
    let map = object_of(body)?;
    reject_unknown(map, &["name"], "tag")?;
    name_field(map, "name", MAX_TAG, "tag")
}

/// Validates an association body (`name`, `prefix`, `properties_target`).
pub fn parse_association(body: &Value, now: &str) -> Result<Association, Invalid> {
    let map = object_of(body)?;
    reject_unknown(map, &["name", "prefix", "properties_target"], "resource type association")?;
    Ok(Association {
        resource_type: name_field(map, "name", MAX_NAME, "resource type")?,
        prefix: optional_text(map, "prefix")?,
        properties_target: optional_text(map, "properties_target")?,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    })
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
