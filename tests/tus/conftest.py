"""Resumable uploads (tus 1.0.0) with the real tus clients, unchanged.

scripts/test runs this suite against the `noauth` catalog A (CATALOG_URL),
right after the compatibility suite, with the `.venv` that holds tuspy
(pinned in tests/compat/requirements.txt); tus-js-client comes from npm
(package.json) and runs under node. Each test creates an image with
`POST /v2/images`, has one client upload a 300 MiB file of random bytes to
`{CATALOG_URL}/v2/images/{id}/uploads` in chunks of 48 MiB (under the
platform's 100 MB request-body limit), imports it with glance-direct and
checks the `active` image's md5 and sha512 against the ones computed here,
then the downloaded bytes. Each client runs in its own process, so that a
test can kill it the way a machine losing power would (SIGKILL) and start a
new one that resumes from what the client stored.

The checks below talk to the catalog with plain urllib, never through the
clients under test.
"""

import hashlib
import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MIB = 1024 * 1024
# 300 MiB: several chunks per upload, more than one 100 MB request body.
IMAGE_SIZE = 300 * MIB
CHUNK_SIZE = 48 * MIB
# The import copies 300 MiB out of staging and hashes it on the queue
# consumer; on a loaded 2-core machine that can take a while.
IMPORT_TIMEOUT = 300


def pytest_configure(config):
    if not os.environ.get("CATALOG_URL"):
        raise pytest.UsageError("CATALOG_URL is not set: run the tus suite with scripts/test")


@pytest.fixture(scope="session")
def catalog_url():
    return os.environ["CATALOG_URL"].rstrip("/")


def http(method, url, body=None, headers=None, timeout=120):
    """(status, headers with lower-case names, body bytes)."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if isinstance(body, (dict, list)):
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, response_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, response_headers, raw = error.code, error.headers, error.read()
    return status, {k.lower(): v for k, v in response_headers.items()}, raw


def head_upload(upload_url):
    """The server's view of an upload: (status, Upload-Offset or None)."""
    status, headers, _ = http("HEAD", upload_url, headers={"Tus-Resumable": "1.0.0"})
    offset = headers.get("upload-offset")
    return status, int(offset) if offset is not None else None


class Image:
    """An image of the catalog created for one test; deleted afterwards so
    the run's state does not keep 300 MiB per test."""

    def __init__(self, catalog_url, name):
        status, _, body = http("POST", f"{catalog_url}/v2/images",
                               {"name": name, "disk_format": "raw", "container_format": "bare"})
        assert status == 201, f"POST /v2/images: {status} {body[:300]!r}"
        self.catalog_url = catalog_url
        self.id = json.loads(body)["id"]
        self.url = f"{catalog_url}/v2/images/{self.id}"
        # The tus creation URL (tuspy's client url, tus-js-client's endpoint).
        self.uploads_url = f"{self.url}/uploads"

    def show(self):
        status, _, body = http("GET", self.url)
        assert status == 200, f"GET {self.url}: {status} {body[:300]!r}"
        return json.loads(body)

    def import_glance_direct(self):
        status, _, body = http("POST", f"{self.url}/import", {"method": {"name": "glance-direct"}})
        assert status == 202, f"POST {self.url}/import: {status} {body[:500]!r}"

    def wait_active(self, timeout=IMPORT_TIMEOUT):
        """Waits for the import to end; fails at once if the image leaves
        the import any other way than `active`."""
        deadline = time.monotonic() + timeout
        while True:
            image = self.show()
            if image["status"] == "active" and not image.get("os_glance_import_task"):
                return image
            if image["status"] not in ("uploading", "importing", "saving") or image.get("os_glance_failed_import"):
                status, _, tasks = http("GET", f"{self.url}/tasks")
                raise AssertionError(f"the import of {self.id} ended {image['status']}: {image}\ntasks: {tasks[:1000]!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the import of {self.id} did not finish within {timeout}s: {image}")
            time.sleep(0.5)

    def download_hashes(self):
        """md5 and sha512 of the bytes the catalog serves, streamed."""
        md5, sha512, size = hashlib.md5(), hashlib.sha512(), 0
        request = urllib.request.Request(f"{self.url}/file")
        with urllib.request.urlopen(request, timeout=300) as response:
            assert response.status == 200, response.status
            while True:
                block = response.read(MIB)
                if not block:
                    break
                md5.update(block)
                sha512.update(block)
                size += len(block)
        return size, md5.hexdigest(), sha512.hexdigest()

    def delete(self):
        http("DELETE", self.url)


