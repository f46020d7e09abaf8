/* lrt.h — the `rt` module policies see, and the `spec` module of `gatehouse spec`. */
#ifndef GATEHOUSE_LRT_H
#define GATEHOUSE_LRT_H

#include <jansson.h>
#include <stddef.h>

struct lua_State;

/* Installs the global `rt` table: rt.log(level, message), rt.now() (wall-clock seconds, float).
 * Stack effect: 0. */
void lrt_open(struct lua_State *L);

/* Hooks the spec module needs from the rest of the runtime (kept as callbacks so lrt.c does not depend on
 * the registry or the policy loader). */
struct lrt_spec_hooks {
    /* Loads policy file `name` (relative to GATEHOUSE_HOME) into L and pushes its result (+1), or returns -1
     * with err filled and pushes nothing. */
    int (*load_policy)(struct lua_State *L, const char *name, char *err, size_t errlen);
    /* Validates a providers document the way the runtime does on load; 0 or -1 with err. */
    int (*validate_providers)(json_t *doc, char *err, size_t errlen);
    /* Validates a variables document against a providers document (NULL: no provider ids known); 0 or -1. */
    int (*validate_variables)(json_t *doc, json_t *providers_doc, char *err, size_t errlen);
};

/* Installs the global `spec` table: spec.ok(v, desc), spec.is(got, want, desc), spec.same(got, want, desc),
 * spec.policy(name), spec.validate_providers(tbl), spec.validate_variables(tbl, providers_tbl?). Results
 * print as TAP lines on stdout. Stack effect: 0. */
void lrt_open_spec(struct lua_State *L, const struct lrt_spec_hooks *hooks);

/* Records one TAP result (used for errors outside assertions, e.g. a spec file that raised). */
void lrt_spec_report(int pass, const char *desc);

/* Test counters of the spec module: number run and number failed. */
void lrt_spec_counts(int *run, int *failed);

#endif
