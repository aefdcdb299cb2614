// Which hop turns a client's cut-off chunked upload into a cleanly ended body?
// One workerd (Miniflare), a probe worker that reads the body (its image goes
// `active` on a clean end, back to `queued` on a body error; same API shape
// as the catalog, so cut_upload.py drives it) and forwarders in front of it:
//
//   node tests/cutoff/hops.mjs [BASE_PORT]      (then, for each port printed)
//   python3 tests/cutoff/cut_upload.py http://127.0.0.1:PORT
//
// Result with workerd 1.20260426.1: only fwd_http (what wrangler dev's
// ProxyWorker does: fetch(url, new Request(request)) over HTTP) lets cut
// uploads through as complete; direct, service-binding and Durable Object
// hops pass the error on.
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { Miniflare } = createRequire(require.resolve("wrangler/package.json"))("miniflare");

const P = Number(process.argv[2] ?? 19000);
const probe = `const images = new Map();
export default {
  async fetch(request) {
    const m = new URL(request.url).pathname.match(/^\\/v2\\/images(?:\\/([^/]+))?(\\/file)?$/);
    if (!m) return new Response("not found", { status: 404 });
    if (request.method === "POST" && !m[1]) {
      const id = crypto.randomUUID();
      images.set(id, { id, status: "queued", size: null, checksum: null });
      return Response.json(images.get(id), { status: 201 });
    }
    const img = images.get(m[1]);
    if (!img) return new Response("no such image", { status: 404 });
    if (request.method === "GET" && !m[2]) return Response.json(img);
    if (request.method !== "PUT" || !m[2]) return new Response("not found", { status: 404 });
    img.status = "saving";
    const digest = new crypto.DigestStream("MD5");
    const writer = digest.getWriter();
    let size = 0;
    try {
      const reader = request.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        await writer.write(value);
      }
      await writer.close();
      const md5 = [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
      Object.assign(img, { status: "active", size, checksum: md5 });
      return new Response(null, { status: 204 });
    } catch (e) {
      Object.assign(img, { status: "queued" });
      console.log("probe " + img.id + ": body error after " + size + " bytes: " + e);
      throw e;
    }
  },
};`;
const date = "2026-04-01";
const mf = new Miniflare({
  host: "127.0.0.1", port: P, cf: false,
  workers: [
    { name: "probe", modules: true, script: probe, compatibilityDate: date,
      unsafeDirectSockets: [{ host: "127.0.0.1", port: P + 1 }] },
    { name: "fwd_http", modules: true, compatibilityDate: date,
      script: `export default { fetch(req) { const u = new URL(req.url); u.port = "${P + 1}"; return fetch(u, new Request(req)); } }`,
      unsafeDirectSockets: [{ host: "127.0.0.1", port: P + 2 }] },
    { name: "fwd_svc", modules: true, compatibilityDate: date, serviceBindings: { PROBE: "probe" },
      script: `export default { fetch(req, env) { return env.PROBE.fetch(req); } }`,
      unsafeDirectSockets: [{ host: "127.0.0.1", port: P + 3 }] },
    { name: "fwd_do", modules: true, compatibilityDate: date, serviceBindings: { PROBE: "probe" },
      durableObjects: { DO: "D" },
      script: `import { DurableObject } from "cloudflare:workers";
        export class D extends DurableObject { fetch(req) { return this.env.PROBE.fetch(req); } }
        export default { fetch(req, env) { return env.DO.get(env.DO.idFromName("")).fetch(req); } }`,
      unsafeDirectSockets: [{ host: "127.0.0.1", port: P + 4 }] },
  ],
});
await mf.ready;
console.log(`entry→probe ${P}, probe direct ${P + 1}, fwd_http ${P + 2}, fwd_svc ${P + 3}, fwd_do ${P + 4}`);
