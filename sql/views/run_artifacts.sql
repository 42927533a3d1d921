-- Every artifact file of every active run, with the object file that holds its bytes (relative to the
-- artifact folder beside the DuckDB file): objects/<sha256[:2]>/<sha256>, stored once per content.
CREATE OR REPLACE VIEW run_artifacts AS
SELECT
    a.run_id,
    r.run_name,
    r.experiment_id,
    a.path,
    a.size,
    a.sha256,
    a.media_type,
    a.created_at,
    'objects/' || a.sha256[1:2] || '/' || a.sha256 AS object_path
FROM artifacts a
JOIN runs r ON r.run_id = a.run_id
JOIN experiments e ON e.experiment_id = r.experiment_id
WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active';
