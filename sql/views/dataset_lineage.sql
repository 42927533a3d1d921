-- Which runs used which datasets: one row per (run, dataset, context), active runs of active experiments
-- only, like runs_overview. "Which runs trained on X": WHERE dataset_name = 'X' AND context = 'training';
-- "which datasets did this run use": WHERE run_id = '…'. digest identifies the data itself (see
-- duckml/datasets.py for how it is computed), dataset_id the (name, digest, source) triple.
CREATE OR REPLACE VIEW dataset_lineage AS
SELECT
    ri.run_id,
    r.run_name,
    r.experiment_id,
    e.name AS experiment_name,
    r.status,
    r.start_time,
    r.end_time,
    ri.context,
    d.dataset_id,
    d.name AS dataset_name,
    d.digest,
    d.source,
    d.source_type,
    d.row_count,
    d.schema,
    ri.created_at AS logged_at
FROM run_inputs ri
JOIN datasets d ON d.dataset_id = ri.dataset_id
JOIN runs r ON r.run_id = ri.run_id
JOIN experiments e ON e.experiment_id = r.experiment_id
WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active';
