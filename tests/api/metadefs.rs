//! The metadata definitions catalog (`/v2/metadefs`, Glance's metadefs
//! API): CRUD of namespaces, objects, properties, tags and resource type
//! associations, the bulk tag modes, the 404/409/403 answers, the resource
//! type list and the ten schemas. The noauth caller is an admin; the
//! refusals of non-admins are unit tests of the policy functions. The
//! catalog is shared: every test makes its own namespace names. Then the
//! atomic writes (concurrent tag replacements) and Glance's schema rules.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;

use serde_json::{json, Value};

use crate::helpers::{app, unique_tag, Reply};

fn put_json(path: &str, body: &Value) -> Reply {
    app().request("PUT", path, &[("Content-Type", "application/json")], Some(body.to_string().as_bytes()))
}

fn delete(path: &str) -> Reply {
    app().request("DELETE", path, &[], None)
}

fn ok(reply: Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", String::from_utf8_lossy(&reply.body));
    if reply.body.is_empty() {
        Value::Null
    } else {
        reply.json()
    }
}

/// A new public namespace with a unique name: (name, its URL path).
fn namespace(extra: Value) -> (String, String) {
    let name = format!("OS::Test::{}", unique_tag());
    let mut body = json!({"namespace": name, "visibility": "public", "display_name": "test"});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let created = ok(app().post_json("/v2/metadefs/namespaces", &body), 201);
    assert_eq!(created["namespace"], name.as_str());
    let path = format!("/v2/metadefs/namespaces/{name}");
    (name, path)
}

#[test]
fn a_namespace_is_created_listed_shown_updated_and_deleted() {
    let (name, path) = namespace(json!({"description": "for tests", "protected": false}));
    let shown = ok(app().get(&path), 200);
    assert_eq!(shown["visibility"], "public");
    assert_eq!(shown["protected"], false);
    assert_eq!(shown["description"], "for tests");
    assert_eq!(shown["schema"], "/v2/schemas/metadefs/namespace");
    assert!(shown["owner"].is_string() && shown["created_at"].is_string(), "{shown}");

    let list = ok(app().get("/v2/metadefs/namespaces?limit=1000"), 200);
    assert!(list["namespaces"].as_array().unwrap().iter().any(|n| n["namespace"] == name.as_str()), "{list}");
    assert_eq!(list["schema"], "/v2/schemas/metadefs/namespaces");

    let updated = ok(put_json(&path, &json!({"namespace": name, "visibility": "private", "protected": true})), 200);
    assert_eq!(updated["visibility"], "private");
    assert_eq!(updated["protected"], true);
    delete(&path).assert_error(403, "protected");
    ok(put_json(&path, &json!({"namespace": name, "protected": false})), 200);
    ok(delete(&path), 204);
    app().get(&path).assert_error(404, &name);
    delete(&path).assert_error(404, &name);
}

#[test]
fn a_duplicate_or_invalid_namespace_is_refused() {
    let (name, _) = namespace(json!({}));
    app().post_json("/v2/metadefs/namespaces", &json!({"namespace": name})).assert_error(409, "already exists");
    app().post_json("/v2/metadefs/namespaces", &json!({"display_name": "x"})).assert_error(400, "namespace");
    app()
        .post_json("/v2/metadefs/namespaces", &json!({"namespace": unique_tag(), "visibility": "shared"}))
        .assert_error(400, "visibility");
    app().get("/v2/metadefs/namespaces?sort_dir=sideways").assert_error(400, "sort direction");
}

#[test]
fn a_namespace_renamed_keeps_its_contents() {
    let (_, path) = namespace(json!({"tags": [{"name": "kept"}], "objects": [{"name": "o"}]}));
    let new_name = format!("OS::Renamed::{}", unique_tag());
    ok(put_json(&path, &json!({"namespace": new_name})), 200);
    app().get(&path).assert_error(404, "was not found");
    let shown = ok(app().get(&format!("/v2/metadefs/namespaces/{new_name}")), 200);
    assert_eq!(shown["tags"], json!([{"name": "kept"}]));
    assert_eq!(shown["objects"][0]["name"], "o");
    ok(delete(&format!("/v2/metadefs/namespaces/{new_name}")), 204);
}

