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
//   POST /fetch/{key}?url=U  -> r = await fetch(U) (Content-Length required);
//                               await env.BUCKET.put(key, r.body); 204 once
//                               the put is done, with X-Size and X-Md5 (R2's
//                               own checksum)
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
//   POST /fetch-hashed/{key}?url=U -> the catalog's web-download: fetch U
//                               and store its body as PUT /hashed/ does
//                               (tee, FixedLengthStream, R2 put, SHA-512);
//                               204 with X-Size/X-Md5/X-Sha512 once stored.
//   GET  /v2/images/{id}     -> the catalog's one query for it, row as JSON
//   GET  /v2/images?limit=N  -> the catalog's list query (an admin caller's
//                               default view and sort), {"images": rows};
//                               both in a D1 session with X-D1-Bookmark, as
//                               the catalog reads
//   POST /rows               -> insert a JSON array of `images` rows; 204
//   PUT  /parts/{key}?mib=N  -> the body (Content-Length required) stored
//                               as one R2 multipart upload of N MiB parts,
//                               each through a FixedLengthStream into
//                               uploadPart, as the catalog's tus PATCHes
//                               store theirs; 204
//   GET  /digest/{key}       -> the object read back through MD5 and
//                               SHA-512 DigestStreams (in 1 MiB chunks),
//                               as a glance-direct import of a finished tus
//                               upload must read it; 200 with X-Size,
//                               X-Md5, X-Sha512

// The statements the catalog runs (src/store/images.rs get; ListQuery::to_sql
// for a noauth admin of project "admin" with no filters).
// The catalog reads in a D1 session (read replication's Sessions API)
// started after the client's X-D1-Bookmark, else at the nearest replica,
// and answers with the session's bookmark: the same-work rows do too.
function readSession(request, env) {
  return env.DB.withSession(request.headers.get("X-D1-Bookmark") ?? "first-unconstrained");
}

function withBookmark(response, session) {
  const bookmark = session.getBookmark();
  if (bookmark) {
    response.headers.set("X-D1-Bookmark", bookmark);
  }
  return response;
}

const GET_SQL = "SELECT * FROM images WHERE id = ? AND deleted = 0";
const LIST_SQL =
  "SELECT * FROM images WHERE deleted = 0 AND status != 'killed' AND os_hidden = 0 " +
  "AND (visibility != 'community' OR owner IS ?) ORDER BY created_at DESC, id DESC LIMIT ";
const LIST_OWNER = "admin";

const fixed = new Map();

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// Stores `body` (of `length` bytes) under `key` as the catalog does: tee it;
// one branch through a FixedLengthStream into env.BUCKET.put, the other into
// a SHA-512 DigestStream; md5 from the put's checksums. 204 with X-Md5,
// X-Sha512 (and X-Size).
async function hashedStore(body, length, env, key) {
  const stream = new FixedLengthStream(length);
  const [toStore, toHash] = body.tee();
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
    headers: { "x-md5": hex(md5), "x-sha512": hex(await sha.digest), "x-size": String(stored.value.size) },
  });
}

async function hashedPut(request, env, key) {
  const length = Number(request.headers.get("content-length"));
  if (!request.body || !Number.isSafeInteger(length)) {
    return new Response("Content-Length required\n", { status: 411 });
  }
  return hashedStore(request.body, length, env, key);
}

// GET `url` for the /fetch routes: [response, its Content-Length] or an
// error Response.
async function fetchSource(url) {
  if (!url) {
    return [new Response("url query parameter required\n", { status: 400 })];
  }
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    return [new Response(`fetch ${url} failed: ${e}\n`, { status: 502 })];
  }
  const length = Number(response.headers.get("content-length") ?? NaN);
  if (!response.ok || !response.body || !Number.isSafeInteger(length)) {
    return [new Response(`fetch ${url}: HTTP ${response.status}, Content-Length ` +
      `${response.headers.get("content-length")}\n`, { status: 502 })];
  }
  return [response, length];
}

// POST /fetch/{key}: the least a worker does to store what a URL serves.
// R2's put needs a body of known length: workerd gives a fetched body one
// from its Content-Length (fetchSource insists on that header, and the
// benchmark's file server sends no Content-Encoding), so no FixedLengthStream
// is needed; should the length ever be unknown, the put throws and the
// benchmark fails on the 400 rather than measuring something else.
async function fetchPut(url, env, key) {
  const [response] = await fetchSource(url);
  if (!response.ok) {
    return response;
  }
  let stored;
  try {
    stored = await env.BUCKET.put(key, response.body);
  } catch (e) {
    return new Response(`put failed: ${e}\n`, { status: 400 });
  }
  const md5 = stored?.checksums?.md5;
  return new Response(null, {
    status: 204,
    headers: { "x-size": String(stored.size), "x-md5": md5 ? hex(md5) : "" },
  });
}

