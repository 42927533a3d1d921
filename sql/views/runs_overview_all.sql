-- Every run, deleted ones included, with params, latest metrics and tags as MAP columns, so that
-- metrics['rmse'] and params['model'] work. search_runs(run_view_type=...) filters this view.
CREATE OR REPLACE VIEW runs_overview_all AS
SELECT
    r.run_id,
    r.experiment_id,
    e.name AS experiment_name,
    r.run_name,
    r.status,
    r.start_time,
    r.end_time,
    r.parent_run_id,
    coalesce(p.params, MAP {}::MAP(VARCHAR, VARCHAR)) AS params,
    coalesce(m.metrics, MAP {}::MAP(VARCHAR, DOUBLE)) AS metrics,
    coalesce(t.tags, MAP {}::MAP(VARCHAR, VARCHAR)) AS tags,
    r.lifecycle_stage,
    e.lifecycle_stage AS experiment_lifecycle_stage
FROM runs r
JOIN experiments e USING (experiment_id)
LEFT JOIN (
    SELECT run_id, map_from_entries(list({'k': key, 'v': value})) AS params FROM params GROUP BY run_id
) p USING (run_id)
LEFT JOIN (
    SELECT run_id, map_from_entries(list({'k': key, 'v': value})) AS metrics FROM latest_metrics GROUP BY run_id
) m USING (run_id)
LEFT JOIN (
    SELECT run_id, map_from_entries(list({'k': key, 'v': value})) AS tags FROM tags GROUP BY run_id
) t USING (run_id);