#[test]
fn the_namespace_list_pages_and_filters() {
    let resource_type = format!("OS::Test::{}", unique_tag());
    let association = json!({"resource_type_associations": [{"name": resource_type}]});
    let (first, _) = namespace(association.clone());
    let (second, _) = namespace(association);
    let query = format!("/v2/metadefs/namespaces?resource_types={resource_type}&sort_key=namespace&sort_dir=asc");
    let all = ok(app().get(&query), 200);
    let names: Vec<&str> =
        all["namespaces"].as_array().unwrap().iter().map(|n| n["namespace"].as_str().unwrap()).collect();
    let mut expected = [first.as_str(), second.as_str()];
    expected.sort();
    assert_eq!(names, expected);
    let page = ok(app().get(&format!("{query}&limit=1")), 200);
    assert_eq!(page["namespaces"].as_array().unwrap().len(), 1);
    let next = page["next"].as_str().expect("a next link");
    let rest = ok(app().get(next), 200);
    assert_eq!(rest["namespaces"][0]["namespace"], expected[1]);
    assert!(rest.get("next").is_none(), "{rest}");
    let private = ok(app().get(&format!("{query}&visibility=private")), 200);
    assert_eq!(private["namespaces"], json!([]));
}

#[test]
fn objects_are_created_listed_updated_and_deleted() {
    let (name, path) = namespace(json!({}));
    let body = json!({"name": "cpu", "description": "CPU", "required": ["cores"],
                      "properties": {"cores": {"title": "Cores", "type": "integer", "minimum": 1}}});
    let created = ok(app().post_json(&format!("{path}/objects"), &body), 201);
    assert_eq!(created["properties"]["cores"]["minimum"], 1);
    assert_eq!(created["schema"], "/v2/schemas/metadefs/object");
    app().post_json(&format!("{path}/objects"), &body).assert_error(409, "cpu");
    app()
        .post_json(&format!("{path}/objects"), &json!({"name": "x", "properties": {"p": {"type": "bad"}}}))
        .assert_error(400, "");
    let list = ok(app().get(&format!("{path}/objects")), 200);
    assert_eq!(list["objects"][0]["name"], "cpu");
    assert_eq!(ok(app().get(&format!("{path}/objects/cpu")), 200)["description"], "CPU");
    let updated = ok(put_json(&format!("{path}/objects/cpu"), &json!({"name": "processor"})), 200);
    assert_eq!(updated["name"], "processor");
    app().get(&format!("{path}/objects/cpu")).assert_error(404, "cpu");
    ok(app().post_json(&format!("{path}/objects"), &json!({"name": "other"})), 201);
    ok(delete(&format!("{path}/objects/processor")), 204);
    delete(&format!("{path}/objects/processor")).assert_error(404, "processor");
    ok(delete(&format!("{path}/objects")), 204);
    assert_eq!(ok(app().get(&format!("{path}/objects")), 200)["objects"], json!([]));
    app().get(&format!("/v2/metadefs/namespaces/{name}-missing/objects")).assert_error(404, "missing");
}

