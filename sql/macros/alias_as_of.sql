-- The version an alias pointed to at a moment (UTC), as a one-row table (no row: the alias was unset):
--   SELECT version FROM alias_as_of('churn', 'champion', TIMESTAMP '2026-11-01');
CREATE OR REPLACE MACRO alias_as_of(model_name, alias_name, as_of) AS TABLE
SELECT name, alias, version, valid_from, valid_to
FROM alias_history
WHERE name = model_name
  AND alias = alias_name
  AND valid_from <= CAST(as_of AS TIMESTAMP)
  AND (valid_to IS NULL OR valid_to > CAST(as_of AS TIMESTAMP));
