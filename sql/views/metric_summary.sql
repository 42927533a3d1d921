-- Per (run, metric): min, max, last (latest by step, as latest_metrics) and number of points.
-- NaN sorts above every number in DuckDB, so a history holding NaN has max = NaN.
CREATE OR REPLACE VIEW metric_summary AS
SELECT
    run_id,
    key,
    min(value) AS min,
    max(value) AS max,
    arg_max(value, (step, timestamp, value)) AS last,
    count(*) AS count
FROM metrics
GROUP BY run_id, key;
