"""Glance's default policies beyond the matrix, with real Keystone tokens:
create and owner, readers, publicize/communitize, deactivate, protected,
uploads, and who may add, answer and remove memberships. System-scoped
tokens: test_scope.py."""

import json
import uuid

import pytest

DATA = b"policy test data" * 16


@pytest.fixture
def unique():
    return f"policy-{uuid.uuid4().hex[:10]}"


def create(catalog, who, unique, expect=201, **fields):
    return catalog.json(who, "POST", "/v2/images",
                        {"name": unique, "disk_format": "raw", "container_format": "bare", **fields}, expect=expect)


def upload(catalog, who, image_id, data=DATA):
    return catalog.call(who, "PUT", f"/v2/images/{image_id}/file", data, {"Content-Type": "application/octet-stream"})


def test_owner_is_the_callers_project(catalog, people, unique):
    image = create(catalog, "owner", unique)
    assert image["owner"] == people["owner"].project_id
    assert image["visibility"] == "shared"


def test_only_admins_create_for_another_project(catalog, people, unique):
    error = create(catalog, "owner", unique, expect=403, owner=people["other"].project_id)
    assert "another project" in error["message"]
    image = create(catalog, "admin", unique, owner=people["other"].project_id)
    assert image["owner"] == people["other"].project_id
    # ... and the project it was made for owns it.
    assert catalog.json("other", "GET", f"/v2/images/{image['id']}", expect=200)["owner"] == people["other"].project_id


def test_a_reader_may_read_but_every_write_is_403(catalog, people, unique):
    create(catalog, "reader", unique, expect=403)
    image = create(catalog, "owner", unique)
    image_id = image["id"]
    assert catalog.call("reader", "GET", f"/v2/images/{image_id}")[0] == 200
    assert catalog.patch("reader", image_id, [{"op": "replace", "path": "/name", "value": "x"}])[0] == 403
    assert upload(catalog, "reader", image_id)[0] == 403
    assert catalog.call("reader", "PUT", f"/v2/images/{image_id}/tags/t1")[0] == 403
    assert catalog.call("reader", "POST", f"/v2/images/{image_id}/members", {"member": people["other"].project_id})[0] == 403
    assert catalog.call("reader", "DELETE", f"/v2/images/{image_id}")[0] == 403
    assert upload(catalog, "owner", image_id)[0] == 204
    assert catalog.call("reader", "POST", f"/v2/images/{image_id}/actions/deactivate")[0] == 403
    # Downloading needs the member role (Glance's download_image), v1 too.
    status, _, body = catalog.call("reader", "GET", f"/v2/images/{image_id}/file")
    assert status == 403 and DATA not in body, (status, body[:200])
    assert "download" in json.loads(body)["message"]
    assert catalog.call("reader", "GET", f"/v1/images/{image_id}")[0] == 403
    assert catalog.call("owner", "GET", f"/v2/images/{image_id}/file")[2] == DATA
    # The image is untouched.
    shown = catalog.json("owner", "GET", f"/v2/images/{image_id}", expect=200)
    assert shown["name"] == unique and shown["tags"] == [] and shown["status"] == "active"


def test_only_admins_publicize_and_owners_communitize(catalog, unique):
    image_id = create(catalog, "owner", unique)["id"]
    status, _, body = catalog.patch("owner", image_id, [{"op": "replace", "path": "/visibility", "value": "public"}])
    assert status == 403, body
    assert "public" in json.loads(body)["message"]
    status, _, body = catalog.patch("owner", image_id, [{"op": "replace", "path": "/visibility", "value": "community"}])
    assert status == 200 and json.loads(body)["visibility"] == "community", body
    status, _, body = catalog.patch("admin", image_id, [{"op": "replace", "path": "/visibility", "value": "public"}])
    assert status == 200 and json.loads(body)["visibility"] == "public", body
    # Others see a public image and may still not change it.
    assert catalog.patch("other", image_id, [{"op": "replace", "path": "/name", "value": "x"}])[0] == 403
    assert catalog.call("other", "DELETE", f"/v2/images/{image_id}")[0] == 403
    assert upload(catalog, "other", image_id)[0] == 403


