"""Identity suite: the catalog in `keystone` mode against a real Keystone.

scripts/test starts Keystone (scripts/keystone.sh), then the catalog with
AUTH_MODE=keystone, and passes CATALOG_URL, KEYSTONE_URL,
KEYSTONE_ADMIN_PASSWORD, CATALOG_TOKEN_CACHE_SECONDS and KEYSTONE_PID.
The projects, users and role assignments are created here, in Keystone,
through its API.
"""

import os
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compat"))

from helpers import http  # noqa: E402
from identity import Credentials, Keystone, call, expiry  # noqa: E402

REQUIRED = ("CATALOG_URL", "KEYSTONE_URL", "KEYSTONE_ADMIN_PASSWORD", "CATALOG_TOKEN_CACHE_SECONDS")

# The kinds of caller the matrix covers. The image owner's project is
# "alpha"; the members' projects are beta (accepted), gamma (pending), delta
# (rejected); epsilon has nothing to do with the image. `reader`,
# `accepted_reader` and `other_reader` hold only the reader role in alpha,
# beta and epsilon; `system_admin` is admin on the system (a system-scoped
# token, no project), which Glance 33 does not support.
CALLERS = ("owner", "reader", "admin", "accepted", "pending", "rejected", "other",
           "accepted_reader", "other_reader", "system_admin")
READERS = ("reader", "accepted_reader", "other_reader")


class ScopedCredentials(Credentials):
    """A user's password and a token scoped to the system (`"system":
    {"all": true}`) or to a domain, not to a project: the roles it carries
    are on that scope."""

    def __init__(self, keystone, user, password, scope, user_id=None):
        super().__init__(keystone, user, password, None, user_id=user_id)
        self.scope = scope  # the `scope` of the auth request

    def issue(self):
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.user, "domain": {"name": "Default"}, "password": self.password}}},
            "scope": self.scope,
        }}
        status, headers, document = call("POST", f"{self.keystone.url}/v3/auth/tokens", body)
        assert status == 201, f"Keystone refused a {self.scope} token for {self.user}: {status} {document}"
        token = document["token"]
        assert "project" not in token and ("system" in token or "domain" in token), token
        assert "admin" in [role["name"] for role in token["roles"]], token["roles"]
        self.user_id = token["user"]["id"]
        return headers["X-Subject-Token"], expiry(document)


def create_scoped_admin(keystone, name, password, scope):
    """A user with the admin role on the system (`scope` "system") or on
    the Default domain (`scope` "domain"), and no project role."""
    user = keystone._admin("POST", "/users", {"user": {"name": name, "password": password, "domain_id": "default"}})["user"]
    target, auth_scope = {
        "system": ("/system", {"system": {"all": True}}),
        "domain": ("/domains/default", {"domain": {"id": "default"}}),
    }[scope]
    keystone._admin("PUT", f"{target}/users/{user['id']}/roles/{keystone.role_id('admin')}")
    return ScopedCredentials(keystone, name, password, auth_scope, user_id=user["id"])


def pytest_configure(config):
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(f"{', '.join(missing)} not set: run the identity suite with scripts/test")


@pytest.fixture(scope="session")
def catalog_url():
    return os.environ["CATALOG_URL"].rstrip("/")


@pytest.fixture(scope="session")
def keystone():
    return Keystone(os.environ["KEYSTONE_URL"], os.environ["KEYSTONE_ADMIN_PASSWORD"])


@pytest.fixture(scope="session")
def cache_seconds():
    return int(os.environ["CATALOG_TOKEN_CACHE_SECONDS"])


class People(dict):
    """Caller kind -> Credentials."""


@pytest.fixture(scope="session")
def people(keystone):
    run = uuid.uuid4().hex[:8]
    projects = {name: keystone.create_project(f"{name}-{run}") for name in ("alpha", "beta", "gamma", "delta", "epsilon")}
    password = f"pw-{run}"
    found = People()
    found["owner"] = keystone.create_user(f"alice-{run}", password, projects["alpha"], ["member"])
    found["reader"] = keystone.create_user(f"rita-{run}", password, projects["alpha"], ["reader"])
    found["admin"] = keystone.admin
    found["admin"].token()  # learns the admin project's id
    found["accepted"] = keystone.create_user(f"bob-{run}", password, projects["beta"], ["member"])
    found["pending"] = keystone.create_user(f"carol-{run}", password, projects["gamma"], ["member"])
    found["rejected"] = keystone.create_user(f"dave-{run}", password, projects["delta"], ["member"])
    found["other"] = keystone.create_user(f"eve-{run}", password, projects["epsilon"], ["member"])
    # A reader in a member project: may look, may not answer the share.
    found["accepted_reader"] = keystone.create_user(f"ben-{run}", password, projects["beta"], ["reader"])
    found["other_reader"] = keystone.create_user(f"erin-{run}", password, projects["epsilon"], ["reader"])
    found["system_admin"] = create_scoped_admin(keystone, f"sysadmin-{run}", password, "system")
    found["domain_admin"] = create_scoped_admin(keystone, f"domadmin-{run}", password, "domain")
    return found


class Catalog:
    """The catalog, called as one of the people."""

    def __init__(self, url, people):
        self.url = url
        self.people = people

    def call(self, who, method, path, body=None, headers=None):
        all_headers = {"Accept": "application/json", **(headers or {})}
        if who is not None:
            all_headers.update(self.people[who].headers())
        return http(method, self.url + path, body, all_headers)

    def json(self, who, method, path, body=None, expect=None, headers=None):
        import json

        status, _, raw = self.call(who, method, path, body, headers)
        if expect is not None:
            assert status == expect, f"{who} {method} {path}: {status} {raw[:300]!r}"
        return json.loads(raw) if raw else None

    def patch(self, who, image_id, ops):
        return self.call(who, "PATCH", f"/v2/images/{image_id}", _json_bytes(ops),
                         {"Content-Type": "application/openstack-images-v2.1-json-patch"})


def _json_bytes(value):
    import json

    return json.dumps(value).encode()


@pytest.fixture(scope="session")
def catalog(catalog_url, people):
    return Catalog(catalog_url, people)