@pytest.fixture
def image(catalog_url):
    created = Image(catalog_url, f"tus-{uuid.uuid4().hex[:12]}")
    yield created
    created.delete()


def assert_active_with(image, source):
    """The image holds exactly the file's bytes: size, md5 and sha512 as
    the catalog reports them, then as the downloaded bytes hash."""
    shown = image.wait_active()
    assert shown["size"] == source.size, shown
    assert shown["checksum"] == source.md5, f"md5 {shown['checksum']} != the file's {source.md5}"
    assert shown["os_hash_algo"] == "sha512", shown
    assert shown["os_hash_value"] == source.sha512, "os_hash_value is not the file's sha512"
    size, md5, sha512 = image.download_hashes()
    assert (size, md5, sha512) == (source.size, source.md5, source.sha512), \
        "the downloaded bytes are not the file's"


class Source:
    """A file of random bytes and its hashes."""

    def __init__(self, path, size, md5, sha512):
        self.path, self.size, self.md5, self.sha512 = path, size, md5, sha512


@pytest.fixture
def workdir():
    """A temp dir for the file, the clients' URL storage and their logs;
    removed afterwards (pytest's tmp_path would keep 300 MiB files around)."""
    with tempfile.TemporaryDirectory(prefix="edge-glance-tus-") as path:
        yield Path(path)


@pytest.fixture
def source(workdir):
    """300 MiB of os.urandom, a fresh block per MiB: no block repeats, so
    a chunk stored at the wrong offset changes the hashes."""
    path = workdir / "image.raw"
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    with open(path, "wb") as out:
        for _ in range(IMAGE_SIZE // MIB):
            block = os.urandom(MIB)
            md5.update(block)
            sha512.update(block)
            out.write(block)
    return Source(path, IMAGE_SIZE, md5.hexdigest(), sha512.hexdigest())


def read_events(log_path):
    """The JSON lines a client process wrote (a line cut by a kill is left out)."""
    events = []
    try:
        text = Path(log_path).read_text()
    except FileNotFoundError:
        return events
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    return events


def wait_settled(upload_url, timeout=60):
    """After its client was killed, waits until the server's offset stops
    moving (the cut-off PATCH may still be landing): the HEAD offset seen
    twice, a second apart. Returns it."""
    deadline = time.monotonic() + timeout
    previous = None
    while True:
        status, offset = head_upload(upload_url)
        assert status == 200, f"HEAD {upload_url} after the kill: {status}"
        if offset is not None and offset == previous:
            return offset
        previous = offset
        if time.monotonic() > deadline:
            raise AssertionError(f"the offset of {upload_url} still moved {timeout}s after the kill")
        time.sleep(1)


def kill_after(process, log_path, ready, what, timeout=300):
    """SIGKILLs `process` as soon as `ready(events)` holds for the events
    of its log (`what` says what it waits for); returns the events so far.
    Fails if the process ends first (nothing would have been interrupted)."""
    deadline = time.monotonic() + timeout
    while True:
        events = read_events(log_path)
        if ready(events):
            process.kill()
            process.wait()
            return read_events(log_path)
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the client exited ({process.returncode}) before {what}, "
                                 f"so it could not be killed:\n{out}\n{err}\nevents: {events}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise AssertionError(f"not {what} within {timeout}s: {events}")
        time.sleep(0.05)


def run_to_end(argv, timeout=900):
    """Runs a client process to its end; fails the test if it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (f"{' '.join(map(str, argv))} exited {result.returncode}\n"
                                    f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}")
    return result
