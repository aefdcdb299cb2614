// The byte path of a resumable upload's PATCH, in the runtime's own
// JavaScript for the reason `watched_pipe.js` gives (a chunk costs a clock
// read here, a round trip through wasm otherwise).
//
// `writeSegments` streams the old tail (if any) and then the PATCH body into
// the segments the domain planned (`domain::resumable::ResumableUpload::plan`):
// each part through a FixedLengthStream into `multipart.uploadPart`, the new
// tail into `bucket.put`. Nothing is held whole in memory: a chunk is sliced
// at segment boundaries and written on. It never rejects: it resolves with
// what was durably stored, so a body cut off mid-way keeps its whole parts.
//
//   opts = { bucket, multipart (or null), tailKey (old, or null),
//            newTailKey, body, bodySize, segments: [{kind, number?, size}],
//            digest: a DigestStream for the body (or null),
//            idleMs, beatMs, onBeat }
//   => { stored: number of segments stored, parts: [{partNumber, etag}],
//        received: body bytes read, digest: ArrayBuffer or null,
//        error: null | { stalled: bool, storage: bool, message } }
const READ_BYTES = 1 << 20;
const YIELD_BYTES = 8 << 20;

export async function writeSegments(opts) {
  const { bucket, multipart, tailKey, newTailKey, body, bodySize, segments, digest } = opts;
  const result = { stored: 0, parts: [], received: 0, digest: null, error: null };
  let tailReader = null;
  if (tailKey) {
    const tail = await bucket.get(tailKey);
    if (!tail) {
      result.error = { stalled: false, storage: true, message: `the upload's tail ${tailKey} is missing` };
      return result;
    }
    tailReader = tail.body.getReader();
  }
  let bodyReader = null;
  let byob = false;
  if (body && bodySize > 0) {
    try {
      bodyReader = body.getReader({ mode: "byob" });
      byob = true;
    } catch {
      bodyReader = body.getReader();
    }
  }
  const digestWriter = digest ? digest.getWriter() : null;
  let pending = null; // bytes read but not yet written (a chunk's rest)
  let last = Date.now();
  let lastBeat = last;
  let stalled = false;
  let sinceYield = 0;
  let confirming = false;
  const every = Math.min(Math.max(opts.idleMs / 4, 250), 5000);
  const watchdog = setInterval(() => {
    if (confirming || Date.now() - last < opts.idleMs) return;
    confirming = true;
    setTimeout(() => {
      confirming = false;
      if (Date.now() - last >= opts.idleMs) {
        stalled = true;
        if (bodyReader) bodyReader.cancel().catch(() => {});
      }
    }, 500);
  }, every);

  // The next chunk: the old tail's bytes first, then the body's.
  async function nextChunk() {
    if (pending) {
      const chunk = pending;
      pending = null;
      return chunk;
    }
    if (tailReader) {
      const { done, value } = await tailReader.read();
      if (!done) return { bytes: value, fromBody: false };
      tailReader = null;
    }
    if (!bodyReader || result.received >= bodySize) return null;
    const { done, value } = byob ? await bodyReader.read(new Uint8Array(READ_BYTES)) : await bodyReader.read();
    if (stalled) throw { stalled: true };
    if (done) throw new Error(`the body ended after ${result.received} of ${bodySize} bytes`);
    last = Date.now();
    if (last - lastBeat >= opts.beatMs) {
      lastBeat = last;
      opts.onBeat();
    }
    result.received += value.byteLength;
    if (result.received > bodySize) throw new Error(`the body is longer than its ${bodySize} bytes`);
    if (digestWriter) await digestWriter.write(value);
    sinceYield += value.byteLength;
    if (sinceYield >= YIELD_BYTES) {
      sinceYield = 0;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return { bytes: value, fromBody: true };
  }

  try {
    for (const segment of segments) {
      const fixed = new FixedLengthStream(segment.size);
      const storing =
        segment.kind === "part"
          ? multipart.uploadPart(segment.number, fixed.readable)
          : bucket.put(newTailKey, fixed.readable);
      // Observed now so a failure while we still write is not unhandled.
      storing.catch(() => {});
      const writer = fixed.writable.getWriter();
      let left = segment.size;
      try {
        while (left > 0) {
          const chunk = await nextChunk();
          if (!chunk) throw new Error("the data ended before the segment was full");
          let bytes = chunk.bytes;
          if (bytes.byteLength > left) {
            pending = { bytes: bytes.subarray(left), fromBody: chunk.fromBody };
            bytes = bytes.subarray(0, left);
          }
          await writer.write(bytes);
          left -= bytes.byteLength;
        }
        await writer.close();
      } catch (error) {
        writer.abort(error).catch(() => {});
        await storing.catch(() => {});
        throw error;
      }
      let stored;
      try {
        stored = await storing;
      } catch (error) {
        throw { storage: true, message: String(error && error.message ? error.message : error) };
      }
      if (segment.kind === "part") result.parts.push({ partNumber: stored.partNumber, etag: stored.etag });
      result.stored += 1;
    }
    if (digestWriter) {
      await digestWriter.close();
      result.digest = await digest.digest;
    }
  } catch (error) {
    result.error = {
      stalled: stalled || !!(error && error.stalled),
      storage: !!(error && error.storage),
      message: String(error && error.message ? error.message : error),
    };
    if (digestWriter) digestWriter.abort().catch(() => {});
    if (bodyReader) bodyReader.cancel().catch(() => {});
  } finally {
    clearInterval(watchdog);
    if (tailReader) tailReader.cancel().catch(() => {});
  }
  return result;
}

// The objects `keys` of `bucket`, one after the other, as one stream (the
// partial uploads of a final concatenation, read by its import). Each
// object is opened only when the one before it has been read. A standard
// TransformStream (JavaScript-backed): the upload engine tees this stream
// and pipes a branch into a FixedLengthStream, which the runtime does not
// do from its own IdentityTransformStream. Pumped by hand rather than with
// `pipeTo`: local reads resolve at once and the tee lets its fastest branch
// run ahead, so without a turn of the event loop every YIELD_BYTES this
// loop would starve the isolate's other requests (measured: status polls
// unanswered for a minute during a 1 GiB import).
export function concatObjects(bucket, keys) {
  const { readable, writable } = new TransformStream();
  (async () => {
    const writer = writable.getWriter();
    let sinceYield = 0;
    try {
      for (const key of keys) {
        const object = await bucket.get(key);
        if (!object) throw new Error(`${key} is missing`);
        const reader = object.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          await writer.write(value);
          sinceYield += value.byteLength;
          if (sinceYield >= YIELD_BYTES) {
            sinceYield = 0;
            await new Promise((resolve) => setTimeout(resolve, 0));
          }
        }
      }
      await writer.close();
    } catch (error) {
      await writer.abort(error).catch(() => {});
    }
  })();
  return readable;
}

// Every key under `prefix` in `bucket` (one page of up to 1000 per call).
export async function keysUnder(bucket, prefix, cursor) {
  const listed = await bucket.list({ prefix, cursor: cursor || undefined });
  return { keys: listed.objects.map((o) => o.key), cursor: listed.truncated ? listed.cursor : null };
}
