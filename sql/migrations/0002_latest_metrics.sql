-- The latest point of each (run, metric), maintained at ingest (duckml/ingest.py), so that metric filters,
-- run lists and the runs_overview MAPs read one row per metric instead of aggregating every history.
-- Search over 2,000 runs x 5 metrics x 20 steps: latest_metrics as an aggregate view took ~19 ms per use.
CREATE TABLE _duckml_latest (
    run_id     VARCHAR NOT NULL,
    key        VARCHAR NOT NULL,
    value      DOUBLE,
    step       BIGINT NOT NULL,
    timestamp  TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, key)
);

INSERT INTO _duckml_latest
SELECT run_id, key, value, step, timestamp
FROM metrics
QUALIFY row_number() OVER (PARTITION BY run_id, key ORDER BY step DESC, timestamp DESC, value DESC) = 1;
