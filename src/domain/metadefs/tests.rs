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
    let tags = parse_tags(&json!({"tags": [{"name": "a"}, {"name": "b"}]}), "n", NOW).unwrap();
    assert_eq!(tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(
        parse_tags(&json!({"tags": [{"name": "a"}, {"name": "a"}]}), "n", NOW),
        Err(MetadefError::TagExists { name: "a".into(), namespace: "n".into() })
    );
    for body in [json!({"tags": [{"name": ""}]}), json!({}), json!({"tags": ["a"]}), json!({"tags": [], "x": 1})] {
        assert!(matches!(parse_tags(&body, "n", NOW), Err(MetadefError::Invalid(_))), "{body}");
    }
    assert_eq!(parse_tag_rename(&json!({"name": "c"})).unwrap(), "c");
}

/// The message of the refusal of `result`, which must be one.
fn refusal<T: std::fmt::Debug>(result: Result<T, Invalid>) -> String {
    result.expect_err("should be refused").0
}

#[test]
fn tag_names_are_capped_at_80_characters_as_glance_caps_them() {
    let at_limit = "t".repeat(80);
    let over = "t".repeat(81);
    assert_eq!(parse_tags(&json!({"tags": [{"name": at_limit}]}), "n", NOW).unwrap()[0].name, at_limit);
    let refused = parse_tags(&json!({"tags": [{"name": over}]}), "n", NOW).unwrap_err();
    assert!(refused.to_string().contains("at most 80"), "{refused}");
    assert!(refusal(parse_tag_rename(&json!({"name": over}))).contains("tag name is 81 characters"));
    assert!(check_name(&over, MAX_TAG, "tag").is_err());
    assert!(parse_new_namespace(&json!({"namespace": "n", "tags": [{"name": over}]}), None, NOW).is_err());
}

#[test]
fn names_and_texts_longer_than_glances_schemas_allow_are_refused() {
    let long = |n: usize| "x".repeat(n);
    assert!(parse_new_namespace(&json!({"namespace": long(80)}), None, NOW).is_ok());
    for (body, needle) in [
        (json!({"namespace": long(81)}), "namespace name is 81 characters"),
        (json!({"namespace": "n", "display_name": long(81)}), "'display_name'"),
        (json!({"namespace": "n", "description": long(501)}), "'description'"),
        (json!({"namespace": "n", "owner": long(256)}), "'owner'"),
        (json!({"namespace": "n", "description": 5}), "must be a string, not a number"),
    ] {
        let message = refusal(parse_new_namespace(&body, None, NOW));
        assert!(message.contains(needle), "{body}: {message}");
    }
    let ns = ns("n", NOW, NamespaceVisibility::Public);
    assert!(refusal(apply_namespace_update(&ns, &json!({"display_name": long(81)}), NOW)).contains("'display_name'"));
    assert!(parse_new_namespace(&json!({"namespace": "n", "description": long(500)}), None, NOW).is_ok());

    assert!(refusal(parse_object(&json!({"name": long(81)}), NOW)).contains("object name is 81 characters"));
    assert!(refusal(parse_property(&json!({"name": long(81), "title": "T", "type": "string"}), None, NOW))
        .contains("property name is 81 characters"));
    let keyed = json!({"title": "T", "type": "string"});
    assert!(refusal(parse_property(&keyed, Some(&long(81)), NOW)).contains("property name"));
    assert!(refusal(parse_association(&json!({"name": long(81)}), NOW)).contains("resource type name"));
    for key in ["prefix", "properties_target"] {
        let message = refusal(parse_association(&json!({"name": "OS::X", key: long(81)}), NOW));
        assert!(message.contains(key), "{message}");
    }
    assert!(parse_association(&json!({"name": long(80), "prefix": long(80)}), NOW).is_ok());
}

#[test]
fn property_fields_hold_what_glances_property_schema_says() {
    let with = |extra: Value| {
        let mut body = json!({"name": "p", "title": "P", "type": "array"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        parse_property(&body, None, NOW)
    };
    let accepted = with(json!({
        "description": "d", "pattern": "^a+$", "operators": ["<or>", "<all-in>"], "enum": ["a", 1],
        "items": {"type": "string", "enum": ["a", "b"]}, "minItems": 0, "maxItems": 3, "uniqueItems": true,
        "additionalItems": false, "readonly": true, "default": ["a"], "minimum": 1.5, "maximum": 2,
        "minLength": 0, "maxLength": 10, "required": ["x"],
    }))
    .unwrap();
    assert_eq!(accepted.body["items"], json!({"type": "string", "enum": ["a", "b"]}));
    assert_eq!(accepted.body.keys().next().map(String::as_str), Some("title"), "the client's order is kept");
    for (extra, needle) in [
        (json!({"items": 5}), "'items' of the property 'p' must be an object, not a number"),
        (json!({"items": "string"}), "'items'"),
        (json!({"items": {"type": "text"}}), "Invalid 'type' \"text\" of the 'items'"),
        (json!({"items": {"type": 3}}), "'type'"),
        (json!({"items": {"enum": "a"}}), "'enum' of the 'items'"),
        (json!({"description": 5}), "'description' of the property 'p' must be a string"),
        (json!({"description": null}), "'description'"),
        (json!({"pattern": ["a"]}), "'pattern' of the property 'p' must be a string, not a list"),
        (json!({"operators": "<or>"}), "'operators' of the property 'p' must be a list of strings"),
        (json!({"operators": [1, 2]}), "'operators'"),
        (json!({"title": 7}), "'title'"),
        (json!({"enum": "a"}), "'enum'"),
        (json!({"minimum": "1"}), "'minimum'"),
        (json!({"maxLength": -1}), "'maxLength'"),
        (json!({"minItems": 1.5}), "'minItems'"),
        (json!({"readonly": "yes"}), "'readonly'"),
        (json!({"required": ["a", "a"]}), "lists 'a' twice"),
        (json!({"additionalProperties": false}), "'additionalProperties' was unexpected"),
        (json!({"confidential": true}), "'confidential' was unexpected"),
    ] {
        let message = refusal(with(extra.clone()));
        assert!(message.contains(needle), "{extra}: {message:?} should mention {needle:?}");
    }
}

#[test]
fn objects_refuse_what_glances_object_schema_refuses() {
    for (body, needle) in [
        (json!({"name": "o", "description": 1}), "'description' of the object 'o'"),
        (json!({"name": "o", "required": ["a", "a"]}), "lists 'a' twice"),
        (json!({"name": "o", "required": [1]}), "list of strings"),
        (json!({"name": "o", "properties": {"p": {"title": "P", "type": "string", "items": 1}}}), "'items'"),
        (json!({"name": 5}), "object name must be a string"),
    ] {
        let message = refusal(parse_object(&body, NOW));
        assert!(message.contains(needle), "{body}: {message}");
    }
}

#[test]
fn a_protected_namespace_refuses_deletion_of_itself_and_its_contents() {
    let mut namespace = ns("n", NOW, NamespaceVisibility::Public);
    assert_eq!(namespace.check_deletable(), Ok(()));
    assert_eq!(namespace.check_contents_deletable("tag t"), Ok(()));
    namespace.protected = true;
    assert_eq!(namespace.check_deletable(), Err(MetadefError::NamespaceProtected("n".into())));
    let refused = namespace.check_contents_deletable("tag t").unwrap_err();
    assert!(refused.to_string().contains("Cannot delete tag t of namespace n"), "{refused}");
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
