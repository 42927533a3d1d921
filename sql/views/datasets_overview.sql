-- One row per dataset with how many active runs used it and in which contexts: `duckml datasets list`.
-- Datasets used only by deleted runs show run_count 0 until `duckml gc` removes them.
CREATE OR REPLACE VIEW datasets_overview AS
SELECT
    d.dataset_id,
    d.name,
    d.digest,
    d.source,
    d.source_type,
    d.row_count,
    d.schema,
    d.created_at,
    count(DISTINCT l.run_id) AS run_count,
    coalesce(list_sort(list(DISTINCT l.context) FILTER (WHERE l.context IS NOT NULL)), []::VARCHAR[]) AS contexts,
    max(l.logged_at) AS last_used_at
FROM datasets d
LEFT JOIN dataset_lineage l ON l.dataset_id = d.dataset_id
GROUP BY ALL;
