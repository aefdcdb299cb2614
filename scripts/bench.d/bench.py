#!/usr/bin/env python3
"""The measuring half of scripts/bench (which starts both workers).

Compares the catalog with the ceiling worker (ceiling.js) on:
  1. upload MB/s of a random file      (catalog: POST /v2/images + PUT .../file)
  2. download MB/s of that file        (catalog: GET /v2/images/{id}/file)
  2b. web-download MB/s of that file, served over HTTP on --file-port
     (catalog: POST /v2/images/{id}/import, then GET /v2/images/{id} every
     50 ms until active; ceiling: POST /fetch/{key}?url=..., fetch -> R2 put)
  3. requests/s, GET /v2/images/{id}   (ceiling: the same body, fixed)
  4. requests/s, GET /v2/images?limit=20 with 1,000 images (ceiling: fixed)
and, as informative rows without targets, with the ceiling worker doing the
catalog's own work in JavaScript ("same work"), so the difference is what the
Rust/wasm layer costs:
  5. upload: tee into FixedLengthStream -> R2 put (md5 from R2) + SHA-512
  5b. web-download: fetch, then the same as 5 (POST /fetch-hashed/{key})
  6. GET /v2/images/{id}: the catalog's D1 query, row as JSON
  7. GET /v2/images?limit=20: the catalog's D1 list query, rows as JSON
over a copy of the catalog's own rows (exported with `wrangler d1 execute`).
It prints one markdown table (also written to --out).

Every request on the measured path is checked (status, size, md5 once, wrk
error counts); any surprise raises, so the benchmark never reports errors as
speed. Standard library only; transfers use curl, loads use wrk.

Nothing waits forever: every request has a deadline (--request-timeout for
small requests; curl's --max-time plus a stall limit for transfers), every
subprocess (curl, wrk, wrangler) is killed when its time is up, and a
watchdog thread enforces both a per-operation limit (in case a native
timeout does not fire) and a whole-run limit (--deadline). A stuck request
fails the run naming the phase, the method and URL and how long it waited.
"""

import argparse
import hashlib
import http.client
import http.server
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
MB = 1_000_000


class BenchError(Exception):
    pass


class Stuck(BenchError):
    """A request or subprocess that did not finish in its time."""


