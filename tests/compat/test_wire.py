"""Wire-level comparison with Glance: the requests recorded in recordings/
(curl against Glance 33.0.0, copied from shared/fixtures/glance/transcripts)
are replayed against the catalog, and the answers compared with the recorded
ones: status codes, the headers clients read, and the JSON key sets and value
types (ids, timestamps and hashes aside).

Known, deliberate differences (asserted, not skipped):
- Glance answers errors in HTML or text unless the client asks for JSON; the
  catalog always answers JSON (nested under "error" for non-JSON clients,
  the message led by the status line as glanceclient shows Glance's HTML).
- Glance ran without identity, so its `owner` is null; ours is the project.
"""

import json
import os
from pathlib import Path

import pytest

from helpers import http

RECORDINGS = Path(__file__).parent / "recordings"
RECORDED_ID = "57c061a3-05d8-49c1-a8f5-4be99d58db30"
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"
# Keys whose value type legitimately differs (see the module docstring).
TYPE_EXEMPT = {"owner"}
# Headers clients read, compared when the recording has them.
READ_HEADERS = ["location", "openstack-image-import-methods", "content-md5", "content-range", "accept-patch"]
PATCH_V21 = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTETS = {"Content-Type": "application/octet-stream"}


def parse_recordings():
    """{command line: (status, headers, body text)} for every curl exchange."""
    exchanges = {}
    for path in sorted(RECORDINGS.glob("*.txt")):
        blocks = path.read_text().split("\n$ ")
        for block in blocks:
            block = block.removeprefix("$ ")
            lines = block.split("\n")
            command = lines[0].strip()
            if len(lines) < 2 or not lines[1].startswith("HTTP/1.1"):
                continue
            status = int(lines[1].split()[1])
            headers = {}
            index = 2
            while index < len(lines) and lines[index].strip():
                name, _, value = lines[index].partition(":")
                headers[name.strip().lower()] = value.strip()
                index += 1
            body = "\n".join(l for l in lines[index + 1 :] if not l.startswith("== ")).strip()
            exchanges[command] = (status, headers, body)
    return exchanges


RECORDED = parse_recordings()


def shape(value):
    """The JSON type name of a value."""
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}[type(value)]


def assert_same_shape(ours, recorded, where):
    assert isinstance(ours, dict) and isinstance(recorded, dict), where
    assert set(ours) == set(recorded), f"{where}: keys differ: ours-only {set(ours) - set(recorded)}, Glance-only {set(recorded) - set(ours)}"
    for key, value in recorded.items():
        if key in TYPE_EXEMPT:
            assert shape(ours[key]) in ("null", "string"), f"{where}.{key}"
            continue
        assert shape(ours[key]) == shape(value), f"{where}.{key}: {shape(ours[key])} vs Glance's {shape(value)}"
        if isinstance(value, dict):
            assert_same_shape(ours[key], value, f"{where}.{key}")


class Replay:
    def __init__(self, url):
        self.url = url
        self.image_id = None
        self.data = os.urandom(1024)  # 1k.bin: the recorded Content-Range says /1024

    def send(self, method, path, body=None, headers=None):
        path = path.replace(RECORDED_ID, self.image_id or RECORDED_ID)
        return http(method, self.url + path, body, headers or {})

    def check(self, command, method, path, body=None, headers=None):
        assert command in RECORDED, f"no recording for {command!r}"
        status, theirs_headers, theirs_body = RECORDED[command]
        ours_status, ours_headers, ours_body = self.send(method, path, body, headers)
        ours_headers = {k.lower(): v for k, v in ours_headers.items()}
        assert ours_status == status, f"{command}: status {ours_status}, Glance {status}: {ours_body[:300]!r}"
        for name in READ_HEADERS:
            if name in theirs_headers:
                assert name in ours_headers, f"{command}: missing header {name}"
        if "accept-patch" in theirs_headers:
            assert ours_headers["accept-patch"] == theirs_headers["accept-patch"]
        if "content-range" in theirs_headers:
            assert ours_headers["content-range"] == theirs_headers["content-range"]
        theirs_type = theirs_headers.get("content-type", "")
        if status == 204:
            assert ours_body == b""
        elif theirs_type.startswith("application/json"):
            assert ours_headers["content-type"].startswith("application/json"), command
            if not theirs_body.endswith("(truncated)") and not command.endswith("(truncated)"):
                return json.loads(ours_body), json.loads(theirs_body)
        elif theirs_type == "application/octet-stream":
            assert ours_headers["content-type"] == "application/octet-stream"
        else:
            # Glance answered an error in HTML/text; we answer JSON that
            # carries the same status and a message.
            assert status >= 400, command
            error = json.loads(ours_body)
            assert error["error"]["message"], command
            assert error["error"]["code"].startswith(str(status))
            assert error["error"]["message"].startswith(error["error"]["code"] + ": "), command
        return json.loads(ours_body) if ours_body and ours_headers.get("content-type", "").startswith("application/json") else None, None


