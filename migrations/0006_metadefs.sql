-- The metadata definitions catalog (Glance's metadefs): namespaces and what
-- they hold. Children name their namespace by its (renamable) name; the
-- repository renames and deletes children itself, so no foreign keys.
CREATE TABLE metadef_namespaces (
    namespace     TEXT PRIMARY KEY NOT NULL,
    display_name  TEXT,
    description   TEXT,
    visibility    TEXT NOT NULL DEFAULT 'private',
    protected     INTEGER NOT NULL DEFAULT 0,
    owner         TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- Objects and properties keep their definition as one JSON document (the
-- fields besides name), validated by the domain before it is written.
CREATE TABLE metadef_objects (
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    body        TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
);

CREATE TABLE metadef_properties (
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    body        TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
);

CREATE TABLE metadef_tags (
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
);

CREATE TABLE metadef_resource_types (
    name        TEXT PRIMARY KEY NOT NULL,
    protected   INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE metadef_associations (
    namespace          TEXT NOT NULL,
    resource_type      TEXT NOT NULL,
    prefix             TEXT,
    properties_target  TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (namespace, resource_type)
);

CREATE INDEX metadef_associations_by_type ON metadef_associations (resource_type);

-- The resource types of the OpenStack services Glance knows out of the box.
INSERT INTO metadef_resource_types (name, protected, created_at, updated_at) VALUES
    ('OS::Glance::Image', 1, '2014-09-01T00:00:00Z', '2014-09-01T00:00:00Z'),
    ('OS::Cinder::Volume', 1, '2014-09-01T00:00:00Z', '2014-09-01T00:00:00Z'),
    ('OS::Nova::Flavor', 1, '2014-09-01T00:00:00Z', '2014-09-01T00:00:00Z'),
    ('OS::Nova::Aggregate', 1, '2014-09-01T00:00:00Z', '2014-09-01T00:00:00Z'),
    ('OS::Nova::Server', 1, '2014-09-01T00:00:00Z', '2014-09-01T00:00:00Z');
