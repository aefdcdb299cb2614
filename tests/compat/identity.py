"""A real Keystone, as the tests use it: tokens that renew themselves, and the
admin calls that create projects, users and role assignments.

scripts/test starts Keystone (scripts/keystone.sh) and passes KEYSTONE_URL and
KEYSTONE_ADMIN_PASSWORD. Plain HTTP on purpose: these helpers must not depend
on the clients whose compatibility the tests check.
"""

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

# A token handed to a request keeps at least this long to live, so a test's
# tokens never expire in flight (the test Keystone issues short-lived ones).
MIN_LIFE_SECONDS = 25


def call(method, url, body=None, headers=None):
    """(status, headers, parsed JSON or None)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, response_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, response_headers, raw = error.code, error.headers, error.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return status, response_headers, parsed


def expiry(token_document):
    return datetime.fromisoformat(token_document["token"]["expires_at"].replace("Z", "+00:00")).timestamp()


class Credentials:
    """A user's password and project; hands out tokens with life left."""

    def __init__(self, keystone, user, password, project, user_id=None, project_id=None):
        self.keystone = keystone
        self.user = user
        self.password = password
        self.project = project
        self.user_id = user_id
        self.project_id = project_id
        self._token = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def issue(self):
        """A brand-new token: (token, expires_at epoch seconds)."""
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.user, "domain": {"name": "Default"}, "password": self.password}}},
            "scope": {"project": {"name": self.project, "domain": {"name": "Default"}}},
        }}
        status, headers, document = call("POST", f"{self.keystone.url}/v3/auth/tokens", body)
        assert status == 201, f"Keystone refused a token for {self.user}: {status} {document}"
        self.project_id = document["token"]["project"]["id"]
        self.user_id = document["token"]["user"]["id"]
        return headers["X-Subject-Token"], expiry(document)

    def token(self):
        with self._lock:
            if self._token is None or self._expires_at - time.time() < MIN_LIFE_SECONDS:
                self._token, self._expires_at = self.issue()
            return self._token

    def headers(self):
        return {"X-Auth-Token": self.token()}

    def short_lived_token(self, seconds):
        """A token that expires in about `seconds`: Keystone caps a token's
        life at the expiry of the application credential it comes from."""
        expires = datetime.fromtimestamp(time.time() + seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        status, _, document = call("POST", f"{self.keystone.url}/v3/users/{self.user_id}/application_credentials",
                                   {"application_credential": {"name": f"short-{time.time_ns()}", "expires_at": expires}},
                                   self.headers())
        assert status == 201, f"application credential: {status} {document}"
        credential = document["application_credential"]
        body = {"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
            "id": credential["id"], "secret": credential["secret"]}}}}
        status, headers, document = call("POST", f"{self.keystone.url}/v3/auth/tokens", body)
        assert status == 201, f"token from an application credential: {status} {document}"
        return headers["X-Subject-Token"], expiry(document)


class Keystone:
    """Admin access to the test Keystone."""

    def __init__(self, url, admin_password):
        self.url = url.rstrip("/")
        self.admin = Credentials(self, "admin", admin_password, "admin")

    def _admin(self, method, path, body=None):
        status, _, document = call(method, f"{self.url}/v3{path}", body, self.admin.headers())
        assert status < 300, f"{method} {path}: {status} {document}"
        return document

    def role_id(self, name):
        roles = self._admin("GET", f"/roles?name={name}")["roles"]
        if roles:
            return roles[0]["id"]
        return self._admin("POST", "/roles", {"role": {"name": name}})["role"]["id"]

    def create_project(self, name):
        return self._admin("POST", "/projects", {"project": {"name": name, "domain_id": "default"}})["project"]["id"]

    def create_user(self, name, password, project_id, roles):
        """A user with `roles` in `project_id`; returns its Credentials."""
        user = self._admin("POST", "/users", {"user": {
            "name": name, "password": password, "domain_id": "default", "default_project_id": project_id}})["user"]
        for role in roles:
            self._admin("PUT", f"/projects/{project_id}/users/{user['id']}/roles/{self.role_id(role)}")
        project_name = self._admin("GET", f"/projects/{project_id}")["project"]["name"]
        return Credentials(self, name, password, project_name, user_id=user["id"], project_id=project_id)

    def revoke_all_tokens_of(self, user_name):
        """Disabling a user revokes every token it has; then enable it again."""
        user = self._admin("GET", f"/users?name={user_name}")["users"][0]
        self._admin("PATCH", f"/users/{user['id']}", {"user": {"enabled": False}})
        self._admin("PATCH", f"/users/{user['id']}", {"user": {"enabled": True}})

    def revoke(self, token):
        status, _, document = call("DELETE", f"{self.url}/v3/auth/tokens", None,
                                   {"X-Auth-Token": self.admin.token(), "X-Subject-Token": token})
        assert status == 204, f"revocation failed: {status} {document}"

    def register_image_endpoint(self, catalog_url):
        """Puts the catalog in Keystone's service catalog as the `image`
        service, so clients find it the way they find Glance."""
        services = self._admin("GET", "/services?type=image")["services"]
        service_id = services[0]["id"] if services else self._admin(
            "POST", "/services", {"service": {"type": "image", "name": "glance", "enabled": True}})["service"]["id"]
        # RegionOne's only: Tempest's catalog has the endpoints of another
        # region of the same Keystone (scripts/tempest.sh).
        existing = self._admin("GET", f"/endpoints?service_id={service_id}&region_id=RegionOne")["endpoints"]
        for endpoint in existing:
            self._admin("DELETE", f"/endpoints/{endpoint['id']}")
        for interface in ("public", "internal", "admin"):
            self._admin("POST", "/endpoints", {"endpoint": {
                "service_id": service_id, "interface": interface, "url": catalog_url, "region_id": "RegionOne"}})
