"""python-glanceclient's `glance cache-*` commands: the image cache API
(/v2/cache, API v2.14+; admin only, and the suite's callers are admin).

The cache commands refuse to run without a direct endpoint ("Direct server
endpoint needs to be provided"), so in keystone mode the CLI logs in with a
password and is also given --os-image-url. The commands print failures
without changing the exit status, so each test checks stderr too and looks
at the outcome through `cache-list` and a plain GET /v2/cache.
"""

import json
import os
import time

import pytest

from helpers import http

CACHE_TIMEOUT = 60


@pytest.fixture(scope="module")
def cache_glance(glance, catalog_url):
    """The glance CLI with a direct endpoint in both modes."""
    if "--os-image-url" in glance.argv:
        return glance
    return type(glance)([*glance.argv, "--os-image-url", catalog_url], glance.env, glance.closed_stdin)


def active_image(catalog_url, name):
    status, _, body = http(
        "POST", f"{catalog_url}/v2/images", {"name": name, "disk_format": "raw", "container_format": "bare"}
    )
    assert status == 201, body
    image_id = json.loads(body)["id"]
    status, _, body = http(
        "PUT",
        f"{catalog_url}/v2/images/{image_id}/file",
        os.urandom(64 * 1024 + 3),
        {"Content-Type": "application/octet-stream"},
    )
    assert status == 204, body
    status, _, body = http("GET", f"{catalog_url}/v2/images/{image_id}")
    assert json.loads(body)["status"] == "active"
    return image_id


def cache_state(catalog_url):
    status, _, body = http("GET", f"{catalog_url}/v2/cache")
    assert status == 200, body
    state = json.loads(body)
    return {entry["image_id"] for entry in state["cached_images"]}, set(state["queued_images"])


def listed(cache_glance):
    """`cache-list` as {image id: state}."""
    out = cache_glance.run("cache-list").stdout
    states = {}
    header = None
    for line in out.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip()[1:-1].split("|")]
        if header is None:
            header = cells
            assert cells[:2] == ["ID", "State"], out
            continue
        states[cells[0]] = dict(zip(header, cells))
    return states


def quiet(result):
    """The cache commands report failures on stderr only."""
    assert "Unable" not in result.stderr and "not permitted" not in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result


def wait_cached(cache_glance, image_id):
    deadline = time.monotonic() + CACHE_TIMEOUT
    while True:
        entry = listed(cache_glance).get(image_id)
        if entry and entry["State"] == "cached":
            return entry
        if time.monotonic() > deadline:
            raise AssertionError(f"{image_id} was not cached within {CACHE_TIMEOUT}s: cache-list shows {entry}")
        time.sleep(1)


def test_cache_list_runs_and_has_the_glance_columns(cache_glance):
    out = quiet(cache_glance.run("cache-list")).stdout
    header = next(line for line in out.splitlines() if line.startswith("|"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns[:2] == ["ID", "State"] and "Hits" in columns, out


def test_queue_then_cached_then_delete(cache_glance, catalog_url, unique):
    image_id = active_image(catalog_url, unique)
    quiet(cache_glance.run("cache-queue", image_id))
    cached, queued = cache_state(catalog_url)
    assert image_id in cached | queued

    entry = wait_cached(cache_glance, image_id)
    assert entry["Size"] == str(64 * 1024 + 3)
    assert entry["Last Modified (UTC)"] != "N/A"
    cached, queued = cache_state(catalog_url)
    assert image_id in cached and image_id not in queued

    quiet(cache_glance.run("cache-delete", image_id))
    assert image_id not in listed(cache_glance)
    cached, queued = cache_state(catalog_url)
    assert image_id not in cached | queued
    # The image itself is untouched.
    status, _, body = http("GET", f"{catalog_url}/v2/images/{image_id}")
    assert status == 200 and json.loads(body)["status"] == "active"


def test_queueing_a_missing_or_inactive_image_is_refused(cache_glance, catalog_url, unique):
    missing = cache_glance.run("cache-queue", "00000000-0000-0000-0000-000000000000")
    assert "404" in missing.stderr and "Unable to queue" in missing.stderr, missing.stderr
    status, _, body = http("POST", f"{catalog_url}/v2/images", {"name": unique})
    queued_image = json.loads(body)["id"]
    refused = cache_glance.run("cache-queue", queued_image)
    assert "400" in refused.stderr and "Unable to queue" in refused.stderr, refused.stderr
    assert queued_image not in listed(cache_glance)


def test_cache_clear_by_target(cache_glance, catalog_url, unique):
    first = active_image(catalog_url, f"{unique}-1")
    second = active_image(catalog_url, f"{unique}-2")
    quiet(cache_glance.run("cache-queue", first, second))
    wait_cached(cache_glance, first)
    wait_cached(cache_glance, second)

    # --target queue leaves the cached images alone.
    quiet(cache_glance.run("cache-clear", "--target", "queue"))
    cached, queued = cache_state(catalog_url)
    assert {first, second} <= cached and not queued

    quiet(cache_glance.run("cache-clear", "--target", "cache"))
    cached, _ = cache_state(catalog_url)
    assert not cached & {first, second}

    # The default target is both.
    quiet(cache_glance.run("cache-queue", first))
    wait_cached(cache_glance, first)
    quiet(cache_glance.run("cache-clear"))
    cached, queued = cache_state(catalog_url)
    assert not cached and not queued
    assert listed(cache_glance) == {}


def test_cache_delete_of_an_image_in_no_cache_says_not_found(cache_glance):
    result = cache_glance.run("cache-delete", "00000000-0000-0000-0000-000000000000")
    assert "404" in result.stderr and "Unable to delete" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr

