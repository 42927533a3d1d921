-- One row per experiment with how many active runs it holds: `duckml experiments list` and the UI's home.
CREATE OR REPLACE VIEW experiments_overview AS
SELECT
    e.experiment_id,
    e.name,
    e.lifecycle_stage,
    e.creation_time,
    e.last_update_time,
    count(r.run_id) FILTER (WHERE r.lifecycle_stage = 'active') AS runs,
    max(r.start_time) AS last_run_start
FROM experiments e
LEFT JOIN runs r ON r.experiment_id = e.experiment_id
GROUP BY ALL;
