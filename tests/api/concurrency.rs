//! Concurrent writers on one image: every acknowledged change survives, or
//! the request was refused (issue 10, defect 1: ten concurrent PATCHes used
//! to answer 200 each and keep two or three of the ten properties).

use std::collections::BTreeSet;
use std::thread;

use serde_json::{json, Value};

use crate::helpers::app;

const PATCH: &str = "application/openstack-images-v2.1-json-patch";
const WRITERS: usize = 12;

#[test]
fn concurrent_patches_tag_puts_and_member_adds_on_one_image_all_survive_or_are_refused() {
    let id =
        app().create_image(json!({"name": "contended", "visibility": "shared"}))["id"].as_str().unwrap().to_owned();
    let mut handles = Vec::new();
    for i in 0..WRITERS {
        let image = id.clone();
        handles.push(thread::spawn(move || {
            let id = image;
            let reply = app().patch(
                &id,
                PATCH,
                &json!([{"op": "add", "path": format!("/prop_{i}"), "value": format!("v{i}")}]),
            );
            ("property", i, reply.status)
        }));
        let image = id.clone();
        handles.push(thread::spawn(move || {
            let id = image;
            let reply = app().request("PUT", &format!("/v2/images/{id}/tags/tag-{i}"), &[], None);
            ("tag", i, reply.status)
        }));
        let image = id.clone();
        handles.push(thread::spawn(move || {
            let id = image;
            let reply =
                app().post_json(&format!("/v2/images/{id}/members"), &json!({"member": format!("project-{i}")}));
            ("member", i, reply.status)
        }));
    }
    let outcomes: Vec<(&str, usize, u16)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (kind, i, status) in &outcomes {
        assert!(matches!(status, 200 | 204 | 409), "{kind} {i}: unexpected {status}");
    }
    let acknowledged = |kind: &str| -> BTreeSet<usize> {
        outcomes.iter().filter(|(k, _, s)| *k == kind && (*s == 200 || *s == 204)).map(|(_, i, _)| *i).collect()
    };

    let image = app().show(&id);
    for i in acknowledged("property") {
        assert_eq!(image[format!("prop_{i}")], format!("v{i}"), "PATCH {i} was acknowledged but is lost: {image}");
    }
    let tags: BTreeSet<String> =
        image["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
    for i in acknowledged("tag") {
        assert!(tags.contains(&format!("tag-{i}")), "tag {i} was acknowledged but is lost: {tags:?}");
    }
    let members: BTreeSet<String> = app().get(&format!("/v2/images/{id}/members")).json()["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_id"].as_str().unwrap().to_owned())
        .collect();
    for i in acknowledged("member") {
        assert!(members.contains(&format!("project-{i}")), "member {i} was acknowledged but is lost: {members:?}");
    }
    // Refusals are allowed, but a dozen writers must not be refused wholesale.
    for kind in ["property", "tag", "member"] {
        assert_eq!(acknowledged(kind).len(), WRITERS, "{kind}: {outcomes:?}");
    }
}

#[test]
fn a_patch_that_lost_a_race_is_applied_to_the_fresh_record_not_over_it() {
    // Two writers replace different fields of the same image at once, many
    // times: neither may undo the other.
    let id = app().create_image(json!({"name": "n0", "min_ram": 0}))["id"].as_str().unwrap().to_owned();
    for round in 1..=5 {
        let (a, b) = (id.clone(), id.clone());
        let names = thread::spawn(move || {
            app().patch(&a, PATCH, &json!([{"op": "replace", "path": "/name", "value": format!("n{round}")}])).status
        });
        let rams = thread::spawn(move || {
            app().patch(&b, PATCH, &json!([{"op": "replace", "path": "/min_ram", "value": round}])).status
        });
        assert_eq!((names.join().unwrap(), rams.join().unwrap()), (200, 200));
        let image: Value = app().show(&id);
        assert_eq!(
            (image["name"].as_str(), image["min_ram"].as_u64()),
            (Some(format!("n{round}").as_str()), Some(round))
        );
    }
}
