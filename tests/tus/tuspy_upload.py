"""One tuspy uploader process: uploads FILE to the tus creation URL
ENDPOINT, keeping the upload URL in tuspy's FileStorage at STORAGE, and
writes what it does as JSON lines to LOG.

    python tuspy_upload.py ENDPOINT FILE STORAGE LOG CHUNK_SIZE

Run it again with the same FILE and STORAGE after it was killed, and tuspy
itself finds the stored URL (by the file's fingerprint), asks the server for
the offset (HEAD) and goes on from there.

tuspy is used unchanged through its public API. The loop below is
`Uploader.upload()`'s own (create the URL if there is none, then
`upload_chunk()` until the end), written out only so that the offset of
every PATCH (tuspy sends `Upload-Offset: uploader.offset`) and every
acknowledged offset reach the log: the test kills this process after an
acknowledged chunk and checks where the next process starts.
"""

import json
import os
import sys

from tusclient import client
from tusclient.storage import filestorage


def main():
    endpoint, path, storage_path, log_path, chunk_size = sys.argv[1:6]
    log = open(log_path, "a", buffering=1)

    def event(name, **fields):
        # One line per event, flushed at once (line buffering): the test
        # reads the file while this process runs and then kills it.
        log.write(json.dumps({"event": name, "pid": os.getpid(), **fields}) + "\n")

    storage = filestorage.FileStorage(storage_path)
    # retries=0: a refused PATCH fails the process (and the test) instead of
    # being retried out of sight.
    uploader = client.TusClient(endpoint).uploader(
        file_path=path, chunk_size=int(chunk_size), store_url=True, url_storage=storage,
        metadata={"filename": os.path.basename(path)}, retries=0)
    # A stored URL means tuspy has already sent HEAD for it: `offset` is
    # the server's Upload-Offset.
    event("start", url=uploader.url, offset=uploader.offset, size=uploader.stop_at)
    if not uploader.url:
        uploader.set_url(uploader.create_url())
        uploader.offset = 0
        event("created", url=uploader.url)
    while uploader.offset < uploader.stop_at:
        event("patch", offset=uploader.offset)
        uploader.upload_chunk()
        event("acked", offset=uploader.offset, status=uploader.request.status_code)
    event("done", url=uploader.url, offset=uploader.offset)
    storage.close()


if __name__ == "__main__":
    main()
