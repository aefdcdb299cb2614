-- Where an image's data lives: a JSON array of {"url", "metadata"} with
-- metadata.store naming the store (an R2 bucket, or "web" for an http
-- location). The image's `stores` are derived from it. Images that already
-- had data were all in the one bucket, now the store "primary".
ALTER TABLE images ADD COLUMN locations TEXT NOT NULL DEFAULT '[]';
UPDATE images
   SET locations = json_array(json_object('url', 'r2://primary/images/' || id,
                                          'metadata', json_object('store', 'primary')))
 WHERE size > 0 AND status IN ('active', 'deactivated', 'pending_delete');

-- Tasks (Glance's tasks API): imports and location hashing run as tasks on
-- the Queue consumer. Finished tasks expire (expires_at) and the cron
-- sweeps them.
CREATE TABLE tasks (
    id          TEXT PRIMARY KEY NOT NULL,
    type        TEXT NOT NULL,
    status      TEXT NOT NULL,
    owner       TEXT,
    image_id    TEXT,
    request_id  TEXT,
    user_id     TEXT,
    input       TEXT NOT NULL DEFAULT '{}',
    result      TEXT,
    message     TEXT NOT NULL DEFAULT '',
    expires_at  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX tasks_by_image ON tasks (image_id, created_at);
CREATE INDEX tasks_by_created ON tasks (deleted, created_at, id);
CREATE INDEX tasks_by_status ON tasks (status, updated_at);

-- Multipart uploads are now in one of several buckets: the journal names
-- the store whose bucket holds each (all earlier ones were in "primary").
ALTER TABLE multipart_uploads ADD COLUMN store TEXT NOT NULL DEFAULT 'primary';
