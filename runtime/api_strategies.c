/* api_strategies.c — GET /api/strategies and the params check of bot create/patch/clone (see
 * api_strategies.h). */
#include "api_strategies.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "http.h"
#include "log.h"
#include "policy.h"

#define PARAMS_LIB "scripts/lib/params.lua"
#define STRATEGY_DIR "scripts/strategies/"

static void reply_no_policy(struct http_ctx *ctx)
{
    http_reply_error(ctx, 503, "POLICY_ERROR",
                     "No policy generation is loaded, so strategies cannot be read.",
                     "Fix the policy files (see /readyz policy.last_reload_error) and reload.", NULL);
}

/* The strategy name of a loaded file name ("scripts/strategies/sma_cross.lua" → "sma_cross"), written to out;
 * 0, or -1 when file is not a strategy file. */
static int strategy_name(const char *file, char *out, size_t outlen)
{
    size_t n = file ? strlen(file) : 0, dir = strlen(STRATEGY_DIR);
    if (n <= dir + 4 || strncmp(file, STRATEGY_DIR, dir) != 0 || strcmp(file + n - 4, ".lua") != 0 ||
        strchr(file + dir, '/') || n - dir - 4 >= outlen)
        return -1;
    memcpy(out, file + dir, n - dir - 4);
    out[n - dir - 4] = '\0';
    return 0;
}

/* One strategy's entry of GET /api/strategies. */
static json_t *strategy_json(struct policy_gen *g, const char *module, const char *name)
{
    json_t *schema = policy_module_value(g, module, "schema");
    json_t *desc = policy_module_value(g, module, "description");
    if (!json_is_object(schema)) {
        json_decref(schema);
        schema = json_object();
    }
    if (!json_is_string(desc)) {
        json_decref(desc);
        desc = json_null();
    }
    return json_pack("{s:s, s:b, s:o, s:o}", "name", name, "requires_ai",
                     policy_module_flag(g, module, "requires_ai"), "description", desc, "params", schema);
}

void api_strategies_list(struct http_ctx *ctx)
{
    struct policy_gen *g = policy_current();
    if (!g) {
        reply_no_policy(ctx);
        return;
    }
    json_t *st = policy_status_json(), *out = json_array(), *f;
    size_t i;
    json_array_foreach(json_object_get(st, "files"), i, f)
    {
        char name[128];
        const char *file = json_string_value(f);
        if (strategy_name(file, name, sizeof name) == 0 && policy_has_function(g, file, "decide"))
            json_array_append_new(out, strategy_json(g, file, name));
    }
    json_decref(st);
    json_t *common = policy_module_value(g, PARAMS_LIB, "COMMON");
    if (!json_is_object(common)) {
        json_decref(common);
        common = json_object();
    }
    http_reply_json(ctx, 200, json_pack("{s:o, s:o}", "strategies", out, "common_params", common));
}

/* Replies 400 VALIDATION_FAILED from lib.params' error table {field, reason_human}. */
static void reply_invalid_param(struct http_ctx *ctx, const char *strategy, const json_t *bad)
{
    const char *field = json_string_value(json_object_get(bad, "field"));
    const char *why = json_string_value(json_object_get(bad, "reason_human"));
    char fix[160];
    snprintf(fix, sizeof fix, "Correct %s; GET /api/strategies lists the parameters of %s.",
             field ? field : "params", strategy);
    http_reply_error(ctx, 400, "VALIDATION_FAILED", why ? why : "params do not match the strategy's schema.",
                     fix, json_pack("{s:s}", "field", field ? field : "params"));
}

int api_strategies_check_params(struct http_ctx *ctx, struct policy_gen *g, const char *strategy,
                                const json_t *params)
{
    char module[160], err[512] = "";
    if (!g) {
        reply_no_policy(ctx);
        return -1;
    }
    snprintf(module, sizeof module, STRATEGY_DIR "%s.lua", strategy);
    if (!policy_has_function(g, module, "decide")) {
        snprintf(err, sizeof err, "Unknown strategy '%s': %s is not loaded or has no decide() function.",
                 strategy, module);
        http_reply_error(ctx, 400, "VALIDATION_FAILED", err,
                         "GET /api/strategies lists the loaded strategies.",
                         json_pack("{s:s}", "field", "strategy"));
        return -1;
    }
    json_t *schema = policy_module_value(g, module, "schema");
    if (!schema) return 0; /* no schema declared: the strategy takes its params as they come */
    json_t *empty = json_object(), *name = json_string(strategy);
    const json_t *args[3] = {schema, params ? params : empty, name};
    json_t *verdict = policy_call_first(g, PARAMS_LIB, "validate", args, 3, err, sizeof err);
    json_decref(schema);
    json_decref(empty);
    json_decref(name);
    if (json_is_true(verdict)) {
        json_decref(verdict);
        return 0;
    }
    if (json_is_object(verdict))
        reply_invalid_param(ctx, strategy, verdict);
    else {
        LOG_ERROR(ctx->trace_id, "params check failed", "strategy=%s error=\"%s\"", strategy,
                  err[0] ? err : "validate returned neither true nor an error table");
        http_reply_error(ctx, 503, "POLICY_ERROR", "The strategy's params could not be checked.",
                         "Fix scripts/lib/params.lua or the strategy's schema (see the log) and reload.",
                         NULL);
    }
    json_decref(verdict);
    return -1;
}
