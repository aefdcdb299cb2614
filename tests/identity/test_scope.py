"""Tokens scoped to the system or to a domain, with real Keystone tokens.

Glance 33 has no system (or domain) scope: every image, task, cache,
discovery and metadefs policy has `scope_types=['project']`, and scope is
enforced, so an admin of the system or of a domain is refused as a caller
without any role would be (what glance-tempest-plugin checks with
`[glance_api] system_scope_supported = false`):

- creating and listing images: 403;
- every call on one image: 404, the image is hidden (Glance turns a refusal
  into "not found" when the caller may not `get_image`);
- the tasks API, the cache API and the stores' details: 403;
- every metadefs call: 404 (Glance's metadefs policy hides everything from
  a caller that could not read its own project's namespaces), lists and
  creates included;
- discovery without a policy (`/v2/info/import`, `/v2/info/stores`) and the
  schemas: 200, as to anyone with a valid token.

The matrix (test_matrix.py) also runs `system_admin` over every visibility.
"""

import json
import uuid

import pytest

DATA = b"scope test data" * 16
SCOPED = ("system_admin", "domain_admin")


@pytest.fixture(scope="module")
def image(catalog, people):
    """An active shared image of alpha's, shared with beta, and a public one
    made by the (project) admin."""
    run = uuid.uuid4().hex[:8]
    shared = catalog.json("owner", "POST", "/v2/images", {
        "name": f"scope-{run}", "disk_format": "raw", "container_format": "bare", "visibility": "shared"}, expect=201)
    status, _, body = catalog.call("owner", "PUT", f"/v2/images/{shared['id']}/file", DATA,
                                   {"Content-Type": "application/octet-stream"})
    assert status == 204, body
    catalog.json("owner", "POST", f"/v2/images/{shared['id']}/members", {"member": people["accepted"].project_id},
                 expect=200)
    public = catalog.json("admin", "POST", "/v2/images", {
        "name": f"scope-public-{run}", "disk_format": "raw", "container_format": "bare", "visibility": "public"},
        expect=201)
    return {"shared": shared["id"], "public": public["id"], "name": f"scope-{run}"}


def error_of(body):
    document = json.loads(body)
    assert document["message"], document
    return document["message"]


@pytest.mark.parametrize("who", SCOPED)
@pytest.mark.parametrize("visibility", ["private", "shared", "community", "public", None])
def test_a_scoped_admin_may_not_create_images(catalog, people, who, visibility):
    fields = {"name": f"scope-create-{uuid.uuid4().hex[:8]}", "disk_format": "raw", "container_format": "bare"}
    if visibility:
        fields["visibility"] = visibility
    status, _, body = catalog.call(who, "POST", "/v2/images", json.dumps(fields).encode(),
                                   {"Content-Type": "application/json"})
    assert status == 403, (status, body[:300])
    error_of(body)
    # Not for a project either.
    fields["owner"] = people["owner"].project_id
    status, _, body = catalog.call(who, "POST", "/v2/images", json.dumps(fields).encode(),
                                   {"Content-Type": "application/json"})
    assert status == 403, (status, body[:300])
    # Nothing was made.
    listed = catalog.json("admin", "GET", f"/v2/images?name={fields['name']}", expect=200)["images"]
    assert listed == []


@pytest.mark.parametrize("who", SCOPED)
def test_a_scoped_admin_may_not_list_images(catalog, image, who):
    for path in ("/v2/images", f"/v2/images?name={image['name']}", "/v2/images?visibility=public",
                 "/v2/images?member_status=all", "/v1/images", "/v1/images/detail"):
        status, _, body = catalog.call(who, "GET", path)
        assert status == 403, (path, status, body[:300])
        assert image["shared"] not in body.decode(errors="replace")


@pytest.mark.parametrize("who", SCOPED)
@pytest.mark.parametrize("which", ["shared", "public"])
def test_every_image_is_404_to_a_scoped_admin(catalog, people, image, who, which):
    image_id = image[which]
    base = f"/v2/images/{image_id}"
    json_type = {"Content-Type": "application/json"}
    patch_type = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    octets = {"Content-Type": "application/octet-stream"}
    calls = [
        ("GET", base, None, None),
        ("PATCH", base, json.dumps([{"op": "replace", "path": "/name", "value": "x"}]).encode(), patch_type),
        ("GET", f"{base}/file", None, None),
        ("PUT", f"{base}/file", DATA, octets),
        ("PUT", f"{base}/stage", DATA, octets),
        ("POST", f"{base}/import", json.dumps({"method": {"name": "glance-direct"}}).encode(), json_type),
        ("PUT", f"{base}/tags/t1", None, None),
        ("DELETE", f"{base}/tags/t1", None, None),
        ("POST", f"{base}/actions/deactivate", None, None),
        ("POST", f"{base}/actions/reactivate", None, None),
        ("GET", f"{base}/members", None, None),
        ("GET", f"{base}/members/{people['accepted'].project_id}", None, None),
        ("POST", f"{base}/members", json.dumps({"member": people["other"].project_id}).encode(), json_type),
        ("PUT", f"{base}/members/{people['accepted'].project_id}", json.dumps({"status": "accepted"}).encode(),
         json_type),
        ("DELETE", f"{base}/members/{people['accepted'].project_id}", None, None),
        ("GET", f"{base}/tasks", None, None),
        ("GET", f"{base}/locations", None, None),
        ("HEAD", f"/v1/images/{image_id}", None, None),
        ("GET", f"/v1/images/{image_id}", None, None),
        ("DELETE", base, None, None),
    ]
    before = catalog.json("admin", "GET", base, expect=200)
    for method, path, body, headers in calls:
        status, _, answer = catalog.call(who, method, path, body, headers)
        assert status == 404, f"{who} {method} {path}: {status} {answer[:300]!r}"
        assert DATA not in answer
    # Untouched (the shared image active, the public one queued), and the
    # shared one still shared with beta.
    shown = catalog.json("admin", "GET", base, expect=200)
    assert shown["status"] == before["status"] == ("active" if which == "shared" else "queued"), shown
    assert shown["tags"] == [] and shown["name"] == before["name"] and shown["updated_at"] == before["updated_at"]
    if which == "shared":
        members = catalog.json("owner", "GET", f"{base}/members", expect=200)["members"]
        assert [m["member_id"] for m in members] == [people["accepted"].project_id]