def log(msg):
    print(f"    {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------ deadlines, watchdog
PHASE = "starting"          # what the run is doing (named in failures)
STARTED = time.monotonic()
_INFLIGHT = {}              # id -> [label, started, limit, process or None]
_INFLIGHT_LOCK = threading.Lock()
_WATCHDOG_GRACE = 15        # seconds past an operation's own limit


def set_phase(name, announce=None):
    """Names what the run does now; `announce` is printed as a "==>" line."""
    global PHASE
    PHASE = name
    if announce:
        print(f"==> {announce}", file=sys.stderr, flush=True)


def stuck_message(label, elapsed, limit, detail):
    limit = f"{limit:.0f} s" if isinstance(limit, (int, float)) else limit
    return (f"STUCK: {label} — {detail} after {elapsed:.1f} s (limit {limit}), "
            f"phase '{PHASE}', {time.monotonic() - STARTED:.0f} s into the measurements")


class watched:
    """Registers an operation with the watchdog for as long as it runs."""

    def __init__(self, label, limit, process=None):
        self.label, self.limit, self.process = label, limit, process

    def __enter__(self):
        self.started = time.monotonic()
        with _INFLIGHT_LOCK:
            _INFLIGHT[id(self)] = [self.label, self.started, self.limit, self.process]
        return self

    def attach(self, process):
        with _INFLIGHT_LOCK:
            if id(self) in _INFLIGHT:
                _INFLIGHT[id(self)][3] = process

    def elapsed(self):
        return time.monotonic() - self.started

    def __exit__(self, *exc):
        with _INFLIGHT_LOCK:
            _INFLIGHT.pop(id(self), None)
        return False


def kill_group(process):
    """Kills a subprocess started with start_new_session=True (and its children)."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            process.kill()
        except ProcessLookupError:
            pass


def die(message, code=3):
    """Last resort (watchdog, SIGTERM): report what is in flight, kill our
    subprocesses and leave without waiting for any stuck thread."""
    now = time.monotonic()
    with _INFLIGHT_LOCK:
        inflight = list(_INFLIGHT.values())
    lines = [f"BENCHMARK FAILED: {message}"]
    for label, started, limit, _ in inflight:
        lines.append(f"  in flight: {label} for {now - started:.1f} s (limit {limit:.0f} s)")
    if not inflight:
        lines.append("  nothing in flight (the harness itself is stuck?)")
    print("\n".join(lines), file=sys.stderr, flush=True)
    for *_, process in inflight:
        kill_group(process)
    os._exit(code)


def watchdog(deadline):
    while True:
        time.sleep(1)
        now = time.monotonic()
        with _INFLIGHT_LOCK:
            inflight = list(_INFLIGHT.values())
        for label, started, limit, _ in inflight:
            if now - started > limit + _WATCHDOG_GRACE:
                die("watchdog: " + stuck_message(label, now - started, limit,
                                                 "its own timeout did not fire; still no answer"))
        if deadline and now - STARTED > deadline:
            die(f"watchdog: the measurements did not finish in {deadline} s (--deadline); phase '{PHASE}'")


# What a catalog server logs when it rebuilds or reloads (wrangler dev, or
# scripts/serve.mjs --watch; the bench starts serve.mjs without --watch, so
# this is a guard): requests in flight would wait for the build (forever,
# if it fails) and the numbers would mix two builds: fail at once and say so.
REBUILD = re.compile(r"changed, restarting build|\[custom build\] Running|Running custom build|Custom build failed"
                     r"|Reloading local server|Local server updated|Detected changes|: rebuilding")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def watch_log(path, offset):
    while True:
        time.sleep(0.5)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            continue
        data = data[:data.rfind(b"\n") + 1]
        offset += len(data)
        for line in ANSI.sub("", data.decode(errors="replace")).splitlines():
            if REBUILD.search(line):
                die("the catalog server began rebuilding/reloading during the run (a file under src/ "
                    f"changed?); its log says: {line.strip()!r}. Requests wait until the build is "
                    "done (forever if it fails), and the numbers would mix two builds: run again with src/ "
                    f"left alone. Phase '{PHASE}'.", 4)


def run_bounded(cmd, label, limit, **kwargs):
    """subprocess.run with a hard time limit: on expiry the process group is
    killed and Stuck names `label`. Returns the CompletedProcess."""
    with watched(label, limit) as w:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, **kwargs)
        w.attach(proc)
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = proc.communicate()
            raise Stuck(stuck_message(label, w.elapsed(), limit, "did not finish; killed")
                        + (f"; its stderr: {err.strip()[-500:]}" if err.strip() else ""))
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


# ---------------------------------------------------------------- plain HTTP
def exchange(conn, base, method, path, body=None, headers=None, timeout=None):
    """One request on `conn` with a deadline over the whole exchange
    (connect, send, status line, whole body): (status, headers dict, body).
    A timeout raises Stuck naming the request, the step it was in, the phase
    and the time waited; other socket errors raise BenchError."""
    timeout = timeout or ARGS.request_timeout
    label = f"{method} {base}{path}"
    step = "connecting"
    with watched(label, timeout) as w:
        deadline = w.started + timeout

        def left():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("deadline")
            return remaining

        try:
            conn.timeout = left()
            if conn.sock is not None:
                conn.sock.settimeout(left())
            step = "connecting / sending the request"
            conn.request(method, path, body=body, headers=headers or {})
            conn.sock.settimeout(left())
            step = "waiting for the response (no status line yet)"
            resp = conn.getresponse()
            step = f"reading the body (HTTP {resp.status} received)"
            chunks = []
            while resp.length != 0:
                if conn.sock is not None:
                    conn.sock.settimeout(left())
                chunk = resp.read1(1 << 16)  # one recv at most: the deadline is checked between them
                if not chunk:
                    break
                chunks.append(chunk)
            chunks.append(resp.read())  # b"": marks the response done, so a kept connection can be reused
            left()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, b"".join(chunks)
        except (socket.timeout, TimeoutError):
            conn.close()
            raise Stuck(stuck_message(label, w.elapsed(), timeout, f"no answer while {step}")) from None
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise BenchError(f"{label}: failed while {step} after {w.elapsed():.1f} s "
                             f"(phase '{PHASE}'): {e!r}") from None


def request(base, method, path, body=None, headers=None, timeout=None):
    """One request on a fresh connection: (status, headers dict, body bytes)."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout or ARGS.request_timeout)
    try:
        return exchange(conn, base, method, path, body, headers, timeout)
    finally:
        conn.close()


def expect(status, wanted, what, body=b""):
    if status != wanted:
        raise BenchError(f"{what}: HTTP {status}, expected {wanted}: {body[:300]!r}")


def create_image(base, name="bench", conn=None):
    body = json.dumps({"name": name, "disk_format": "raw", "container_format": "bare"})
    headers = {"Content-Type": "application/json"}
    if conn is None:
        status, _, data = request(base, "POST", "/v2/images", body, headers)
    else:
        status, _, data = exchange(conn, base, "POST", "/v2/images", body, headers)
    expect(status, 201, "POST /v2/images", data)
    return json.loads(data)["id"]


# ------------------------------------------------------------------ transfers
CURL_FMT = "%{http_code} %{size_upload} %{size_download} %{time_total} %{time_starttransfer}"


def curl_limits():
    """curl options bounding a transfer: connect time, total time, and a stall
    limit (less than 1 byte/s for --request-timeout seconds: a response that
    does not come, or a body that stops flowing)."""
    return ["--connect-timeout", "10", "--max-time", str(ARGS.transfer_timeout),
            "--speed-limit", "1", "--speed-time", str(max(1, round(ARGS.request_timeout)))]


def curl_failure(label, rc, stdout, stderr, elapsed, expected):
    """A message for a curl that failed; Stuck for a timeout (exit 28)."""
    got = ""
    fields = stdout.split()
    if len(fields) == 5:
        code, up, down, _, ttfb = fields
        got = (f"; HTTP {code}" + (" (no response received)" if code == "000" else f" after {float(ttfb):.1f} s")
               + f", sent {int(float(up)):,} B, received {int(float(down)):,} B of {expected:,}")
    if rc == 28:
        return Stuck(stuck_message(label, elapsed, f"{ARGS.transfer_timeout} s in all, "
                                   f"{ARGS.request_timeout:.0f} s without a byte",
                                   f"curl timed out ({stderr.strip()}){got}"))
    return BenchError(f"{label}: curl failed ({rc}) after {elapsed:.1f} s, phase '{PHASE}': {stderr.strip()}{got}")


def curl(args, method, url, what, expected=0):
    """Runs curl with a -w summary; returns (http_code, size_up, size_down, seconds, headers)."""
    hdr = os.path.join(ARGS.work, "curl-headers.txt")
    label = f"{method} {url} ({what})"
    cmd = ["curl", "-sS", "--noproxy", "*"] + curl_limits() + ["-H", "Expect:", "-D", hdr,
           "-w", CURL_FMT] + args
    start = time.monotonic()
    out = run_bounded(cmd, label, ARGS.transfer_timeout + 15)
    if out.returncode != 0:
        raise curl_failure(label, out.returncode, out.stdout, out.stderr, time.monotonic() - start, expected)
    code, up, down, total, _ = out.stdout.split()
    headers = {}
    with open(hdr, errors="replace") as f:
        for line in f:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
    return int(code), int(float(up)), int(float(down)), float(total), headers


def upload(url, path, size, wanted_status, what):
    """Returns (MB/s, response headers)."""
    code, up, _, secs, headers = curl(["-X", "PUT", "-H", "Content-Type: application/octet-stream",
                                       "--data-binary", f"@{path}", "-o", "/dev/null", url],
                                      "PUT", url, what, size)
    if code != wanted_status:
        raise BenchError(f"{what}: HTTP {code}, expected {wanted_status}")
    if up != size:
        raise BenchError(f"{what}: curl sent {up} bytes, expected {size}")
    return size / secs / MB, headers


def download(url, size, what):
    code, _, down, secs, headers = curl(["-o", "/dev/null", url], "GET", url, what, size)
    if code != 200:
        raise BenchError(f"{what}: HTTP {code}, expected 200")
    if down != size:
        raise BenchError(f"{what}: got {down} bytes, expected {size}")
    return size / secs / MB, headers


def download_md5(url, size, what):
    label = f"GET {url} ({what})"
    limit = ARGS.transfer_timeout + 15
    md5, n = hashlib.md5(), 0
    with watched(label, limit) as w:
        # The body comes through a pipe of its own; stdout has the -w summary.
        rfd, wfd = os.pipe()
        cmd = (["curl", "-sS", "--noproxy", "*", "--fail"] + curl_limits()
               + ["-w", CURL_FMT, "-o", f"/dev/fd/{wfd}", url])
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=False, pass_fds=(wfd,), start_new_session=True)
        os.close(wfd)
        w.attach(proc)
        with os.fdopen(rfd, "rb") as body:
            while chunk := body.read(1 << 20):
                md5.update(chunk)
                n += len(chunk)
        try:
            out, err = proc.communicate(timeout=max(1, limit - w.elapsed()))
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise Stuck(stuck_message(label, w.elapsed(), limit, f"curl did not exit; {n:,} of {size:,} B read"))
        if proc.returncode != 0:
            raise curl_failure(label, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"),
                               w.elapsed(), size)
    if n != size:
        raise BenchError(f"{what}: {n} bytes (expected {size})")
    return md5.hexdigest()


def make_file(path, size):
    """Writes `size` random bytes; returns their (md5, sha512) in hex."""
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 << 20))
            md5.update(chunk)
            sha512.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return md5.hexdigest(), sha512.hexdigest()


