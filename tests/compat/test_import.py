"""Interoperable image import and multiple stores with the real clients.

The `glance` CLI's `image-create-via-import` (web-download and glance-direct),
`image-stage` + `image-import`, `image-import --import-method copy-image`,
`stores-info` and `stores-delete`, and openstacksdk's `create_image(...,
use_import=True)`, `import_image(...)`, `stores()` and
`delete_image(..., store=...)`. Every import is checked byte for byte.

web-download needs a URL the catalog's URI filter allows: the catalog runs
with IMPORT_ALLOWED_HOSTS=127.0.0.1 and IMPORT_ALLOWED_PORTS including
CATALOG_FIXTURE_PORT, and the `web` fixture below serves a temporary
directory on 127.0.0.1:CATALOG_FIXTURE_PORT (the Rust integration tests,
which use the same port, have finished by then). The catalog's stores are
`primary` (default, weight 100), `secondary` (50) and the read-only http
store `web` (0).
"""

import functools
import hashlib
import json
import os
import threading
import time
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import http, parse_table

IMPORT_TIMEOUT = 120


class FixtureWeb:
    """Files published under a temp dir, served on 127.0.0.1:PORT."""

    def __init__(self, root, port):
        self.root = root
        self.port = port

    def publish(self, data, suffix=".raw"):
        name = f"{uuid.uuid4().hex}{suffix}"
        (self.root / name).write_bytes(data)
        return self.url(name)

    def url(self, name, host="127.0.0.1"):
        return f"http://{host}:{self.port}/{name}"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def web(tmp_path_factory):
    port = os.environ.get("CATALOG_FIXTURE_PORT")
    if not port:
        pytest.fail(
            "CATALOG_FIXTURE_PORT is not set: the import tests serve web-download data on that loopback port, "
            "which the catalog's URI filter must allow (IMPORT_ALLOWED_PORTS); run the suite with scripts/test",
            pytrace=False,
        )
    root = tmp_path_factory.mktemp("fixture-web")
    handler = functools.partial(_QuietHandler, directory=str(root))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", int(port)), handler)
    except OSError as error:
        pytest.fail(f"the fixture HTTP server cannot listen on 127.0.0.1:{port} (CATALOG_FIXTURE_PORT): {error}", pytrace=False)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield FixtureWeb(root, int(port))
    server.shutdown()
    server.server_close()


def show(catalog_url, image_id):
    status, _, body = http("GET", f"{catalog_url}/v2/images/{image_id}")
    assert status == 200, body
    return json.loads(body)


def image_tasks(catalog_url, image_id):
    status, _, body = http("GET", f"{catalog_url}/v2/images/{image_id}/tasks")
    assert status == 200, body
    return json.loads(body)["tasks"]


def wait_imported(catalog_url, image_id, timeout=IMPORT_TIMEOUT):
    """Waits until the import is over (no lock, not importing, every task
    final); returns the image then."""
    deadline = time.monotonic() + timeout
    while True:
        image = show(catalog_url, image_id)
        tasks = image_tasks(catalog_url, image_id)
        locked = bool(image.get("os_glance_import_task"))
        if not locked and image["status"] not in ("importing", "saving") and tasks and all(
            t["status"] in ("success", "failure") for t in tasks
        ):
            return image
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the import of {image_id} did not finish within {timeout}s: status {image['status']}, "
                f"lock {image.get('os_glance_import_task')}, tasks {[t['status'] for t in tasks]}"
            )
        time.sleep(0.3)


def wait_stores(catalog_url, image_id, stores, timeout=IMPORT_TIMEOUT):
    """For copy-image: the image stays active; waits for the store list."""
    deadline = time.monotonic() + timeout
    while True:
        image = show(catalog_url, image_id)
        assert image["status"] == "active", image
        if image.get("stores") == stores and not image.get("os_glance_import_task"):
            return image
        if time.monotonic() > deadline:
            raise AssertionError(f"image {image_id} has stores {image.get('stores')!r}, expected {stores!r}")
        time.sleep(0.3)


def assert_imported(image, payload, stores="primary"):
    assert image["status"] == "active", image
    assert image["size"] == len(payload["data"])
    assert image["checksum"] == payload["md5"]
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == payload["sha512"]
    assert image["stores"] == stores
    for key in ("os_glance_import_task", "os_glance_importing_to_stores", "os_glance_failed_import"):
        assert not image.get(key), f"{key} left after a successful import: {image}"


