/* variables.h — the variable catalog (PRODUCT.md §6 "Variable catalog").
 *
 * scripts/variables.lua declares which signals exist (never values). The declarations are validated when a
 * policy generation is built (by the validator variables_register_validator hands policy.c; a bad entry fails
 * the load), the catalog in force is upserted into profit_variables at start-up and after every reload (names
 * no longer declared become DEPRECATED; nothing is deleted), and the feature_keys_used of usage events (a
 * tick's runner.tick event) update profit_variables.last_seen_at / used_by_bot_ids in batches about once a
 * second, so reads never scan integration_usage_events. */
#ifndef GATEHOUSE_VARIABLES_H
#define GATEHOUSE_VARIABLES_H

#include <jansson.h>
#include <stddef.h>

struct event_base;
struct provider_registry;
struct usage_event;

#define VARIABLES_MAX 1000 /* declared variables per catalog */

/* Validates the table scripts/variables.lua returned (doc, converted to JSON) against the provider registry
 * (reg may be NULL: no provider id is then known). Returns a new array of normalized entries {name, category,
 * source, source_kind ("live_stack" | "provider" | "internal"), variable_type, state, description}, or NULL
 * with err "variables[N] (name): problem" (or a top-level problem). */
json_t *variables_catalog_from_json(const json_t *doc, const struct provider_registry *reg, char *err,
                                    size_t errlen);

/* Registers scripts/variables.lua's validator with policy.c (variables_catalog_from_json against the registry
 * of the same generation, error lines): a generation then holds the catalog, read with policy_variables. Call
 * after providers_register_validator, before policy_init, policy_check, policy_build_candidate or
 * policy_run_specs. Returns 0 or -1. */
int variables_register_validator(void);

/* "live_stack", "provider" or "internal" for a source string valid against reg; NULL when unknown. */
const char *variables_source_kind(const char *source, const struct provider_registry *reg);

/* Arms the batch timer on base (needs the db pool). Returns 0 or -1. */
int variables_start(struct event_base *base);

/* Flushes nothing more and frees the pending batch and the timers. */
void variables_stop(void);

/* Upserts the current generation's catalog into profit_variables, asynchronously: concurrent calls coalesce,
 * a failure is retried every 2 s until it succeeds. A change writes a variables.sync system event with
 * trace_id (NULL: a fresh one). */
void variables_sync(const char *trace_id);

/* 1 once a catalog sync has succeeded (profit_variables holds the generation loaded at that time). */
int variables_synced(void);

/* Telemetry listener: notes, in memory, the variables named by ev->metadata.feature_keys_used for ev->bot_id
 * (events without both are ignored). Notes are written to profit_variables within about a second. */
void variables_note_usage(const struct usage_event *ev);

#endif
