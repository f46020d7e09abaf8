-- 0030_variables.sql — the variable catalog records when ticks use a variable (PRODUCT.md §6 "Variable catalog").
--
-- profit_variables is synced from scripts/variables.lua (runtime/variables.c): upsert by name, names no longer
-- declared become DEPRECATED, nothing is deleted. last_seen_at and used_by_bot_ids are maintained from the
-- feature_keys_used that usage events carry (a tick's runner.tick event), batched about once a second, so
-- GET /api/variables reads one small table and never scans integration_usage_events. Values are never stored.
ALTER TABLE profit_variables
    ADD COLUMN last_seen_at timestamptz NULL;  -- latest usage event whose feature_keys_used named this variable

COMMENT ON COLUMN profit_variables.used_by_bot_ids IS
    'ids (text) of bots whose usage events named this variable in feature_keys_used; maintained by runtime/variables.c';