def transfers(cat, ceil):
    size = ARGS.size_mib << 20
    path = os.path.join(ARGS.work, "payload.bin")
    log(f"writing a {ARGS.size_mib} MiB random file")
    md5, sha512 = make_file(path, size)

    up = {"catalog": [], "ceiling": [], "same": []}
    image_ids = []
    for rep in range(1, ARGS.reps + 1):
        set_phase(f"transfers: create image #{rep}")
        image_id = create_image(cat)
        image_ids.append(image_id)
        set_phase(f"transfers: catalog upload #{rep}")
        up["catalog"].append(upload(f"{cat}/v2/images/{image_id}/file", path, size, 204,
                                    f"catalog upload #{rep}")[0])
        set_phase(f"transfers: GET the image right after catalog upload #{rep}")
        status, _, data = request(cat, "GET", f"/v2/images/{image_id}")
        expect(status, 200, "GET the uploaded image", data)
        image = json.loads(data)
        if (image.get("status") != "active" or image.get("size") != size or image.get("checksum") != md5
                or image.get("os_hash_value") != sha512):
            raise BenchError(f"catalog upload #{rep}: image is {image.get('status')}, size {image.get('size')}, "
                             f"checksum {image.get('checksum')}, os_hash_value {image.get('os_hash_value')} "
                             f"(expected active, {size}, {md5}, {sha512})")
        set_phase(f"transfers: ceiling upload #{rep}")
        up["ceiling"].append(upload(f"{ceil}/blob/bench-{rep}", path, size, 204, f"ceiling upload #{rep}")[0])
        set_phase(f"transfers: same-work upload #{rep}")
        rate, headers = upload(f"{ceil}/hashed/bench-same-{rep}", path, size, 204, f"same-work upload #{rep}")
        if headers.get("x-md5") != md5 or headers.get("x-sha512") != sha512:
            raise BenchError(f"same-work upload #{rep}: md5 {headers.get('x-md5')}, sha512 {headers.get('x-sha512')} "
                             f"(expected {md5}, {sha512})")
        up["same"].append(rate)
        log(f"upload #{rep}: catalog {up['catalog'][-1]:.0f} MB/s, ceiling {up['ceiling'][-1]:.0f} MB/s, "
            f"same work {up['same'][-1]:.0f} MB/s")

    image_id = image_ids[0]
    down = {"catalog": [], "ceiling": []}
    cache_states = []
    for rep in range(1, ARGS.download_reps + 1):
        set_phase(f"transfers: catalog download #{rep}")
        rate, headers = download(f"{cat}/v2/images/{image_id}/file", size, f"catalog download #{rep}")
        down["catalog"].append(rate)
        cache_states.append(headers.get("x-edge-cache", "-"))
        set_phase(f"transfers: ceiling download #{rep}")
        rate, _ = download(f"{ceil}/blob/bench-1", size, f"ceiling download #{rep}")
        down["ceiling"].append(rate)
        log(f"download #{rep}: catalog {down['catalog'][-1]:.0f} MB/s (X-Edge-Cache {cache_states[-1]}), "
            f"ceiling {down['ceiling'][-1]:.0f} MB/s")

    for name, url in (("catalog", f"{cat}/v2/images/{image_id}/file"), ("ceiling", f"{ceil}/blob/bench-1")):
        set_phase(f"transfers: {name} md5 check")
        got = download_md5(url, size, f"{name} md5 check")
        if got != md5:
            raise BenchError(f"{name} download md5 {got} != uploaded file's {md5}")
    log(f"md5 of both downloads matches the file ({md5})")
    set_phase("web-download", f"web-download (the file over HTTP on 127.0.0.1:{ARGS.file_port})")
    imports = web_downloads(cat, ceil, path, size, md5, sha512)
    os.unlink(path)
    return up, down, cache_states, image_id, imports


# -------------------------------------------------------------- web-download
class FileServer:
    """Serves one file at /<name> on 127.0.0.1:port (threads, Content-Length,
    sendfile), for the web-download rows; counts the complete GETs and their
    bytes. A context manager: leaving it stops the server (its handler
    threads are daemons, and each send is bounded by --request-timeout
    without progress)."""

    def __init__(self, path, port):
        self.path, self.port, self.size = path, port, os.path.getsize(path)
        self.name = os.path.basename(path)
        self.url = f"http://127.0.0.1:{port}/{self.name}"
        self.lock = threading.Lock()
        self.complete = 0       # GETs that sent the whole file
        self.sent = 0           # bytes sent by all GETs, complete or not
        self.errors = []        # what went wrong in handlers
        self.server = self.thread = None

    def __enter__(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = ARGS.request_timeout   # a client that stops reading fails the send

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.answer(body=False)

            def do_GET(self):
                self.answer(body=True)

            def answer(self, body):
                if self.path.split("?")[0] != f"/{outer.name}":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(outer.size))
                self.end_headers()
                if not body:
                    return
                self.wfile.flush()
                offset = 0
                with open(outer.path, "rb") as f:
                    while offset < outer.size:  # 8 MiB at a time: progress for failure messages
                        n = self.connection.sendfile(f, offset, min(8 << 20, outer.size - offset))
                        if n == 0:
                            break
                        offset += n
                        with outer.lock:
                            outer.sent += n
                if offset == outer.size:
                    with outer.lock:
                        outer.complete += 1

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                with outer.lock:
                    outer.errors.append(f"{client_address}: {sys.exc_info()[1]!r}")

        try:
            self.server = Server(("127.0.0.1", self.port), Handler)
        except OSError as e:
            raise BenchError(f"the web-download file server cannot listen on 127.0.0.1:{self.port} "
                             f"(--file-port, which the catalog's URI filter allows): {e}") from None
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="file-server", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        return False

    def counts(self):
        with self.lock:
            return self.complete, self.sent

    def progress(self, before):
        complete, sent = self.counts()
        return (f"the file server has sent {sent - before[1]:,} B of {self.size:,} "
                f"({complete - before[0]} complete GETs)"
                + (f"; its errors: {'; '.join(self.errors[-3:])}" if self.errors else ""))

    def expect_one_get(self, before, what):
        """The measured transfer fetched the file exactly once, whole (the
        handler counts a GET just after its last byte went out: wait a
        little for it)."""
        deadline = time.monotonic() + 5
        while self.counts()[0] == before[0] and time.monotonic() < deadline:
            time.sleep(0.01)
        complete, sent = self.counts()
        if complete - before[0] != 1 or sent - before[1] != self.size:
            raise BenchError(f"{what}: expected one complete GET of the file; " + self.progress(before))


def task_message(cat, task_id):
    """The message of an import task (for a failure's explanation), if any."""
    if not task_id:
        return ""
    try:
        status, _, data = request(cat, "GET", f"/v2/tasks/{task_id}")
        if status == 200:
            task = json.loads(data)
            return f"; task {task_id} is {task.get('status')}: {task.get('message')!r}"
    except (BenchError, ValueError):
        pass
    return f"; task {task_id}"


def wait_active(cat, image_id, started, what, server, before):
    """Polls GET /v2/images/{id} every 50 ms until the image is active; returns
    (the time that answer arrived, the image, how many polls the catalog
    dropped). A poll whose connection the catalog closes without an answer
    (seen while an import runs) is counted and sent again on a fresh
    connection, at most 5 times; the time limit still holds. Fails when the import fails
    (os_glance_failed_import set, or the image queued again without its
    import lock), on any other status, and after --transfer-timeout seconds
    counted from `started` (the POST)."""
    path = f"/v2/images/{image_id}"
    limit = ARGS.transfer_timeout
    label = f"GET {cat}{path} every 50 ms until active ({what})"
    u = urllib.parse.urlsplit(cat)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=ARGS.request_timeout)
    seen_importing, task_seen, dropped = False, None, 0
    try:
        with watched(label, limit + ARGS.request_timeout):
            while True:
                try:
                    status, _, data = exchange(conn, cat, "GET", path)
                except Stuck:
                    raise
                except BenchError as e:
                    if not re.search(r"RemoteDisconnected|ConnectionReset|BrokenPipe", str(e)) or dropped >= 5:
                        raise
                    dropped += 1
                    log(f"{what}: the catalog dropped a status poll ({e}); polling again")
                    if time.monotonic() - started > limit:
                        raise Stuck(stuck_message(label, time.monotonic() - started, limit,
                                                  f"no answer; {server.progress(before)}")) from None
                    continue
                now = time.monotonic()
                expect(status, 200, f"{what}: GET {path}", data)
                image = json.loads(data)
                state = image.get("status")
                if state == "active":
                    return now, image, dropped
                failed = image.get("os_glance_failed_import")
                task = image.get("os_glance_import_task")
                task_seen = task or task_seen
                if failed:
                    raise BenchError(f"{what}: the import failed (os_glance_failed_import {failed!r}, status "
                                     f"{state}){task_message(cat, task_seen)}; {server.progress(before)}")
                if state == "importing":
                    seen_importing = True
                elif state == "queued" and (seen_importing or not task):
                    raise BenchError(f"{what}: the image is queued again (import failed; lock "
                                     f"{'held by ' + task if task else 'released'})"
                                     f"{task_message(cat, task_seen)}; {server.progress(before)}")
                elif state != "queued":
                    raise BenchError(f"{what}: unexpected status {state!r}: {data[:300]!r}")
                if now - started > limit:
                    raise Stuck(stuck_message(label, now - started, limit,
                                              f"the image is still {state}; {server.progress(before)}"))
                time.sleep(0.05)
    finally:
        conn.close()


