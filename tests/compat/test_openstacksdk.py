"""openstacksdk with auth_type none, as in the recordings."""

import os

import openstack
import pytest

from helpers import create_many


def test_version_discovery_finds_the_v2_endpoint(sdk, catalog_url):
    endpoint = sdk.image.get_endpoint()
    assert endpoint.rstrip("/") == f"{catalog_url}/v2"


def test_create_image_uploads_with_owner_specified_hashes(sdk, unique, payload):
    # The cloud layer: looks the name up three ways, creates with
    # owner_specified.openstack.* properties, uploads with a fixed length.
    image = sdk.create_image(unique, filename=str(payload["path"]), disk_format="raw", container_format="bare", wait=True)
    assert image.status == "active"
    assert image.checksum == payload["md5"]
    assert image.hash_value == payload["sha512"]
    # As recorded from Glance: the SDK sends these keys (empty unless it was
    # asked to compute them) and reads them back.
    for key in ("md5", "sha256", "object"):
        assert f"owner_specified.openstack.{key}" in image.properties


def test_proxy_create_get_and_download_verify_hashes(sdk, unique, payload, tmp_path):
    image = sdk.image.create_image(name=unique, filename=str(payload["path"]), disk_format="raw", container_format="bare")
    fetched = sdk.image.get_image(image.id)
    assert fetched.status == "active"
    assert fetched.size == len(payload["data"])
    response = sdk.image.download_image(fetched)
    assert response.content == payload["data"]
    target = tmp_path / "out.bin"
    sdk.image.download_image(fetched, output=str(target))
    assert target.read_bytes() == payload["data"]


def test_images_pages_with_next(sdk, catalog_url, unique):
    ids = create_many(catalog_url, 7, {"tags": [unique]})
    listed = [i.id for i in sdk.image.images(tag=unique, limit=2)]
    assert sorted(listed) == sorted(ids)


def test_filtered_listing(sdk, catalog_url, unique):
    tagged = create_many(catalog_url, 3, {"group": unique, "tags": [unique], "visibility": "private"})
    create_many(catalog_url, 2, {"group": unique})
    listed = [i.id for i in sdk.image.images(tag=unique, visibility="private", sort_key="name", sort_dir="asc")]
    assert listed == sorted(tagged, key=lambda i: sdk.image.get_image(i).name)
    assert [i.name for i in sdk.image.images(name=f"{unique}-missing")] == []


def test_update_image_and_tags(sdk, unique):
    image = sdk.image.create_image(name=unique, disk_format="raw", container_format="bare")
    updated = sdk.image.update_image(image, name=f"{unique}-renamed")
    assert updated.name == f"{unique}-renamed"
    updated = sdk.image.update_image(image.id, os_distro="debian")
    assert updated.os_distro == "debian"
    sdk.image.add_tag(image, "tagA")
    assert sdk.image.get_image(image.id).tags == ["tagA"]
    sdk.image.remove_tag(image, "tagA")
    assert sdk.image.get_image(image.id).tags == []


def test_find_image_by_name(sdk, unique):
    image = sdk.image.create_image(name=unique, disk_format="raw", container_format="bare")
    assert sdk.image.find_image(unique).id == image.id


def test_missing_images_raise_not_found(sdk):
    with pytest.raises(openstack.exceptions.NotFoundException) as caught:
        sdk.image.get_image("00000000-0000-0000-0000-000000000000")
    assert "No image found with ID 00000000-0000-0000-0000-000000000000" in str(caught.value)


def test_delete_image(sdk, unique, payload):
    image = sdk.image.create_image(name=unique, filename=str(payload["path"]), disk_format="raw", container_format="bare")
    sdk.image.delete_image(image)
    with pytest.raises(openstack.exceptions.NotFoundException):
        sdk.image.get_image(image.id)


def test_usage_is_read_through_the_image_proxy(sdk):
    # openstacksdk has no call of its own for /v2/info/usage: its image
    # proxy (a keystoneauth adapter on the discovered v2 endpoint) reads it.
    # In noauth mode the catalog under test runs without quotas: Glance's
    # empty document. In keystone mode it reads Keystone's unified limits,
    # registered unlimited (-1) for every project (scripts/keystone.sh).
    reply = sdk.image.get("/info/usage")
    assert reply.status_code == 200
    if os.environ.get("COMPAT_AUTH") == "keystone":
        usage = reply.json()["usage"]
        assert sorted(usage) == ["image_count_total", "image_count_uploading", "image_size_total", "image_stage_total"]
        assert {name: each["limit"] for name, each in usage.items()} == dict.fromkeys(usage, -1), usage
    else:
        assert reply.json() == {"usage": {}}


@pytest.mark.skipif(not os.environ.get("CATALOG_C_URL"), reason="catalog C (quotas) runs in noauth mode only")
def test_usage_shows_limits_and_counts_a_new_image():
    conn = openstack.connect(auth_type="none", auth={"endpoint": os.environ["CATALOG_C_URL"].rstrip("/")})
    before = conn.image.get("/info/usage").json()["usage"]
    assert set(before) == {"image_size_total", "image_stage_total", "image_count_total", "image_count_uploading"}
    assert before["image_count_total"]["limit"] == 20
    image = conn.image.create_image(name="usage-probe", disk_format="raw", container_format="bare")
    try:
        after = conn.image.get("/info/usage").json()["usage"]
        assert after["image_count_total"]["usage"] == before["image_count_total"]["usage"] + 1
    finally:
        conn.image.delete_image(image.id)
