-- How many deployments each pipeline has in each status, kept by triggers
-- in the same transaction as every insert, status change and delete of a
-- deployment. CountDeployments (the total of a history page, the runs
-- ahead in a queue) sums a few of these rows instead of counting every
-- matching deployment: at 10,000 deployments the count was most of the
-- cost of a page.
CREATE TABLE deployment_counts (
    pipeline TEXT    NOT NULL,
    status   TEXT    NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (pipeline, status)
) WITHOUT ROWID;

INSERT INTO deployment_counts (pipeline, status, n)
    SELECT pipeline, status, count(*) FROM deployments GROUP BY pipeline, status;

CREATE TRIGGER deployment_counts_insert AFTER INSERT ON deployments BEGIN
    INSERT INTO deployment_counts (pipeline, status, n) VALUES (NEW.pipeline, NEW.status, 1)
        ON CONFLICT (pipeline, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER deployment_counts_update AFTER UPDATE OF pipeline, status ON deployments
    WHEN OLD.pipeline IS NOT NEW.pipeline OR OLD.status IS NOT NEW.status
BEGIN
    UPDATE deployment_counts SET n = n - 1 WHERE pipeline = OLD.pipeline AND status = OLD.status;
    INSERT INTO deployment_counts (pipeline, status, n) VALUES (NEW.pipeline, NEW.status, 1)
        ON CONFLICT (pipeline, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER deployment_counts_delete AFTER DELETE ON deployments BEGIN
    UPDATE deployment_counts SET n = n - 1 WHERE pipeline = OLD.pipeline AND status = OLD.status;
END;
