use serde_json::{json, Value};

use crate::helpers::app;

fn image(visibility: &str) -> String {
    app().create_image(json!({"name": "shared", "visibility": visibility}))["id"].as_str().unwrap().to_owned()
}

fn schema_keys(name: &str) -> Vec<String> {
    let schema = app().get(&format!("/v2/schemas/{name}")).json();
    let mut keys: Vec<String> = schema["properties"].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn members_of_a_shared_image_are_added_listed_answered_and_removed() {
    let id = image("shared");
    let members = format!("/v2/images/{id}/members");
    let added = app().post_json(&members, &json!({"member": "project-2"}));
    assert_eq!(added.status, 200, "{}", String::from_utf8_lossy(&added.body));
    let member = added.json();
    assert_eq!((member["member_id"].as_str(), member["status"].as_str()), (Some("project-2"), Some("pending")));
    assert_eq!(member["image_id"], id.as_str());
    assert_eq!(keys(&member), schema_keys("member"));
    app().post_json(&members, &json!({"member": "project-2"})).assert_error(409, "already a member");

    let list = app().get(&members).json();
    assert_eq!(keys(&list), schema_keys("members"));
    assert_eq!(list["members"].as_array().unwrap().len(), 1);
    assert_eq!(list["members"][0], member);

    let one = format!("{members}/project-2");
    assert_eq!(app().get(&one).json(), member);
    // The local identity is an admin, who may answer for a member.
    let answer = |status: &str| {
        app().request(
            "PUT",
            &one,
            &[("Content-Type", "application/json")],
            Some(json!({"status": status}).to_string().as_bytes()),
        )
    };
    let accepted = answer("accepted");
    assert_eq!(accepted.status, 200);
    assert_eq!(accepted.json()["status"], "accepted");
    assert_eq!(app().get(&one).json()["status"], "accepted");
    answer("maybe").assert_error(400, "maybe");
    assert_eq!(answer("rejected").json()["status"], "rejected");

    assert_eq!(app().request("DELETE", &one, &[], None).status, 204);
    app().get(&one).assert_error(404, "project-2");
    app().request("DELETE", &one, &[], None).assert_error(404, "project-2");
    assert_eq!(app().get(&members).json()["members"], json!([]));
}

#[test]
fn only_shared_images_have_members() {
    for visibility in ["private", "public", "community"] {
        let id = image(visibility);
        let members = format!("/v2/images/{id}/members");
        app().post_json(&members, &json!({"member": "p2"})).assert_error(403, "Only shared images");
        app().get(&members).assert_error(403, "Only shared images");
        app().get(&format!("{members}/p2")).assert_error(404, "p2");
        let put = app().request("PUT", &format!("{members}/p2"), &[], Some(br#"{"status": "accepted"}"#));
        put.assert_error(403, "Only shared images");
    }
}

#[test]
fn member_requests_are_validated() {
    let id = image("shared");
    let members = format!("/v2/images/{id}/members");
    app().post_json(&members, &json!({})).assert_error(400, "member");
    app().post_json(&members, &json!({"member": ""})).assert_error(400, "member");
    app()
        .request("POST", &members, &[("Content-Type", "application/json")], Some(b"{"))
        .assert_error(400, "Malformed JSON");
    app()
        .request("PUT", &format!("{members}/nobody"), &[], Some(br#"{"status": "accepted"}"#))
        .assert_error(404, "nobody");
    app()
        .post_json("/v2/images/00000000-0000-0000-0000-000000000000/members", &json!({"member": "p2"}))
        .assert_error(404, "No image found");
}
