"""tus-js-client (npm, unchanged, under node) uploads 300 MiB as four
partial uploads side by side (`parallelUploads: 4`, the concatenation
extension) in chunks of at most 48 MiB, then the final upload that
concatenates them; glance-direct makes the image active with the file's
md5 and sha512. The uploader process is killed once half of the PATCHes
are acknowledged, and a new one resumes the partial uploads it finds in
its FileUrlStorage. (One 300 MiB run covers both the uninterrupted start
and the resume: each run costs about a minute, mostly the server joining
and importing the bytes.)"""

import json
import shutil
import subprocess
from collections import defaultdict

import pytest

from conftest import CHUNK_SIZE, HERE, ROOT, assert_active_with, kill_after, read_events, run_to_end, wait_settled

SCRIPT = HERE / "tusjs_upload.mjs"
PARALLEL = 4


def node_argv(options):
    node = shutil.which("node")
    assert node, "node is not on PATH (scripts/test runs with Node.js)"
    assert (ROOT / "node_modules" / "tus-js-client").is_dir(), \
        "tus-js-client is not installed: npm ci in the repository (scripts/test does)"
    return [node, str(SCRIPT), json.dumps(options)]


def exchanges(events):
    """Each request the client sent with the response it got, per URL in
    order (the client sends one request at a time per upload URL)."""
    requests, responses = defaultdict(list), defaultdict(list)
    for e in events:
        key = (e["method"], e["url"]) if e["event"] in ("request", "response") else None
        if e["event"] == "request":
            requests[key].append(e)
        elif e["event"] == "response":
            responses[key].append(e)
    pairs = []
    for key, sent in requests.items():
        got = responses[key]
        pairs.extend(zip(sent, got + [None] * (len(sent) - len(got))))
    return pairs


def partial_urls(events):
    """The URLs the server gave the partial uploads (Location of 201s)."""
    urls = []
    for request, response in exchanges(events):
        if request["method"] == "POST" and request["concat"] == "partial" and response:
            assert response["status"] == 201, (request, response)
            urls.append(response["location"])
    return urls


def check_patches(events):
    """Every PATCH answered 204 with the offset moved by what it sent, at
    most 48 MiB."""
    for request, response in exchanges(events):
        if request["method"] != "PATCH" or response is None:
            continue
        assert response["status"] == 204, (request, response)
        sent = int(response["offset"]) - int(request["offset"])
        assert 0 < sent <= CHUNK_SIZE, (request, response)


def check_final(events, partials, source):
    finals = [(q, r) for q, r in exchanges(events) if q["method"] == "POST" and (q["concat"] or "").startswith("final;")]
    assert len(finals) == 1, finals
    request, response = finals[0]
    named = request["concat"][len("final;"):].split()
    assert sorted(named) == sorted(partials), (named, partials)
    assert response and response["status"] == 201 and response["location"], response


def acked_patches(events):
    return [e for e in events if e["event"] == "response" and e["method"] == "PATCH" and e["status"] == 204]


def test_tusjs_parallel_upload_killed_then_resumed_from_its_url_storage(image, source, workdir):
    storage = workdir / "tusjs-urls.json"
    first_log, second_log = workdir / "first.jsonl", workdir / "second.jsonl"
    options = {"endpoint": image.uploads_url, "file": str(source.path), "chunkSize": CHUNK_SIZE,
               "parallelUploads": PARALLEL, "storage": str(storage)}
    first = subprocess.Popen(node_argv({**options, "log": str(first_log)}),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Half of the eight PATCHes acknowledged: the rest are under way.
    events = kill_after(first, first_log, lambda events: len(acked_patches(events)) >= PARALLEL,
                        f"{PARALLEL} PATCHes were acknowledged")
    assert not any(e["event"] == "done" for e in events), "the upload finished before the kill"
    partial_posts = [e for e in events if e["event"] == "request" and e["method"] == "POST" and e["concat"] == "partial"]
    assert len(partial_posts) == PARALLEL, partial_posts
    assert sum(int(e["length"]) for e in partial_posts) == source.size, partial_posts
    partials = partial_urls(events)
    assert len(set(partials)) == PARALLEL and all(u.startswith(image.uploads_url + "/") for u in partials), partials
    check_patches(events)
    # What each partial acknowledged stays on the server.
    acked = defaultdict(int)
    for e in acked_patches(events):
        acked[e["url"]] = max(acked[e["url"]], int(e["offset"]))
    settled = {url: wait_settled(url) for url in partials}
    for url in partials:
        assert settled[url] >= acked[url], (url, settled[url], acked[url])
    assert 0 < sum(settled.values()) < source.size, settled

    run_to_end(node_argv({**options, "log": str(second_log), "resume": True}))
    resumed = read_events(second_log)
    previous = [e for e in resumed if e["event"] == "previous"][0]["uploads"]
    assert sorted(previous[0]["parallelUploadUrls"]) == sorted(partials), previous
    # No partial upload was created again: each one was resumed (a HEAD
    # answered with the offset the test saw) and its first PATCH sent from
    # there, not from zero.
    assert not [e for e in resumed if e["event"] == "request" and e["method"] == "POST" and e["concat"] == "partial"]
    pairs = exchanges(resumed)
    resumed_from_middle = 0
    for url in partials:
        heads = [r for q, r in pairs if q["method"] == "HEAD" and q["url"] == url]
        assert heads and heads[0]["status"] == 200 and int(heads[0]["offset"]) == settled[url], (url, heads)
        patches = [q for q, _ in pairs if q["method"] == "PATCH" and q["url"] == url]
        if patches:
            assert int(patches[0]["offset"]) == settled[url], (url, patches, settled[url])
            resumed_from_middle += settled[url] > 0
    assert resumed_from_middle > 0, f"no partial upload resumed past zero: {settled}"
    check_patches(resumed)
    check_final(resumed, partials, source)
    # Complete: the bytes are staged as by PUT /stage.
    assert image.show()["status"] == "uploading"
    image.import_glance_direct()
    assert_active_with(image, source)


@pytest.fixture(autouse=True)
def _node_present():
    """A missing node is a failure of the step, not a skip."""
    assert shutil.which("node"), "node is not on PATH"
