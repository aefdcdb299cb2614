use serde_json::json;

use super::*;

const NOW: &str = "2025-01-01T00:00:00Z";

fn ns(name: &str, created: &str, visibility: NamespaceVisibility) -> Namespace {
    Namespace {
        namespace: name.into(),
        display_name: None,
        description: None,
        visibility,
        protected: false,
        owner: Some("p1".into()),
        created_at: created.into(),
        updated_at: created.into(),
    }
}

#[test]
fn a_new_namespace_defaults_to_private_unprotected_and_the_callers_project() {
    let new = parse_new_namespace(&json!({"namespace": "OS::Test"}), Some("p1"), NOW).unwrap();
    assert_eq!(new.namespace.visibility, NamespaceVisibility::Private);
    assert!(!new.namespace.protected);
    assert_eq!(new.namespace.owner.as_deref(), Some("p1"));
    assert_eq!(new.contents, Contents::default());
}

#[test]
fn a_new_namespace_may_carry_its_contents() {
    let body = json!({
        "namespace": "n", "visibility": "public", "protected": true,
        "objects": [{"name": "o", "properties": {"p": {"title": "P", "type": "integer"}}}],
        "properties": {"q": {"title": "Q", "type": "string", "enum": ["a"]}},
        "tags": [{"name": "t1"}, {"name": "t2"}],
        "resource_type_associations": [{"name": "OS::Nova::Flavor", "prefix": "hw:"}],
        "created_at": "ignored", "self": "ignored",
    });
    let new = parse_new_namespace(&body, None, NOW).unwrap();
    assert_eq!(new.contents.objects[0].name, "o");
    assert_eq!(new.contents.properties[0].name, "q");
    assert_eq!(new.contents.tags.len(), 2);
    assert_eq!(new.contents.associations[0].prefix.as_deref(), Some("hw:"));
    let view = namespace_json(&new.namespace, Some(&new.contents), None);
    assert_eq!(view["properties"]["q"]["type"], "string");
    assert_eq!(view["objects"][0]["properties"]["p"]["type"], "integer");
    assert_eq!(view["self"], "/v2/metadefs/namespaces/n");
    let prefixed = namespace_json(&new.namespace, Some(&new.contents), Some("hw:"));
    assert!(prefixed["properties"]["hw:q"].is_object());
    assert!(prefixed["objects"][0]["properties"]["hw:p"].is_object());
}

#[test]
fn bad_namespace_bodies_are_refused() {
    for body in [
        json!({}),
        json!({"namespace": ""}),
        json!({"namespace": "x".repeat(81)}),
        json!({"namespace": "n", "visibility": "shared"}),
        json!({"namespace": "n", "protected": "yes"}),
        json!({"namespace": "n", "color": "red"}),
        json!({"namespace": "n", "tags": [{"name": "a"}, {"name": "a"}]}),
        json!([1]),
    ] {
        assert!(parse_new_namespace(&body, None, NOW).is_err(), "{body}");
    }
}

#[test]
fn an_update_replaces_only_the_fields_given() {
    let current = ns("n", NOW, NamespaceVisibility::Public);
    let updated =
        apply_namespace_update(&current, &json!({"namespace": "m", "visibility": "private"}), "later").unwrap();
    assert_eq!(updated.namespace, "m");
    assert_eq!(updated.visibility, NamespaceVisibility::Private);
    assert_eq!(updated.owner.as_deref(), Some("p1"));
    assert_eq!(updated.updated_at, "later");
    assert!(apply_namespace_update(&current, &json!({"protected": 1}), NOW).is_err());
}

#[test]
fn properties_need_a_title_and_a_known_type() {
    assert!(parse_property(&json!({"name": "p", "title": "P", "type": "string"}), None, NOW).is_ok());
    for body in [
        json!({"name": "p", "type": "string"}),
        json!({"name": "p", "title": "P"}),
        json!({"name": "p", "title": "P", "type": "text"}),
        json!({"name": "p", "title": "P", "type": "integer", "minimum": "1"}),
        json!({"name": "p", "title": "P", "type": "string", "maxLength": -1}),
        json!({"name": "p", "title": "P", "type": "string", "bogus": 1}),
        json!({"title": "P", "type": "string"}),
    ] {
        assert!(parse_property(&body, None, NOW).is_err(), "{body}");
    }
    let property = parse_property(&json!({"title": "P", "type": "boolean"}), Some("key"), NOW).unwrap();
    assert_eq!(property.name, "key");
    assert_eq!(property_json(&property, "key"), json!({"name": "key", "title": "P", "type": "boolean"}));
}

