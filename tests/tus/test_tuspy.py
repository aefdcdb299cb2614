"""tuspy (PyPI, unchanged) uploads 300 MiB in 48 MiB chunks; its process
is killed after two acknowledged chunks, and a new process resumes from
the URL tuspy stored (FileStorage, keyed by the file's fingerprint) at the
offset the server reports, not from zero. Then glance-direct makes the
image active with the file's md5 and sha512."""

import subprocess
import sys

from conftest import (CHUNK_SIZE, HERE, assert_active_with, head_upload, kill_after, read_events,
                      run_to_end, wait_settled)

SCRIPT = HERE / "tuspy_upload.py"


def test_tuspy_upload_killed_then_resumed_from_its_stored_url(image, source, workdir):
    storage = workdir / "tuspy-urls.json"
    first_log, second_log = workdir / "first.jsonl", workdir / "second.jsonl"
    argv = [sys.executable, str(SCRIPT), image.uploads_url, str(source.path), str(storage)]

    first = subprocess.Popen([*argv, str(first_log), str(CHUNK_SIZE)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Two chunks acknowledged: the third PATCH is under way when the kill lands.
    events = kill_after(first, first_log,
                        lambda events: any(e["event"] == "acked" and e["offset"] >= 2 * CHUNK_SIZE for e in events),
                        "two chunks were acknowledged")
    created = [e for e in events if e["event"] == "created"]
    assert len(created) == 1, f"the first process should have created one upload: {events}"
    upload_url = created[0]["url"]
    assert upload_url.startswith(image.uploads_url + "/"), upload_url
    acked = max(e["offset"] for e in events if e["event"] == "acked")
    assert not any(e["event"] == "done" for e in events), "the upload finished before the kill"

    # The server keeps every acknowledged byte (and what arrived of the
    # cut-off PATCH); not all of it, since the process died mid-way.
    offset = wait_settled(upload_url)
    assert acked <= offset < source.size, f"HEAD offset {offset} after {acked} bytes were acknowledged"

    run_to_end([*argv, str(second_log), str(CHUNK_SIZE)])
    resumed = read_events(second_log)
    start = resumed[0]
    # tuspy found the URL in its storage and took the server's offset (its
    # own HEAD) ...
    assert start["event"] == "start" and start["url"] == upload_url, resumed
    assert start["offset"] == offset > 0, f"tuspy resumed at {start['offset']}, HEAD said {offset}"
    # ... so it created no new upload and its first PATCH went there.
    assert not any(e["event"] == "created" for e in resumed), resumed
    patches = [e["offset"] for e in resumed if e["event"] == "patch"]
    assert patches and patches[0] == offset, f"PATCH offsets after the resume: {patches}"
    # Every chunk of the rest at most 48 MiB, each acknowledged where the
    # next one starts.
    acks = [e["offset"] for e in resumed if e["event"] == "acked"]
    assert acks[-1] == source.size and patches[1:] == acks[:-1], resumed
    assert all(b - a <= CHUNK_SIZE for a, b in zip(patches, acks)), resumed
    assert resumed[-1]["event"] == "done", resumed

    # Complete: the bytes are staged, the upload itself is done.
    status, final = head_upload(upload_url)
    assert (status, final) in ((200, source.size), (404, None)), (status, final)
    assert image.show()["status"] == "uploading"
    image.import_glance_direct()
    assert_active_with(image, source)
