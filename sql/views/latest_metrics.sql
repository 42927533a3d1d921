-- The latest point of each (run, metric): highest step, then latest timestamp, then largest value
-- (MLflow's rule). Scans the columnar history; fast enough that nothing needs materializing (benchmarks/).
CREATE OR REPLACE VIEW latest_metrics AS
SELECT
    run_id,
    key,
    latest.value AS value,
    latest.step AS step,
    latest.timestamp AS timestamp
FROM (
    SELECT
        run_id,
        key,
        arg_max({'value': value, 'step': step, 'timestamp': timestamp}, (step, timestamp, value)) AS latest
    FROM metrics
    GROUP BY run_id, key
);