#[test]
fn properties_are_listed_by_name_and_shown_with_a_resource_type_prefix() {
    let (_, path) = namespace(json!({"resource_type_associations": [{"name": "OS::Nova::Flavor", "prefix": "hw:"}]}));
    let body = json!({"name": "cpu_policy", "title": "CPU policy", "type": "string", "enum": ["shared", "dedicated"]});
    let created = ok(app().post_json(&format!("{path}/properties"), &body), 201);
    assert_eq!(created["title"], "CPU policy");
    app().post_json(&format!("{path}/properties"), &body).assert_error(409, "cpu_policy");
    app()
        .post_json(&format!("{path}/properties"), &json!({"name": "p", "title": "P", "type": "text"}))
        .assert_error(400, "type");
    app().post_json(&format!("{path}/properties"), &json!({"name": "p", "type": "string"})).assert_error(400, "title");
    let list = ok(app().get(&format!("{path}/properties")), 200);
    assert_eq!(list["properties"]["cpu_policy"]["enum"], json!(["shared", "dedicated"]));
    assert!(list["properties"]["cpu_policy"].get("name").is_none());

    let shown = ok(app().get(&format!("{path}/properties/cpu_policy")), 200);
    assert_eq!(shown["name"], "cpu_policy");
    let prefixed = ok(app().get(&format!("{path}/properties/hw:cpu_policy?resource_type=OS::Nova::Flavor")), 200);
    assert_eq!(prefixed["name"], "hw:cpu_policy");
    assert_eq!(prefixed["title"], "CPU policy");
    app().get(&format!("{path}/properties/cpu_policy?resource_type=OS::Nova::Flavor")).assert_error(404, "hw:");
    let namespace = ok(app().get(&format!("{path}?resource_type=OS::Nova::Flavor")), 200);
    assert!(namespace["properties"]["hw:cpu_policy"].is_object(), "{namespace}");

    let updated = ok(
        put_json(
            &format!("{path}/properties/cpu_policy"),
            &json!({"name": "cpu_policy", "title": "New", "type": "string"}),
        ),
        200,
    );
    assert_eq!(updated["title"], "New");
    ok(delete(&format!("{path}/properties/cpu_policy")), 204);
    app().get(&format!("{path}/properties/cpu_policy")).assert_error(404, "cpu_policy");
    ok(app().post_json(&format!("{path}/properties"), &body), 201);
    ok(delete(&format!("{path}/properties")), 204);
    assert_eq!(ok(app().get(&format!("{path}/properties")), 200)["properties"], json!({}));
}