def downloaded_with_glance(glance, image_id, tmp_path):
    target = tmp_path / f"{image_id}.out"
    glance.run("image-download", "--file", str(target), image_id)
    return target.read_bytes()


# ---- glance CLI ----


def test_glance_image_create_via_import_with_web_download(glance, catalog_url, unique, payload, web, tmp_path):
    url = web.publish(payload["data"])
    out = glance.run(
        "image-create-via-import", "--name", unique, "--disk-format", "raw", "--container-format", "bare",
        "--import-method", "web-download", "--uri", url,
    ).stdout
    image_id = parse_table(out)["id"]
    image = wait_imported(catalog_url, image_id)
    assert_imported(image, payload)
    assert downloaded_with_glance(glance, image_id, tmp_path) == payload["data"]
    task = image_tasks(catalog_url, image_id)[0]
    assert task["type"] == "api_image_import"
    assert task["input"]["import_req"]["method"] == {"name": "web-download", "uri": url}


def test_glance_image_create_via_import_with_glance_direct(glance, catalog_url, unique, payload, tmp_path):
    out = glance.run(
        "image-create-via-import", "--name", unique, "--disk-format", "raw", "--container-format", "bare",
        "--import-method", "glance-direct", "--file", str(payload["path"]),
    ).stdout
    image_id = parse_table(out)["id"]
    image = wait_imported(catalog_url, image_id)
    assert_imported(image, payload)
    assert downloaded_with_glance(glance, image_id, tmp_path) == payload["data"]


def test_glance_image_stage_then_image_import_into_a_chosen_store(glance, catalog_url, unique, payload, tmp_path):
    image_id = parse_table(
        glance.run("image-create", "--name", unique, "--disk-format", "raw", "--container-format", "bare").stdout
    )["id"]
    glance.run("image-stage", "--file", str(payload["path"]), image_id)
    assert parse_table(glance.run("image-show", image_id).stdout)["status"] == "uploading"
    glance.run("image-import", "--import-method", "glance-direct", "--store", "secondary", image_id)
    image = wait_imported(catalog_url, image_id)
    assert_imported(image, payload, stores="secondary")
    assert downloaded_with_glance(glance, image_id, tmp_path) == payload["data"]
    tasks = glance.run("--verbose", "image-tasks", image_id).stdout
    assert image_tasks(catalog_url, image_id)[0]["id"] in tasks
    assert "success" in tasks


def test_glance_refuses_a_web_download_uri_the_filter_refuses(glance, catalog_url, unique, web):
    result = glance.run(
        "image-create-via-import", "--name", unique, "--disk-format", "raw", "--container-format", "bare",
        "--import-method", "web-download", "--uri", web.url("x.raw", host="169.254.169.254"), check=False,
    )
    assert result.returncode != 0
    assert "400" in result.stderr and "does not pass filtering" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_glance_copy_image_then_stores_delete(glance, catalog_url, unique, payload, tmp_path):
    out = glance.run(
        "image-create", "--name", unique, "--disk-format", "raw", "--container-format", "bare",
        "--file", str(payload["path"]),
    ).stdout
    image_id = parse_table(out)["id"]
    assert show(catalog_url, image_id)["stores"] == "primary"
    glance.run("image-import", "--import-method", "copy-image", "--stores", "secondary", image_id)
    image = wait_stores(catalog_url, image_id, "primary,secondary")
    assert_imported(image, payload, stores="primary,secondary")

    glance.run("stores-delete", "--store", "primary", image_id)
    assert show(catalog_url, image_id)["stores"] == "secondary"
    # The secondary copy serves the same bytes (glance verifies the hash too).
    assert downloaded_with_glance(glance, image_id, tmp_path) == payload["data"]

    # The last copy can't be removed this way (Glance: 403).
    result = glance.run("stores-delete", "--store", "secondary", image_id, check=False)
    assert result.returncode != 0
    assert "Unable to delete image" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert show(catalog_url, image_id)["stores"] == "secondary"


