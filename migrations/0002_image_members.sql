-- Image members: projects an image's owner shares a `shared` image with.
CREATE TABLE image_members (
    image_id   TEXT NOT NULL,
    member     TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (image_id, member)
);

CREATE INDEX image_members_by_member ON image_members (member, status);
