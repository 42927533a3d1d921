-- One row per model version: its aliases, source run and that run's latest metrics (CONTRACT), so
-- "the version with the best rmse" is `ORDER BY metrics['rmse']`. Version tags and descriptions ride along.
CREATE OR REPLACE VIEW model_versions_overview AS
SELECT
    v.name,
    v.version,
    coalesce(a.aliases, []::VARCHAR[]) AS aliases,
    v.run_id,
    v.source_uri,
    v.created_at,
    coalesce(m.metrics, MAP {}::MAP(VARCHAR, DOUBLE)) AS metrics,
    v.description,
    coalesce(t.tags, MAP {}::MAP(VARCHAR, VARCHAR)) AS tags
FROM model_versions v
LEFT JOIN (
    SELECT name, version, list(alias ORDER BY alias) AS aliases FROM model_aliases GROUP BY name, version
) a ON a.name = v.name AND a.version = v.version
LEFT JOIN (
    SELECT run_id, map_from_entries(list({'k': key, 'v': value})) AS metrics FROM latest_metrics GROUP BY run_id
) m ON m.run_id = v.run_id
LEFT JOIN (
    SELECT name, version, map_from_entries(list({'k': key, 'v': value})) AS tags
    FROM model_version_tags GROUP BY name, version
) t ON t.name = v.name AND t.version = v.version;
