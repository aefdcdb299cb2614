//! The metadata definitions catalog (`/v2/metadefs`, Glance's
//! `glance/api/v2/metadef_*.py`): namespaces and their objects, properties,
//! tags and resource type associations, and the resource type list.
//!
//! Every handler reads: find the namespace the caller may see (404
//! otherwise), check the write right (403, admin only) and the protection
//! of what it deletes, parse the body with `domain::metadefs`, apply it to
//! the store, render the view. Refusals are `MetadefError`s; `src/error.rs`
//! gives each its status.

use serde_json::{json, Value};
use worker::{Request, Response};

use crate::api::app::App;
use crate::api::respond::{header, json_response, no_content, now, read_json};
use crate::domain::access::policy;
use crate::domain::metadefs::{
    self as md, apply_namespace_update, association_json, check_name, namespace_json, object_json, parse_association,
    parse_new_namespace, parse_object, parse_property, parse_tag_rename, parse_tags, properties_map, property_json,
    resource_type_json, strip_prefix, tag_json, Contents, Item, MetadefError, Namespace, NamespaceQuery, Tag,
};
use crate::error::ApiError;
use crate::router::MetadefRoute;
use crate::store::metadefs::Kind;
use crate::store::StoreError;

/// Runs one metadefs request.
pub async fn handle(app: &App, req: &mut Request, route: MetadefRoute, query: &str) -> Result<Response, ApiError> {
    use MetadefRoute as M;
    match route {
        M::ListNamespaces => list_namespaces(app, query).await,
        M::CreateNamespace => create_namespace(app, req).await,
        M::ShowNamespace(ns) => show_namespace(app, &ns, query).await,
        M::UpdateNamespace(ns) => update_namespace(app, req, &ns).await,
        M::DeleteNamespace(ns) => delete_namespace(app, &ns).await,
        M::ListObjects(ns) => list_objects(app, &ns).await,
        M::CreateObject(ns) => create_definition(app, req, Kind::Object, &ns).await,
        M::DeleteObjects(ns) => delete_definitions(app, Kind::Object, &ns, None).await,
        M::ShowObject(ns, name) => show_object(app, &ns, &name).await,
        M::UpdateObject(ns, name) => update_definition(app, req, Kind::Object, &ns, &name).await,
        M::DeleteObject(ns, name) => delete_definitions(app, Kind::Object, &ns, Some(&name)).await,
        M::ListProperties(ns) => list_properties(app, &ns).await,
        M::CreateProperty(ns) => create_definition(app, req, Kind::Property, &ns).await,
        M::DeleteProperties(ns) => delete_definitions(app, Kind::Property, &ns, None).await,
        M::ShowProperty(ns, name) => show_property(app, &ns, &name, query).await,
        M::UpdateProperty(ns, name) => update_definition(app, req, Kind::Property, &ns, &name).await,
        M::DeleteProperty(ns, name) => delete_definitions(app, Kind::Property, &ns, Some(&name)).await,
        M::ListTags(ns) => list_tags(app, &ns).await,
        M::CreateTags(ns) => create_tags(app, req, &ns).await,
        M::DeleteTags(ns) => delete_tags(app, &ns, None).await,
        M::CreateTag(ns, tag) => create_tag(app, &ns, &tag).await,
        M::ShowTag(ns, tag) => show_tag(app, &ns, &tag).await,
        M::UpdateTag(ns, tag) => rename_tag(app, req, &ns, &tag).await,
        M::DeleteTag(ns, tag) => delete_tags(app, &ns, Some(&tag)).await,
        M::ListAssociations(ns) => list_associations(app, &ns).await,
        M::Associate(ns) => associate(app, req, &ns).await,
        M::Dissociate(ns, name) => dissociate(app, &ns, &name).await,
        M::ListResourceTypes => list_resource_types(app).await,
    }
}

// Access.

fn namespace_not_found(ns: &str) -> MetadefError {
    MetadefError::NamespaceNotFound(ns.to_owned())
}

