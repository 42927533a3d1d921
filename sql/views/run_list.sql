-- Fabric's "Run list" for the plain duckdb client: one row per active run, newest first, with its
-- experiment, status, duration in seconds, and params / latest metrics / tags as MAP columns (params['model'],
-- metrics['rmse']). A stored view cannot pivot keys into columns (DuckDB binds PIVOT columns when the
-- view is created), so the wide form is a query-time PIVOT; duckml.search.wide_runs_sql() writes it:
--   WITH m AS (SELECT run_id, 'metrics.' || unnest(map_keys(metrics)) AS name,
--                     unnest(map_values(metrics)) AS value FROM run_list)
--   SELECT * FROM run_list JOIN (PIVOT m ON name USING first(value) GROUP BY run_id) USING (run_id);
CREATE OR REPLACE VIEW run_list AS
SELECT
    run_id,
    experiment_name,
    run_name,
    status,
    start_time,
    end_time,
    date_diff('millisecond', start_time, end_time) / 1000.0 AS duration_seconds,
    parent_run_id,
    params,
    metrics,
    tags,
    experiment_id
FROM runs_overview
ORDER BY start_time DESC, run_id;
