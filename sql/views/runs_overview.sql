-- One row per active run (the run and its experiment not deleted): CONTRACT's run list.
CREATE OR REPLACE VIEW runs_overview AS
SELECT
    run_id, experiment_id, experiment_name, run_name, status, start_time, end_time, parent_run_id,
    params, metrics, tags
FROM runs_overview_all
WHERE lifecycle_stage = 'active' AND experiment_lifecycle_stage = 'active';