@pytest.fixture(scope="module")
def replay(catalog_url):
    return Replay(catalog_url)


def test_recordings_were_parsed():
    assert len(RECORDED) >= 25


def test_create_upload_show_and_list_match_glance(replay):
    ours, theirs = replay.check(
        '$ curl -si -X POST /v2/images -H "Content-Type: application/json" -d {"name":"sample","disk_format":"raw","container_format":"bare","os_distro":"debian","tags":["a","b"]}'.removeprefix("$ "),
        "POST", "/v2/images", {"name": "sample", "disk_format": "raw", "container_format": "bare", "os_distro": "debian", "tags": ["a", "b"]},
    )
    assert_same_shape(ours, theirs, "create")
    replay.image_id = ours["id"]
    assert (ours["status"], ours["tags"], ours["os_distro"]) == ("queued", ["a", "b"], "debian")

    replay.check(
        f"curl -si -X PUT /v2/images/{RECORDED_ID}/file -H 'Content-Type: application/octet-stream' --data-binary @1k.bin",
        "PUT", f"/v2/images/{RECORDED_ID}/file", replay.data, OCTETS,
    )
    ours, theirs = replay.check(f"curl -si /v2/images/{RECORDED_ID}", "GET", f"/v2/images/{RECORDED_ID}")
    assert_same_shape(ours, theirs, "show")
    assert ours["size"] == theirs["size"] == 1024
    assert ours["virtual_size"] == theirs["virtual_size"]

    ours, theirs = replay.check("curl -si '/v2/images?limit=2'", "GET", "/v2/images?limit=2")
    assert set(ours) == set(theirs)
    assert (ours["first"], ours["schema"]) == (theirs["first"], theirs["schema"])
    assert ours["next"].startswith("/v2/images?limit=2&marker=")
    # Every listed image has the keys of Glance's all-defaults image, plus
    # `stores` once it has data (as both recorded images do).
    defaults = json.loads(RECORDED["curl -si -X POST /v2/images empty body {} (queued image, all defaults)"][2])
    assert all("stores" in i for i in theirs["images"])
    for image in ours["images"]:
        assert set(defaults) <= set(image)
        assert ("stores" in image) == (image["status"] in ("active", "deactivated"))


def test_discovery_documents_match_glance(replay):
    ours, theirs = replay.check("curl -si /", "GET", "/")
    assert set(ours) == set(theirs)
    assert_same_shape(ours["versions"][0], theirs["versions"][0], "versions[0]")
    recorded_ids = {v["id"] for v in theirs["versions"]}
    # Glance had an image cache configured, so CURRENT is v2.18, as ours
    # (the edge cache backs the image cache API).
    assert {v["id"] for v in ours["versions"]} == recorded_ids
    current = lambda doc: [v["id"] for v in doc["versions"] if v["status"] == "CURRENT"]
    assert current(ours) == current(theirs) == ["v2.18"]
    status, _, body = RECORDED["curl -si /healthcheck"]
    ours_status, _, ours_body = replay.send("GET", "/healthcheck")
    assert (ours_status, ours_body.decode()) == (status, body)
    ours, theirs = replay.check("curl -si /v2/info/import", "GET", "/v2/info/import")
    assert_same_shape(ours, theirs, "info/import")
    ours, theirs = replay.check("curl -si /v2/info/stores", "GET", "/v2/info/stores")
    # The recording is of one store with neither a description nor a weight
    # configured; Glance adds those keys (and "read-only" for the http
    # store) when they are, as ours are.
    default = next(store for store in ours["stores"] if store.get("default") == "true")
    optional = {"description", "weight", "read-only"}
    assert set(theirs["stores"][0]) <= set(default) <= set(theirs["stores"][0]) | optional, default
    assert all(type(default[k]) is type(v) for k, v in theirs["stores"][0].items())
    replay.check("curl -si /v2/schemas/images (truncated)", "GET", "/v2/schemas/images")