def web_downloads(cat, ceil, path, size, md5, sha512):
    """The web-download rows: the catalog imports the file from a local HTTP
    server (time from POST /import to the poll that sees `active`), the
    ceiling fetches it into R2 in one request (its duration), plainly and
    with the catalog's hashing. Returns {"catalog", "ceiling", "same"}: MB/s."""
    rates = {"catalog": [], "ceiling": [], "same": [], "dropped": 0}
    with FileServer(path, ARGS.file_port) as server:
        log(f"serving the file at {server.url} for web-download")
        for rep in range(1, ARGS.import_reps + 1):
            set_phase(f"web-download: create image #{rep}")
            image_id = create_image(cat, f"bench-import-{rep}")
            what = f"catalog web-download #{rep}"
            set_phase(what)
            body = json.dumps({"method": {"name": "web-download", "uri": server.url}})
            before = server.counts()
            started = time.monotonic()
            status, _, data = request(cat, "POST", f"/v2/images/{image_id}/import", body,
                                      {"Content-Type": "application/json"})
            expect(status, 202, f"{what}: POST /v2/images/{image_id}/import", data)
            seen, image, dropped = wait_active(cat, image_id, started, what, server, before)
            rates["dropped"] += dropped
            if (image.get("size") != size or image.get("checksum") != md5
                    or image.get("os_hash_algo") != "sha512" or image.get("os_hash_value") != sha512):
                raise BenchError(f"{what}: image is size {image.get('size')}, checksum {image.get('checksum')}, "
                                 f"{image.get('os_hash_algo')} {image.get('os_hash_value')} "
                                 f"(expected {size}, {md5}, sha512 {sha512})")
            server.expect_one_get(before, what)
            rates["catalog"].append(size / (seen - started) / MB)

            for side, route in (("ceiling", "fetch"), ("same", "fetch-hashed")):
                what = f"{side} web-download #{rep}"
                set_phase(what)
                before = server.counts()
                target = f"/{route}/bench-import-{side}-{rep}?url={urllib.parse.quote(server.url, safe='')}"
                started = time.monotonic()
                status, headers, data = request(ceil, "POST", target, timeout=ARGS.transfer_timeout)
                secs = time.monotonic() - started
                expect(status, 204, f"{what}: POST {target}", data)
                if (headers.get("x-size") != str(size) or headers.get("x-md5") != md5
                        or (side == "same" and headers.get("x-sha512") != sha512)):
                    raise BenchError(f"{what}: stored size {headers.get('x-size')}, md5 {headers.get('x-md5')}, "
                                     f"sha512 {headers.get('x-sha512')} (expected {size}, {md5}, {sha512})")
                server.expect_one_get(before, what)
                rates[side].append(size / secs / MB)
            log(f"web-download #{rep}: catalog {rates['catalog'][-1]:.0f} MB/s, ceiling "
                f"{rates['ceiling'][-1]:.0f} MB/s, same work {rates['same'][-1]:.0f} MB/s")
    return rates


# ---------------------------------------------------------------- many images
def create_many(cat, count, threads=16):
    u = urllib.parse.urlsplit(cat)
    local = threading.local()

    def one(i):
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=ARGS.request_timeout)
        return create_image(cat, f"bench-list-{i:04d}", local.conn)

    start = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        ids = list(pool.map(one, range(count)))
    secs = time.monotonic() - start
    if len(set(ids)) != count:
        raise BenchError(f"created {len(set(ids))} distinct images, expected {count}")
    log(f"created {count} images in {secs:.1f} s ({count / secs:.0f}/s, {threads} threads)")


