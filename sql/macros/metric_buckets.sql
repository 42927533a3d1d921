-- metric_buckets(run_ids, metric_keys, buckets, step_from, step_to): metric histories downsampled for
-- charts, at most `buckets` rows per (run, key), each bucket carrying its last point (step, timestamp,
-- value: the latest by step then timestamp) and the TRUE min and max of every point in it, so a spike
-- among a million points survives. A series with at most `buckets` points in the range comes back
-- whole, one bucket per distinct step (points logged at the same step share it). Buckets split the series' step range [first, last] into equal widths,
-- so zooming (step_from / step_to, inclusive, NULL for open) refetches the finer range. metric_keys
-- NULL means every key. NaN is left out of min and max (it would sort above every number); a bucket of
-- NaN only has NULL min and max and value NaN. `bucket` orders the rows of a series (no other meaning).
--   FROM metric_buckets(['<run id>'], ['loss'], 500, NULL, NULL);
-- Arguments are not named run_id/key/step: DuckDB would substitute them for those columns.
CREATE OR REPLACE MACRO metric_buckets(run_ids, metric_keys, buckets, step_from, step_to) AS TABLE
WITH points AS (
    SELECT run_id, key, step, timestamp, value
    FROM metrics
    WHERE list_contains(run_ids, run_id)
      AND (metric_keys IS NULL OR list_contains(metric_keys, key))
      AND (step_from IS NULL OR step >= step_from)
      AND (step_to IS NULL OR step <= step_to)
),
bounds AS (
    SELECT run_id, key, min(step) AS first_step, max(step) AS last_step, count(*) AS n
    FROM points
    GROUP BY run_id, key
),
placed AS (
    SELECT p.run_id, p.key, p.step, p.timestamp, p.value,
           CASE WHEN b.n <= buckets THEN p.step  -- every step its own bucket
                -- DOUBLE: (step - first) * buckets may not fit in a BIGINT, and HUGEINT costs 8x more
                ELSE least(buckets - 1, floor((p.step::DOUBLE - b.first_step::DOUBLE) * buckets
                                              / (b.last_step::DOUBLE - b.first_step::DOUBLE + 1)))::BIGINT
           END AS bucket
    FROM points AS p
    JOIN bounds AS b ON b.run_id = p.run_id AND b.key = p.key
)
SELECT
    run_id,
    key,
    bucket,
    max(step) AS step,
    arg_max(timestamp, (step, timestamp)) AS timestamp,
    arg_max(value, (step, timestamp)) AS value,
    min(value) FILTER (WHERE NOT isnan(value)) AS min,
    max(value) FILTER (WHERE NOT isnan(value)) AS max,
    count(*) AS count
FROM placed
GROUP BY run_id, key, bucket
ORDER BY run_id, key, bucket;
