//! Multiple stores (Glance's `enabled_backends`, API v2.8+): the stores
//! document, uploads to a chosen store, deleting the data from one store
//! (`DELETE /v2/stores/{store}/{image}`, `images.py` `delete_from_store`)
//! and downloads served by the highest-weight store holding the data.
//!
//! The test catalog's stores: `primary` (default, weight 100), `secondary`
//! (weight 50), `web` (read-only http, weight 0).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::{app, md5_hex, random_bytes, unique_tag, IMPORT_TIMEOUT};

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn header_set(value: Option<&str>) -> BTreeSet<String> {
    value.unwrap_or_default().split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

#[test]
fn stores_info_lists_the_configured_stores_by_weight() {
    let reply = app().get("/v2/info/stores");
    assert_eq!(reply.status, 200);
    let stores = reply.json()["stores"].as_array().cloned().expect("a stores list");
    let ids: Vec<&str> = stores.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["primary", "secondary", "web"]);
    let by_id = |id: &str| stores.iter().find(|s| s["id"] == id).unwrap().clone();
    let (primary, secondary, web) = (by_id("primary"), by_id("secondary"), by_id("web"));
    assert_eq!(primary["default"], "true", "{primary}");
    assert_eq!(primary["weight"], 100, "{primary}");
    assert_eq!(secondary["weight"], 50, "{secondary}");
    assert_eq!(web["weight"], 0, "{web}");
    assert_eq!(web["read-only"], "true", "{web}");
    for store in [&primary, &secondary, &web] {
        assert!(store["description"].is_string(), "{store}");
        // Only the basic document here: type and properties are for /detail.
        assert!(store.get("type").is_none() && store.get("properties").is_none(), "{store}");
    }
    for store in [&secondary, &web] {
        assert!(store.get("default").is_none() || store["default"] == "false", "one default store: {store}");
    }
    assert!(primary.get("read-only").is_none() && secondary.get("read-only").is_none());
}

#[test]
fn stores_detail_adds_type_and_properties_for_admins() {
    // The noauth caller is an admin; the refusal for others is in tests/identity.
    let reply = app().get("/v2/info/stores/detail");
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let stores = reply.json()["stores"].as_array().cloned().expect("a stores list");
    let ids: Vec<&str> = stores.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["primary", "secondary", "web"]);
    for store in &stores {
        assert!(store["type"].is_string(), "{store}");
        assert!(store["properties"].is_object(), "{store}");
        assert!(store["weight"].is_number(), "{store}");
    }
    assert_eq!(stores[0]["default"], "true");
    assert_eq!(stores[2]["read-only"], "true");
}

#[test]
fn create_advertises_the_import_methods_and_the_writable_stores() {
    let info = app().get("/v2/info/import").json();
    let methods = &info["import-methods"];
    assert_eq!(methods["type"], "array");
    assert!(methods["description"].is_string());
    let listed: BTreeSet<String> =
        methods["value"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert!(set(&["glance-direct", "web-download", "copy-image"]).is_subset(&listed), "{listed:?}");

    let reply = app().post_json("/v2/images", &json!({"name": "headers", "tags": [unique_tag()]}));
    assert_eq!(reply.status, 201);
    assert_eq!(header_set(reply.header("openstack-image-import-methods")), listed);
    assert_eq!(header_set(reply.header("openstack-image-store-ids")), set(&["primary", "secondary"]));
}

#[test]
fn stores_is_read_only_on_create() {
    app().post_json("/v2/images", &json!({"stores": "primary"})).assert_error(403, "stores");
}

#[test]
fn uploads_go_to_the_default_store_or_the_one_the_header_names() {
    let tag = unique_tag();
    let data = random_bytes(200 * 1024 + 1, 501);
    let default = app().create_active(&tag, &data, None);
    assert_eq!(app().show(&default)["stores"], "primary");
    let chosen = app().create_active(&tag, &data, Some("secondary"));
    let image = app().show(&chosen);
    assert_eq!(image["stores"], "secondary", "{image}");
    assert_eq!(image["checksum"], md5_hex(&data).as_str());
    assert!(app().get(&format!("/v2/images/{chosen}/file")).body == data);

    // An unknown store: 400, and the image is untouched.
    let id = app().create_uploadable(&tag);
    let reply = app().request(
        "PUT",
        &format!("/v2/images/{id}/file"),
        &[("Content-Type", "application/octet-stream"), ("X-Image-Meta-Store", "nope")],
        Some(&data),
    );
    assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(&reply.body));
    let image = app().show(&id);
    assert_eq!(image["status"], "queued", "{image}");
    assert!(app().r2_keys_mentioning(&id).is_empty());
    // The read-only http store takes no uploads (Glance: StoreAddDisabled,
    // 410 "Adding images to store is disabled").
    let reply = app().request(
        "PUT",
        &format!("/v2/images/{id}/file"),
        &[("Content-Type", "application/octet-stream"), ("X-Image-Meta-Store", "web")],
        Some(&data),
    );
    assert_eq!(reply.status, 410, "upload to the read-only store: {}", String::from_utf8_lossy(&reply.body));
    assert_eq!(app().status_of(&id), "queued");
}

