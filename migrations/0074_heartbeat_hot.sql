-- 0074_heartbeat_hot.sql — a bot's heartbeat is a HOT update (issue 18: 5,000 bots on one instance).
--
-- runtime/instances.c flushes the heartbeats of every bot that ticked in the last second with one UPDATE of
-- bot_instances (last_heartbeat_at, last_tick_at): 5,000 rows a second at 5,000 bots. bot_instances_live_
-- heartbeat_idx indexed last_heartbeat_at, so no heartbeat could be a heap-only (HOT) update: each wrote a new
-- entry into every index of the table (four), and the dead versions bloated the table and its indexes, which
-- the scheduler's bot list, the supervisor's sweep and every tick's load then walked. No query reads that
-- index: the supervisor's sweep reads every live instance and computes each heartbeat's age itself.
--
-- Without the index, and with room left on each page (fillfactor 50: a page has room for a second version of each of its rows),
-- a heartbeat changes no indexed column and is HOT: one new tuple on its page, no index write, and the old
-- version is pruned in place. Measured on 5,000 running instances: 8.9–10.6 ms → 3.2–3.6 ms per 500 rows.
-- Spec 89 runs the product's heartbeat statement and checks that its updates are HOT.

DROP INDEX bot_instances_live_heartbeat_idx;

ALTER TABLE bot_instances SET (fillfactor = 50);