def test_creating_a_public_image_needs_an_admin(catalog, unique):
    create(catalog, "owner", unique, expect=403, visibility="public")
    assert create(catalog, "admin", unique, visibility="public")["visibility"] == "public"


def test_deactivated_images_download_for_admins_only(catalog, unique):
    image_id = create(catalog, "owner", unique, visibility="community")["id"]
    assert upload(catalog, "owner", image_id)[0] == 204
    assert catalog.call("other", "POST", f"/v2/images/{image_id}/actions/deactivate")[0] == 403
    assert catalog.call("owner", "POST", f"/v2/images/{image_id}/actions/deactivate")[0] == 204
    status, _, body = catalog.call("owner", "GET", f"/v2/images/{image_id}/file")
    assert status == 403 and "deactivated" in json.loads(body)["message"]
    assert catalog.call("admin", "GET", f"/v2/images/{image_id}/file")[2] == DATA
    assert catalog.call("other", "POST", f"/v2/images/{image_id}/actions/reactivate")[0] == 403
    assert catalog.call("owner", "POST", f"/v2/images/{image_id}/actions/reactivate")[0] == 204
    assert catalog.call("owner", "GET", f"/v2/images/{image_id}/file")[2] == DATA


def test_protected_images_refuse_delete_even_to_admins(catalog, unique):
    image_id = create(catalog, "owner", unique, protected=True)["id"]
    for who in ("owner", "admin"):
        status, _, body = catalog.call(who, "DELETE", f"/v2/images/{image_id}")
        assert status == 403, body
    assert catalog.patch("owner", image_id, [{"op": "replace", "path": "/protected", "value": False}])[0] == 200
    assert catalog.call("owner", "DELETE", f"/v2/images/{image_id}")[0] == 204


def test_an_invisible_image_is_404_for_every_verb(catalog, people, unique):
    image_id = create(catalog, "owner", unique, visibility="private")["id"]
    checks = [
        catalog.call("other", "GET", f"/v2/images/{image_id}"),
        catalog.patch("other", image_id, [{"op": "replace", "path": "/name", "value": "x"}]),
        catalog.call("other", "DELETE", f"/v2/images/{image_id}"),
        upload(catalog, "other", image_id),
        catalog.call("other", "GET", f"/v2/images/{image_id}/file"),
        catalog.call("other", "PUT", f"/v2/images/{image_id}/tags/t"),
        catalog.call("other", "POST", f"/v2/images/{image_id}/actions/deactivate"),
        catalog.call("other", "GET", f"/v2/images/{image_id}/members"),
    ]
    for status, _, body in checks:
        assert status == 404, body
        assert image_id in json.loads(body)["message"]


def test_sharing_lifecycle(catalog, people, unique):
    image_id = create(catalog, "owner", unique)["id"]
    beta, gamma = people["accepted"].project_id, people["pending"].project_id
    members = f"/v2/images/{image_id}/members"
    # Before the share, beta cannot see the image at all.
    assert catalog.call("accepted", "GET", f"/v2/images/{image_id}")[0] == 404
    added = catalog.json("owner", "POST", members, {"member": beta}, expect=200)
    assert added["status"] == "pending" and added["member_id"] == beta
    catalog.json("owner", "POST", members, {"member": gamma}, expect=200)
    # A pending member sees the image but does not list it by default.
    assert catalog.call("accepted", "GET", f"/v2/images/{image_id}")[0] == 200
    listed = catalog.json("accepted", "GET", f"/v2/images?name={unique}", expect=200)["images"]
    assert listed == []
    pending = catalog.json("accepted", "GET", f"/v2/images?name={unique}&member_status=pending", expect=200)
    assert [i["id"] for i in pending["images"]] == [image_id]
    # Only the member answers: not the owner, not another member, not a
    # reader of the member's project.
    assert catalog.call("owner", "PUT", f"{members}/{beta}", {"status": "accepted"})[0] == 403
    assert catalog.call("pending", "PUT", f"{members}/{beta}", {"status": "accepted"})[0] == 403
    assert catalog.call("accepted_reader", "PUT", f"{members}/{beta}", {"status": "accepted"})[0] == 403
    assert catalog.json("accepted", "PUT", f"{members}/{beta}", {"status": "accepted"}, expect=200)["status"] == "accepted"
    listed = catalog.json("accepted", "GET", f"/v2/images?name={unique}", expect=200)["images"]
    assert [i["id"] for i in listed] == [image_id]
    # A member sees its own membership only, and may not add or remove.
    assert catalog.call("accepted", "GET", f"{members}/{gamma}")[0] == 404
    assert catalog.json("accepted", "GET", f"{members}/{beta}", expect=200)["status"] == "accepted"
    assert catalog.call("accepted", "POST", members, {"member": people["other"].project_id})[0] == 403
    assert catalog.call("accepted", "DELETE", f"{members}/{gamma}")[0] == 403
    # A project that is not a member cannot see the image or its members.
    assert catalog.call("other", "GET", members)[0] == 404
    # The owner removes beta: the image disappears for beta.
    assert catalog.call("owner", "DELETE", f"{members}/{beta}")[0] == 204
    assert catalog.call("accepted", "GET", f"/v2/images/{image_id}")[0] == 404
    assert [m["member_id"] for m in catalog.json("owner", "GET", members, expect=200)["members"]] == [gamma]