/// An active image held by both writable stores (uploaded, then copied).
fn in_both_stores(tag: &str, data: &[u8]) -> String {
    let id = app().create_active(tag, data, None);
    app().start_import(&id, &json!({"method": {"name": "copy-image"}, "stores": ["secondary"]}));
    let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
    assert_eq!(image["stores"], "primary,secondary", "the copy failed: {image}");
    id
}

#[test]
fn delete_from_store_follows_glance() {
    let tag = unique_tag();
    let data = random_bytes(100 * 1024 + 5, 502);
    let id = in_both_stores(&tag, &data);
    assert_eq!(app().r2_keys_mentioning(&id).len(), 2);

    // An unknown store: 409 ("not available on this node").
    app().delete(&format!("/v2/stores/nope/{id}")).assert_error(409, "nope");
    // A known store that doesn't hold it: 404.
    app().delete(&format!("/v2/stores/web/{id}")).assert_error(404, "web");
    // A missing image: 404.
    app().delete("/v2/stores/primary/00000000-0000-0000-0000-000000000000").assert_error(404, "");

    let reply = app().delete(&format!("/v2/stores/secondary/{id}"));
    assert_eq!(reply.status, 204, "{}", String::from_utf8_lossy(&reply.body));
    assert!(reply.body.is_empty());
    let image = app().show(&id);
    assert_eq!((image["status"].as_str(), image["stores"].as_str()), (Some("active"), Some("primary")), "{image}");
    assert_eq!(app().r2_keys_mentioning(&id).len(), 1, "the secondary copy's object is gone");
    assert!(app().get(&format!("/v2/images/{id}/file")).body == data);

    // The last store: 403 ("Cannot delete image data from the only store").
    app().delete(&format!("/v2/stores/primary/{id}")).assert_error(403, "only store");
    // That check comes first in Glance, so even a store without it says 403.
    app().delete(&format!("/v2/stores/secondary/{id}")).assert_error(403, "only store");
    assert_eq!(app().show(&id)["stores"], "primary");
    assert!(app().get(&format!("/v2/images/{id}/file")).body == data);

    // Only active images: a queued one is a conflict.
    let queued = app().create_uploadable(&tag);
    app().delete(&format!("/v2/stores/primary/{queued}")).assert_error(409, "active");
    // Deactivated too.
    let other = in_both_stores(&tag, &data);
    assert_eq!(app().request("POST", &format!("/v2/images/{other}/actions/deactivate"), &[], None).status, 204);
    app().delete(&format!("/v2/stores/secondary/{other}")).assert_error(409, "active");
    assert_eq!(app().show(&other)["stores"], "primary,secondary");

    // Deleting the image removes every copy.
    assert_eq!(app().request("POST", &format!("/v2/images/{other}/actions/reactivate"), &[], None).status, 204);
    assert_eq!(app().delete(&format!("/v2/images/{other}")).status, 204);
    let left = app().r2_keys_mentioning(&other);
    assert!(left.is_empty(), "deleting the image left objects: {left:?}");
}

#[test]
fn downloads_come_from_the_highest_weight_store_holding_the_data() {
    let tag = unique_tag();
    let data = random_bytes(64 * 1024, 503);
    let id = app().create_active(&tag, &data, None);
    let in_primary = app().r2_locate(&id);
    assert_eq!(in_primary.len(), 1, "one object after the upload: {in_primary:?}");
    app().start_import(&id, &json!({"method": {"name": "copy-image"}, "stores": ["secondary"]}));
    let image: Value = app().wait_for_import(&id, IMPORT_TIMEOUT);
    assert_eq!(image["stores"], "primary,secondary");
    let both = app().r2_locate(&id);
    let secondary: Vec<_> = both.iter().filter(|o| !in_primary.contains(o)).cloned().collect();
    assert_eq!(secondary.len(), 1, "the copy's object, from {both:?} (primary holds {in_primary:?})");
    let (bucket, key) = &secondary[0];

    // Make the secondary copy recognisably different behind the catalog's
    // back (same length): the primary store (weight 100) must serve.
    let mut marked = data.clone();
    marked[..16].copy_from_slice(b"SECONDARY-COPY!!");
    app().r2_put_in(bucket, key, &marked);
    let download = app().get(&format!("/v2/images/{id}/file"));
    assert_eq!(download.status, 200);
    assert!(download.body == data, "the download came from the lower-weight store");

    // (Serving both copies in turn, each with the other removed, is in
    // imports.rs, copy_image_adds_a_store_and_either_copy_serves_the_same_bytes.)
}
