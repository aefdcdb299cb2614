-- Resumable uploads (tus, POST /v2/images/{id}/uploads). Each is an R2
-- multipart upload whose object is `uploads/{id}`: `parts` (JSON, R2's
-- part numbers and etags) are the whole parts stored, followed by a tail
-- shorter than a part in its own object (`tail_key`, `tail_size` bytes).
-- `upload_offset` is what is durably stored. A PATCH holds `lease` (a
-- random token, until `lease_until`, Unix seconds, renewed while bytes
-- arrive) so two PATCHes never write the same part. `concat` is `whole`,
-- `partial`, or `final` with `concat_parts` (JSON list of upload ids).
-- Uploads expire at `expires_at` (Unix seconds); the cron aborts their
-- multipart uploads, removes their objects and then the row.
CREATE TABLE resumable_uploads (
    id            TEXT PRIMARY KEY NOT NULL,
    image_id      TEXT NOT NULL,
    length        INTEGER NOT NULL,
    upload_offset INTEGER NOT NULL DEFAULT 0,
    part_size     INTEGER NOT NULL,
    concat        TEXT NOT NULL CHECK (concat IN ('whole', 'partial', 'final')),
    concat_parts  TEXT,
    metadata      TEXT,
    store         TEXT NOT NULL,
    multipart_id  TEXT,
    parts         TEXT NOT NULL DEFAULT '[]',
    tail_key      TEXT,
    tail_size     INTEGER NOT NULL DEFAULT 0,
    state         TEXT NOT NULL CHECK (state IN ('receiving', 'complete', 'staged')),
    lease         TEXT,
    lease_until   INTEGER,
    expires_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE INDEX resumable_uploads_by_expiry ON resumable_uploads (expires_at);
CREATE INDEX resumable_uploads_by_image ON resumable_uploads (image_id);
