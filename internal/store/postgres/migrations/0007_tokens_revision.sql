-- The tokens revision: one number that grows with every change to the
-- tokens (create, revoke, a change of roles or expiry), in the change's own
-- transaction, whatever statement makes it. A server caches the tokens it
-- authenticated and trusts an entry only while the revision it was read at
-- is still current, so a token revoked through one replica is refused by
-- every replica on its very next request.
CREATE TABLE tokens_revision (
    id       integer PRIMARY KEY CHECK (id = 1),
    revision bigint  NOT NULL
);
INSERT INTO tokens_revision (id, revision) VALUES (1, 1);

CREATE FUNCTION tokens_revision_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tokens_revision SET revision = revision + 1 WHERE id = 1;
    RETURN NULL;
END $$;
-- For each row, so that a statement that changes nothing (a revoke of an
-- unknown name) leaves the caches be; TRUNCATE has no rows to fire for.
CREATE TRIGGER tokens_revision_bump AFTER INSERT OR UPDATE OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION tokens_revision_bump();
CREATE TRIGGER tokens_revision_truncate AFTER TRUNCATE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION tokens_revision_bump();
