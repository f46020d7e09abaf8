/* api_variables.h — GET /api/variables: the variable catalog (PRODUCT.md §6 "Variable catalog"). */
#ifndef GATEHOUSE_API_VARIABLES_H
#define GATEHOUSE_API_VARIABLES_H

#include <jansson.h>

struct http_ctx;

/* GET /api/variables?category=&availability=&state=&limit=&cursor= — {variables[], next_cursor, synced}, by
 * name. Each: name, category, source_integration, source_kind, variable_type, state, description,
 * profit_contribution_estimate (null unless measured), last_updated_at, availability (OK | DEGRADED |
 * BLOCKED) and availability_reason derived from the source's health in the cached status evaluation (no
 * provider is called), last_seen_at and used_by_bot_ids (existing bots) from the feature_keys_used of usage
 * events. Never values. 400 VALIDATION_FAILED for a bad filter, limit or cursor; 503 DB_UNAVAILABLE. */
void api_variables_list(struct http_ctx *ctx);

/* The availability of a variable with this source and state right now: a new object {availability, reason}.
 * Reads the cached status decision, the registry in force and the in-memory provider facts only. */
json_t *api_variables_availability(const char *source, const char *state);

#endif