@pytest.mark.parametrize("who", SCOPED)
def test_tasks_cache_and_store_details_are_403_to_a_scoped_admin(catalog, image, who):
    calls = [
        ("GET", "/v2/tasks", None),
        ("POST", "/v2/tasks", {"type": "import", "input": {
            "import_from": "http://127.0.0.1:1/x", "import_from_format": "raw",
            "image_properties": {"disk_format": "raw", "container_format": "bare"}}}),
        ("GET", "/v2/cache", None),
        ("PUT", f"/v2/cache/{image['public']}", None),
        ("DELETE", f"/v2/cache/{image['public']}", None),
        ("DELETE", "/v2/cache", None),
        ("GET", "/v2/info/stores/detail", None),
    ]
    for method, path, body in calls:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else None
        status, _, answer = catalog.call(who, method, path, data, headers)
        assert status == 403, f"{who} {method} {path}: {status} {answer[:300]!r}"
        error_of(answer)
    # The project admin is let through (the same calls are not refused for
    # everyone).
    assert catalog.call("admin", "GET", "/v2/tasks")[0] == 200
    assert catalog.call("admin", "GET", "/v2/cache")[0] == 200
    assert catalog.call("admin", "GET", "/v2/info/stores/detail")[0] == 200


@pytest.mark.parametrize("who", SCOPED)
def test_every_metadefs_call_is_404_to_a_scoped_admin(catalog, people, who):
    name = f"scope-ns-{uuid.uuid4().hex[:8]}"
    catalog.json("admin", "POST", "/v2/metadefs/namespaces", {
        "namespace": name, "visibility": "public", "protected": False,
        "objects": [{"name": "obj1", "properties": {}}], "tags": [{"name": "tag1"}],
        "properties": {"prop1": {"type": "string", "title": "prop1"}}}, expect=201)
    json_type = {"Content-Type": "application/json"}
    base = f"/v2/metadefs/namespaces/{name}"
    calls = [
        ("GET", "/v2/metadefs/namespaces", None),
        ("POST", "/v2/metadefs/namespaces", {"namespace": f"{name}-x", "visibility": "public"}),
        ("GET", "/v2/metadefs/resource_types", None),
        ("GET", base, None),
        ("PUT", base, {"namespace": name, "visibility": "private"}),
        ("GET", f"{base}/objects", None),
        ("GET", f"{base}/objects/obj1", None),
        ("POST", f"{base}/objects", {"name": "obj2", "properties": {}}),
        ("GET", f"{base}/properties", None),
        ("GET", f"{base}/properties/prop1", None),
        ("GET", f"{base}/tags", None),
        ("GET", f"{base}/tags/tag1", None),
        ("POST", f"{base}/tags/tag2", None),
        ("GET", f"{base}/resource_types", None),
        ("POST", f"{base}/resource_types", {"name": "OS::Glance::Image"}),
        ("DELETE", f"{base}/tags/tag1", None),
        ("DELETE", base, None),
    ]
    try:
        for method, path, body in calls:
            data = json.dumps(body).encode() if body is not None else None
            status, _, answer = catalog.call(who, method, path, data, json_type if body is not None else None)
            assert status == 404, f"{who} {method} {path}: {status} {answer[:300]!r}"
        # A project reader sees the public namespace; the same writes are
        # 403 to it, not 404.
        assert catalog.call("reader", "GET", base)[0] == 200
        status, _, answer = catalog.call("reader", "POST", f"{base}/tags/tag2")
        assert status == 403, answer[:300]
        status, _, answer = catalog.call("reader", "POST", "/v2/metadefs/namespaces",
                                         json.dumps({"namespace": f"{name}-y"}).encode(), json_type)
        assert status == 403, answer[:300]
        # Untouched.
        shown = catalog.json("admin", "GET", base, expect=200)
        assert shown["visibility"] == "public"
        assert [t["name"] for t in catalog.json("admin", "GET", f"{base}/tags", expect=200)["tags"]] == ["tag1"]
    finally:
        catalog.call("admin", "DELETE", base)


@pytest.mark.parametrize("who", SCOPED)
def test_discovery_and_schemas_answer_a_scoped_admin(catalog, who):
    for path in ("/v2/info/import", "/v2/info/stores", "/v2/schemas/image"):
        status, _, body = catalog.call(who, "GET", path)
        assert status == 200, (path, status, body[:300])
