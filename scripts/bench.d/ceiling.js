// The "ceiling" for scripts/bench: the least a Worker can do for each
// measured request, on the same runtime (wrangler dev / workerd) as the
// catalog. Bytes go straight between the request/response and R2; JSON
// answers are fixed bodies held in memory.
//
//   GET  /healthcheck        -> 200 "OK"
//   PUT  /blob/{key}         -> await env.BUCKET.put(key, request.body); 204
//   GET  /blob/{key}         -> new Response((await env.BUCKET.get(key)).body)
//   PUT  /fixed/{name}       -> remember the body (and its Content-Type); 204
//   GET  /fixed/{name}       -> that body, 200
//
// The fixed bodies live in this isolate's memory: if the isolate were
// recycled they would be gone and GET /fixed/... would answer 404, which the
// benchmark counts as an error (it never silently measures a 404).

const fixed = new Map();

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path === "/healthcheck") {
      return new Response("OK");
    }
    if (path.startsWith("/blob/")) {
      const key = path.slice("/blob/".length);
      if (request.method === "PUT") {
        await env.BUCKET.put(key, request.body);
        return new Response(null, { status: 204 });
      }
      if (request.method === "GET") {
        const object = await env.BUCKET.get(key);
        if (object === null) {
          return new Response("no such object\n", { status: 404 });
        }
        return new Response(object.body);
      }
    }
    if (path.startsWith("/fixed/")) {
      const name = path.slice("/fixed/".length);
      if (request.method === "PUT") {
        fixed.set(name, {
          body: await request.arrayBuffer(),
          type: request.headers.get("content-type") || "application/json",
        });
        return new Response(null, { status: 204 });
      }
      if (request.method === "GET") {
        const entry = fixed.get(name);
        if (entry === undefined) {
          return new Response("no such fixed body\n", { status: 404 });
        }
        return new Response(entry.body, { headers: { "content-type": entry.type } });
      }
    }
    return new Response("not found\n", { status: 404 });
  },
};
