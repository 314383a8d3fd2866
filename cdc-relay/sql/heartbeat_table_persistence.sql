-- The heartbeat table's persistence: 'u' unlogged, 'p' permanent (logged), no row if missing.
-- $1 schema, $2 table.
SELECT c.relpersistence::text
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
