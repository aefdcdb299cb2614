//! D1 read replication's protocol (issue 21): every answer, read or write,
//! success or error, carries the request's D1 session bookmark in
//! `X-D1-Bookmark`; a request sending one back reads at least that fresh
//! (here the local D1 has no replicas, so this checks the protocol: the
//! header both ways, and a read after a write's bookmark sees the write);
//! what cannot be a bookmark is a 400 naming the header.

use serde_json::json;

use crate::helpers::*;

const HEADER: &str = "x-d1-bookmark";

fn bookmark_of(reply: &Reply) -> String {
    reply.header(HEADER).unwrap_or_else(|| panic!("no {HEADER} on a {} answer", reply.status)).to_owned()
}

#[test]
fn every_answer_carries_a_bookmark_reads_writes_and_errors() {
    let list = app().get("/v2/images?limit=1");
    assert_eq!(list.status, 200);
    assert!(!bookmark_of(&list).is_empty());
    let created = app().post_json("/v2/images", &json!({"name": "bookmarked", "tags": [unique_tag()]}));
    assert_eq!(created.status, 201);
    bookmark_of(&created);
    let missing = app().get("/v2/images/00000000-0000-0000-0000-000000000000");
    assert_eq!(missing.status, 404);
    bookmark_of(&missing);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let ops = json!([{"op": "replace", "path": "/name", "value": "renamed"}]);
    bookmark_of(&app().patch(&id, "application/openstack-images-v2.1-json-patch", &ops));
    bookmark_of(&app().delete(&format!("/v2/images/{id}")));
}

#[test]
fn a_read_sent_with_a_writes_bookmark_sees_that_write() {
    let created = app().post_json("/v2/images", &json!({"name": "before", "tags": [unique_tag()]}));
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let after_create = bookmark_of(&created);
    let shown = app().request("GET", &format!("/v2/images/{id}"), &[(HEADER, &after_create)], None);
    assert_eq!(shown.status, 200, "the create is seen with its bookmark");
    let ops = json!([{"op": "replace", "path": "/name", "value": "after"}]);
    let patched = app().request(
        "PATCH",
        &format!("/v2/images/{id}"),
        &[("Content-Type", "application/openstack-images-v2.1-json-patch"), (HEADER, &after_create)],
        Some(ops.to_string().as_bytes()),
    );
    assert_eq!(patched.status, 200);
    let after_patch = bookmark_of(&patched);
    let shown = app().request("GET", &format!("/v2/images/{id}"), &[(HEADER, &after_patch)], None);
    assert_eq!(shown.json()["name"], "after", "the write is seen with its bookmark");
    // A later session's bookmark is never behind the one it was given
    // (D1's bookmarks sort in commit order).
    assert!(bookmark_of(&shown) >= after_patch, "{} < {after_patch}", bookmark_of(&shown));
}

#[test]
fn what_cannot_be_a_bookmark_is_a_400_naming_the_header() {
    for bad in ["has space", &"x".repeat(300)] {
        let reply = app().request("GET", "/v2/images?limit=1", &[(HEADER, bad)], None);
        reply.assert_error(400, "X-D1-Bookmark must be");
    }
}
