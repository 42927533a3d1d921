-- Models compiled to SQL table macros (duckml.compile_model / duckml models compile). One row per stored
-- macro. A macro made from an alias (model_alias not NULL) follows it: moving the alias recompiles the
-- macro for the new version in the same transaction. engine is what predict() uses by itself for this
-- version: 'sql' (the compiled expression) or 'udf' (the Python UDF, faster for large tree ensembles).
CREATE TABLE compiled_models (
    macro_name      VARCHAR PRIMARY KEY,
    model_name      VARCHAR,            -- NULL for a runs:/ URI
    model_version   INTEGER,
    model_alias     VARCHAR,
    source_uri      VARCHAR NOT NULL,   -- runs:/<run_id>/<path> of the compiled model files
    engine          VARCHAR NOT NULL,
    node_count      INTEGER NOT NULL,
    prediction_type VARCHAR NOT NULL,
    prediction_sql  VARCHAR NOT NULL,   -- the prediction expression over the source's columns
    sql_sha256      VARCHAR NOT NULL,   -- of the CREATE MACRO statement
    created_at      TIMESTAMP NOT NULL
);
-- Which engine scored each PREDICT job: 'sql' (compiled) or 'udf' (Python). NULL for jobs before this.
ALTER TABLE predictions ADD COLUMN engine VARCHAR;
