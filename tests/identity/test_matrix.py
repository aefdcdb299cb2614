"""Every visibility x every kind of caller x show, list, download, update,
delete and members, with real Keystone tokens.

The expected answers are written out below from Glance's rules
(GLANCE-API.md section 5: `is_image_visible`, `_select_images_query`, the
default image and member policies), independently of the catalog's own
policy module. Each image is made `shared` first so that it has an accepted,
a pending and a rejected member, then moved to the visibility under test:
Glance keeps memberships across visibility changes, and only `shared` images
let them count.

Readers (the reader role only, in the owner's project, in a member project
and in an unrelated one) see what members of their project see, but may not
download (`download_image` needs the member role) or write: 403. A
system-scoped admin is refused everything, as by Glance 33, where every
image policy has `scope_types=['project']`: listing is 403 and each image
404, as if it did not exist.
"""

import json
import uuid

import pytest

from conftest import CALLERS, READERS

VISIBILITIES = ("public", "private", "shared", "community")
IMAGE_DATA = b"matrix image data " * 64


# A reader's project: whom it sees the image as.
PROJECT_OF = {"reader": "owner", "accepted_reader": "accepted", "other_reader": "other"}


def visible(visibility, caller):
    if caller == "system_admin":
        return False
    caller = PROJECT_OF.get(caller, caller)
    return (
        caller in ("owner", "admin")
        or visibility in ("public", "community")
        or (visibility == "shared" and caller in ("accepted", "pending", "rejected"))
    )


def may_write(caller):
    """Update and delete: the owner's members and admins (not readers)."""
    return caller in ("owner", "admin")


def listed(visibility, caller, member_statuses):
    """Default list: a non-admin gets owned, public and shared images whose
    membership has one of `member_statuses` (community only if owned); an
    admin everything but others' community images."""
    caller = PROJECT_OF.get(caller, caller)
    if caller == "admin":
        return visibility != "community"
    return caller == "owner" or visibility == "public" or (
        visibility == "shared" and caller in member_statuses)


def expected(op, visibility, caller):
    """The status code (and for lists/members, what is listed)."""
    if op == "show":
        return 200 if visible(visibility, caller) else 404
    if op == "download":
        if not visible(visibility, caller):
            return 404
        return 403 if caller in READERS else 200
    if op in ("update", "delete"):
        if not visible(visibility, caller):
            return 404
        success = 200 if op == "update" else 204
        return success if may_write(caller) else 403
    if caller == "system_admin" and op.startswith("list"):
        return 403
    if op == "list":
        return listed(visibility, caller, ("accepted",))
    if op == "list_all_member_statuses":
        return listed(visibility, caller, ("accepted", "pending", "rejected"))
    if op == "list_community":
        return visibility == "community"
    if op == "members":
        if not visible(visibility, caller):
            return 404, None
        if visibility != "shared":
            return 403, None
        # Owners and admins see every membership; a member only its own.
        return 200, 3 if PROJECT_OF.get(caller, caller) in ("owner", "admin") else 1
    raise AssertionError(op)


def make_image(catalog, people, visibility, name):
    """An active image owned by alpha with three memberships, then moved to
    `visibility`."""
    image = catalog.json("owner", "POST", "/v2/images", {
        "name": name, "disk_format": "raw", "container_format": "bare", "visibility": "shared"}, expect=201)
    image_id = image["id"]
    status, _, body = catalog.call("owner", "PUT", f"/v2/images/{image_id}/file", IMAGE_DATA,
                                   {"Content-Type": "application/octet-stream"})
    assert status == 204, body
    for kind, answer in (("accepted", "accepted"), ("pending", None), ("rejected", "rejected")):
        project = people[kind].project_id
        catalog.json("owner", "POST", f"/v2/images/{image_id}/members", {"member": project}, expect=200)
        if answer:
            catalog.json(kind, "PUT", f"/v2/images/{image_id}/members/{project}", {"status": answer}, expect=200)
    if visibility != "shared":
        # Only admins publicize; the owner may make an image private or community.
        who = "admin" if visibility == "public" else "owner"
        status, _, body = catalog.patch(who, image_id, [{"op": "replace", "path": "/visibility", "value": visibility}])
        assert status == 200, body
    return image_id


