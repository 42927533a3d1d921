-- The latest point of each (run, metric): highest step, then latest timestamp, then largest value
-- (MLflow's rule). Read from _duckml_latest, which ingest keeps current (migration 0002); duckml's own
-- connections also fold in points not yet ingested.
CREATE OR REPLACE VIEW latest_metrics AS
SELECT run_id, key, value, step, timestamp
FROM _duckml_latest;
