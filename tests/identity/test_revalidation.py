"""Revalidations answered from an isolate's memory (issue 21,
`REVALIDATION_MEMORY_SECONDS`) never widen access: the memory answers only
callers who may see the image without its membership deciding, so another
project gets 404 however it revalidates, and a member removed from a share
is refused at once, not after the memory's bound."""

import uuid


def etag_of(catalog, who, image_id):
    status, headers, body = catalog.call(who, "GET", f"/v2/images/{image_id}")
    assert status == 200, body
    return {k.lower(): v for k, v in headers.items()}["etag"]


def revalidate(catalog, who, image_id, etag):
    return catalog.call(who, "GET", f"/v2/images/{image_id}", headers={"If-None-Match": etag})[0]


def test_a_revalidation_never_shows_an_image_to_a_project_that_may_not_see_it(catalog, people):
    name = f"reval-{uuid.uuid4().hex[:8]}"
    image = catalog.json("owner", "POST", "/v2/images",
                         {"name": name, "disk_format": "raw", "container_format": "bare"}, expect=201)
    image_id = image["id"]
    etag = etag_of(catalog, "owner", image_id)
    # The owner's revalidation is answered (from the read just remembered).
    assert revalidate(catalog, "owner", image_id, etag) == 304
    # Another project, and a member project before the share: 404.
    assert revalidate(catalog, "other", image_id, etag) == 404
    assert revalidate(catalog, "accepted", image_id, etag) == 404

    beta = people["accepted"].project_id
    members = f"/v2/images/{image_id}/members"
    catalog.json("owner", "POST", members, {"member": beta}, expect=200)
    catalog.json("accepted", "PUT", f"{members}/{beta}", {"status": "accepted"}, expect=200)
    assert etag_of(catalog, "accepted", image_id) == etag
    assert revalidate(catalog, "accepted", image_id, etag) == 304
    # Removed from the share: refused at once, though the record is the
    # same revision and was just read.
    assert catalog.call("owner", "DELETE", f"{members}/{beta}")[0] == 204
    assert revalidate(catalog, "accepted", image_id, etag) == 404
    assert revalidate(catalog, "other", image_id, etag) == 404
    # The owner still revalidates it.
    assert revalidate(catalog, "owner", image_id, etag) == 304
