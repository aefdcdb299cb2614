"""Quotas from Keystone's unified limits (USE_KEYSTONE_LIMITS), in keystone
mode: each project's own limits, read from Keystone at each check, so a
changed limit counts at once; Glance's four limits are registered for the
`image` service in RegionOne, unlimited by default (scripts/keystone.sh),
and each test gives a fresh project its own limits, as an operator (the
system admin) does. Plain HTTP with real Keystone tokens, and
`/v2/info/usage` read with openstacksdk."""

import json
import threading
import time
import uuid

import openstack
import pytest

from helpers import http

REGION = "RegionOne"
UPLOAD = {"Content-Type": "application/octet-stream"}


class Limits:
    """A project's own limits in Keystone, set by the system admin."""

    def __init__(self, keystone, system_admin, project_id):
        self.keystone = keystone
        self.admin = system_admin
        self.project_id = project_id
        services = self._call("GET", "/services?type=image")["services"]
        self.service_id = services[0]["id"]
        self.ids = {}

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        status, _, raw = http(method, f"{self.keystone.url}/v3{path}", data,
                              {**self.admin.headers(), "Content-Type": "application/json"})
        assert status < 300, f"{method} {path}: {status} {raw[:300]!r}"
        return json.loads(raw) if raw else None

    def set(self, resource, value):
        if resource in self.ids:
            self._call("PATCH", f"/limits/{self.ids[resource]}", {"limit": {"resource_limit": value}})
            return
        created = self._call("POST", "/limits", {"limits": [{
            "service_id": self.service_id, "region_id": REGION, "project_id": self.project_id,
            "resource_name": resource, "resource_limit": value}]})
        self.ids[resource] = created["limits"][0]["id"]


@pytest.fixture
def tenant(keystone, people):
    """A fresh project with a member, and its limits."""
    run = uuid.uuid4().hex[:8]
    project_id = keystone.create_project(f"quota-{run}")
    member = keystone.create_user(f"quinn-{run}", f"pw-{run}", project_id, ["member"])
    return member, Limits(keystone, people["system_admin"], project_id)


def create(catalog_url, member, name):
    return http("POST", f"{catalog_url}/v2/images",
                {"name": name, "disk_format": "raw", "container_format": "bare"}, member.headers())


def assert_over(status, body, resource):
    assert status == 413, f"{status} {body[:300]!r}"
    assert f"Resource {resource} is over limit" in body.decode(), body


def image_status(catalog_url, member, image_id):
    status, _, body = http("GET", f"{catalog_url}/v2/images/{image_id}", None, member.headers())
    assert status == 200, body
    return json.loads(body)["status"]


def test_a_projects_own_count_limit_refuses_the_create_past_it_and_a_raised_limit_counts_at_once(
        catalog_url, tenant, people):
    member, limits = tenant
    limits.set("image_count_total", 1)
    status, _, body = create(catalog_url, member, "first")
    assert status == 201, body
    status, _, body = create(catalog_url, member, "second")
    assert_over(status, body, "image_count_total")

    limits.set("image_count_total", 2)
    status, _, body = create(catalog_url, member, "second")
    assert status == 201, f"the raised limit was not read at once: {status} {body[:300]!r}"

    # Another project has no limit of its own: the registered default (-1).
    status, _, body = create(catalog_url, people["other"], f"elsewhere-{uuid.uuid4().hex[:6]}")
    assert status == 201, body
    http("DELETE", f"{catalog_url}/v2/images/{json.loads(body)['id']}", None, people["other"].headers())


def test_ten_uploads_racing_a_keystone_uploading_limit_of_three_never_pass_it(catalog_url, tenant):
    member, limits = tenant
    limits.set("image_count_uploading", 3)
    ids = []
    for i in range(10):
        status, _, body = create(catalog_url, member, f"racer-{i}")
        assert status == 201, body
        ids.append(json.loads(body)["id"])

    # Each body is sent slowly (1 MiB over ~2 s), and all start together,
    # so every upload is in flight while the others are checked.
    chunk = b"q" * (64 * 1024)
    barrier = threading.Barrier(len(ids))
    replies = {}

    def slow_body():
        for _ in range(16):
            yield chunk
            time.sleep(0.125)

    def upload(image_id):
        headers = {**UPLOAD, **member.headers()}
        barrier.wait()
        replies[image_id] = http("PUT", f"{catalog_url}/v2/images/{image_id}/file", slow_body(), headers)

    threads = [threading.Thread(target=upload, args=(image_id,)) for image_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    accepted = [image_id for image_id in ids if replies[image_id][0] == 204]
    assert 1 <= len(accepted) <= 3, f"{len(accepted)} of 10 overlapping uploads passed a limit of 3"
    for image_id in ids:
        status, _, body = replies[image_id]
        if image_id in accepted:
            assert image_status(catalog_url, member, image_id) == "active"
        else:
            assert_over(status, body, "image_count_uploading")
            assert image_status(catalog_url, member, image_id) == "queued", "a refused upload leaves it queued"

    # Nothing is left uploading: one at a time, each refused image takes its data.
    for image_id in ids:
        if image_id not in accepted:
            status, _, body = http("PUT", f"{catalog_url}/v2/images/{image_id}/file", chunk, {**UPLOAD, **member.headers()})
            assert status == 204, body


def test_usage_read_with_openstacksdk_shows_the_projects_keystone_limits(catalog_url, tenant, keystone):
    member, limits = tenant
    limits.set("image_size_total", 5)
    limits.set("image_count_total", 4)
    status, _, body = create(catalog_url, member, "counted")
    assert status == 201, body
    conn = openstack.connect(
        auth_url=f"{keystone.url}/v3", username=member.user, password=member.password,
        project_name=member.project, user_domain_name="Default", project_domain_name="Default",
        region_name=REGION, image_endpoint_override=catalog_url)
    usage = conn.image.get("/info/usage").json()["usage"]
    assert usage == {
        "image_size_total": {"limit": 5, "usage": 0},
        "image_stage_total": {"limit": -1, "usage": 0},
        "image_count_total": {"limit": 4, "usage": 1},
        "image_count_uploading": {"limit": -1, "usage": 0},
    }, usage