fn missing(item: Item, name: &str, ns: &str) -> MetadefError {
    MetadefError::NotFound { item, name: name.to_owned(), namespace: ns.to_owned() }
}

/// A store write whose `Duplicate` means `taken` (a name in use), and
/// whose `false` means the namespace went away meanwhile.
fn written(result: Result<bool, StoreError>, ns: &str, taken: impl FnOnce() -> MetadefError) -> Result<(), ApiError> {
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(namespace_not_found(ns).into()),
        Err(StoreError::Duplicate) => Err(taken().into()),
        Err(other) => Err(other.into()),
    }
}

fn check_write(app: &App) -> Result<(), MetadefError> {
    if policy::may_write_metadefs(app.caller.caller()) {
        Ok(())
    } else {
        Err(refused(app, MetadefError::WriteForbidden))
    }
}

/// A refusal: `forbidden`, or hidden (404) from a caller the policy hides
/// the whole catalog from (no reading role in a project).
fn refused(app: &App, forbidden: MetadefError) -> MetadefError {
    match policy::metadefs_refusal(app.caller.caller(), &forbidden.to_string()) {
        policy::Decision::Forbidden(_) => forbidden,
        policy::Decision::Invisible | policy::Decision::Allowed => MetadefError::Hidden,
    }
}

/// The namespace `ns`, if the caller may see it (404 otherwise).
async fn readable(app: &App, ns: &str) -> Result<Namespace, ApiError> {
    let namespace = app.metadefs.namespace(ns).await?.ok_or_else(|| namespace_not_found(ns))?;
    let public = namespace.visibility == md::NamespaceVisibility::Public;
    if !policy::can_see_namespace(app.caller.caller(), namespace.owner.as_deref(), public) {
        return Err(namespace_not_found(ns).into());
    }
    Ok(namespace)
}

/// The namespace `ns`, if the caller sees it (404) and may change it (403).
async fn writable(app: &App, ns: &str) -> Result<Namespace, ApiError> {
    let namespace = readable(app, ns).await?;
    check_write(app)?;
    Ok(namespace)
}

/// The prefix the namespace's association with `?resource_type=` gives
/// its property names.
async fn prefix_for(app: &App, ns: &str, query: &str) -> Result<Option<String>, ApiError> {
    let Some(resource_type) = md::resource_type_param(query) else {
        return Ok(None);
    };
    let associations = app.metadefs.associations(ns).await?;
    Ok(associations.into_iter().find(|a| a.resource_type == resource_type).and_then(|a| a.prefix))
}

// Namespaces.

async fn list_namespaces(app: &App, raw_query: &str) -> Result<Response, ApiError> {
    let query = NamespaceQuery::parse(raw_query)?;
    let caller = app.caller.caller();
    if !policy::may_read_metadefs(caller) {
        return Err(refused(app, MetadefError::ReadForbidden("namespaces")).into());
    }
    let visible: Vec<_> = app
        .metadefs
        .namespaces()
        .await?
        .into_iter()
        .filter(|(ns, _)| {
            policy::can_see_namespace(caller, ns.owner.as_deref(), ns.visibility == md::NamespaceVisibility::Public)
        })
        .collect();
    let (page, more) = query.page(visible)?;
    let mut body = json!({
        "namespaces": page
            .iter()
            .map(|(ns, associations)| {
                let contents = Contents { associations: associations.clone(), ..Contents::default() };
                namespace_json(ns, Some(&contents), None)
            })
            .collect::<Vec<_>>(),
        "first": "/v2/metadefs/namespaces",
        "schema": "/v2/schemas/metadefs/namespaces",
    });
    if let (true, Some((last, _))) = (more, page.last()) {
        body["next"] = json!(query.next_link(&last.namespace));
    }
    json_response(200, &body)
}

