"""Resumable uploads (tus) in keystone mode: an upload URL is not a
capability. A member of another project gets 404 for HEAD, PATCH and
DELETE of an upload (as for an image it cannot see), and changes nothing;
the owner's project can do all three. Plain HTTP with real Keystone tokens
(`people` in conftest.py: `owner` is a member of project alpha, `other` of
epsilon)."""

import hashlib
import uuid

TUS = {"Tus-Resumable": "1.0.0"}
DATA = hashlib.sha512(b"tus identity").digest() * 2048  # 128 KiB
HALF = len(DATA) // 2


def header(headers, name):
    """A response header, whatever the case of its name."""
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


def create_image(catalog):
    image = catalog.json("owner", "POST", "/v2/images", {
        "name": f"tus-identity-{uuid.uuid4().hex[:8]}", "disk_format": "raw", "container_format": "bare"},
        expect=201)
    return image["id"]


def create_upload(catalog, image_id):
    """The owner creates an upload with the first half of DATA in the
    creation request (creation-with-upload); returns its path."""
    status, headers, body = catalog.call("owner", "POST", f"/v2/images/{image_id}/uploads", DATA[:HALF], {
        **TUS, "Upload-Length": str(len(DATA)), "Content-Type": "application/offset+octet-stream"})
    assert status == 201, f"owner POST uploads: {status} {body[:300]!r}"
    location = header(headers, "Location")
    assert location and location.startswith(f"{catalog.url}/v2/images/{image_id}/uploads/"), location
    path = location[len(catalog.url):]
    assert offset_of(catalog, "owner", path) == (200, HALF)
    return path


def offset_of(catalog, who, path):
    status, headers, _ = catalog.call(who, "HEAD", path, headers=TUS)
    offset = header(headers, "Upload-Offset")
    return status, int(offset) if offset is not None else None


def patch(catalog, who, path, offset, data):
    status, headers, body = catalog.call(who, "PATCH", path, data, {
        **TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
    return status, headers, body


def test_another_project_cannot_head_or_patch_an_upload_the_owner_finishes(catalog):
    image_id = create_image(catalog)
    path = create_upload(catalog, image_id)

    # Another project: as if the upload did not exist.
    assert offset_of(catalog, "other", path) == (404, None)
    status, _, body = patch(catalog, "other", path, HALF, DATA[HALF:])
    assert status == 404, f"other PATCH: {status} {body[:300]!r}"
    # Nor may it start an upload of the owner's (private) image.
    status, _, body = catalog.call("other", "POST", f"/v2/images/{image_id}/uploads", b"",
                                   {**TUS, "Upload-Length": str(len(DATA))})
    assert status == 404, f"other POST uploads: {status} {body[:300]!r}"
    # Without a token: refused before anything is looked up.
    status, _, _ = catalog.call(None, "HEAD", path, headers=TUS)
    assert status == 401, status

    # The other project's PATCH changed nothing; the owner goes on.
    assert offset_of(catalog, "owner", path) == (200, HALF)
    status, headers, body = patch(catalog, "owner", path, HALF, DATA[HALF:])
    assert status == 204, f"owner PATCH: {status} {body[:300]!r}"
    assert header(headers, "Upload-Offset") == str(len(DATA)), headers
    image = catalog.json("owner", "GET", f"/v2/images/{image_id}", expect=200)
    assert image["status"] == "uploading" and image["size"] == len(DATA), image


def test_another_project_cannot_terminate_an_upload_the_owner_can(catalog):
    image_id = create_image(catalog)
    path = create_upload(catalog, image_id)

    status, _, body = catalog.call("other", "DELETE", path, headers=TUS)
    assert status == 404, f"other DELETE: {status} {body[:300]!r}"
    assert offset_of(catalog, "owner", path) == (200, HALF)

    status, _, body = catalog.call("owner", "DELETE", path, headers=TUS)
    assert status == 204, f"owner DELETE: {status} {body[:300]!r}"
    assert offset_of(catalog, "owner", path)[0] == 404
