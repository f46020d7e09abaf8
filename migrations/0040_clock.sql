-- 0040_clock.sql — one clock for C and SQL.
--
-- The runtime reads every "now" from one clock (runtime/clock.h): the real time, or a test clock that
-- starts at a chosen instant (GATEHOUSE_TEST_CLOCK) so specs tick at a fixed hour and day. SQL must read
-- the same instant, or rows written by C (usage events, bars' windows) and rows stamped by Postgres
-- (orders, fills, traces, sessions) would disagree. gh_now() is now() shifted by the offset each pool
-- session carries in the custom setting gatehouse.clock_offset_ms (db.c sets it at connect; unset or
-- empty reads 0, so a session without it — psql, another tool — sees the real time). Like now(), it is
-- the start of the current transaction, and the planner inlines it (a STABLE one-expression SQL
-- function).
--
-- Every column default and trigger that stamped now() now stamps gh_now(); runtime SQL calls gh_now().

CREATE FUNCTION gh_now() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT now() + coalesce(nullif(current_setting('gatehouse.clock_offset_ms', true), '')::bigint, 0)
                   * interval '1 millisecond'
$$;

CREATE OR REPLACE FUNCTION gh_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := gh_now();
    RETURN NEW;
END;
$$;

-- Every DEFAULT now() of the schema (partitioned tables: the parent's default applies to rows routed
-- through it; the partitions are altered too so a row inserted into one directly agrees).
DO $$
DECLARE
    col record;
BEGIN
    FOR col IN
        SELECT c.relname, a.attname
          FROM pg_attrdef d
          JOIN pg_class c ON c.oid = d.adrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
         WHERE n.nspname = current_schema() AND pg_get_expr(d.adbin, d.adrelid) = 'now()'
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET DEFAULT gh_now()', col.relname, col.attname);
    END LOOP;
END;
$$;
