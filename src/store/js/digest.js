// Hashes a stream without storing it (the background hashing of an http
// location): the runtime's DigestStreams compute the digests natively; this
// loop only hands them the chunks. `signal` aborting (the image was deleted
// meanwhile) cancels the source and rejects. Resolves to
// {size, digests: [hex, ...], head, tail}: the digests in the order of
// `algorithms` ("MD5", "SHA-256", ...), and the first `headBytes` and last
// `tailBytes` bytes for the format inspection (copies: bounded whatever
// the source sends).
export async function digestStream(readable, algorithms, signal, headBytes, tailBytes) {
  const digests = algorithms.map((name) => new crypto.DigestStream(name));
  const writers = digests.map((digest) => digest.getWriter());
  const reader = readable.getReader();
  const onAbort = () => reader.cancel("aborted").catch(() => {});
  signal.addEventListener("abort", onAbort);
  let size = 0;
  let sinceYield = 0;
  const headParts = [];
  let headKept = 0;
  let tail = new Uint8Array(0);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (signal.aborted) throw new Error("aborted");
      if (done) break;
      size += value.byteLength;
      if (headKept < headBytes) {
        const part = value.slice(0, headBytes - headKept);
        headParts.push(part);
        headKept += part.byteLength;
      }
      tail = lastBytes(tail, value, tailBytes);
      await Promise.all(writers.map((writer) => writer.write(value)));
      // Let the isolate's other requests in now and then (see
      // watched_pipe.js: a fast source keeps this loop in microtasks).
      sinceYield += value.byteLength;
      if (sinceYield >= 8 << 20) {
        sinceYield = 0;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
    await Promise.all(writers.map((writer) => writer.close()));
  } catch (error) {
    await Promise.all(writers.map((writer) => writer.abort(error).catch(() => {})));
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  const buffers = await Promise.all(digests.map((digest) => digest.digest));
  const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return { size, digests: buffers.map(hex), head: concat(headParts, headKept), tail };
}

// The last `keep` bytes of `kept` followed by `chunk`.
function lastBytes(kept, chunk, keep) {
  if (chunk.byteLength >= keep) return chunk.slice(chunk.byteLength - keep);
  const from = Math.max(0, kept.byteLength + chunk.byteLength - keep);
  return concat([kept.subarray(from), chunk], kept.byteLength - from + chunk.byteLength);
}

function concat(parts, length) {
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
