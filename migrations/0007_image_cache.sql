-- The image cache API (/v2/cache, API v2.14): what this catalog put into
-- the edge cache (`caches.default`) and what waits on the queue to be put
-- there. One row per image: `queued` until the Queue consumer (or a
-- download) fills the edge cache, then `cached`. `cache_key` is the edge
-- cache key the bytes were (or will be) stored under, so a purge deletes
-- exactly that key. Times are Unix seconds, as Glance's cache reports them.
CREATE TABLE image_cache (
    image_id      TEXT PRIMARY KEY NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('queued', 'cached')),
    cache_key     TEXT NOT NULL,
    size          INTEGER NOT NULL DEFAULT 0,
    hits          INTEGER NOT NULL DEFAULT 0,
    last_accessed INTEGER NOT NULL,
    last_modified INTEGER NOT NULL
);

CREATE INDEX image_cache_by_state ON image_cache (state, last_modified);