fn tag_names(path: &str) -> Vec<String> {
    let list = ok(app().get(&format!("{path}/tags")), 200);
    list["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn bulk_tags_replace_unless_asked_to_append() {
    let (_, path) = namespace(json!({}));
    let tags = |names: &[&str]| json!({"tags": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()});
    let created = ok(app().post_json(&format!("{path}/tags"), &tags(&["a", "b"])), 201);
    assert_eq!(created["tags"].as_array().unwrap().len(), 2);
    ok(app().post_json(&format!("{path}/tags"), &tags(&["c"])), 201);
    assert_eq!(tag_names(&path), ["c"]);
    let append = |body: &Value| {
        app().request(
            "POST",
            &format!("{path}/tags"),
            &[("Content-Type", "application/json"), ("X-Openstack-Append", "True")],
            Some(body.to_string().as_bytes()),
        )
    };
    ok(append(&tags(&["d", "e"])), 201);
    assert_eq!(tag_names(&path), ["c", "d", "e"]);
    append(&tags(&["e"])).assert_error(409, "e");
    app().post_json(&format!("{path}/tags"), &tags(&["x", "x"])).assert_error(409, "x");
    assert_eq!(tag_names(&path), ["c", "d", "e"], "a refused request changes nothing");
    ok(delete(&format!("{path}/tags")), 204);
    assert!(tag_names(&path).is_empty());
}

#[test]
fn one_tag_is_created_shown_renamed_and_deleted() {
    let (_, path) = namespace(json!({}));
    let created = ok(app().request("POST", &format!("{path}/tags/first"), &[], None), 201);
    assert_eq!(created["name"], "first");
    app().request("POST", &format!("{path}/tags/first"), &[], None).assert_error(409, "first");
    assert_eq!(ok(app().get(&format!("{path}/tags/first")), 200)["name"], "first");
    let renamed = ok(put_json(&format!("{path}/tags/first"), &json!({"name": "second"})), 200);
    assert_eq!(renamed["name"], "second");
    app().get(&format!("{path}/tags/first")).assert_error(404, "first");
    ok(delete(&format!("{path}/tags/second")), 204);
    delete(&format!("{path}/tags/second")).assert_error(404, "second");
}

#[test]
fn a_protected_namespace_keeps_its_contents() {
    let (name, path) = namespace(json!({
        "protected": true, "tags": [{"name": "t"}], "objects": [{"name": "o"}],
        "properties": {"p": {"title": "P", "type": "boolean"}},
        "resource_type_associations": [{"name": "OS::Glance::Image"}],
    }));
    for target in
        ["tags/t", "tags", "objects/o", "objects", "properties/p", "properties", "resource_types/OS::Glance::Image"]
    {
        delete(&format!("{path}/{target}")).assert_error(403, "protected");
    }
    ok(put_json(&path, &json!({"namespace": name, "protected": false})), 200);
    ok(delete(&path), 204);
}

#[test]
fn resource_types_are_listed_and_associated() {
    let types = ok(app().get("/v2/metadefs/resource_types"), 200);
    let names: Vec<&str> =
        types["resource_types"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for expected in
        ["OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor", "OS::Nova::Aggregate", "OS::Nova::Server"]
    {
        assert!(names.contains(&expected), "{names:?}");
    }
    let (_, path) = namespace(json!({}));
    let body = json!({"name": "OS::Cinder::Volume", "prefix": "", "properties_target": "image"});
    let created = ok(app().post_json(&format!("{path}/resource_types"), &body), 201);
    assert_eq!(created["name"], "OS::Cinder::Volume");
    assert_eq!(created["properties_target"], "image");
    app().post_json(&format!("{path}/resource_types"), &body).assert_error(409, "OS::Cinder::Volume");
    let list = ok(app().get(&format!("{path}/resource_types")), 200);
    assert_eq!(list["resource_type_associations"][0]["name"], "OS::Cinder::Volume");
    ok(delete(&format!("{path}/resource_types/OS::Cinder::Volume")), 204);
    delete(&format!("{path}/resource_types/OS::Cinder::Volume")).assert_error(404, "OS::Cinder::Volume");
    assert_eq!(ok(app().get(&format!("{path}/resource_types")), 200)["resource_type_associations"], json!([]));

    let new_type = format!("OS::Test::{}", unique_tag());
    ok(app().post_json(&format!("{path}/resource_types"), &json!({"name": new_type})), 201);
    let types = ok(app().get("/v2/metadefs/resource_types"), 200);
    assert!(types["resource_types"].as_array().unwrap().iter().any(|t| t["name"] == new_type.as_str()));
}

#[test]
fn the_ten_metadefs_schemas_are_served_with_the_names_clients_check() {
    for (path, name) in [
        ("namespace", "namespace"),
        ("namespaces", "namespaces"),
        ("object", "object"),
        ("objects", "objects"),
        ("property", "property"),
        ("properties", "properties"),
        ("resource_type", "resource_type_association"),
        ("resource_types", "resource_type_associations"),
        ("tag", "tag"),
        ("tags", "tags"),
    ] {
        let schema = ok(app().get(&format!("/v2/schemas/metadefs/{path}")), 200);
        assert_eq!(schema["name"], name, "metadefs/{path}");
    }
    app().get("/v2/schemas/metadefs/image").assert_error(404, "metadefs/image");
}

// Atomic writes (issue 18): what Glance writes in one transaction is one D1
// batch here.

/// The body of a `POST .../tags` with these names.
fn tag_list(names: &BTreeSet<String>) -> Value {
    json!({"tags": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()})
}

#[test]
fn concurrent_tag_replacements_leave_exactly_one_requests_set() {
    // Several "replace all tags" calls at once, each with its own set, for
    // a few rounds: each must leave the namespace with exactly one of the
    // sets (they used to delete and insert one statement at a time, and
    // two requests' inserts interleaved into a mix).
    const WRITERS: usize = 4;
    const TAGS: usize = 8;
    const ROUNDS: usize = 5;
    let (_, path) = namespace(json!({}));
    for round in 0..ROUNDS {
        let sets: Vec<BTreeSet<String>> =
            (0..WRITERS).map(|w| (0..TAGS).map(|i| format!("r{round}-w{w}-t{i}")).collect()).collect();
        let start = Arc::new(Barrier::new(WRITERS));
        let writers: Vec<_> = sets
            .iter()
            .map(|set| {
                let (path, body, start) = (path.clone(), tag_list(set), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    app().post_json(&format!("{path}/tags"), &body)
                })
            })
            .collect();
        for reply in writers.into_iter().map(|w| w.join().unwrap()) {
            assert_eq!(reply.status, 201, "round {round}: {}", String::from_utf8_lossy(&reply.body));
        }
        let left: BTreeSet<String> = tag_names(&path).into_iter().collect();
        assert!(sets.contains(&left), "round {round}: the tags left are no single request's set: {left:?}");
    }
}

#[test]
fn an_append_that_collides_adds_none_of_its_tags() {
    let (_, path) = namespace(json!({"tags": [{"name": "kept"}]}));
    let body = json!({"tags": [{"name": "fresh-1"}, {"name": "kept"}, {"name": "fresh-2"}]});
    app()
        .request(
            "POST",
            &format!("{path}/tags"),
            &[("Content-Type", "application/json"), ("X-Openstack-Append", "true")],
            Some(body.to_string().as_bytes()),
        )
        .assert_error(409, "name=kept");
    assert_eq!(tag_names(&path), ["kept"], "a refused append adds nothing");
}

#[test]
fn a_namespace_is_created_with_all_its_contents_or_not_at_all() {
    let (name, path) = namespace(json!({
        "tags": [{"name": "t1"}, {"name": "t2"}],
        "objects": [{"name": "o1"}, {"name": "o2"}],
        "properties": {"p1": {"title": "P", "type": "string"}},
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "x_"}],
    }));
    let shown = ok(app().get(&path), 200);
    assert_eq!(shown["tags"], json!([{"name": "t1"}, {"name": "t2"}]));
    assert_eq!(shown["objects"].as_array().unwrap().len(), 2);
    assert_eq!(shown["resource_type_associations"][0]["prefix"], "x_");
    // Created again under the same name with other contents: refused whole,
    // and what exists is untouched.
    let again = json!({"namespace": name, "tags": [{"name": "t3"}], "objects": [{"name": "o3"}]});
    app().post_json("/v2/metadefs/namespaces", &again).assert_error(409, "already exists");
    assert_eq!(tag_names(&path), ["t1", "t2"]);
    let objects = ok(app().get(&format!("{path}/objects")), 200);
    assert_eq!(objects["objects"].as_array().unwrap().len(), 2, "{objects}");
    // Deleted with all of it: a namespace made anew under the name is empty.
    ok(delete(&path), 204);
    namespace_named(&name);
    let fresh = ok(app().get(&path), 200);
    for key in ["tags", "objects", "properties", "resource_type_associations"] {
        assert!(fresh.get(key).is_none(), "{key} survived the delete: {fresh}");
    }
    ok(delete(&path), 204);
}

