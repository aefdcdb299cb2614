//! Request bodies to records: the rules of Glance's metadefs schemas
//! (`glance/api/v2/metadef_namespaces.py`, `metadef_objects.py`,
//! `metadef_properties.py`, `metadef_tags.py`, `metadef_resource_types.py`,
//! as served at `/v2/schemas/metadefs/*`). Every refusal is an [`Invalid`]
//! naming the field and the rule it breaks.

use serde_json::{Map, Value};

use super::error::{Invalid, MetadefError};
use super::{Association, Contents, Definition, Namespace, NamespaceVisibility, NewNamespace, Tag};

fn invalid<T>(message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(message.into()))
}

/// Longest namespace, object, property and resource type name, and
/// longest association prefix and properties target.
pub const MAX_NAME: usize = 80;
/// Longest tag name.
pub const MAX_TAG: usize = 80;
/// Longest namespace display name.
pub const MAX_DISPLAY_NAME: usize = 80;
/// Longest namespace description.
pub const MAX_DESCRIPTION: usize = 500;
/// Longest namespace owner.
pub const MAX_OWNER: usize = 255;

/// The JSON types a property definition (and its `items`) may declare.
pub const PROPERTY_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// What a field of a property definition must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// A string.
    Text,
    /// One of [`PROPERTY_TYPES`].
    TypeName,
    /// A number.
    Number,
    /// A non-negative integer.
    Count,
    /// `true` or `false`.
    Flag,
    /// A list of anything.
    List,
    /// A list of strings.
    TextList,
    /// A list of distinct strings.
    DistinctTextList,
    /// An object with an optional `type` (one of [`PROPERTY_TYPES`]) and
    /// an optional `enum` (a list).
    Items,
    /// Any JSON value.
    Any,
}

/// The fields of a property definition besides `name` (Glance's property
/// schema) and what each must hold; anything else is refused. `null` is
/// refused wherever a type is required, as Glance's schema refuses it.
const PROPERTY_FIELDS: [(&str, Rule); 18] = [
    ("title", Rule::Text),
    ("description", Rule::Text),
    ("type", Rule::TypeName),
    ("default", Rule::Any),
    ("minimum", Rule::Number),
    ("maximum", Rule::Number),
    ("minLength", Rule::Count),
    ("maxLength", Rule::Count),
    ("pattern", Rule::Text),
    ("enum", Rule::List),
    ("items", Rule::Items),
    ("uniqueItems", Rule::Flag),
    ("additionalItems", Rule::Flag),
    ("readonly", Rule::Flag),
    ("operators", Rule::TextList),
    ("minItems", Rule::Count),
    ("maxItems", Rule::Count),
    ("required", Rule::DistinctTextList),
];

/// Fields a client may echo back from a view; ignored on writes.
const READ_ONLY: [&str; 4] = ["created_at", "updated_at", "schema", "self"];

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

fn object_of(body: &Value) -> Result<&Map<String, Value>, Invalid> {
    body.as_object().ok_or_else(|| Invalid("The request body must be a JSON object.".into()))
}

/// A JSON value's type, for messages.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn name_field(body: &Map<String, Value>, key: &str, max: usize, what: &str) -> Result<String, Invalid> {
    match body.get(key) {
        Some(Value::String(s)) => check_name(s, max, what).map(|_| s.clone()),
        Some(other) => invalid(format!("The {what} name must be a string, not {}.", kind_of(other))),
        None => invalid(format!("The {what} needs a '{key}'.")),
    }
}

/// Checks a name taken from a body or a URL: not blank, at most `max`
/// characters.
pub fn check_name(name: &str, max: usize, what: &str) -> Result<(), Invalid> {
    if name.trim().is_empty() {
        return invalid(format!("The {what} name may not be empty."));
    }
    let length = name.chars().count();
    if length > max {
        return invalid(format!("The {what} name is {length} characters long; at most {max} are allowed."));
    }
    Ok(())
}

/// An optional string field of at most `max` characters (`null` is
/// taken as absent).
fn optional_text(
    body: &Map<String, Value>,
    key: &str,
    max: Option<usize>,
    what: &str,
) -> Result<Option<String>, Invalid> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match max {
            Some(max) if s.chars().count() > max => {
                invalid(format!("'{key}' of the {what} is longer than {max} characters."))
            }
            _ => Ok(Some(s.clone())),
        },
        Some(other) => invalid(format!("'{key}' of the {what} must be a string, not {}.", kind_of(other))),
    }
}

fn reject_unknown<'a>(
    body: &Map<String, Value>,
    known: impl Iterator<Item = &'a str> + Clone,
    what: &str,
) -> Result<(), Invalid> {
    match body.keys().find(|k| !known.clone().any(|n| n == k.as_str()) && !READ_ONLY.contains(&k.as_str())) {
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

fn first_duplicate<'a>(names: &[&'a str]) -> Option<&'a str> {
    names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)).map(|(_, n)| *n)
}

