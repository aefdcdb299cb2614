// The one piece of the byte path written in JavaScript: a pipe that notices
// silence. `pipeTo` is native but cannot tell how long its source has been
// quiet, and reading chunk by chunk from wasm costs a round trip per chunk
// (measured: a fifth of the upload rate). This loop runs in the runtime's
// own JavaScript, so a chunk costs a clock read.
//
// Pipes `readable` into `writable`. Resolves when the readable ends (the
// writable closed); rejects with `{stalled: true}` when no chunk arrives for
// `idleMs` (the readable is cancelled and the writable aborted), and with the
// error otherwise. `onBeat()` is called at most every `beatMs` while chunks
// arrive.
export function watchedPipe(readable, writable, idleMs, beatMs, onBeat) {
  const reader = readable.getReader();
  const writer = writable.getWriter();
  let last = Date.now();
  let lastBeat = last;
  let stalled = false;
  const every = Math.min(Math.max(idleMs / 4, 250), 5000);
  const watchdog = setInterval(() => {
    if (Date.now() - last >= idleMs) {
      stalled = true;
      reader.cancel().catch(() => {});
    }
  }, every);
  return (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || stalled) break;
        last = Date.now();
        if (last - lastBeat >= beatMs) {
          lastBeat = last;
          onBeat();
        }
        await writer.write(value);
      }
      if (stalled) throw { stalled: true };
      await writer.close();
    } catch (error) {
      writer.abort(error).catch(() => {});
      throw stalled ? { stalled: true } : error;
    } finally {
      clearInterval(watchdog);
    }
  })();
}
