-- 0073_evidence_indexes.sql — the autonomy evidence reads stay fast however many usage rows a bot writes
-- (issue 18: found by the hour-long soak).
--
-- runtime/autonomy.c's EVIDENCE_SQL reads, per bot, three slices of integration_usage_events newest first:
-- its market-data bars calls, its risk checks and its proof of use (OK calls to a real provider). With only
-- usage_events_bot_time_idx (bot_id, created_at) each slice walked every row the bot wrote in the window and
-- dropped the others by filter: a bot whose refused manual ticks had written 35,000 runner.tick rows in an
-- hour took 913 ms to read, and the periodic round grew from 229 ms to 9.4 s. A bot ticking once a second
-- writes ~86,000 runner.tick rows a day.
--
-- Each index below holds only the rows of one slice, keyed like the read (bot, newest first), so a slice reads
-- its LIMIT rows and no more. The predicates are the read's WHERE clauses word for word: the planner uses a
-- partial index only when it can prove the query implies the predicate, so change both together (spec 72
-- checks the plans). Rows of no slice (runner.tick, verify, ...) are in none of these indexes.

CREATE INDEX usage_events_bot_bars_idx
    ON integration_usage_events (bot_id, created_at DESC)
    WHERE bot_id IS NOT NULL AND operation IN ('marketdata.bars', 'marketdata.bars.shared')
      AND status IN ('OK', 'ERROR');

CREATE INDEX usage_events_bot_risk_idx
    ON integration_usage_events (bot_id, created_at DESC)
    WHERE bot_id IS NOT NULL AND operation = 'risk.check';

CREATE INDEX usage_events_bot_proof_idx
    ON integration_usage_events (bot_id, created_at DESC)
    WHERE bot_id IS NOT NULL AND status = 'OK'
      AND (provider_id NOT IN ('runner', 'risk_engine', 'scheduler') OR operation = 'marketdata.bars.shared');
