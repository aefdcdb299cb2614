"""Authentication with real Keystone tokens: missing, invalid, revoked and
expired tokens get 401 with `WWW-Authenticate`; validations are cached, but
never past the token's life or the configured cache time, and never under
the token itself."""

import json
import os
import time
from pathlib import Path

import pytest

from helpers import http


def assert_401(catalog_url, status, headers, body):
    assert status == 401, body
    keystone_url = os.environ["KEYSTONE_URL"].rstrip("/")
    assert headers.get("WWW-Authenticate") == f'Keystone uri="{keystone_url}"', headers
    error = json.loads(body)
    assert error["code"] == "401 Unauthorized" and "X-Auth-Token" in error["message"], error


@pytest.mark.parametrize("path", ["/v2/images", "/v2/images/00000000-0000-0000-0000-000000000000",
                                  "/v2/schemas/image", "/v2/info/stores", "/v1/images"])
def test_no_token_is_401_everywhere_but_discovery(catalog_url, path):
    status, headers, body = http("GET", catalog_url + path, headers={"Accept": "application/json"})
    assert_401(catalog_url, status, headers, body)


def test_discovery_needs_no_token(catalog_url):
    assert http("GET", catalog_url + "/versions")[0] == 200
    assert http("GET", catalog_url + "/healthcheck")[0] == 200


@pytest.mark.parametrize("token", ["garbage", "gAAAAABnot-a-fernet-token", "x" * 300])
def test_invalid_tokens_are_401(catalog_url, token):
    status, headers, body = http("GET", f"{catalog_url}/v2/images",
                                 headers={"Accept": "application/json", "X-Auth-Token": token})
    assert_401(catalog_url, status, headers, body)


def test_an_unauthenticated_write_changes_nothing(catalog, catalog_url):
    status, headers, body = http("POST", f"{catalog_url}/v2/images", {"name": "sneaky"},
                                 {"X-Auth-Token": "garbage", "Accept": "application/json"})
    assert_401(catalog_url, status, headers, body)
    listed = catalog.json("admin", "GET", "/v2/images?name=sneaky", expect=200)["images"]
    assert listed == []


def test_the_callers_identity_comes_from_the_token(catalog, people):
    image = catalog.json("other", "POST", "/v2/images", {"name": "whose"}, expect=201)
    assert image["owner"] == people["other"].project_id
    catalog.call("other", "DELETE", f"/v2/images/{image['id']}")


def test_a_revoked_token_stops_working_within_the_cache_time(catalog_url, keystone, people, cache_seconds):
    token, _ = people["other"].issue()
    headers = {"X-Auth-Token": token, "Accept": "application/json"}
    assert http("GET", f"{catalog_url}/v2/images?limit=1", headers=headers)[0] == 200
    keystone.revoke(token)
    time.sleep(cache_seconds + 1)
    status, response_headers, body = http("GET", f"{catalog_url}/v2/images?limit=1", headers=headers)
    assert_401(catalog_url, status, response_headers, body)


def test_tokens_are_never_stored_only_their_digest(catalog_url, people):
    state = os.environ.get("CATALOG_STATE")
    if not state:
        pytest.fail("CATALOG_STATE is not set: scripts/test passes the catalog's local state directory")
    token, _ = people["owner"].issue()
    assert http("GET", f"{catalog_url}/v2/images?limit=1", headers={"X-Auth-Token": token})[0] == 200
    time.sleep(1)  # the cache write completes after the response
    files = [p for p in Path(state).rglob("*") if p.is_file()]
    assert files, f"no state files under {state}"
    needle = token.encode()
    leaks = [str(p) for p in files if needle in p.read_bytes()]
    assert leaks == [], f"the token was written to {leaks}"


def test_a_validation_is_cached_no_longer_than_the_token_lives(catalog_url, people, cache_seconds):
    """A token that expires sooner than the cache time is cached only until
    it expires: afterwards the catalog answers 401, although the entry would
    otherwise still be fresh."""
    lifetime = max(cache_seconds - 6, 3)
    token, expires_at = people["reader"].short_lived_token(lifetime)
    assert expires_at - time.time() < cache_seconds - 2, "the token must expire well inside the cache time"
    headers = {"X-Auth-Token": token, "Accept": "application/json"}
    first_use = time.time()
    assert http("GET", f"{catalog_url}/v2/images?limit=1", headers=headers)[0] == 200
    time.sleep(max(expires_at - time.time(), 0) + 1)
    assert time.time() < first_use + cache_seconds, "the cache window must still be open"
    status, response_headers, body = http("GET", f"{catalog_url}/v2/images?limit=1", headers=headers)
    assert_401(catalog_url, status, response_headers, body)


def test_a_refused_service_token_is_renewed(catalog, keystone):
    """Keystone revokes every token of a disabled user; the catalog's own
    token is refused and it must get a new one, not fail the caller."""
    assert catalog.call("other", "GET", "/v2/images?limit=1")[0] == 200
    keystone.revoke_all_tokens_of(os.environ.get("KEYSTONE_SERVICE_USER", "edge-glance"))
    time.sleep(1.1)  # Fernet times are whole seconds: a token issued in the same second would count as revoked
    fresh, _ = catalog.people["other"].issue()
    status, _, body = http("GET", f"{catalog.url}/v2/images?limit=1",
                           headers={"X-Auth-Token": fresh, "Accept": "application/json"})
    assert status == 200, body
