-- compare_runs(run_ids): the params and latest metrics of the given runs side by side, one row per
-- (key, run): kind ('param' or 'metric'), key, run_id, run_name, value (VARCHAR; metrics cast from DOUBLE).
-- Every key that any of the runs has appears for every run, with value NULL where a run lacks it, so a
-- query-time PIVOT gives the comparison table (ON run_id, since run names need not be unique):
--   PIVOT (FROM compare_runs(['<id1>', '<id2>'])) ON run_id USING first(value) GROUP BY kind, key;
-- Params first, then metrics, keys in order, runs in the order given.
CREATE OR REPLACE MACRO compare_runs(run_ids) AS TABLE
WITH chosen AS (
    SELECT run_id, run_name, list_position(run_ids, run_id) AS position
    FROM runs
    WHERE list_contains(run_ids, run_id)
),
cells AS (
    SELECT 'param' AS kind, key, run_id, value
    FROM params
    WHERE run_id IN (SELECT run_id FROM chosen)
    UNION ALL
    SELECT 'metric' AS kind, key, run_id, CAST(value AS VARCHAR) AS value
    FROM latest_metrics
    WHERE run_id IN (SELECT run_id FROM chosen)
),
keys AS (
    SELECT DISTINCT kind, key FROM cells
)
SELECT k.kind, k.key, c.run_id, c.run_name, x.value
FROM keys AS k
CROSS JOIN chosen AS c
LEFT JOIN cells AS x ON x.kind = k.kind AND x.key = k.key AND x.run_id = c.run_id
ORDER BY k.kind DESC, k.key, c.position;