async fn create_namespace(app: &App, req: &mut Request) -> Result<Response, ApiError> {
    check_write(app)?;
    let body = read_json(req).await?;
    let new = parse_new_namespace(&body, app.caller.project_id.as_deref(), &now())?;
    match app.metadefs.create_namespace(&new).await {
        Err(StoreError::Duplicate) => Err(MetadefError::NamespaceExists(new.namespace.namespace.clone()).into()),
        other => other.map_err(ApiError::from),
    }?;
    json_response(201, &namespace_json(&new.namespace, Some(&new.contents), None))
}

async fn show_namespace(app: &App, ns: &str, query: &str) -> Result<Response, ApiError> {
    let namespace = readable(app, ns).await?;
    let contents = app.metadefs.contents(ns).await?;
    let prefix = prefix_for(app, ns, query).await?;
    json_response(200, &namespace_json(&namespace, Some(&contents), prefix.as_deref()))
}

async fn update_namespace(app: &App, req: &mut Request, ns: &str) -> Result<Response, ApiError> {
    let current = writable(app, ns).await?;
    let body = read_json(req).await?;
    let updated = apply_namespace_update(&current, &body, &now())?;
    written(app.metadefs.update_namespace(ns, &updated).await, ns, || {
        MetadefError::NamespaceExists(updated.namespace.clone())
    })?;
    json_response(200, &namespace_json(&updated, None, None))
}

async fn delete_namespace(app: &App, ns: &str) -> Result<Response, ApiError> {
    writable(app, ns).await?.check_deletable()?;
    app.metadefs.delete_namespace(ns).await?;
    no_content()
}

// Objects and properties.

fn item(kind: Kind) -> Item {
    match kind {
        Kind::Object => Item::Object,
        Kind::Property => Item::Property,
    }
}

async fn list_objects(app: &App, ns: &str) -> Result<Response, ApiError> {
    readable(app, ns).await?;
    let objects = app.metadefs.definitions(Kind::Object, ns).await?;
    json_response(
        200,
        &json!({
            "objects": objects.iter().map(|o| object_json(ns, o)).collect::<Vec<_>>(),
            "schema": "/v2/schemas/metadefs/objects",
        }),
    )
}

async fn show_object(app: &App, ns: &str, name: &str) -> Result<Response, ApiError> {
    readable(app, ns).await?;
    let object =
        app.metadefs.definition(Kind::Object, ns, name).await?.ok_or_else(|| missing(Item::Object, name, ns))?;
    json_response(200, &object_json(ns, &object))
}

async fn list_properties(app: &App, ns: &str) -> Result<Response, ApiError> {
    readable(app, ns).await?;
    let properties = app.metadefs.definitions(Kind::Property, ns).await?;
    json_response(200, &json!({ "properties": properties_map(&properties, None) }))
}

async fn show_property(app: &App, ns: &str, requested: &str, query: &str) -> Result<Response, ApiError> {
    readable(app, ns).await?;
    let prefix = prefix_for(app, ns, query).await?;
    let name = strip_prefix(requested, prefix.as_deref()).ok_or_else(|| MetadefError::NotPrefixed {
        requested: requested.to_owned(),
        prefix: prefix.clone().unwrap_or_default(),
    })?;
    let property =
        app.metadefs.definition(Kind::Property, ns, name).await?.ok_or_else(|| missing(Item::Property, name, ns))?;
    json_response(200, &property_json(&property, requested))
}

fn render(kind: Kind, ns: &str, definition: &md::Definition) -> Value {
    match kind {
        Kind::Object => object_json(ns, definition),
        Kind::Property => property_json(definition, &definition.name),
    }
}

fn parse_definition(kind: Kind, body: &Value, now: &str) -> Result<md::Definition, md::Invalid> {
    match kind {
        Kind::Object => parse_object(body, now),
        Kind::Property => parse_property(body, None, now),
    }
}

fn definition_exists(kind: Kind, name: &str, ns: &str) -> MetadefError {
    MetadefError::Exists { item: item(kind), name: name.to_owned(), namespace: ns.to_owned() }
}

