"""Keystone unreachable: a token whose validation is cached keeps working
for the cache time; any other token gets 503 (not 500, and never an open
door); a write that needs the project's unified limits (the catalog runs
with USE_KEYSTONE_LIMITS) gets 503 too, never a quota refusal or a pass.
Stops Keystone, so scripts/test runs this file last."""

import json
import os
import signal
import time

from helpers import http


def test_keystone_down_is_503_and_cached_validations_still_count(catalog_url, people):
    pid = int(os.environ["KEYSTONE_PID"])
    cached, _ = people["owner"].issue()
    fresh, _ = people["other"].issue()  # issued, never shown to the catalog
    assert http("GET", f"{catalog_url}/v2/images?limit=1", headers={"X-Auth-Token": cached})[0] == 200

    os.killpg(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.killpg(pid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            break

    status, _, body = http("GET", f"{catalog_url}/v2/images?limit=1",
                           headers={"X-Auth-Token": cached, "Accept": "application/json"})
    assert status == 200, body
    # Creating an image checks the image count against Keystone's limits,
    # which cannot be read now: ours to retry, not the client's fault.
    status, _, body = http("POST", f"{catalog_url}/v2/images", {"name": "limits-unknown"},
                           headers={"X-Auth-Token": cached, "Accept": "application/json"})
    assert status == 503, body
    error = json.loads(body)
    assert "unified limits" in error["message"], error
    listed = http("GET", f"{catalog_url}/v2/images?name=limits-unknown",
                  headers={"X-Auth-Token": cached, "Accept": "application/json"})
    assert json.loads(listed[2])["images"] == [], "nothing was created"
    for token in (fresh, "garbage"):
        status, _, body = http("GET", f"{catalog_url}/v2/images?limit=1",
                               headers={"X-Auth-Token": token, "Accept": "application/json"})
        assert status == 503, body
        error = json.loads(body)
        assert error["code"] == "503 Service Unavailable" and "Keystone" in error["message"], error
    # No token at all is still a plain 401: nothing to ask Keystone about.
    assert http("GET", f"{catalog_url}/v2/images")[0] == 401
