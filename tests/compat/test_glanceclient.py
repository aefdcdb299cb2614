"""python-glanceclient's `glance` CLI, used as the recordings show."""

import json

from helpers import create_many, http, list_ids, parse_table


def create_with_file(glance, name, payload):
    out = glance.run(
        "image-create", "--name", name, "--disk-format", "raw", "--container-format", "bare", "--file", str(payload["path"])
    ).stdout
    return parse_table(out)


def test_image_create_with_a_file_uploads_it_and_reports_the_hashes(glance, unique, payload):
    image = create_with_file(glance, unique, payload)
    assert image["status"] == "active"
    assert image["size"] == str(len(payload["data"]))
    assert image["checksum"] == payload["md5"]
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == payload["sha512"]


def test_image_create_without_data_leaves_a_queued_image(glance, unique):
    image = parse_table(glance.run("image-create", "--name", unique, "--disk-format", "qcow2", "--container-format", "bare").stdout)
    assert image["status"] == "queued"
    assert image["name"] == unique
    assert image["size"] == "None"


def test_image_show_prints_the_record(glance, unique, payload):
    created = create_with_file(glance, unique, payload)
    shown = parse_table(glance.run("image-show", created["id"]).stdout)
    assert shown["id"] == created["id"]
    assert shown["checksum"] == payload["md5"]


def test_image_download_verifies_and_writes_the_same_bytes(glance, unique, payload, tmp_path):
    image = create_with_file(glance, unique, payload)
    target = tmp_path / "download.bin"
    glance.run("image-download", "--file", str(target), image["id"])
    assert target.read_bytes() == payload["data"]


def test_image_download_of_an_image_without_data_says_so(glance, unique, tmp_path):
    image = parse_table(glance.run("image-create", "--name", unique).stdout)
    result = glance.run("image-download", "--file", str(tmp_path / "x"), image["id"], check=False)
    assert result.returncode != 0
    assert "no data" in (result.stdout + result.stderr).lower()
    assert "Traceback" not in result.stderr


def test_an_upload_to_an_active_image_prints_the_status_code_as_against_glance(glance, unique, payload):
    # Against Glance 33 the glance CLI prints
    # "HTTP 409 Conflict: Image status transition from active to saving is not allowed".
    image = create_with_file(glance, unique, payload)
    result = glance.run("image-upload", "--file", str(payload["path"]), image["id"], check=False)
    assert result.returncode != 0
    assert "409 Conflict: Image status transition from active to saving is not allowed" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_image_list_follows_next_across_more_than_200_images(glance, catalog_url, unique):
    ids = create_many(catalog_url, 205, {"batch": unique})
    out = glance.run("image-list", "--property-filter", f"batch={unique}", timeout=600).stdout
    assert sorted(list_ids(out)) == sorted(ids)


def test_image_list_filters_by_property_visibility_and_tag(glance, catalog_url, unique):
    tagged = create_many(catalog_url, 2, {"group": unique, "tags": [unique], "visibility": "private"})
    untagged = create_many(catalog_url, 1, {"group": unique, "visibility": "shared"})
    by_property = list_ids(glance.run("image-list", "--property-filter", f"group={unique}").stdout)
    assert sorted(by_property) == sorted(tagged + untagged)
    by_tag = list_ids(glance.run("image-list", "--tag", unique).stdout)
    assert sorted(by_tag) == sorted(tagged)
    by_visibility = list_ids(glance.run("image-list", "--property-filter", f"group={unique}", "--visibility", "shared").stdout)
    assert by_visibility == untagged


def test_image_update_sets_and_removes_properties_and_renames(glance, unique):
    image = parse_table(glance.run("image-create", "--name", unique, "--property", "keep=me").stdout)
    updated = parse_table(glance.run("image-update", "--name", f"{unique}-2", "--property", "os_distro=debian", image["id"]).stdout)
    assert updated["name"] == f"{unique}-2"
    assert updated["os_distro"] == "debian"
    removed = parse_table(glance.run("image-update", "--remove-property", "os_distro", image["id"]).stdout)
    assert "os_distro" not in removed
    assert removed["keep"] == "me"


def test_image_tags_are_added_and_deleted(glance, catalog_url, unique):
    image = parse_table(glance.run("image-create", "--name", unique).stdout)
    glance.run("image-tag-update", image["id"], "blue")
    shown = json.loads(http("GET", f"{catalog_url}/v2/images/{image['id']}")[2])
    assert shown["tags"] == ["blue"]
    glance.run("image-tag-delete", image["id"], "blue")
    shown = json.loads(http("GET", f"{catalog_url}/v2/images/{image['id']}")[2])
    assert shown["tags"] == []


def test_image_delete_removes_the_image(glance, unique, payload):
    image = create_with_file(glance, unique, payload)
    glance.run("image-delete", image["id"])
    result = glance.run("image-show", image["id"], check=False)
    assert result.returncode != 0
    assert "No image found" in result.stderr


def test_deactivate_and_reactivate(glance, unique, payload):
    image = create_with_file(glance, unique, payload)
    glance.run("image-deactivate", image["id"])
    assert parse_table(glance.run("image-show", image["id"]).stdout)["status"] == "deactivated"
    glance.run("image-reactivate", image["id"])
    assert parse_table(glance.run("image-show", image["id"]).stdout)["status"] == "active"


def test_stores_info_and_import_info(glance):
    stores = parse_table(glance.run("stores-info").stdout)
    assert json.loads(stores["stores"])[0]["default"] == "true"
    info = parse_table(glance.run("import-info").stdout)
    assert json.loads(info["import-methods"])["type"] == "array"


def test_showing_a_missing_image_prints_a_clean_error(glance):
    result = glance.run("image-show", "00000000-0000-0000-0000-000000000000", check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "No image found with ID 00000000-0000-0000-0000-000000000000" in result.stderr
