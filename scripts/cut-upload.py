#!/usr/bin/env python3
"""Reproduce: a chunked image upload (no declared size) cut off by the client.

For each of four ways of cutting a `Transfer-Encoding: chunked` PUT
/v2/images/{id}/file short (the zero-length last chunk is never sent), create
an image, send the truncated upload over a raw socket, then poll
GET /v2/images/{id} and report how its status evolves. A correct server never
lets such an image become `active`. A complete upload is sent as a control.

    python3 scripts/cut-upload.py http://127.0.0.1:8787 [--watch SECONDS]

Standard library only.
"""
import argparse
import hashlib
import http.client
import json
import os
import socket
import struct
import sys
import time
import urllib.parse

CHUNK = 64 * 1024
FULL_CHUNKS = 4  # complete chunks sent before the cut


def request(base, method, path, body=None, headers=None, timeout=10):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    conn.request(method, path, body, {"Accept": "application/json", **(headers or {})})
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    return reply.status, data


def create_image(base):
    body = json.dumps({"name": "x", "disk_format": "raw", "container_format": "bare"}).encode()
    status, reply = request(base, "POST", "/v2/images", body, {"Content-Type": "application/json"})
    assert status == 201, (status, reply)
    return json.loads(reply)["id"]


def image(base, image_id):
    status, reply = request(base, "GET", f"/v2/images/{image_id}")
    assert status == 200, (status, reply)
    return json.loads(reply)


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


def upload(base, image_id, how, payload):
    """Send the chunked PUT and cut it `how`; returns the bytes the worker could have seen."""
    u = urllib.parse.urlsplit(base)
    s = socket.create_connection((u.hostname, u.port or 80), timeout=10)
    s.sendall((f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: {u.netloc}\r\n"
               "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n"
               "Accept: application/json\r\n\r\n").encode())
    sent = b""
    for i in range(FULL_CHUNKS):
        piece = payload[i * CHUNK:(i + 1) * CHUNK]
        s.sendall(chunk(piece))
        sent += piece
        time.sleep(0.05)
    if how == "complete":
        s.sendall(b"0\r\n\r\n")
        s.settimeout(30)
        reply = s.recv(65536)
        s.close()
        return sent, reply.split(b"\r\n", 1)[0].decode()
    if how == "mid_data":  # a chunk-size line and half its data
        s.sendall(b"%x\r\n" % CHUNK + payload[FULL_CHUNKS * CHUNK:FULL_CHUNKS * CHUNK + CHUNK // 2])
    elif how == "mid_size_line":  # half a chunk-size line, no CRLF
        s.sendall(b"1")
    elif how == "rst":  # a complete chunk, then RST instead of FIN
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # "after_chunk": nothing more, just FIN after a complete chunk.
    time.sleep(0.5)  # let the bytes reach the worker before the cut
    s.close()
    return sent, "(cut)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base", help="catalog URL, e.g. http://127.0.0.1:8787")
    ap.add_argument("--watch", type=float, default=10, help="seconds to poll each image's status (stops early once active)")
    ap.add_argument("--only", help="comma-separated subset of the cut methods")
    args = ap.parse_args()
    methods = ["after_chunk", "mid_data", "mid_size_line", "rst", "complete"]
    if args.only:
        methods = args.only.split(",")
    payload = os.urandom((FULL_CHUNKS + 1) * CHUNK)
    sent_md5 = hashlib.md5(payload[:FULL_CHUNKS * CHUNK]).hexdigest()
    bad = 0
    for how in methods:
        image_id = create_image(args.base)
        t0 = time.monotonic()
        sent, reply = upload(args.base, image_id, how, payload)
        t_cut = time.monotonic()
        history, last = [], None
        while time.monotonic() - t_cut < args.watch:
            img = image(args.base, image_id)
            if img["status"] != last:
                last = img["status"]
                history.append(f"{last}@{time.monotonic() - t_cut:.1f}s")
            if last in ("active", "killed", "deleted"):
                break
            time.sleep(0.25)
        img = image(args.base, image_id)
        detail = f"size={img.get('size')} md5={'=sent' if img.get('checksum') == sent_md5 else img.get('checksum')}"
        ok = (img["status"] == "active") == (how == "complete")
        bad += not ok
        print(f"{how:14} {'OK ' if ok else 'BAD'} {image_id} reply={reply!r:12} status: {' -> '.join(history)}  final={img['status']} {detail}")
        sys.stdout.flush()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
