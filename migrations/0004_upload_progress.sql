-- Upload progress, so the cron upkeep can tell a live upload (however slow
-- or large) from one whose worker died: `progress_at` (Unix seconds) is
-- renewed while bytes arrive. It is not part of the row's revision.
ALTER TABLE images ADD COLUMN progress_at INTEGER;

-- R2 multipart uploads in flight. R2's binding cannot list unfinished
-- multipart uploads, so each is recorded here when it begins and removed
-- when it completes or is aborted; the cron upkeep aborts those that made
-- no progress for longer than any live upload would be allowed to stall.
CREATE TABLE multipart_uploads (
    upload_id   TEXT PRIMARY KEY NOT NULL,
    object_key  TEXT NOT NULL,
    progress_at INTEGER NOT NULL
);