/// Validates a namespace creation body. The namespace belongs to `owner`
/// (the caller's project) unless the body names one.
pub fn parse_new_namespace(body: &Value, owner: Option<&str>, now: &str) -> Result<NewNamespace, Invalid> {
    let body = object_of(body)?;
    reject_unknown(body, NAMESPACE_FIELDS.iter().copied(), "namespace")?;
    let namespace = Namespace {
        namespace: name_field(body, "namespace", MAX_NAME, "namespace")?,
        display_name: optional_text(body, "display_name", Some(MAX_DISPLAY_NAME), "namespace")?,
        description: optional_text(body, "description", Some(MAX_DESCRIPTION), "namespace")?,
        visibility: visibility_field(body)?.unwrap_or(NamespaceVisibility::Private),
        protected: protected_field(body)?.unwrap_or(false),
        owner: optional_text(body, "owner", Some(MAX_OWNER), "namespace")?.or_else(|| owner.map(str::to_owned)),
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

/// Applies a `PUT /v2/metadefs/namespaces/{ns}` body to `current`: the
/// fields the body carries replace the current ones.
pub fn apply_namespace_update(current: &Namespace, body: &Value, now: &str) -> Result<Namespace, Invalid> {
    let map = object_of(body)?;
    reject_unknown(map, NAMESPACE_FIELDS.iter().copied(), "namespace")?;
    let mut updated = current.clone();
    if map.contains_key("namespace") {
        updated.namespace = name_field(map, "namespace", MAX_NAME, "namespace")?;
    }
    if map.contains_key("display_name") {
        updated.display_name = optional_text(map, "display_name", Some(MAX_DISPLAY_NAME), "namespace")?;
    }
    if map.contains_key("description") {
        updated.description = optional_text(map, "description", Some(MAX_DESCRIPTION), "namespace")?;
    }
    if let Some(visibility) = visibility_field(map)? {
        updated.visibility = visibility;
    }
    if let Some(protected) = protected_field(map)? {
        updated.protected = protected;
    }
    if let Some(owner) = optional_text(map, "owner", Some(MAX_OWNER), "namespace")? {
        updated.owner = Some(owner);
    }
    updated.updated_at = now.to_owned();
    Ok(updated)
}

/// A list of distinct strings (Glance's `stringArray`).
fn distinct_texts(value: &Value, key: &str, what: &str) -> Result<(), Invalid> {
    let Some(items) = value.as_array().filter(|items| items.iter().all(Value::is_string)) else {
        return invalid(format!("'{key}' of the {what} must be a list of strings."));
    };
    let names: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
    match first_duplicate(&names) {
        Some(name) => invalid(format!("'{key}' of the {what} lists '{name}' twice.")),
        None => Ok(()),
    }
}

/// Validates an object definition (`name`, `description`, `required`,
/// `properties`).
pub fn parse_object(body: &Value, now: &str) -> Result<Definition, Invalid> {
    let map = object_of(body)?;
    reject_unknown(map, ["name", "description", "required", "properties"].into_iter(), "object")?;
    let name = name_field(map, "name", MAX_NAME, "object")?;
    let what = format!("object '{name}'");
    let mut definition = Map::new();
    match map.get("description") {
        None => {}
        Some(Value::String(description)) => {
            definition.insert("description".into(), Value::String(description.clone()));
        }
        Some(other) => {
            return invalid(format!("'description' of the {what} must be a string, not {}.", kind_of(other)))
        }
    }
    if let Some(required) = map.get("required") {
        distinct_texts(required, "required", &what)?;
        definition.insert("required".into(), required.clone());
    }
    let mut properties = Map::new();
    match map.get("properties") {
        None => {}
        Some(Value::Object(given)) => {
            for (key, value) in given {
                let property = parse_property(value, Some(key), now)?;
                properties.insert(property.name, Value::Object(property.body));
            }
        }
        Some(_) => return invalid(format!("'properties' of the {what} must be an object.")),
    }
    definition.insert("properties".into(), Value::Object(properties));
    Ok(Definition { name, body: definition, created_at: now.to_owned(), updated_at: now.to_owned() })
}

fn type_name(value: &Value, key: &str, what: &str) -> Result<(), Invalid> {
    match value {
        Value::String(t) if PROPERTY_TYPES.contains(&t.as_str()) => Ok(()),
        other => {
            invalid(format!("Invalid '{key}' {other} of the {what}: it must be one of {}.", PROPERTY_TYPES.join(", ")))
        }
    }
}

/// Checks one field of a property definition against its rule.
fn check_field(rule: Rule, key: &str, value: &Value, what: &str) -> Result<(), Invalid> {
    let wrong = |expected: &str| invalid(format!("'{key}' of the {what} must be {expected}, not {}.", kind_of(value)));
    match rule {
        Rule::Any => Ok(()),
        Rule::Text if value.is_string() => Ok(()),
        Rule::Text => wrong("a string"),
        Rule::TypeName => type_name(value, key, what),
        Rule::Number if value.is_number() => Ok(()),
        Rule::Number => wrong("a number"),
        Rule::Count if value.is_u64() => Ok(()),
        Rule::Count => wrong("a non-negative integer"),
        Rule::Flag if value.is_boolean() => Ok(()),
        Rule::Flag => wrong("a boolean"),
        Rule::List if value.is_array() => Ok(()),
        Rule::List => wrong("a list"),
        Rule::TextList if value.as_array().is_some_and(|items| items.iter().all(Value::is_string)) => Ok(()),
        Rule::TextList => wrong("a list of strings"),
        Rule::DistinctTextList => distinct_texts(value, key, what),
        Rule::Items => {
            let Some(items) = value.as_object() else {
                return wrong("an object");
            };
            let what = format!("'items' of the {what}");
            if let Some(item_type) = items.get("type") {
                type_name(item_type, "type", &what)?;
            }
            match items.get("enum") {
                Some(list) if !list.is_array() => {
                    invalid(format!("'enum' of the {what} must be a list, not {}.", kind_of(list)))
                }
                _ => Ok(()),
            }
        }
    }
}

/// Validates a property definition. `name` is the key it was given under
/// (inside a namespace or object body); otherwise the body's `name`.
pub fn parse_property(body: &Value, name: Option<&str>, now: &str) -> Result<Definition, Invalid> {
    let map = object_of(body)?;
    let known = std::iter::once("name").chain(PROPERTY_FIELDS.iter().map(|(key, _)| *key));
    reject_unknown(map, known, "property")?;
    let name = match name {
        Some(key) => {
            check_name(key, MAX_NAME, "property")?;
            if map.contains_key("name") {
                name_field(map, "name", MAX_NAME, "property")?;
            }
            key.to_owned()
        }
        None => name_field(map, "name", MAX_NAME, "property")?,
    };
    let what = format!("property '{name}'");
    for key in ["title", "type"] {
        if !map.contains_key(key) {
            return invalid(format!("The {what} needs a '{key}'."));
        }
    }
    // In the client's order; `name` is kept apart from the definition.
    let mut body = Map::new();
    for (key, value) in map {
        if let Some((_, rule)) = PROPERTY_FIELDS.iter().find(|(known, _)| known == key) {
            check_field(*rule, key, value, &what)?;
            body.insert(key.clone(), value.clone());
        }
    }
    Ok(Definition { name, body, created_at: now.to_owned(), updated_at: now.to_owned() })
}

fn parse_tag(body: &Value, now: &str) -> Result<Tag, Invalid> {
    let map = object_of(body).map_err(|_| Invalid("Each tag must be an object with a 'name'.".into()))?;
    reject_unknown(map, ["name"].into_iter(), "tag")?;
    Ok(Tag { name: name_field(map, "name", MAX_TAG, "tag")?, created_at: now.to_owned(), updated_at: now.to_owned() })
}

fn parse_tag_list(tags: &Value, now: &str) -> Result<Vec<Tag>, Invalid> {
    let list = tags.as_array().ok_or_else(|| Invalid("'tags' must be a list.".into()))?;
    list.iter().map(|t| parse_tag(t, now)).collect()
}

/// Validates a `POST .../tags` body (`{"tags": [{"name": ...}]}`) for
/// `namespace`; a name given twice is the conflict it would be.
pub fn parse_tags(body: &Value, namespace: &str, now: &str) -> Result<Vec<Tag>, MetadefError> {
    let map = object_of(body)?;
    reject_unknown(map, ["tags"].into_iter(), "tag list")?;
    let tags = map.get("tags").ok_or_else(|| Invalid("The request needs 'tags'.".into()))?;
    let tags = parse_tag_list(tags, now)?;
    let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
    if let Some(name) = first_duplicate(&names) {
        return Err(MetadefError::TagExists { name: name.to_owned(), namespace: namespace.to_owned() });
    }
    Ok(tags)
}

/// Validates a `PUT .../tags/{tag}` body: the new name.
pub fn parse_tag_rename(body: &Value) -> Result<String, Invalid> {
    let map = object_of(body)?;
    reject_unknown(map, ["name"].into_iter(), "tag")?;
    name_field(map, "name", MAX_TAG, "tag")
}

/// Validates an association body (`name`, `prefix`, `properties_target`).
pub fn parse_association(body: &Value, now: &str) -> Result<Association, Invalid> {
    let map = object_of(body)?;
    reject_unknown(map, ["name", "prefix", "properties_target"].into_iter(), "resource type association")?;
    let what = "resource type association";
    Ok(Association {
        resource_type: name_field(map, "name", MAX_NAME, "resource type")?,
        prefix: optional_text(map, "prefix", Some(MAX_NAME), what)?,
        properties_target: optional_text(map, "properties_target", Some(MAX_NAME), what)?,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    })
}
