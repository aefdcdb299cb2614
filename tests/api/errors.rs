use crate::helpers::app;

#[test]
fn unknown_routes_get_a_json_404() {
    app().get("/v2/nothing-here").assert_error(404, "/v2/nothing-here");
    app().get("/v1/nothing").assert_error(404, "could not be found");
}

#[test]
fn wrong_methods_get_a_json_405_with_allow() {
    let reply = app().request("PUT", "/v2/images", &[], Some(b""));
    reply.assert_error(405, "PUT");
    assert_eq!(reply.header("allow"), Some("GET, POST"));
    let reply = app().request("POST", "/v2/images/00000000-0000-0000-0000-000000000000/file", &[], Some(b""));
    assert_eq!(reply.header("allow"), Some("GET, PUT"));
}

#[test]
fn unknown_or_malformed_image_ids_get_glances_404_message() {
    app()
        .get("/v2/images/00000000-0000-0000-0000-000000000000")
        .assert_error(404, "No image found with ID 00000000-0000-0000-0000-000000000000");
    app().get("/v2/images/not-a-uuid").assert_error(404, "No image found with ID not-a-uuid");
    app().get("/v2/images/00000000-0000-0000-0000-000000000000/file").assert_error(404, "No image found");
}

#[test]
fn every_response_carries_a_request_id() {
    for path in ["/", "/v2/images", "/v2/images/not-a-uuid", "/nope"] {
        let reply = app().get(path);
        let id = reply.header("x-openstack-request-id").unwrap_or_default();
        assert!(id.starts_with("req-") && id.len() == 40, "{path}: {id:?}");
    }
}

#[test]
fn clients_that_do_not_ask_for_json_get_the_error_nested_under_error_led_by_the_status_line() {
    for accept in ["*/*", "text/html"] {
        let reply =
            app().request("GET", "/v2/images/00000000-0000-0000-0000-000000000000", &[("Accept", accept)], None);
        assert_eq!(reply.status, 404);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let body = reply.json();
        assert_eq!(
            body["error"]["message"],
            "404 Not Found: No image found with ID 00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(body["error"]["code"], "404 Not Found");
        assert_eq!(body["error"]["title"], "Not Found");
    }
}
