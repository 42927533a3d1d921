-- Every period during which an alias pointed at a version, from the append-only registry_events:
-- valid_from inclusive, valid_to exclusive (NULL while it still holds). "Which version was @champion
-- on 2026-11-01" is one query:
--   SELECT version FROM alias_history WHERE name = 'churn' AND alias = 'champion'
--     AND valid_from <= TIMESTAMP '2026-11-01' AND (valid_to IS NULL OR valid_to > TIMESTAMP '2026-11-01');
-- Times are UTC. duckml gives events strictly increasing times, so periods never overlap. set_by is who
-- set the alias (registry_events.actor: a signed-in UI user, else NULL).
CREATE OR REPLACE VIEW alias_history AS
SELECT name, alias, version, valid_from, valid_to, set_by
FROM (
    SELECT
        name,
        alias,
        version,
        event,
        event_time AS valid_from,
        actor AS set_by,
        lead(event_time) OVER (PARTITION BY name, alias ORDER BY event_time) AS valid_to
    FROM registry_events
    WHERE event IN ('alias_set', 'alias_deleted')
)
WHERE event = 'alias_set';
