-- Who made each registry change: the signed-in user of `duckml ui --auth` (NULL for scripts, the CLI, and
-- every event before this migration).
ALTER TABLE registry_events ADD COLUMN actor VARCHAR;