def test_patch_and_error_exchanges_match_glance(replay):
    if replay.image_id is None:
        pytest.fail("runs after test_create_upload_show_and_list_match_glance (same module, in order)")
    patch = [{"op": "add", "path": "/k", "value": "v"}, {"op": "replace", "path": "/name", "value": "sample2"}]
    ours, theirs = replay.check(
        f"""curl -si -X PATCH /v2/images/{RECORDED_ID} -H 'Content-Type: application/openstack-images-v2.1-json-patch' -d '{json.dumps(patch, separators=(",", ":"))}'""",
        "PATCH", f"/v2/images/{RECORDED_ID}", json.dumps(patch).encode(), PATCH_V21,
    )
    assert_same_shape(ours, theirs, "patch")
    i = f"/v2/images/{RECORDED_ID}"
    cases = [
        ("curl -si -X PATCH (Content-Type: application/json) -> 415", "PATCH", i, json.dumps(patch).encode(), {"Content-Type": "application/json"}),
        ("curl -si -X PATCH remove /stores (read-only) -> 409 text/plain", "PATCH", i, b'[{"op":"remove","path":"/stores"}]', PATCH_V21),
        ("curl -si -X PATCH replace /status (reserved) -> 403", "PATCH", i, b'[{"op":"replace","path":"/status","value":"queued"}]', PATCH_V21),
        (f"curl -si -X PUT /v2/images/{RECORDED_ID}/file again (active) -> 409", "PUT", i + "/file", replay.data, OCTETS),
        ("curl -si -X PUT /file with Content-Type: application/json -> 415", "PUT", i + "/file", b"{}", {"Content-Type": "application/json"}),
        ("curl -si /v2/images/not-a-uuid -> 404", "GET", "/v2/images/not-a-uuid", None, None),
        ("curl -si -X POST /v2/images bad json -> 400", "POST", "/v2/images", b"{bad", {"Content-Type": "application/json"}),
        ("curl -si -X POST /v2/images bad disk_format -> 400", "POST", "/v2/images", {"disk_format": "nope"}, None),
        ("curl -si '/v2/images?limit=abc' -> 400", "GET", "/v2/images?limit=abc", None, None),
        ("curl -si '/v2/images?marker=<unknown uuid>' -> 400", "GET", f"/v2/images?marker={UNKNOWN_ID}", None, None),
    ]
    for command, method, path, body, headers in cases:
        replay.check(command, method, path, body, headers)

    status, headers, _ = RECORDED[f"curl -si -H 'Range: bytes=0-9' /v2/images/{RECORDED_ID}/file -> 206"]
    ours_status, ours_headers, ours_body = replay.send("GET", i + "/file", None, {"Range": "bytes=0-9"})
    ours_headers = {k.lower(): v for k, v in ours_headers.items()}
    assert (ours_status, ours_body) == (status, replay.data[:10])
    for name in ("content-type", "content-range", "content-length"):
        assert ours_headers[name] == headers[name]
    assert "content-md5" in ours_headers

    replay.check(f"curl -si -X DELETE /v2/images/{RECORDED_ID}", "DELETE", i)
    replay.check(f"curl -si /v2/images/{RECORDED_ID}/file (deleted) -> 404", "GET", i + "/file")
    ours, theirs = replay.check("curl -si -X POST /v2/images empty body {} (queued image, all defaults)", "POST", "/v2/images", {})
    assert_same_shape(ours, theirs, "create {}")


def test_error_bodies_by_accept_header(replay):
    path = f"/v2/images/{UNKNOWN_ID}"
    ours, theirs = replay.check(f"curl -si -H 'Accept: application/json' {path}", "GET", path, None, {"Accept": "application/json"})
    assert_same_shape(ours, theirs, "error")
    assert (ours["code"], ours["title"]) == (theirs["code"], theirs["title"])
    assert ours["message"].startswith(theirs["message"].split("<br")[0])
    for accept in ("text/plain", ""):
        replay.check(f"curl -si -H 'Accept: {accept}' {path}", "GET", path, None, {"Accept": accept})