async fn create_definition(app: &App, req: &mut Request, kind: Kind, ns: &str) -> Result<Response, ApiError> {
    writable(app, ns).await?;
    let body = read_json(req).await?;
    let definition = parse_definition(kind, &body, &now())?;
    written(app.metadefs.insert_definition(kind, ns, &definition).await, ns, || {
        definition_exists(kind, &definition.name, ns)
    })?;
    json_response(201, &render(kind, ns, &definition))
}

async fn update_definition(
    app: &App,
    req: &mut Request,
    kind: Kind,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    writable(app, ns).await?;
    let current = app.metadefs.definition(kind, ns, name).await?.ok_or_else(|| missing(item(kind), name, ns))?;
    let mut body = read_json(req).await?;
    // The name may stay implicit: the URL gives it.
    if let Some(map) = body.as_object_mut() {
        map.entry("name").or_insert_with(|| json!(name));
    }
    let mut updated = parse_definition(kind, &body, &now())?;
    updated.created_at = current.created_at;
    match app.metadefs.update_definition(kind, ns, name, &updated).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(missing(item(kind), name, ns).into()),
        Err(StoreError::Duplicate) => Err(definition_exists(kind, &updated.name, ns).into()),
        Err(other) => Err(ApiError::from(other)),
    }?;
    json_response(200, &render(kind, ns, &updated))
}

async fn delete_definitions(app: &App, kind: Kind, ns: &str, name: Option<&str>) -> Result<Response, ApiError> {
    let namespace = writable(app, ns).await?;
    let what = match (kind, name) {
        (_, Some(name)) => format!("{} {name}", item(kind)),
        (Kind::Object, None) => "the objects".to_owned(),
        (Kind::Property, None) => "the properties".to_owned(),
    };
    if let Some(name) = name {
        app.metadefs.definition(kind, ns, name).await?.ok_or_else(|| missing(item(kind), name, ns))?;
    }
    namespace.check_contents_deletable(what)?;
    app.metadefs.delete_definitions(kind, ns, name).await?;
    no_content()
}

// Tags.

async fn list_tags(app: &App, ns: &str) -> Result<Response, ApiError> {
    readable(app, ns).await?;
    let tags = app.metadefs.tags(ns).await?;
    json_response(200, &json!({ "tags": tags.iter().map(tag_json).collect::<Vec<_>>() }))
}

/// `POST .../tags`: with `X-Openstack-Append: true` the tags join the
/// namespace's; otherwise they replace them. Either way in one batch: all
/// of the request's tags are written or none.
async fn create_tags(app: &App, req: &mut Request, ns: &str) -> Result<Response, ApiError> {
    writable(app, ns).await?;
    let append = header(req, "X-Openstack-Append").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let tags = parse_tags(&read_json(req).await?, ns, &now())?;
    match app.metadefs.insert_tags(ns, &tags, !append).await {
        Ok(true) => {}
        Ok(false) => return Err(namespace_not_found(ns).into()),
        Err(StoreError::Duplicate) => return Err(taken_tag(app, ns, &tags).await?.into()),
        Err(other) => return Err(other.into()),
    }
    json_response(201, &json!({ "tags": tags.iter().map(tag_json).collect::<Vec<_>>() }))
}

/// The conflict of an append refused because the namespace has one of
/// `tags` (the names within one request are distinct already).
async fn taken_tag(app: &App, ns: &str, tags: &[Tag]) -> Result<MetadefError, ApiError> {
    let existing = app.metadefs.tags(ns).await?;
    let taken = tags.iter().find(|t| existing.iter().any(|e| e.name == t.name)).or(tags.first());
    Ok(MetadefError::TagExists { name: taken.map(|t| t.name.clone()).unwrap_or_default(), namespace: ns.to_owned() })
}

fn tag_exists(name: &str, ns: &str) -> MetadefError {
    MetadefError::TagExists { name: name.to_owned(), namespace: ns.to_owned() }
}

