-- Image metadata: one row per image; tags and custom properties as JSON
-- (filtered with json_each). Deleted images stay as soft-deleted rows, as in
-- Glance, so a deleted id can never be reused.
CREATE TABLE images (
    id               TEXT PRIMARY KEY NOT NULL,
    name             TEXT,
    status           TEXT NOT NULL,
    visibility       TEXT NOT NULL,
    protected        INTEGER NOT NULL DEFAULT 0,
    os_hidden        INTEGER NOT NULL DEFAULT 0,
    checksum         TEXT,
    os_hash_algo     TEXT,
    os_hash_value    TEXT,
    size             INTEGER,
    virtual_size     INTEGER,
    min_disk         INTEGER NOT NULL DEFAULT 0,
    min_ram          INTEGER NOT NULL DEFAULT 0,
    disk_format      TEXT,
    container_format TEXT,
    owner            TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    deleted          INTEGER NOT NULL DEFAULT 0,
    deleted_at       TEXT,
    tags             TEXT NOT NULL DEFAULT '[]',
    properties       TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX images_by_created ON images (deleted, created_at, id);
CREATE INDEX images_by_name ON images (deleted, name);
CREATE INDEX images_by_owner ON images (owner);
CREATE INDEX images_by_status ON images (status);
