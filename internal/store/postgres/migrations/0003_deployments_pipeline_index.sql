-- A pipeline's history, newest first (ListDeployments with a pipeline:
-- GET /api/v1/deployments?pipeline=P): an index range scan in id order
-- instead of reading and sorting all of the pipeline's rows for each page.
CREATE INDEX deployments_pipeline_id ON deployments (pipeline, id);