async fn create_tag(app: &App, ns: &str, name: &str) -> Result<Response, ApiError> {
    writable(app, ns).await?;
    check_name(name, md::MAX_TAG, "tag")?;
    let now = now();
    let tag = Tag { name: name.to_owned(), created_at: now.clone(), updated_at: now };
    written(app.metadefs.insert_tags(ns, std::slice::from_ref(&tag), false).await, ns, || tag_exists(name, ns))?;
    json_response(201, &tag_json(&tag))
}

async fn find_tag(app: &App, ns: &str, name: &str) -> Result<Tag, ApiError> {
    let tags = app.metadefs.tags(ns).await?;
    Ok(tags.into_iter().find(|t| t.name == name).ok_or_else(|| missing(Item::Tag, name, ns))?)
}

async fn show_tag(app: &App, ns: &str, name: &str) -> Result<Response, ApiError> {
    readable(app, ns).await?;
    json_response(200, &tag_json(&find_tag(app, ns, name).await?))
}

async fn rename_tag(app: &App, req: &mut Request, ns: &str, name: &str) -> Result<Response, ApiError> {
    writable(app, ns).await?;
    let current = find_tag(app, ns, name).await?;
    let new_name = parse_tag_rename(&read_json(req).await?)?;
    let now = now();
    match app.metadefs.rename_tag(ns, name, &new_name, &now).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(missing(Item::Tag, name, ns).into()),
        Err(StoreError::Duplicate) => Err(tag_exists(&new_name, ns).into()),
        Err(other) => Err(ApiError::from(other)),
    }?;
    json_response(200, &tag_json(&Tag { name: new_name, created_at: current.created_at, updated_at: now }))
}

async fn delete_tags(app: &App, ns: &str, name: Option<&str>) -> Result<Response, ApiError> {
    let namespace = writable(app, ns).await?;
    if let Some(name) = name {
        find_tag(app, ns, name).await?;
    }
    namespace.check_contents_deletable(name.map_or("the tags".to_owned(), |n| format!("tag {n}")))?;
    app.metadefs.delete_tags(ns, name).await?;
    no_content()
}

// Resource types.

async fn list_resource_types(app: &App) -> Result<Response, ApiError> {
    if !policy::may_read_metadefs(app.caller.caller()) {
        return Err(refused(app, MetadefError::ReadForbidden("resource types")).into());
    }
    let types = app.metadefs.resource_types().await?;
    json_response(200, &json!({ "resource_types": types.iter().map(resource_type_json).collect::<Vec<_>>() }))
}

async fn list_associations(app: &App, ns: &str) -> Result<Response, ApiError> {
    readable(app, ns).await?;
    let associations = app.metadefs.associations(ns).await?;
    json_response(
        200,
        &json!({ "resource_type_associations": associations.iter().map(association_json).collect::<Vec<_>>() }),
    )
}

async fn associate(app: &App, req: &mut Request, ns: &str) -> Result<Response, ApiError> {
    writable(app, ns).await?;
    let association = parse_association(&read_json(req).await?, &now())?;
    written(app.metadefs.insert_association(ns, &association).await, ns, || MetadefError::AlreadyAssociated {
        resource_type: association.resource_type.clone(),
        namespace: ns.to_owned(),
    })?;
    json_response(201, &association_json(&association))
}

async fn dissociate(app: &App, ns: &str, resource_type: &str) -> Result<Response, ApiError> {
    let namespace = writable(app, ns).await?;
    let associations = app.metadefs.associations(ns).await?;
    if !associations.iter().any(|a| a.resource_type == resource_type) {
        return Err(
            MetadefError::NotAssociated { resource_type: resource_type.to_owned(), namespace: ns.to_owned() }.into()
        );
    }
    namespace.check_contents_deletable(format!("the association with {resource_type}"))?;
    app.metadefs.delete_association(ns, resource_type).await?;
    no_content()
}
