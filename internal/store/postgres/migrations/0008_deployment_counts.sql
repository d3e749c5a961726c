-- How many deployments each pipeline has in each status, kept by a
-- trigger in the same transaction as every insert, status change and
-- delete of a deployment. CountDeployments (the total of a history page,
-- the runs ahead in a queue) sums a few of these rows instead of counting
-- every matching deployment: at 10,000 deployments the count was most of
-- the cost of a page.
CREATE TABLE deployment_counts (
    pipeline text   NOT NULL,
    status   text   NOT NULL,
    n        bigint NOT NULL,
    PRIMARY KEY (pipeline, status)
);

INSERT INTO deployment_counts (pipeline, status, n)
    SELECT pipeline, status, count(*) FROM deployments GROUP BY pipeline, status;

-- deployment_counts_move adds the new row's count and takes the old one's.
-- The counter rows are changed in one statement in (pipeline, status)
-- order, so two transactions moving deployments between the same two
-- statuses lock them in the same order and never deadlock.
CREATE FUNCTION deployment_counts_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deployment_counts AS c (pipeline, status, n)
        SELECT m.pipeline, m.status, sum(m.delta) FROM (
            SELECT NEW.pipeline, NEW.status, 1 WHERE TG_OP IN ('INSERT', 'UPDATE')
            UNION ALL
            SELECT OLD.pipeline, OLD.status, -1 WHERE TG_OP IN ('UPDATE', 'DELETE')
        ) AS m (pipeline, status, delta)
        GROUP BY m.pipeline, m.status
        ORDER BY m.pipeline, m.status
        ON CONFLICT (pipeline, status) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER deployment_counts_insert AFTER INSERT ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployment_counts_move();
CREATE TRIGGER deployment_counts_update AFTER UPDATE OF pipeline, status ON deployments
    FOR EACH ROW WHEN (OLD.pipeline IS DISTINCT FROM NEW.pipeline OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION deployment_counts_move();
CREATE TRIGGER deployment_counts_delete AFTER DELETE ON deployments
    FOR EACH ROW EXECUTE FUNCTION deployment_counts_move();