fn namespace_named(name: &str) {
    ok(app().post_json("/v2/metadefs/namespaces", &json!({"namespace": name, "visibility": "public"})), 201);
}

// Glance's schema rules: each refusal is a JSON 400 naming the problem.

/// Asserts `reply` is a 400 whose message mentions `needle`.
fn refused(reply: Reply, needle: &str) {
    reply.assert_error(400, needle);
}

#[test]
fn a_tag_name_longer_than_80_characters_is_refused_everywhere() {
    let (_, path) = namespace(json!({}));
    let long = "t".repeat(81);
    refused(app().post_json(&format!("{path}/tags"), &json!({"tags": [{"name": long}]})), "at most 80");
    refused(app().request("POST", &format!("{path}/tags/{long}"), &[], None), "at most 80");
    ok(app().request("POST", &format!("{path}/tags/short"), &[], None), 201);
    refused(put_json(&format!("{path}/tags/short"), &json!({"name": long})), "at most 80");
    let body = json!({"namespace": format!("OS::Test::{}", unique_tag()), "tags": [{"name": long}]});
    refused(app().post_json("/v2/metadefs/namespaces", &body), "at most 80");
    assert_eq!(tag_names(&path), ["short"]);
    let at_limit = "t".repeat(80);
    ok(app().request("POST", &format!("{path}/tags/{at_limit}"), &[], None), 201);
}

