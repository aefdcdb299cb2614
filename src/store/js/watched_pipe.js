// The one piece of the byte path written in JavaScript: a pipe that notices
// silence. `pipeTo` is native but cannot tell how long its source has been
// quiet, and reading chunk by chunk from wasm costs a round trip per chunk
// (measured: a fifth of the upload rate). This loop runs in the runtime's
// own JavaScript, so a chunk costs a clock read, and it reads 1 MiB at a time
// where the stream allows it (measured: the loop with the stream's own small
// chunks cost ~15% of the upload rate; with 1 MiB reads, nothing measurable).
//
// Pipes `readable` into `writable`. Resolves with the number of bytes piped
// when the readable ends (the writable closed), so the caller can tell a
// body that was short from a sink that failed; rejects with `{stalled: true}` when no chunk arrives for
// `idleMs` (the readable is cancelled and the writable aborted), and with the
// error otherwise. `onBeat()` is called at most every `beatMs` while chunks
// arrive.
const READ_BYTES = 1 << 20;
// A fast source and sink can keep this loop in microtasks (every read and
// write already resolved), starving the isolate's other requests and timers
// for the whole transfer; measured: a status poll held for 11 s during a
// 256 MiB import. Yielding to the event loop every YIELD_BYTES lets them in
// (the clock cannot be used: it only advances on I/O).
const YIELD_BYTES = 8 << 20;

export function watchedPipe(readable, writable, idleMs, beatMs, onBeat) {
  // Large reads where the stream allows them (request bodies are byte
  // streams): fewer, bigger chunks.
  let byob = true;
  let reader;
  try {
    reader = readable.getReader({ mode: "byob" });
  } catch {
    byob = false;
    reader = readable.getReader();
  }
  let buffer = byob ? new ArrayBuffer(READ_BYTES) : null;
  const writer = writable.getWriter();
  let last = Date.now();
  let lastBeat = last;
  let stalled = false;
  let sinceYield = 0;
  let total = 0;
  const every = Math.min(Math.max(idleMs / 4, 250), 5000);
  // A busy isolate (imports run side by side) may run this timer before a
  // chunk that has already arrived: silence is confirmed half a second
  // later, after pending I/O had its turn, so a live body is never cut.
  let confirming = false;
  const watchdog = setInterval(() => {
    if (confirming || Date.now() - last < idleMs) return;
    confirming = true;
    setTimeout(() => {
      confirming = false;
      if (Date.now() - last >= idleMs) {
        stalled = true;
        reader.cancel().catch(() => {});
      }
    }, 500);
  }, every);
  return (async () => {
    try {
      for (;;) {
        const { done, value } = byob ? await reader.read(new Uint8Array(buffer)) : await reader.read();
        if (done || stalled) break;
        last = Date.now();
        if (last - lastBeat >= beatMs) {
          lastBeat = last;
          onBeat();
        }
        await writer.write(value);
        if (byob) buffer = value.buffer;
        total += value.byteLength;
        sinceYield += value.byteLength;
        if (sinceYield >= YIELD_BYTES) {
          sinceYield = 0;
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
      if (stalled) throw { stalled: true };
      await writer.close();
      return total;
    } catch (error) {
      writer.abort(error).catch(() => {});
      throw stalled ? { stalled: true } : error;
    } finally {
      clearInterval(watchdog);
    }
  })();
}
