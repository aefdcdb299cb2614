-- A revision per image row: every write is a compare-and-set on it
-- (`... WHERE version = ?`, then `version = version + 1`), so two writers
-- that read the same record cannot both succeed and one silently lose.
ALTER TABLE images ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
