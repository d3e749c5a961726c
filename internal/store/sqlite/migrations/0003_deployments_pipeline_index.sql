-- A pipeline's history, newest first (ListDeployments with a pipeline:
-- GET /api/v1/deployments?pipeline=P). Without this index SQLite finds the
-- pipeline's rows through UNIQUE (pipeline, number) and sorts every one of
-- them, plans included, by id for each page: 80 ms a page at 10,000
-- deployments, under 1 ms with it (hack/bench, BENCHMARKS.md).
CREATE INDEX deployments_pipeline_id ON deployments (pipeline, id);