#[test]
fn objects_validate_their_properties() {
    let object = parse_object(&json!({"name": "o", "required": ["a"]}), NOW).unwrap();
    let view = object_json("n s", &object);
    assert_eq!(view["properties"], json!({}));
    assert_eq!(view["required"], json!(["a"]));
    assert_eq!(view["self"], "/v2/metadefs/namespaces/n%20s/objects/o");
    assert!(parse_object(&json!({"name": "o", "properties": {"p": {"type": "string"}}}), NOW).is_err());
    assert!(parse_object(&json!({"name": "o", "required": "a"}), NOW).is_err());
}

#[test]
fn bulk_tags_report_a_repeated_name_as_a_duplicate() {
    let tags = parse_tags(&json!({"tags": [{"name": "a"}, {"name": "b"}]}), NOW).unwrap();
    assert_eq!(tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(parse_tags(&json!({"tags": [{"name": "a"}, {"name": "a"}]}), NOW), Err(Ok("a".into())));
    assert!(matches!(parse_tags(&json!({"tags": [{"name": ""}]}), NOW), Err(Err(_))));
    assert!(matches!(parse_tags(&json!({}), NOW), Err(Err(_))));
    assert_eq!(parse_tag_rename(&json!({"name": "c"})).unwrap(), "c");
}

#[test]
fn the_resource_type_prefix_is_stripped_or_the_property_is_missing() {
    assert_eq!(strip_prefix("hw:cpu", Some("hw:")), Some("cpu"));
    assert_eq!(strip_prefix("cpu", Some("hw:")), None);
    assert_eq!(strip_prefix("cpu", None), Some("cpu"));
    assert_eq!(strip_prefix("cpu", Some("")), Some("cpu"));
    assert_eq!(resource_type_param("resource_type=OS%3A%3ANova%3A%3AFlavor"), Some("OS::Nova::Flavor".into()));
    assert_eq!(resource_type_param("x=1"), None);
}

#[test]
fn the_namespace_list_filters_sorts_and_pages() {
    let assoc = |t: &str| Association {
        resource_type: t.into(),
        prefix: None,
        properties_target: None,
        created_at: NOW.into(),
        updated_at: NOW.into(),
    };
    let all = vec![
        (ns("a", "2025-01-01T00:00:01Z", NamespaceVisibility::Public), vec![assoc("OS::Glance::Image")]),
        (ns("b", "2025-01-01T00:00:02Z", NamespaceVisibility::Private), vec![]),
        (ns("c", "2025-01-01T00:00:03Z", NamespaceVisibility::Public), vec![assoc("OS::Nova::Flavor")]),
    ];
    let names = |q: &str| {
        let (page, more) = NamespaceQuery::parse(q).unwrap().page(all.clone()).unwrap();
        (page.into_iter().map(|(n, _)| n.namespace).collect::<Vec<_>>(), more)
    };
    assert_eq!(names(""), (vec!["c".into(), "b".into(), "a".into()], false));
    assert_eq!(names("sort_dir=asc&limit=2"), (vec!["a".into(), "b".into()], true));
    assert_eq!(names("sort_dir=asc&limit=2&marker=b"), (vec!["c".into()], false));
    assert_eq!(names("visibility=public&sort_key=namespace&sort_dir=asc").0, ["a", "c"]);
    assert_eq!(names("resource_types=OS::Nova::Flavor,OS::Cinder::Volume").0, ["c"]);
    assert!(NamespaceQuery::parse("").unwrap().marker.is_none());
    assert!(NamespaceQuery::parse("sort_key=owner").is_err());
    assert!(NamespaceQuery::parse("limit=-1").is_err());
    assert!(NamespaceQuery::parse("visibility=shared").is_err());
    assert!(NamespaceQuery::parse("marker=zzz").unwrap().page(all.clone()).is_err());
    let link = NamespaceQuery::parse("limit=2").unwrap().next_link("b");
    assert!(link.starts_with("/v2/metadefs/namespaces?marker=b&limit=2"), "{link}");
}
