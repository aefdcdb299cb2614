-- The image cache is per data centre (issue 21): the Cache API holds a copy
-- in the data centre that filled it and nowhere else, so each data centre
-- lists, queues, removes and clears its own entries (Glance's cache is per
-- API node, and its clients expect that). `data_centre` is the name the
-- catalog gives the data centre serving the request (request.cf.colo, or
-- DATA_CENTRE). Rows recorded before this migration did not say where they
-- were filled: they keep the name '' (listed by no data centre, still purged
-- with their image).
CREATE TABLE image_cache_v2 (
    data_centre   TEXT NOT NULL,
    image_id      TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('queued', 'cached')),
    cache_key     TEXT NOT NULL,
    size          INTEGER NOT NULL DEFAULT 0,
    hits          INTEGER NOT NULL DEFAULT 0,
    last_accessed INTEGER NOT NULL,
    last_modified INTEGER NOT NULL,
    PRIMARY KEY (data_centre, image_id)
);

INSERT INTO image_cache_v2 (data_centre, image_id, state, cache_key, size, hits, last_accessed, last_modified)
    SELECT '', image_id, state, cache_key, size, hits, last_accessed, last_modified FROM image_cache;

DROP TABLE image_cache;
ALTER TABLE image_cache_v2 RENAME TO image_cache;

CREATE INDEX image_cache_by_state ON image_cache (state, last_modified);
CREATE INDEX image_cache_by_image ON image_cache (image_id);