@pytest.fixture(scope="module")
def images(catalog, people):
    run = uuid.uuid4().hex[:8]
    return {v: (make_image(catalog, people, v, f"matrix-{v}-{run}"), f"matrix-{v}-{run}") for v in VISIBILITIES}


def cells(ops):
    return [(op, v, c) for op in ops for v in VISIBILITIES for c in CALLERS]


@pytest.mark.parametrize("op,visibility,caller", cells(["show", "download", "update"]))
def test_show_download_update(catalog, images, op, visibility, caller):
    image_id, _ = images[visibility]
    want = expected(op, visibility, caller)
    if op == "show":
        status, _, body = catalog.call(caller, "GET", f"/v2/images/{image_id}")
        if status == 200:
            assert json.loads(body)["id"] == image_id
    elif op == "download":
        status, _, body = catalog.call(caller, "GET", f"/v2/images/{image_id}/file")
        if status == 200:
            assert body == IMAGE_DATA
    else:
        status, _, body = catalog.patch(caller, image_id, [{"op": "add", "path": f"/touched_by_{caller}", "value": "yes"}])
        if status == 200:
            assert json.loads(body)[f"touched_by_{caller}"] == "yes"
    assert status == want, f"{caller} {op} {visibility}: {status} {body[:300]!r}"
    if status >= 400:
        error = json.loads(body)
        assert error["message"], body


@pytest.mark.parametrize("op,visibility,caller", cells(["list", "list_all_member_statuses", "list_community"]))
def test_list(catalog, images, op, visibility, caller):
    image_id, name = images[visibility]
    query = {"list": "", "list_all_member_statuses": "&member_status=all",
             "list_community": "&visibility=community"}[op]
    want = expected(op, visibility, caller)
    if want == 403:
        status, _, body = catalog.call(caller, "GET", f"/v2/images?name={name}{query}")
        assert status == 403, f"{caller} {op} {visibility}: {status} {body[:300]!r}"
        return
    found = catalog.json(caller, "GET", f"/v2/images?name={name}{query}", expect=200)["images"]
    assert (image_id in [i["id"] for i in found]) == want, f"{caller} {op} {visibility}"


@pytest.mark.parametrize("visibility,caller", [(v, c) for v in VISIBILITIES for c in CALLERS])
def test_members(catalog, people, images, visibility, caller):
    image_id, _ = images[visibility]
    want_status, want_count = expected("members", visibility, caller)
    status, _, body = catalog.call(caller, "GET", f"/v2/images/{image_id}/members")
    assert status == want_status, f"{caller} members {visibility}: {status} {body[:300]!r}"
    if status == 200:
        members = json.loads(body)["members"]
        assert len(members) == want_count, members
        if want_count == 1:
            assert members[0]["member_id"] == people[caller].project_id


@pytest.mark.parametrize("visibility,caller", [(v, c) for v in VISIBILITIES for c in CALLERS])
def test_delete(catalog, people, images, visibility, caller):
    want = expected("delete", visibility, caller)
    # A refused delete must leave the shared image alone; an allowed one
    # gets an image of its own.
    image_id = images[visibility][0] if want != 204 else make_image(
        catalog, people, visibility, f"matrix-delete-{uuid.uuid4().hex[:8]}")
    status, _, body = catalog.call(caller, "DELETE", f"/v2/images/{image_id}")
    assert status == want, f"{caller} delete {visibility}: {status} {body[:300]!r}"
    after, _, _ = catalog.call("owner", "GET", f"/v2/images/{image_id}")
    assert after == (404 if want == 204 else 200)
