-- Lineage of PREDICT jobs (duckml.predict / duckml predict): which model version scored which source,
-- when, how many rows, into which output. One row per job that wrote an output; an in-memory result
-- returned to Python is not recorded. model_name/model_version are NULL for runs:/ URIs and model folders.
CREATE TABLE predictions (
    prediction_id  VARCHAR PRIMARY KEY,
    model_name     VARCHAR,
    model_version  INTEGER,
    model_uri      VARCHAR NOT NULL,
    run_id         VARCHAR,
    source         VARCHAR NOT NULL,   -- a path or glob, or a JSON list of them; local paths made absolute
    output         VARCHAR NOT NULL,   -- the Parquet file's absolute path, or the table's name
    output_kind    VARCHAR NOT NULL,   -- 'parquet' or 'table'
    row_count      BIGINT NOT NULL,
    started_at     TIMESTAMP NOT NULL,
    finished_at    TIMESTAMP NOT NULL
);