#[test]
fn property_definitions_glance_refuses_are_refused() {
    let (_, path) = namespace(json!({}));
    let property = |extra: Value| {
        let mut body = json!({"name": "p", "title": "P", "type": "array"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    for (extra, needle) in [
        (json!({"items": 5}), "'items' of the property 'p' must be an object"),
        (json!({"items": {"type": "text"}}), "Invalid 'type' \"text\" of the 'items'"),
        (json!({"items": {"enum": "a"}}), "'enum' of the 'items'"),
        (json!({"description": 5}), "'description' of the property 'p' must be a string"),
        (json!({"pattern": 5}), "'pattern' of the property 'p' must be a string"),
        (json!({"operators": [1, 2]}), "'operators' of the property 'p' must be a list of strings"),
        (json!({"operators": "<or>"}), "'operators'"),
        (json!({"minItems": -1}), "'minItems'"),
        (json!({"required": ["a", "a"]}), "lists 'a' twice"),
        (json!({"name": "p".repeat(81)}), "property name is 81 characters"),
    ] {
        refused(app().post_json(&format!("{path}/properties"), &property(extra.clone())), needle);
    }
    assert_eq!(ok(app().get(&format!("{path}/properties")), 200)["properties"], json!({}));
    // The same rules on update, inside objects and inside a new namespace.
    ok(app().post_json(&format!("{path}/properties"), &property(json!({"items": {"type": "string"}}))), 201);
    refused(put_json(&format!("{path}/properties/p"), &property(json!({"items": 5}))), "'items'");
    let object = json!({"name": "o", "properties": {"q": {"title": "Q", "type": "string", "operators": [1]}}});
    refused(app().post_json(&format!("{path}/objects"), &object), "'operators' of the property 'q'");
    let name = format!("OS::Test::{}", unique_tag());
    let body = json!({"namespace": name, "properties": {"q": {"title": "Q", "type": "string", "description": []}}});
    refused(app().post_json("/v2/metadefs/namespaces", &body), "'description' of the property 'q'");
    app().get(&format!("/v2/metadefs/namespaces/{name}")).assert_error(404, &name);
}

#[test]
fn names_and_texts_longer_than_glance_allows_are_refused() {
    let (_, path) = namespace(json!({}));
    let long = |n: usize| "x".repeat(n);
    for (body, needle) in [
        (json!({"namespace": long(81)}), "namespace name is 81 characters"),
        (json!({"namespace": unique_tag(), "display_name": long(81)}), "'display_name'"),
        (json!({"namespace": unique_tag(), "description": long(501)}), "'description'"),
        (json!({"namespace": unique_tag(), "owner": long(256)}), "'owner'"),
        (json!({"namespace": unique_tag(), "objects": [{"name": long(81)}]}), "object name is 81 characters"),
        (json!({"namespace": unique_tag(), "resource_type_associations": [{"name": long(81)}]}), "resource type"),
    ] {
        refused(app().post_json("/v2/metadefs/namespaces", &body), needle);
    }
    refused(put_json(&path, &json!({"display_name": long(81)})), "'display_name'");
    refused(app().post_json(&format!("{path}/objects"), &json!({"name": long(81)})), "object name is 81");
    for (body, needle) in [
        (json!({"name": long(81)}), "resource type name is 81 characters"),
        (json!({"name": "OS::Glance::Image", "prefix": long(81)}), "'prefix'"),
        (json!({"name": "OS::Glance::Image", "properties_target": long(81)}), "'properties_target'"),
    ] {
        refused(app().post_json(&format!("{path}/resource_types"), &body), needle);
    }
    assert_eq!(ok(app().get(&format!("{path}/resource_types")), 200)["resource_type_associations"], json!([]));
}
