-- The tokens revision: one number that grows with every change to the
-- tokens (create, revoke, a change of roles or expiry), in the change's own
-- transaction, whatever statement makes it. A server caches the tokens it
-- authenticated and trusts an entry only while the revision it was read at
-- is still current, so a token revoked through one server is refused by
-- every server sharing the database on its very next request.
CREATE TABLE tokens_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO tokens_revision (id, revision) VALUES (1, 1);

CREATE TRIGGER tokens_revision_insert AFTER INSERT ON tokens BEGIN
    UPDATE tokens_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER tokens_revision_update AFTER UPDATE ON tokens BEGIN
    UPDATE tokens_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER tokens_revision_delete AFTER DELETE ON tokens BEGIN
    UPDATE tokens_revision SET revision = revision + 1 WHERE id = 1;
END;
