-- Each (run, metric)'s min, max and number of points, maintained at ingest beside _duckml_latest
-- (duckml/store/ingest.py), so that a run list's min and max columns read one row per metric instead of
-- aggregating every history: with a 1M-point run on the page, that scan cost 0.2-0.44 s per page.
-- min and max are DuckDB's (NaN sorts above every number), the same as min(value)/max(value) over metrics.
CREATE TABLE _duckml_metric_summary (
    run_id  VARCHAR NOT NULL,
    key     VARCHAR NOT NULL,
    min     DOUBLE,
    max     DOUBLE,
    count   BIGINT NOT NULL
);

INSERT INTO _duckml_metric_summary
SELECT run_id, key, min(value), max(value), count(*) FROM metrics GROUP BY run_id, key;
