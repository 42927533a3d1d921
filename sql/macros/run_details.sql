-- run_details(run_id): Fabric's "Run details", everything about one run (deleted ones too) as rows of
-- section, key, value, detail, for the plain duckdb client:  FROM run_details('<run id>');
-- Sections in order: attribute, param, metric (value = latest; detail = step, min, max, points),
-- tag, dataset (value = digest; detail = context, rows, source), artifact (value = size in bytes),
-- child (nested runs: key = run_id, value = run_name, detail = status).
-- The argument is not called run_id: DuckDB would substitute it for run_id columns inside the views used.
CREATE OR REPLACE MACRO run_details(target_run_id) AS TABLE
WITH r AS (
    SELECT x.run_id, x.run_name, x.experiment_id, e.name AS experiment_name, x.status, x.start_time,
           x.end_time, x.parent_run_id, x.lifecycle_stage
    FROM runs AS x
    JOIN experiments AS e ON e.experiment_id = x.experiment_id
    WHERE x.run_id = target_run_id
),
rows AS (
    SELECT 1 AS section_order, 'attribute' AS section, a.key, a.value, NULL AS detail, a.position
    FROM r, (
        SELECT unnest([
            {'key': 'run_id', 'value': r.run_id, 'position': 1},
            {'key': 'run_name', 'value': r.run_name, 'position': 2},
            {'key': 'experiment_id', 'value': r.experiment_id, 'position': 3},
            {'key': 'experiment_name', 'value': r.experiment_name, 'position': 4},
            {'key': 'status', 'value': r.status, 'position': 5},
            {'key': 'start_time', 'value': CAST(r.start_time AS VARCHAR), 'position': 6},
            {'key': 'end_time', 'value': CAST(r.end_time AS VARCHAR), 'position': 7},
            {'key': 'duration', 'value': CAST(r.end_time - r.start_time AS VARCHAR), 'position': 8},
            {'key': 'parent_run_id', 'value': r.parent_run_id, 'position': 9},
            {'key': 'lifecycle_stage', 'value': r.lifecycle_stage, 'position': 10}
        ], recursive := true)
    ) AS a
    UNION ALL
    SELECT 2, 'param', p.key, p.value, NULL, 0
    FROM params AS p JOIN r ON p.run_id = r.run_id
    UNION ALL
    SELECT 3, 'metric', s.key, CAST(l.value AS VARCHAR),
           'step ' || l.step || ', min ' || s.min || ', max ' || s.max || ', ' || s.count || CASE WHEN s.count = 1 THEN ' point' ELSE ' points' END, 0
    -- the run's own points only: the metric_summary view would aggregate every run's history first
    FROM (SELECT run_id, key, min(value) AS min, max(value) AS max, count(*) AS count
          FROM metrics WHERE run_id = target_run_id GROUP BY run_id, key) AS s
    JOIN r ON s.run_id = r.run_id
    JOIN latest_metrics AS l ON l.run_id = s.run_id AND l.key = s.key
    UNION ALL
    SELECT 4, 'tag', t.key, t.value, NULL, 0
    FROM tags AS t JOIN r ON t.run_id = r.run_id
    UNION ALL
    SELECT 5, 'dataset', d.name, d.digest,
           'context ' || i.context || coalesce(', ' || d.row_count || ' rows', '') || ', source ' || d.source, 0
    FROM run_inputs AS i JOIN r ON i.run_id = r.run_id JOIN datasets AS d ON d.dataset_id = i.dataset_id
    UNION ALL
    SELECT 6, 'artifact', f.path, CAST(f.size AS VARCHAR), f.media_type, 0
    FROM artifacts AS f JOIN r ON f.run_id = r.run_id
    UNION ALL
    SELECT 7, 'child', c.run_id, c.run_name, c.status, 0
    FROM runs AS c JOIN r ON c.parent_run_id = r.run_id
)
SELECT section, key, value, detail
FROM rows
ORDER BY section_order, position, key;