def copy_rows(ceil):
    """Copies every row of the catalog's `images` table into the ceiling's D1
    (same schema) so that the same-work queries run over the same data."""
    cmd = ["wrangler", "d1", "execute", "DB", "--local", "--persist-to", ARGS.catalog_state,
           "--command", "SELECT * FROM images", "--json"]
    out = run_bounded(cmd, "wrangler d1 execute (export the catalog's rows)", ARGS.subprocess_timeout, cwd=ARGS.root)
    if out.returncode != 0:
        raise BenchError(f"exporting the catalog's rows failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    try:
        rows = json.loads(out.stdout[out.stdout.index("["):])[0]["results"]
    except (ValueError, LookupError) as e:
        raise BenchError(f"exporting the catalog's rows: unexpected output ({e}): {out.stdout[:300]!r}")
    if len(rows) < ARGS.images:
        raise BenchError(f"exported {len(rows)} rows from the catalog, expected at least {ARGS.images}")
    status, _, data = request(ceil, "POST", "/rows", json.dumps(rows), {"Content-Type": "application/json"})
    expect(status, 204, "ceiling POST /rows", data)
    log(f"copied the catalog's {len(rows)} image rows into the same-work worker's D1")
    return {row["id"]: row for row in rows}


# ----------------------------------------------------------------------- wrk
def wrk(url, duration, expect_min_bytes, headers=()):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = ["wrk", "-t", str(ARGS.wrk_threads), "-c", str(ARGS.connections), "-d", f"{duration}s",
           "--timeout", "10s", "-s", os.path.join(HERE, "wrk-report.lua")]
    for header in headers:
        cmd += ["-H", header]
    cmd.append(url)
    out = run_bounded(cmd, f"wrk GET {url} ({duration} s, phase '{PHASE}')", duration + 30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise BenchError(f"wrk {url} failed ({out.returncode}): {out.stderr.strip()} {out.stdout.strip()}")
    m = re.search(r"^WRKJSON (.*)$", out.stdout, re.M)
    if not m:
        raise BenchError(f"wrk {url}: no summary in its output:\n{out.stdout}")
    r = json.loads(m.group(1))
    errors = {k: r[k] for k in ("connect", "read", "write", "status", "timeout") if r[k]}
    if errors or r["requests"] == 0:
        raise BenchError(f"wrk {url}: {r['requests']} requests with errors {errors} (status = non-2xx/3xx)")
    if r["bytes"] / r["requests"] < expect_min_bytes:
        raise BenchError(f"wrk {url}: {r['bytes'] / r['requests']:.0f} bytes per response, "
                         f"less than the {expect_min_bytes}-byte body")
    secs = r["duration_us"] / 1e6
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"rps": r["requests"] / secs, "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "wrk_cpu": cpu / secs, "requests": r["requests"]}


def capture(cat, ceil, path, name):
    """Fetches the catalog's body once and installs it as the ceiling's fixed body."""
    status, headers, body = request(cat, "GET", path)
    expect(status, 200, f"catalog GET {path}", body)
    json.loads(body)
    ctype = headers.get("content-type", "application/json")
    status, _, data = request(ceil, "PUT", f"/fixed/{name}", body, {"Content-Type": ctype})
    expect(status, 204, f"ceiling PUT /fixed/{name}", data)
    status, _, data = request(ceil, "GET", f"/fixed/{name}")
    expect(status, 200, f"ceiling GET /fixed/{name}", data)
    if data != body:
        raise BenchError(f"ceiling /fixed/{name} does not return the captured body")
    return len(body)


def same_work_body(cat, ceil, path, key, rows):
    """Checks that the same-work worker answers `path` from the same rows as
    the catalog; returns its body's length."""
    status, _, body = request(ceil, "GET", path)
    expect(status, 200, f"same-work GET {path}", body)
    got = json.loads(body)
    status, _, data = request(cat, "GET", path)
    expect(status, 200, f"catalog GET {path}", data)
    want = json.loads(data)
    if key == "get":
        if got != rows.get(want["id"]):
            raise BenchError(f"same-work GET {path}: not the catalog's row: {body[:300]!r}")
    else:
        got_ids = [r["id"] for r in got["images"]]
        want_ids = [i["id"] for i in want["images"]]
        if got_ids != want_ids or any(r != rows.get(r["id"]) for r in got["images"]):
            raise BenchError(f"same-work GET {path}: rows {got_ids[:3]}... differ from the catalog's {want_ids[:3]}...")
    return len(body)


def median_run(runs):
    """The run with the median rate, with every run's rate (`runs`)."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    return {**ordered[len(ordered) // 2], "runs": [r["rps"] for r in runs]}


def loads(cat, ceil, image_id, rows):
    cases = [
        ("get", f"/v2/images/{image_id}", "image"),
        ("list", "/v2/images?limit=20", "list"),
    ]
    results = {}
    for key, path, fixed in cases:
        set_phase(f"request rates: {path}: capture and compare bodies")
        n = capture(cat, ceil, path, fixed)
        same_n = same_work_body(cat, ceil, path, key, rows)
        urls = {"catalog": f"{cat}{path}", "ceiling": f"{ceil}/fixed/{fixed}", "same": f"{ceil}{path}"}
        sizes = {"catalog": n, "ceiling": n, "same": same_n}
        results[key] = {"body": n, "same_body": same_n}
        runs = {side: [] for side in ("catalog", "ceiling", "same")}
        # Rounds alternate the sides, so that the machine's drift (two
        # cores, three runtimes) falls on all of them alike; each side's
        # median run is kept.
        for round_no in range(ARGS.rate_rounds):
            for side in ("catalog", "ceiling", "same"):
                set_phase(f"request rates: {path}: wrk against the {side} (round {round_no + 1})")
                if round_no == 0:
                    wrk(urls[side], ARGS.warmup, sizes[side])
                res = wrk(urls[side], ARGS.duration, sizes[side])
                runs[side].append(res)
                log(f"{path} ({sizes[side]}-byte body) {side}: {res['rps']:.0f} req/s, p50 {res['p50_ms']:.1f} ms, "
                    f"p99 {res['p99_ms']:.1f} ms, wrk used {res['wrk_cpu'] * 100:.0f}% of a core")
        for side, side_runs in runs.items():
            results[key][side] = median_run(side_runs)
    # A revalidation: the show with the ETag the client holds, answered 304
    # (no body); its ceiling is the plain JS worker's full show above.
    path = f"/v2/images/{image_id}"
    set_phase(f"request rates: {path} with If-None-Match (304)")
    status, headers, body = request(cat, "GET", path)
    expect(status, 200, f"catalog GET {path}", body)
    etag = headers.get("etag")
    if not etag:
        raise BenchError(f"catalog GET {path}: no ETag")
    status, _, body = request(cat, "GET", path, headers={"If-None-Match": etag})
    expect(status, 304, f"catalog GET {path} with If-None-Match", body)
    header = f"If-None-Match: {etag}"
    wrk(f"{cat}{path}", ARGS.warmup, 0, headers=[header])
    runs = []
    for _ in range(ARGS.rate_rounds):
        runs.append(res := wrk(f"{cat}{path}", ARGS.duration, 0, headers=[header]))
        log(f"{path} with If-None-Match (304): {res['rps']:.0f} req/s, p50 {res['p50_ms']:.1f} ms")
    results["revalidate"] = median_run(runs)
    return results


def keystone_token(keystone_url, admin_password):
    """A token of Keystone's bootstrap admin (password auth)."""
    body = json.dumps({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
    status, headers, data = request(keystone_url, "POST", "/v3/auth/tokens", body,
                                    {"Content-Type": "application/json"})
    expect(status, 201, "POST /v3/auth/tokens", data)
    return headers["x-subject-token"]


def keystone_load(keystone_catalog, keystone_url, admin_password):
    """GET /v2/images/{id} on the catalog in keystone mode with one token
    (after the first request its validation comes from the edge cache)."""
    token = keystone_token(keystone_url, admin_password)
    body = json.dumps({"name": "bench-keystone", "disk_format": "raw", "container_format": "bare"})
    status, _, data = request(keystone_catalog, "POST", "/v2/images", body,
                              {"Content-Type": "application/json", "X-Auth-Token": token})
    expect(status, 201, "POST /v2/images (keystone mode)", data)
    path = f"/v2/images/{json.loads(data)['id']}"
    status, _, data = request(keystone_catalog, "GET", path, headers={"X-Auth-Token": token})
    expect(status, 200, f"GET {path} (keystone mode)", data)
    url, headers = f"{keystone_catalog}{path}", [f"X-Auth-Token: {token}"]
    wrk(url, ARGS.warmup, len(data), headers)
    result = wrk(url, ARGS.duration, len(data), headers)
    result["body"] = len(data)
    log(f"{path} keystone mode: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms")
    return result


# --------------------------------------------------------------------- report
# ------------------------------------------------------------- resumable
def tus_patch_slice(cat, upload_path, path, start, length, chunk):
    """PATCHes bytes [start, start+length) of the file at `path` into the
    upload at `upload_path` (offset 0 of it), in PATCHes of `chunk` bytes,
    on one kept connection."""
    u = urllib.parse.urlsplit(cat)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=ARGS.request_timeout, blocksize=1 << 20)
    try:
        with open(path, "rb") as f:
            sent = 0
            while sent < length:
                n = min(chunk, length - sent)
                f.seek(start + sent)
                body = f.read(n)
                status, headers, data = exchange(
                    conn, cat, "PATCH", upload_path, body,
                    {"Tus-Resumable": "1.0.0", "Upload-Offset": str(sent),
                     "Content-Type": "application/offset+octet-stream"},
                    timeout=ARGS.transfer_timeout)
                expect(status, 204, f"PATCH {upload_path} at {sent}", data)
                sent += n
                if headers.get("upload-offset") != str(sent):
                    raise BenchError(f"PATCH {upload_path}: Upload-Offset {headers.get('upload-offset')}, "
                                     f"expected {sent}")
    finally:
        conn.close()


def wait_for_active(cat, image_id, limit, what):
    """Polls the image every 50 ms until active; returns it (fails on queued
    again after an import, a failed import, or the time limit)."""
    started = time.monotonic()
    while True:
        status, _, data = request(cat, "GET", f"/v2/images/{image_id}")
        expect(status, 200, f"{what}: GET the image", data)
        image = json.loads(data)
        if image.get("status") == "active":
            return image
        if image.get("os_glance_failed_import"):
            raise BenchError(f"{what}: the import failed: {image.get('os_glance_failed_import')}")
        if time.monotonic() - started > limit:
            raise Stuck(f"{what}: the image is still {image.get('status')} after {limit} s")
        time.sleep(0.05)


def side_by_side(count, work):
    """Runs work(0) .. work(count - 1) in threads; raises the first error."""
    errors = []

    def run(i):
        try:
            work(i)
        except BaseException as e:  # reported below, on the main thread
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def size_mb(tus, key):
    """MB/s of the resumable file moved in `tus[key]` seconds."""
    return ARGS.resumable_mib * 2**20 / tus[key] / MB


def resumable(cat, ceil):
    """A big upload through N parallel tus partial uploads (48 MiB PATCHes,
    then the final concatenation and the glance-direct import, until active
    with both checksums) against one PUT of the same file; and a download in
    N parallel ranged GETs (with If-Range) against one stream. Also the
    floor any multipart-backed upload then hashed has on this runtime: the
    plain JS worker storing the file as one R2 multipart upload of 8 MiB
    parts (as the partial uploads store theirs) and reading it back through
    MD5 and SHA-512."""
    size = ARGS.resumable_mib << 20
    parts = ARGS.parallel
    path = os.path.join(ARGS.work, "resumable.bin")
    log(f"writing a {ARGS.resumable_mib} MiB random file")
    md5, sha512 = make_file(path, size)
    limit = max(ARGS.transfer_timeout, ARGS.resumable_mib)

    def check(image, what):
        if image.get("size") != size or image.get("checksum") != md5 or image.get("os_hash_value") != sha512:
            raise BenchError(f"{what}: size {image.get('size')}, checksum {image.get('checksum')}, "
                             f"os_hash_value {image.get('os_hash_value')} (expected {size}, {md5}, {sha512})")

    set_phase("resumable: single PUT")
    single_id = create_image(cat, "bench-single-put")
    url = f"{cat}/v2/images/{single_id}/file"
    started = time.monotonic()
    # -T streams the file (--data-binary reads it into memory first).
    code, sent, _, _, _ = curl(["-X", "PUT", "-H", "Content-Type: application/octet-stream", "-T", path,
                                "-o", "/dev/null", url], "PUT", url, "single PUT", size)
    single_secs = time.monotonic() - started
    if code != 204 or sent != size:
        raise BenchError(f"single PUT: HTTP {code}, sent {sent} of {size} bytes")
    status, _, data = request(cat, "GET", f"/v2/images/{single_id}")
    check(json.loads(data), "single PUT")

    set_phase(f"resumable: {parts} parallel tus partial uploads")
    image_id = create_image(cat, "bench-tus")
    started = time.monotonic()
    bounds = [size * i // parts for i in range(parts + 1)]
    paths = []
    for i in range(parts):
        status, headers, data = request(cat, "POST", f"/v2/images/{image_id}/uploads", None, {
            "Tus-Resumable": "1.0.0", "Upload-Length": str(bounds[i + 1] - bounds[i]), "Upload-Concat": "partial"})
        expect(status, 201, "create a partial upload", data)
        paths.append(urllib.parse.urlsplit(headers["location"]).path)
    side_by_side(parts, lambda i: tus_patch_slice(cat, paths[i], path, bounds[i], bounds[i + 1] - bounds[i],
                                                  48 << 20))
    patched = time.monotonic() - started
    final = "final;" + " ".join(f"{cat}{p}" for p in paths)
    status, _, data = request(cat, "POST", f"/v2/images/{image_id}/uploads", None,
                              {"Tus-Resumable": "1.0.0", "Upload-Concat": final}, timeout=limit)
    expect(status, 201, "create the final upload", data)
    concatenated = time.monotonic() - started
    status, _, data = request(cat, "POST", f"/v2/images/{image_id}/import",
                              json.dumps({"method": {"name": "glance-direct"}}),
                              {"Content-Type": "application/json"})
    expect(status, 202, "import glance-direct", data)
    check(wait_for_active(cat, image_id, limit, "tus upload"), "tus upload")
    tus_secs = time.monotonic() - started

    set_phase("resumable: the JS worker's multipart write and read-back")
    url = f"{ceil}/parts/floor?mib=8"
    started = time.monotonic()
    code, sent, _, _, _ = curl(["-X", "PUT", "-T", path, "-o", "/dev/null", url], "PUT", url,
                               "JS multipart put", size)
    floor_put = time.monotonic() - started
    if code != 204 or sent != size:
        raise BenchError(f"JS multipart put: HTTP {code}, sent {sent} of {size} bytes")
    started = time.monotonic()
    status, headers, data = request(ceil, "GET", "/digest/floor", timeout=limit)
    floor_hash = time.monotonic() - started
    expect(status, 200, "JS read-back of the multipart object", data)
    if headers.get("x-size") != str(size) or headers.get("x-md5") != md5 or headers.get("x-sha512") != sha512:
        raise BenchError(f"JS read-back: {headers.get('x-size')} bytes, md5 {headers.get('x-md5')}, "
                         f"sha512 {headers.get('x-sha512')} (expected {size}, {md5}, {sha512})")

    set_phase("resumable: downloads")
    single_down = download(f"{cat}/v2/images/{image_id}/file", size, "single-stream download")[0]
    etag = f'"{md5}"'

    def fetch(i):
        # curl, as the single stream: the same client both ways.
        url = f"{cat}/v2/images/{image_id}/file"
        code, _, down, _, _ = curl(["-H", f"Range: bytes={bounds[i]}-{bounds[i + 1] - 1}",
                                    "-H", f"If-Range: {etag}", "-o", "/dev/null", url],
                                   "GET", url, f"ranged GET #{i}", bounds[i + 1] - bounds[i])
        if code != 206 or down != bounds[i + 1] - bounds[i]:
            raise BenchError(f"ranged GET #{i}: HTTP {code}, {down} bytes")
    started = time.monotonic()
    side_by_side(parts, fetch)
    parallel_down = size / (time.monotonic() - started) / MB
    return {"single_up": size / single_secs / MB, "tus_up": size / tus_secs / MB,
            "tus_detail": f"PATCHes done at {patched:.1f} s ({size / patched / MB:,.0f} MB/s, "
                          f"{single_secs / patched:.2f}x the PUT), final concatenation at {concatenated:.1f} s, "
                          f"active (import: one R2-to-R2 pass with both digests) at {tus_secs:.1f} s; "
                          f"single PUT {single_secs:.1f} s",
            "single_down": single_down, "parallel_down": parallel_down,
            "patched": patched, "single_secs": single_secs, "floor_put": floor_put, "floor_hash": floor_hash}


def bundle_size():
    """The worker bundle's size as `wrangler deploy --dry-run` reports it
    ("Total Upload: X KiB / gzip: Y KiB"), built as a deploy builds it."""
    out_dir = os.path.join(ARGS.work, "dry-run")
    out = run_bounded(["npx", "wrangler", "deploy", "--dry-run", "--outdir", out_dir],
                      "wrangler deploy --dry-run", max(ARGS.subprocess_timeout, 600), cwd=ARGS.root)
    m = re.search(r"Total Upload: ([\d.]+) KiB / gzip: ([\d.]+) KiB", out.stdout + out.stderr)
    if out.returncode != 0 or not m:
        raise BenchError(f"wrangler deploy --dry-run failed ({out.returncode}): {(out.stdout + out.stderr)[-800:]}")
    sizes = {"total_kib": float(m.group(1)), "gzip_kib": float(m.group(2))}
    log(f"worker bundle: {sizes['total_kib']:.0f} KiB, gzip {sizes['gzip_kib']:.0f} KiB")
    return sizes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_answer_ms(cmd, cwd, label, limit=120):
    """Starts a local runtime (scripts/serve.mjs, no build) and times its
    first answer, whatever the status: from the spawn to the end of the
    first HTTP response on its port (polled every 10 ms)."""
    port = free_port()
    state = os.path.join(ARGS.work, f"cold-{label}-{port}")
    start = time.monotonic()
    proc = subprocess.Popen(cmd + ["--ip", "127.0.0.1", "--port", str(port), "--persist-to", state], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while time.monotonic() - start < limit:
            if proc.poll() is not None:
                raise BenchError(f"{label}: the runtime exited ({proc.returncode}) before answering")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=limit)
                conn.request("GET", "/versions")
                conn.getresponse().read()
                conn.close()
                return (time.monotonic() - start) * 1000
            except (ConnectionError, OSError):
                time.sleep(0.01)
        raise BenchError(f"{label}: no answer within {limit} s of starting")
    finally:
        kill_group(proc)
        proc.wait()


def cold_starts(reps=3):
    """Time to the first answer of a fresh runtime and isolate (catalog vs
    the plain JS worker, both already built): median of `reps` starts."""
    serve = os.path.join(ARGS.root, "scripts", "serve.mjs")
    ceiling_dir = os.path.join(ARGS.work, "ceiling-worker")
    runs = {"catalog": [], "ceiling": []}
    for _ in range(reps):
        runs["catalog"].append(first_answer_ms(["node", serve, "--no-build"], ARGS.root, "catalog"))
        runs["ceiling"].append(first_answer_ms(["node", serve, "--config", "ceiling.wrangler.toml"], ceiling_dir,
                                               "ceiling"))
    result = {side: {"median": statistics.median(ms), "runs": ms} for side, ms in runs.items()}
    log(f"first answer of a fresh runtime: catalog {result['catalog']['runs']}, ceiling {result['ceiling']['runs']} ms")
    return result


def builds(path):
    """How many times wrangler built/reloaded the catalog so far (from its log)."""
    with open(path, errors="replace") as f:
        text = f.read()
    return len(re.findall(r"Running custom build|Reloading local server|Local server updated|Detected changes", text))


def table(up, down, cache_states, imports, lo, keystone, tus, bundle):
    rows = []

    def row(metric, unit, cat_values, ceil_values, target, runs):
        c, k = statistics.median(cat_values), statistics.median(ceil_values)
        ratio = c / k
        met = "yes" if ratio >= target else "**NO**"
        rows.append(f"| {metric} | {c:,.0f} {unit} | {k:,.0f} {unit} | {ratio:.2f} | ≥ {target} | {met} | {runs} |")

    def rates(c, k, other):
        return (f"req/s per round: catalog {' / '.join(f'{v:.0f}' for v in c['runs'])}; "
                f"{other} {' / '.join(f'{v:.0f}' for v in k['runs'])}")

    def runs(cv, kv, extra=""):
        return (f"catalog {' / '.join(f'{v:.0f}' for v in cv)}{extra}; "
                f"ceiling {' / '.join(f'{v:.0f}' for v in kv)}")

    size = f"{ARGS.size_mib} MiB"
    row(f"upload {size} (median of {ARGS.reps})", "MB/s", up["catalog"], up["ceiling"], 0.9,
        runs(up["catalog"], up["ceiling"]))
    row(f"web-download {size} (median of {ARGS.import_reps})", "MB/s", imports["catalog"], imports["ceiling"], 0.8,
        runs(imports["catalog"], imports["ceiling"])
        + (f"; {imports['dropped']} status polls dropped by the catalog (polled again)" if imports["dropped"] else ""))
    row(f"download {size} (median of {ARGS.download_reps})", "MB/s", down["catalog"], down["ceiling"], 0.9,
        runs(down["catalog"], down["ceiling"], f" (X-Edge-Cache {'/'.join(cache_states)})"))
    for key, label, target in (
        ("get", "GET /v2/images/{id}", 0.5),
        ("list", f"GET /v2/images?limit=20, {ARGS.images:,} images", 0.4),
    ):
        r = lo[key]
        c, k = r["catalog"], r["ceiling"]
        detail = (f"{r['body']} B body; {rates(c, k, 'ceiling')}; p50/p99 ms: catalog {c['p50_ms']:.1f}/{c['p99_ms']:.1f}, "
                  f"ceiling {k['p50_ms']:.1f}/{k['p99_ms']:.1f}; wrk CPU ≤ "
                  f"{max(c['wrk_cpu'], k['wrk_cpu']) * 100:.0f}% of a core")
        row(f"{label}, {ARGS.connections} conns, {ARGS.duration} s, median of {ARGS.rate_rounds} rounds", "req/s", [c["rps"]], [k["rps"]], target, detail)

    r = lo["revalidate"]
    k = lo["get"]["ceiling"]
    row(f"GET /v2/images/{{id}} with If-None-Match, answered 304; ceiling column = the JS worker's full show above, "
        f"{ARGS.connections} conns, {ARGS.duration} s, median of {ARGS.rate_rounds} rounds", "req/s", [r["rps"]], [k["rps"]], 0.8,
        f"{rates(r, k, 'ceiling')}; p50/p99 ms: catalog {r['p50_ms']:.1f}/{r['p99_ms']:.1f}, "
        f"ceiling {k['p50_ms']:.1f}/{k['p99_ms']:.1f}")
    if bundle:
        met = "yes" if bundle["gzip_kib"] <= 450 else "**NO**"
        rows.append(f"| worker bundle as `wrangler deploy --dry-run` reports it (gzip) | {bundle['gzip_kib']:,.0f} KiB | "
                    f"— | — | ≤ 450 KiB | {met} | uncompressed {bundle['total_kib']:,.0f} KiB |")
        cold = bundle.get("cold")
        if cold:
            c, j = cold["catalog"], cold["ceiling"]
            runs = lambda r: " / ".join(f"{ms:,.0f}" for ms in r["runs"])
            rows.append(f"| time to the first answer of a fresh runtime and isolate (informative; spawn of "
                        f"scripts/serve.mjs to the first answer, median of {len(c['runs'])}); ceiling column = "
                        f"the plain JS worker | {c['median']:,.0f} ms | {j['median']:,.0f} ms | "
                        f"{j['median'] / c['median']:.2f} | — | — | ratio = ceiling / catalog (a time); catalog {runs(c)}; ceiling {runs(j)}; "
                        f"the difference ({c['median'] - j['median']:,.0f} ms) is what loading the bundle costs |")
    if tus:
        big = f"{ARGS.resumable_mib} MiB"
        row(f"upload {big} end to end (until active, both checksums): {ARGS.parallel} parallel tus partial uploads "
            f"+ final concatenation + glance-direct import; ceiling column = one PUT to the catalog", "MB/s",
            [tus["tus_up"]], [tus["single_up"]], 1.5, tus["tus_detail"])
        rows.append(f"| download {big}: {ARGS.parallel} parallel ranged GETs with If-Range (informative); "
                    f"ceiling column = one stream from the catalog | {tus['parallel_down']:,.0f} MB/s | "
                    f"{tus['single_down']:,.0f} MB/s | {tus['parallel_down'] / tus['single_down']:.2f} | — | — | "
                    f"one run each |")
        best = tus["single_secs"] / (tus["patched"] + tus["floor_hash"])
        rows.append(f"| floor of the resumable row (informative): a plain JS worker stores the {big} file as one "
                    f"R2 multipart upload of 8 MiB parts, then reads it back through MD5 + SHA-512; ceiling column "
                    f"= the catalog's single PUT | {size_mb(tus, 'floor_hash'):,.0f} MB/s read-back | "
                    f"{ARGS.resumable_mib * 2**20 / tus['single_secs'] / MB:,.0f} MB/s | — | — | — | "
                    f"JS multipart put {tus['floor_put']:.1f} s, read-back with both digests {tus['floor_hash']:.1f} s; "
                    f"the catalog's PATCHes ({tus['patched']:.1f} s) plus that read-back alone would be "
                    f"{best:.2f}x the single PUT: the most any multipart-backed upload hashed afterwards can "
                    f"reach here |")

    # Informative: the ceiling column is the JS worker doing the catalog's work.
    def same(metric, unit, cat_values, same_values, runs):
        c, k = statistics.median(cat_values), statistics.median(same_values)
        rows.append(f"| same work (informative, no target): {metric} | {c:,.0f} {unit} | {k:,.0f} {unit} | "
                    f"{c / k:.2f} | — | — | {runs} |")

    same(f"upload {size}, JS tee → FixedLengthStream → R2 put (md5 from R2) + SHA-512 DigestStream "
         f"(median of {ARGS.reps})", "MB/s", up["catalog"], up["same"],
         f"catalog {' / '.join(f'{v:.0f}' for v in up['catalog'])}; "
         f"same-work JS {' / '.join(f'{v:.0f}' for v in up['same'])}")
    same(f"web-download {size}, JS fetch → tee → FixedLengthStream → R2 put (md5 from R2) + SHA-512 DigestStream "
         f"(median of {ARGS.import_reps})", "MB/s", imports["catalog"], imports["same"],
         f"catalog {' / '.join(f'{v:.0f}' for v in imports['catalog'])}; "
         f"same-work JS {' / '.join(f'{v:.0f}' for v in imports['same'])}")
    for key, label in (
        ("get", "GET /v2/images/{id}, JS: the catalog's one D1 query in a session, row as JSON"),
        ("list", f"GET /v2/images?limit=20, {ARGS.images:,} images, JS: the catalog's D1 list query in a session, "
                 "rows as JSON"),
    ):
        r = lo[key]
        c, k = r["catalog"], r["same"]
        detail = (f"{r['body']} B / {r['same_body']} B bodies; {rates(c, k, 'same-work JS')}; "
                  f"p50/p99 ms: catalog {c['p50_ms']:.1f}/{c['p99_ms']:.1f}, "
                  f"same-work JS {k['p50_ms']:.1f}/{k['p99_ms']:.1f}; wrk CPU ≤ "
                  f"{max(c['wrk_cpu'], k['wrk_cpu']) * 100:.0f}% of a core")
        # Issue 21's target: metadata reads cost little beyond their D1 query.
        ratio = c["rps"] / k["rps"]
        rows.append(f"| same work: {label}, {ARGS.connections} conns, {ARGS.duration} s, median of "
                    f"{ARGS.rate_rounds} rounds | {c['rps']:,.0f} req/s | {k['rps']:,.0f} req/s | {ratio:.2f} | ≥ 0.9 | "
                    f"{'yes' if ratio >= 0.9 else '**NO**'} | {detail} |")
    if keystone:
        c, k = keystone, lo["get"]["catalog"]
        rows.append(
            f"| keystone mode (informative, no target): GET /v2/images/{{id}} with a cached token validation, "
            f"{ARGS.connections} conns, {ARGS.duration} s; ceiling column = the noauth catalog above | "
            f"{c['rps']:,.0f} req/s | {k['rps']:,.0f} req/s | {c['rps'] / k['rps']:.2f} | — | — | "
            f"{c['body']} B body; p50/p99 ms: keystone {c['p50_ms']:.1f}/{c['p99_ms']:.1f}, "
            f"noauth {k['p50_ms']:.1f}/{k['p99_ms']:.1f} |")
    head = ["| metric | catalog | ceiling | ratio | target | met | runs / details |",
            "|---|---:|---:|---:|---:|:-:|---|"]
    return head + rows


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--catalog", required=True)
    p.add_argument("--ceiling", required=True)
    p.add_argument("--catalog-log", required=True)
    p.add_argument("--catalog-state", required=True, help="the catalog's --persist-to directory")
    p.add_argument("--root", default=os.path.dirname(os.path.dirname(HERE)),
                   help="the repository (its wrangler.toml names the catalog's D1 database)")
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--info", default="")
    p.add_argument("--size-mib", type=int, default=256)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--download-reps", type=int, default=5)
    p.add_argument("--import-reps", type=int, default=3)
    p.add_argument("--file-port", type=int, required=True,
                   help="the loopback port to serve the file on for web-download (the catalog's URI filter "
                        "must allow 127.0.0.1 and this port)")
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--resumable-mib", type=int, default=1024, help="size of the resumable-upload rows (0: skip)")
    p.add_argument("--parallel", type=int, default=4, help="parallel tus partial uploads and ranged GETs")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--rate-rounds", type=int, default=3,
                   help="rounds of the request-rate rows (sides alternate; the median run is reported)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--keystone-catalog", help="the catalog in keystone mode (optional row)")
    p.add_argument("--keystone-url")
    p.add_argument("--keystone-admin-password")
    p.add_argument("--request-timeout", type=float, default=60,
                   help="seconds a small request may take in all; also how long a transfer may stall")
    p.add_argument("--transfer-timeout", type=int, default=0,
                   help="seconds one curl transfer may take in all (default: 300, or 1 s per MiB if more)")
    p.add_argument("--subprocess-timeout", type=int, default=180, help="seconds for a wrangler command")
    p.add_argument("--deadline", type=int, default=0,
                   help="seconds the whole measurement may take (0: no limit but the per-request ones)")
    ARGS = p.parse_args()
    ARGS.transfer_timeout = ARGS.transfer_timeout or max(300, ARGS.size_mib)
    threading.Thread(target=watchdog, args=(ARGS.deadline,), name="watchdog", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: die(f"terminated (SIGTERM) in phase '{PHASE}'", 143))
    cat, ceil = ARGS.catalog.rstrip("/"), ARGS.ceiling.rstrip("/")

    set_phase("bundle size", "the worker bundle's size (wrangler deploy --dry-run)")
    bundle = bundle_size()
    set_phase("cold starts", "time to the first answer of a fresh runtime (3 starts each)")
    bundle["cold"] = cold_starts()
    builds_before = builds(ARGS.catalog_log)
    threading.Thread(target=watch_log, args=(ARGS.catalog_log, os.path.getsize(ARGS.catalog_log)),
                     name="log-watch", daemon=True).start()
    started = STARTED
    set_phase("transfers", "transfers (curl)")
    up, down, cache_states, image_id, imports = transfers(cat, ceil)
    tus = None
    if ARGS.resumable_mib:
        set_phase("resumable", f"resumable uploads and ranged downloads ({ARGS.resumable_mib} MiB)")
        tus = resumable(cat, ceil)
    set_phase(f"creating {ARGS.images} images", f"creating {ARGS.images} images")
    create_many(cat, ARGS.images)
    set_phase("copying the catalog's rows into the ceiling's D1")
    rows = copy_rows(ceil)
    set_phase("request rates", f"request rates (wrk, {ARGS.connections} connections, {ARGS.warmup} s warm-up + "
              f"{ARGS.duration} s each)")
    lo = loads(cat, ceil, image_id, rows)
    keystone = None
    if ARGS.keystone_catalog:
        set_phase("keystone mode", "keystone mode (wrk, one token)")
        keystone = keystone_load(ARGS.keystone_catalog.rstrip("/"), ARGS.keystone_url, ARGS.keystone_admin_password)
    if builds(ARGS.catalog_log) != builds_before:
        raise BenchError("wrangler rebuilt/reloaded the catalog during the run (src/ changed?): "
                         "the numbers mix two builds; run again")

    lines = [f"Edge-glance benchmark: {ARGS.info}; measured in {time.monotonic() - started:.0f} s. "
             "MB = 10^6 bytes; ratio = catalog / ceiling (higher is better). In the \"same work\" rows the "
             "ceiling column is a plain JS worker doing the catalog's own work for that request "
             "(scripts/bench.d/ceiling.js), so their ratio is what the Rust/wasm layer costs. "
             "web-download: the catalog's time runs from its POST /import to the poll (every 50 ms) that sees "
             "the image active; the ceiling's is its one request (fetch, R2 put, answer).", ""]
    lines += table(up, down, cache_states, imports, lo, keystone, tus, bundle)
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(ARGS.out), exist_ok=True)
    with open(ARGS.out, "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"BENCHMARK FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        die(f"interrupted in phase '{PHASE}'", 130)