async function fetchHashed(url, env, key) {
  const [response, length] = await fetchSource(url);
  if (!response.ok) {
    return response;
  }
  return hashedStore(response.body, length, env, key);
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

// Stores `body` (`length` bytes) under `key` as one multipart upload of
// `partSize`-byte parts (the last one shorter).
async function partsPut(request, env, key, partSize) {
  const length = Number(request.headers.get("content-length"));
  if (!(length > 0) || !(partSize >= 5 << 20)) {
    return new Response("Content-Length and ?mib=N (N >= 5) required\n", { status: 400 });
  }
  const upload = await env.BUCKET.createMultipartUpload(key);
  const reader = request.body.getReader();
  const parts = [];
  let pending = null;
  try {
    for (let offset = 0, number = 1; offset < length; offset += partSize, number++) {
      const size = Math.min(partSize, length - offset);
      const fixed = new FixedLengthStream(size);
      const storing = upload.uploadPart(number, fixed.readable);
      const writer = fixed.writable.getWriter();
      let left = size;
      while (left > 0) {
        let chunk = pending;
        pending = null;
        if (!chunk) {
          const { done, value } = await reader.read();
          if (done) throw new Error("the body ended early");
          chunk = value;
        }
        if (chunk.byteLength > left) {
          pending = chunk.subarray(left);
          chunk = chunk.subarray(0, left);
        }
        await writer.write(chunk);
        left -= chunk.byteLength;
      }
      await writer.close();
      parts.push(await storing);
    }
    await upload.complete(parts);
  } catch (error) {
    await upload.abort().catch(() => {});
    return new Response(`multipart upload failed: ${error}\n`, { status: 500 });
  }
  return new Response(null, { status: 204 });
}

// Reads `key` back through MD5 and SHA-512, handing the digests 1 MiB
// chunks (as the catalog's concatObjects does).
async function digestObject(env, key) {
  const object = await env.BUCKET.get(key);
  if (object === null) {
    return new Response("no such object\n", { status: 404 });
  }
  const digests = ["MD5", "SHA-512"].map((name) => new crypto.DigestStream(name));
  const writers = digests.map((digest) => digest.getWriter());
  const reader = object.body.getReader();
  const step = 1 << 20;
  let chunk = new Uint8Array(step);
  let filled = 0;
  let size = 0;
  const flush = async () => {
    const full = chunk.subarray(0, filled);
    await Promise.all(writers.map((writer) => writer.write(full)));
    size += filled;
    chunk = new Uint8Array(step);
    filled = 0;
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (let at = 0; at < value.byteLength; ) {
      const take = Math.min(value.byteLength - at, step - filled);
      chunk.set(value.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === step) await flush();
    }
  }
  if (filled > 0) await flush();
  await Promise.all(writers.map((writer) => writer.close()));
  const [md5, sha512] = await Promise.all(digests.map((digest) => digest.digest));
  return new Response(null, {
    headers: { "x-size": String(size), "x-md5": hex(md5), "x-sha512": hex(sha512) },
  });
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
    if (path.startsWith("/fetch/") && request.method === "POST") {
      return fetchPut(url.searchParams.get("url"), env, path.slice("/fetch/".length));
    }
    if (path.startsWith("/fetch-hashed/") && request.method === "POST") {
      return fetchHashed(url.searchParams.get("url"), env, path.slice("/fetch-hashed/".length));
    }
    if (path === "/v2/images" && request.method === "GET") {
      const limit = Math.min(Number.parseInt(url.searchParams.get("limit") ?? "25", 10), 1000);
      if (!(limit >= 0)) {
        return new Response("bad limit\n", { status: 400 });
      }
      const session = readSession(request, env);
      const { results } = await session.prepare(LIST_SQL + limit).bind(LIST_OWNER).all();
      return withBookmark(Response.json({ images: results }), session);
    }
    if (path.startsWith("/v2/images/") && request.method === "GET") {
      const id = path.slice("/v2/images/".length);
      const session = readSession(request, env);
      const { results } = await session.prepare(GET_SQL).bind(id).all();
      if (results.length === 0) {
        return new Response("no such image\n", { status: 404 });
      }
      return withBookmark(Response.json(results[0]), session);
    }
    if (path.startsWith("/parts/") && request.method === "PUT") {
      const mib = Number.parseInt(url.searchParams.get("mib") ?? "8", 10);
      return partsPut(request, env, path.slice("/parts/".length), mib << 20);
    }
    if (path.startsWith("/digest/") && request.method === "GET") {
      return digestObject(env, path.slice("/digest/".length));
    }
    if (path === "/rows" && request.method === "POST") {
      return insertRows(request, env);
    }
    return new Response("not found\n", { status: 404 });
  },
};
