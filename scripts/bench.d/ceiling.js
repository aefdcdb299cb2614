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
//
// "Same work" routes (informative rows of the benchmark): what the catalog
// itself does for a request, written in plain JavaScript, so the difference
// is what the Rust/wasm layer costs. The D1 database (bound as DB) has the
// catalog's schema (migrations/) and a copy of the catalog's rows.
//
//   PUT  /hashed/{key}       -> the catalog's known-length upload
//                               (src/store/blobs.rs put_known_length): tee
//                               the body; one branch through a
//                               FixedLengthStream into env.BUCKET.put, the
//                               other into a SHA-512 DigestStream; md5 from
//                               the put's checksums. 204 with X-Md5/X-Sha512.
//   GET  /v2/images/{id}     -> the catalog's one query for it, row as JSON
//   GET  /v2/images?limit=N  -> the catalog's list query (an admin caller's
//                               default view and sort), {"images": rows}
//   POST /rows               -> insert a JSON array of `images` rows; 204

// The statements the catalog runs (src/store/images.rs get; ListQuery::to_sql
// for a noauth admin of project "admin" with no filters).
const GET_SQL = "SELECT * FROM images WHERE id = ? AND deleted = 0";
const LIST_SQL =
  "SELECT * FROM images WHERE deleted = 0 AND status != 'killed' AND os_hidden = 0 " +
  "AND (visibility != 'community' OR owner IS ?) ORDER BY created_at DESC, id DESC LIMIT ";
const LIST_OWNER = "admin";

const fixed = new Map();

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function hashedPut(request, env, key) {
  const length = Number(request.headers.get("content-length"));
  if (!request.body || !Number.isSafeInteger(length)) {
    return new Response("Content-Length required\n", { status: 411 });
  }
  const stream = new FixedLengthStream(length);
  const [toStore, toHash] = request.body.tee();
  const sha = new crypto.DigestStream("SHA-512");
  const piped = toStore.pipeTo(stream.writable);
  const hashed = toHash.pipeTo(sha);
  const put = env.BUCKET.put(key, stream.readable);
  const [p, h, stored] = await Promise.allSettled([piped, hashed, put]);
  const failed = [p, h, stored].find((r) => r.status === "rejected");
  if (failed) {
    return new Response(`upload failed: ${failed.reason}\n`, { status: 400 });
  }
  const md5 = stored.value?.checksums?.md5;
  if (!md5) {
    return new Response("R2 reported no md5\n", { status: 500 });
  }
  return new Response(null, {
    status: 204,
    headers: { "x-md5": hex(md5), "x-sha512": hex(await sha.digest) },
  });
}

async function insertRows(request, env) {
  const rows = await request.json();
  if (!Array.isArray(rows) || rows.length === 0) {
    return new Response("expected a non-empty JSON array of rows\n", { status: 400 });
  }
  const columns = Object.keys(rows[0]);
  if (!columns.every((c) => /^[a-z_]+$/.test(c))) {
    return new Response("bad column name\n", { status: 400 });
  }
  const insert = env.DB.prepare(
    `INSERT INTO images (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
  );
  await env.DB.batch(rows.map((row) => insert.bind(...columns.map((c) => row[c] ?? null))));
  return new Response(null, { status: 204 });
}

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
    if (path.startsWith("/hashed/") && request.method === "PUT") {
      return hashedPut(request, env, path.slice("/hashed/".length));
    }
    if (path === "/v2/images" && request.method === "GET") {
      const limit = Math.min(Number.parseInt(url.searchParams.get("limit") ?? "25", 10), 1000);
      if (!(limit >= 0)) {
        return new Response("bad limit\n", { status: 400 });
      }
      const { results } = await env.DB.prepare(LIST_SQL + limit).bind(LIST_OWNER).all();
      return Response.json({ images: results });
    }
    if (path.startsWith("/v2/images/") && request.method === "GET") {
      const id = path.slice("/v2/images/".length);
      const { results } = await env.DB.prepare(GET_SQL).bind(id).all();
      if (results.length === 0) {
        return new Response("no such image\n", { status: 404 });
      }
      return Response.json(results[0]);
    }
    if (path === "/rows" && request.method === "POST") {
      return insertRows(request, env);
    }
    return new Response("not found\n", { status: 404 });
  },
};