def test_v1_api_honours_the_same_policies(catalog, unique):
    image_id = create(catalog, "owner", unique, visibility="private")["id"]
    assert catalog.call("owner", "HEAD", f"/v1/images/{image_id}")[0] == 200
    assert catalog.call("other", "HEAD", f"/v1/images/{image_id}")[0] == 404
    assert catalog.call("reader", "PUT", f"/v1/images/{image_id}", None, {"x-image-meta-name": "x"})[0] == 403
    assert catalog.call("other", "DELETE", f"/v1/images/{image_id}")[0] == 404
    listed = catalog.json("other", "GET", "/v1/images/detail", expect=200)["images"]
    assert image_id not in [i["id"] for i in listed]


def test_hidden_images_are_listed_only_when_asked_for(catalog, unique):
    image_id = create(catalog, "admin", unique, visibility="public", os_hidden=True)["id"]
    for who in ("other", "owner", "admin"):
        listed = catalog.json(who, "GET", f"/v2/images?name={unique}", expect=200)["images"]
        assert listed == [], who
        hidden = catalog.json(who, "GET", f"/v2/images?name={unique}&os_hidden=true", expect=200)["images"]
        assert [i["id"] for i in hidden] == [image_id], who
        assert catalog.call(who, "GET", f"/v2/images/{image_id}")[0] == 200


def test_a_cached_download_is_refused_to_a_caller_who_may_not_see_the_image(catalog, people, unique):
    """The edge cache holds an image's bytes under a key of the image alone:
    what keeps them from others is that every download is authorized against
    D1 before the cache is asked. Here the entry is proven to exist (the
    owner's download is a HIT and the cache API lists it), and another
    project still gets 404 and none of the bytes."""
    import time

    data = b"cached and private " * 64
    image = create(catalog, "owner", unique, visibility="private")
    image_id = image["id"]
    assert upload(catalog, "owner", image_id, data)[0] == 204
    deadline = time.monotonic() + 30
    while True:
        status, headers, body = catalog.call("owner", "GET", f"/v2/images/{image_id}/file")
        assert status == 200 and body == data
        cache_state = {k.lower(): v for k, v in headers.items()}.get("x-edge-cache")
        if cache_state == "HIT":
            break
        assert time.monotonic() < deadline, f"the owner's downloads never came from the edge cache ({cache_state})"
        time.sleep(0.5)
    cached = catalog.json("admin", "GET", "/v2/cache", expect=200)["cached_images"]
    assert image_id in [entry["image_id"] for entry in cached]

    status, headers, body = catalog.call("other", "GET", f"/v2/images/{image_id}/file")
    assert status == 404, (status, body[:200])
    assert data not in body
    assert "x-edge-cache" not in {k.lower() for k in headers}
    # Nor through the cache API, which is for admins only.
    assert catalog.call("other", "GET", "/v2/cache")[0] == 403
    assert catalog.call("owner", "PUT", f"/v2/cache/{image_id}")[0] == 403