def test_glance_stores_info_lists_the_stores(glance):
    stores = json.loads(parse_table(glance.run("stores-info").stdout)["stores"])
    assert [s["id"] for s in stores] == ["primary", "secondary", "web"]
    assert stores[0]["default"] == "true"
    assert stores[2]["read-only"] == "true"
    detail = json.loads(parse_table(glance.run("stores-info", "--detail").stdout)["stores"])
    assert all("type" in s and "properties" in s for s in detail)
    methods = json.loads(parse_table(glance.run("import-info").stdout)["import-methods"])["value"]
    assert {"glance-direct", "web-download", "copy-image"} <= set(methods)


# ---- openstacksdk ----


def test_sdk_create_image_with_use_import_stages_and_imports(sdk, catalog_url, unique, payload):
    image = sdk.image.create_image(
        name=unique, filename=str(payload["path"]), disk_format="raw", container_format="bare", use_import=True
    )
    final = wait_imported(catalog_url, image.id)
    assert_imported(final, payload)
    fetched = sdk.image.get_image(image.id)
    assert fetched.checksum == payload["md5"]
    assert fetched.hash_value == payload["sha512"]
    assert sdk.image.download_image(fetched).content == payload["data"]


def test_sdk_cloud_layer_create_image_with_use_import(sdk, catalog_url, unique, payload):
    image = sdk.create_image(
        unique, filename=str(payload["path"]), disk_format="raw", container_format="bare", use_import=True
    )
    final = wait_imported(catalog_url, image.id)
    assert_imported(final, payload)
    assert sdk.image.download_image(image.id).content == payload["data"]


def test_sdk_create_image_with_web_download(sdk, catalog_url, unique, payload, web):
    url = web.publish(payload["data"])
    image = sdk.image.create_image(
        name=unique, disk_format="raw", container_format="bare", use_import=True, import_method="web-download", uri=url
    )
    assert_imported(wait_imported(catalog_url, image.id), payload)
    assert sdk.image.download_image(image.id).content == payload["data"]


def test_sdk_import_image_with_web_download_into_all_stores(sdk, catalog_url, unique, payload, web):
    image = sdk.image.create_image(name=unique, disk_format="raw", container_format="bare")
    assert sdk.image.get_image(image.id).status == "queued"
    sdk.image.import_image(image, method="web-download", uri=web.publish(payload["data"]), all_stores=True)
    assert_imported(wait_imported(catalog_url, image.id), payload, stores="primary,secondary")
    assert sdk.image.download_image(image.id).content == payload["data"]


def test_sdk_copy_image_then_delete_from_a_store(sdk, catalog_url, unique, payload):
    image = sdk.image.create_image(
        name=unique, filename=str(payload["path"]), disk_format="raw", container_format="bare"
    )
    assert show(catalog_url, image.id)["stores"] == "primary"
    sdk.image.import_image(image, method="copy-image", stores=["secondary"])
    wait_stores(catalog_url, image.id, "primary,secondary")
    sdk.image.delete_image(image, store="secondary")
    assert show(catalog_url, image.id)["stores"] == "primary"
    assert sdk.image.download_image(image.id).content == payload["data"]


def test_sdk_stores_and_import_info(sdk):
    stores = list(sdk.image.stores())
    assert [s.id for s in stores] == ["primary", "secondary", "web"]
    assert [s.is_default for s in stores][0] is True
    detailed = list(sdk.image.stores(details=True))
    assert all(isinstance(s.properties, dict) for s in detailed)
    methods = sdk.image.get_import_info().import_methods["value"]
    assert {"glance-direct", "web-download", "copy-image"} <= set(methods)


def test_sdk_glance_direct_by_hand_reports_the_hashes(sdk, catalog_url, unique, tmp_path):
    # stage_image + import_image, as a user of the proxy would.
    data = os.urandom(512 * 1024 + 3)
    image = sdk.image.create_image(name=unique, disk_format="raw", container_format="bare")
    sdk.image.stage_image(image, data=data)
    assert sdk.image.get_image(image.id).status == "uploading"
    sdk.image.import_image(image, method="glance-direct")
    final = wait_imported(catalog_url, image.id)
    assert final["status"] == "active"
    assert final["checksum"] == hashlib.md5(data).hexdigest()
    assert final["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert sdk.image.download_image(image.id).content == data
