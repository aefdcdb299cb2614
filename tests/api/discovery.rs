use serde_json::Value;

use crate::helpers::app;

#[test]
fn root_returns_300_with_absolute_v2_links() {
    let reply = app().get("/");
    assert_eq!(reply.status, 300);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let versions = reply.json()["versions"].as_array().unwrap().clone();
    assert!(versions.iter().any(|v| v["id"] == "v2.0"));
    assert_eq!(versions.iter().filter(|v| v["status"] == "CURRENT").count(), 1);
    let expected = format!("{}/v2/", app().base);
    assert!(versions.iter().all(|v| v["links"][0]["rel"] == "self" && v["links"][0]["href"] == expected.as_str()));
}

#[test]
fn versions_returns_200_and_unknown_version_prefixes_300() {
    let versions = app().get("/versions");
    assert_eq!(versions.status, 200);
    assert_eq!(versions.json(), app().get("/").json());
    assert_eq!(app().get("/v10").status, 300);
}

#[test]
fn every_schema_is_served_as_recorded_from_glance() {
    let root = env!("CARGO_MANIFEST_DIR");
    for name in ["image", "images", "member", "members", "task", "tasks"] {
        let reply = app().get(&format!("/v2/schemas/{name}"));
        assert_eq!(reply.status, 200, "{name}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        // Recorded from real Glance (../shared/fixtures/glance/schemas):
        // the image schemas are served from src/schemas plus the plain
        // columns (domain::image::columns), and must come out the same.
        let path = format!("{root}/tests/fixtures/glance-schemas/{name}.json");
        let recorded: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(reply.json(), recorded, "{name}");
    }
    app().get("/v2/schemas/bogus").assert_error(404, "bogus");
}

#[test]
fn info_documents_have_glances_shape() {
    let import = app().get("/v2/info/import").json();
    assert_eq!(import["import-methods"]["type"], "array");
    assert!(import["import-methods"]["value"].is_array());
    let stores = app().get("/v2/info/stores").json();
    assert_eq!(stores["stores"][0]["default"], "true");
    assert!(stores["stores"][0]["id"].is_string());
    let health = app().get("/healthcheck");
    assert_eq!((health.status, health.body.as_slice()), (200, b"OK".as_slice()));
}
