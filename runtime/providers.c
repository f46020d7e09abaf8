/* providers.c — validation of providers.lua's document and the queries the status views need. */
#include "providers.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "policy.h"
#include "secret.h"

static const char *const known_auth_schemes[] = {"bearer",     "basic",   "header", "query", "json_body",
                                                 "token_from", "url_env", "resp",   "none",  NULL};
static const char *const provider_fields[] = {"id",
                                              "label",
                                              "category",
                                              "role",
                                              "required_env_vars",
                                              "optional_env_vars",
                                              "public_env_vars",
                                              "aliases",
                                              "base_url_env",
                                              "default_base_url",
                                              "env_hosts",
                                              "required_for_autonomy",
                                              "supports_verify",
                                              "verify_ttl_s",
                                              "rate_limit",
                                              "verify",
                                              "classify",
                                              "suggested_fix",
                                              "setup_instructions",
                                              "docs_url",
                                              "no_retry",
                                              "prefer_alias",
                                              "bars",
                                              "chat",
                                              "order",
                                              NULL};

struct checker {
    char *err;
    size_t errlen;
    char path[256];
    int failed;
};

static int fail(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct checker *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (c->failed) return -1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "providers.lua: %s%s%s", c->path, c->path[0] ? ": " : "", msg);
    c->failed = 1;
    return -1;
}

static int is_identifier(const char *s, int upper)
{
    if (!s || !*s || !(upper ? isupper((unsigned char)*s) : islower((unsigned char)*s))) return 0;
    for (; *s; s++)
        if (!(isdigit((unsigned char)*s) || *s == '_' ||
              (upper ? isupper((unsigned char)*s) : islower((unsigned char)*s))))
            return 0;
    return 1;
}

static const char *get_string(struct checker *c, json_t *obj, const char *key, int required)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required) fail(c, "missing required field '%s'", key);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        fail(c, "field '%s' must be a non-empty string", key);
        return NULL;
    }
    return json_string_value(v);
}

static int get_bool(struct checker *c, json_t *obj, const char *key, int def)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return def;
    if (!json_is_boolean(v)) return fail(c, "field '%s' must be a boolean", key), def;
    return json_is_true(v);
}

static const char **get_env_list(struct checker *c, json_t *obj, const char *key, size_t *n, int required)
{
    json_t *arr = json_object_get(obj, key), *v;
    const char **out;
    size_t i;
    *n = 0;
    if (!arr) {
        if (required) fail(c, "missing required field '%s'", key);
        return NULL;
    }
    if (!json_is_array(arr)) return fail(c, "field '%s' must be an array of variable names", key), NULL;
    out = calloc(json_array_size(arr) + 1, sizeof *out);
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || !is_identifier(json_string_value(v), 1)) {
            fail(c, "%s[%zu] must be an upper-case variable name like DATABENTO_API_KEY", key, i + 1);
            free(out);
            return NULL;
        }
        out[i] = json_string_value(v);
    }
    *n = json_array_size(arr);
    return out;
}

static int list_has(const char **list, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(list[i], s) == 0) return 1;
    return 0;
}

static int declared_var(const struct provider_def *p, const char *var)
{
    return list_has(p->required_env, p->n_required, var) || list_has(p->optional_env, p->n_optional, var);
}

static int check_unknown_fields(struct checker *c, json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        int known = 0;
        for (const char *const *f = provider_fields; *f && !known; f++)
            known = strcmp(*f, key) == 0;
        if (!known) return fail(c, "unknown field '%s' (a typo?)", key);
    }
    return 0;
}

static int check_url(struct checker *c, const char *key, const char *url)
{
    if (url && strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return fail(c, "%s must start with https:// or http://", key);
    if (url && url[strlen(url) - 1] == '/') return fail(c, "%s must not end with '/'", key);
    return 0;
}

static int decode_aliases(struct checker *c, json_t *obj, struct provider_def *p)
{
    json_t *aliases = json_object_get(obj, "aliases"), *v;
    const char *var;
    if (!aliases) return 0;
    if (!json_is_object(aliases)) return fail(c, "aliases must be a table of REQUIRED_VAR = \"ALIAS_VAR\"");
    p->aliases = calloc(json_object_size(aliases) + 1, sizeof *p->aliases);
    json_object_foreach(aliases, var, v)
    {
        if (!json_is_string(v) || !declared_var(p, json_string_value(v)) ||
            !list_has(p->required_env, p->n_required, var))
            return fail(c, "aliases.%s must map a required variable to a declared optional variable", var);
        p->aliases[p->n_aliases].var = var;
        p->aliases[p->n_aliases++].alias = json_string_value(v);
    }
    return 0;
}

static int decode_env_hosts(struct checker *c, json_t *obj, struct provider_def *p)
{
    json_t *eh = json_object_get(obj, "env_hosts"), *hosts, *v;
    const char *key;
    if (!eh) return 0;
    hosts = json_object_get(eh, "hosts");
    p->host_selector_env = json_string_value(json_object_get(eh, "selector_env"));
    p->host_default_key = json_string_value(json_object_get(eh, "default"));
    if (!json_is_object(eh) || !json_is_object(hosts) || !p->host_selector_env || !p->host_default_key ||
        !json_object_get(hosts, p->host_default_key))
        return fail(c, "env_hosts needs selector_env, default and hosts with an entry for the default");
    if (!declared_var(p, p->host_selector_env))
        return fail(c, "env_hosts.selector_env must be a declared variable");
    json_object_foreach(hosts, key, v)
    {
        if (!json_is_string(v) || check_url(c, "env_hosts.hosts entry", json_string_value(v)) < 0)
            return fail(c, "env_hosts.hosts.%s must be a URL string", key);
    }
    p->env_hosts = hosts;
    return 0;
}

static int check_verify_steps(struct checker *c, json_t *verify)
{
    json_t *steps = json_object_get(verify, "steps"), *step;
    size_t i;
    if (!json_is_object(verify) || !json_is_integer(json_object_get(verify, "timeout_ms")) ||
        json_integer_value(json_object_get(verify, "timeout_ms")) <= 0)
        return fail(c, "verify must be a table with a positive integer timeout_ms");
    if (!json_is_array(steps) || json_array_size(steps) == 0)
        return fail(c, "verify.steps must be a non-empty array");
    json_array_foreach(steps, i, step)
    {
        json_t *auth = json_object_get(step, "auth");
        const char *scheme = json_string_value(json_object_get(auth, "scheme"));
        int known = 0;
        if (!json_is_object(step) || !json_is_string(json_object_get(step, "name")))
            return fail(c, "verify.steps[%zu] must be a table with a name", i + 1);
        if (auth && !scheme) return fail(c, "verify.steps[%zu].auth.scheme must be a string", i + 1);
        for (const char *const *s = known_auth_schemes; scheme && *s; s++)
            known |= strcmp(*s, scheme) == 0;
        if (scheme && !known)
            return fail(c, "verify.steps[%zu].auth.scheme '%s' is not a known scheme", i + 1, scheme);
    }
    return 0;
}

/* One step list of `order` (place steps or an action's): name, operation and path; a known auth scheme;
 * capture and var_fields tables of strings; body a table. what names the list in errors ("order.steps"). */
static int check_steps(struct checker *c, const json_t *steps, const char *what)
{
    json_t *step, *v;
    const char *key;
    size_t i;
    if (!json_is_array(steps) || json_array_size(steps) == 0)
        return fail(c, "%s must be a non-empty array", what);
    json_array_foreach(steps, i, step)
    {
        const char *scheme = json_string_value(json_object_get(json_object_get(step, "auth"), "scheme"));
        int known = 0;
        if (!json_is_object(step) || !json_is_string(json_object_get(step, "name")) ||
            !json_is_string(json_object_get(step, "path")) ||
            !json_is_string(json_object_get(step, "operation")))
            return fail(c, "%s[%zu] must be a table with a name, an operation and a path", what, i + 1);
        for (const char *const *s = known_auth_schemes; scheme && *s; s++)
            known |= strcmp(*s, scheme) == 0;
        if (json_object_get(step, "auth") && !known)
            return fail(c, "%s[%zu].auth.scheme is not a known scheme", what, i + 1);
        json_object_foreach(json_object_get(step, "capture"), key, v) if (!json_is_string(v)) return fail(
            c, "%s[%zu].capture.%s must be a string", what, i + 1, key);
        json_object_foreach(json_object_get(step, "var_fields"), key, v) if (!json_is_string(v)) return fail(
            c, "%s[%zu].var_fields.%s must be a string", what, i + 1, key);
        if (json_object_get(step, "body") && !json_is_object(json_object_get(step, "body")))
            return fail(c, "%s[%zu].body must be a table", what, i + 1);
    }
    return 0;
}

/* order = {timeout_ms, side_values {BUY, SELL}, steps [...], session_steps?, actions?}: the place steps, the
 * last one carrying result.order_id; session_steps = how many leading steps log in (run before every action);
 * actions = {cancel|modify|orders|fills|positions = {steps [...], parse = function}}. */
static int check_order(struct checker *c, json_t *order)
{
    static const char *const action_names[] = {"cancel", "modify", "orders", "fills", "positions", NULL};
    json_t *steps = json_object_get(order, "steps"), *sides = json_object_get(order, "side_values"), *v;
    json_t *actions = json_object_get(order, "actions"), *session = json_object_get(order, "session_steps");
    const char *key;
    char what[64];
    if (!json_is_object(order) || !json_is_integer(json_object_get(order, "timeout_ms")) ||
        json_integer_value(json_object_get(order, "timeout_ms")) <= 0)
        return fail(c, "order must be a table with a positive integer timeout_ms");
    if (!json_is_string(json_object_get(sides, "BUY")) || !json_is_string(json_object_get(sides, "SELL")))
        return fail(c, "order.side_values needs BUY and SELL strings");
    if (check_steps(c, steps, "order.steps") < 0) return -1;
    if (!json_is_string(json_object_get(
            json_object_get(json_array_get(steps, json_array_size(steps) - 1), "result"), "order_id")))
        return fail(c, "order: the last step needs result.order_id");
    if (session && (!json_is_integer(session) || json_integer_value(session) < 0 ||
                    (size_t)json_integer_value(session) >= json_array_size(steps)))
        return fail(c, "order.session_steps must be an integer from 0 to the number of steps before place");
    if (actions && !json_is_object(actions)) return fail(c, "order.actions must be a table");
    json_object_foreach(actions, key, v)
    {
        int known = 0;
        for (const char *const *n = action_names; *n; n++)
            known |= strcmp(*n, key) == 0;
        if (!known)
            return fail(c, "order.actions.%s is not an action (cancel, modify, orders, fills, positions)",
                        key);
        snprintf(what, sizeof what, "order.actions.%s.steps", key);
        if (check_steps(c, json_object_get(v, "steps"), what) < 0) return -1;
        if (!json_is_true(json_object_get(json_object_get(v, "parse"), "__function__")))
            return fail(c, "order.actions.%s.parse must be a function", key);
    }
    return 0;
}

/* A positive integer timeout_ms of desc, else def. */
static int timeout_of(const json_t *desc, int def)
{
    json_int_t v = json_integer_value(json_object_get(desc, "timeout_ms"));
    return v > 0 && v < 600000 ? (int)v : def;
}

/* The limits every outbound call to p obeys, read once from its rate_limit and operation tables. */
static void decode_limits(struct provider_def *p)
{
    p->limits.rate_per_s = json_number_value(json_object_get(p->rate_limit, "requests_per_s"));
    p->limits.burst = (int)json_integer_value(json_object_get(p->rate_limit, "burst"));
    if (p->limits.burst < 1) p->limits.burst = 1;
    p->limits.max_concurrency = (int)json_integer_value(json_object_get(p->rate_limit, "max_concurrency"));
    p->limits.bars_timeout_ms = timeout_of(p->bars, 5000);
    p->limits.chat_timeout_ms = timeout_of(p->chat, 20000);
    p->limits.order_timeout_ms = timeout_of(p->order, 10000);
    p->limits.verify_timeout_ms = timeout_of(p->verify, 5000);
}

static int decode_provider(struct checker *c, json_t *obj, struct provider_def *p, const json_t *categories)
{
    json_t *ttl, *v;
    size_t i;
    int known_category = 0;

    if (!json_is_object(obj)) return fail(c, "must be a table");
    if (check_unknown_fields(c, obj) < 0) return -1;
    p->id = get_string(c, obj, "id", 1);
    if (p->id && !is_identifier(p->id, 0)) return fail(c, "id '%s' must match ^[a-z][a-z0-9_]*$", p->id);
    p->label = get_string(c, obj, "label", 1);
    p->category = get_string(c, obj, "category", 1);
    p->role = get_string(c, obj, "role", 0);
    p->docs_url = get_string(c, obj, "docs_url", 0);
    p->suggested_fix = get_string(c, obj, "suggested_fix", 1);
    p->setup_instructions = get_string(c, obj, "setup_instructions", 1);
    if (c->failed) return -1;
    json_array_foreach(categories, i, v) known_category |= strcmp(json_string_value(v), p->category) == 0;
    if (!known_category) return fail(c, "unknown category '%s'", p->category);

    p->required_env = get_env_list(c, obj, "required_env_vars", &p->n_required, 1);
    p->optional_env = get_env_list(c, obj, "optional_env_vars", &p->n_optional, 1);
    p->public_env = get_env_list(c, obj, "public_env_vars", &p->n_public, 0);
    if (c->failed) return -1;
    if (p->n_required == 0) return fail(c, "required_env_vars must name at least one variable");
    for (i = 0; i < p->n_public; i++)
        if (!declared_var(p, p->public_env[i]))
            return fail(c, "public_env_vars names %s, which is not a declared variable", p->public_env[i]);
    for (i = 0; i < p->n_optional; i++)
        if (list_has(p->required_env, p->n_required, p->optional_env[i]))
            return fail(c, "%s is both required and optional", p->optional_env[i]);

    p->base_url_env = get_string(c, obj, "base_url_env", 0);
    p->default_base_url = get_string(c, obj, "default_base_url", 0);
    if (p->base_url_env && !list_has(p->optional_env, p->n_optional, p->base_url_env))
        return fail(c, "base_url_env %s must be one of optional_env_vars", p->base_url_env);
    if (check_url(c, "default_base_url", p->default_base_url) < 0) return -1;
    if (decode_aliases(c, obj, p) < 0 || decode_env_hosts(c, obj, p) < 0) return -1;

    p->required_for_autonomy = get_bool(c, obj, "required_for_autonomy", 0);
    p->supports_verify = get_bool(c, obj, "supports_verify", 0);
    get_bool(c, obj, "no_retry", 0);
    get_bool(c, obj, "prefer_alias", 0);
    ttl = json_object_get(obj, "verify_ttl_s");
    if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) <= 0))
        return fail(c, "verify_ttl_s must be a positive integer");
    p->verify_ttl_s = ttl ? (int)json_integer_value(ttl) : 0;
    p->rate_limit = json_object_get(obj, "rate_limit");
    if (p->rate_limit && !json_is_object(p->rate_limit)) return fail(c, "rate_limit must be a table");
    p->verify = json_object_get(obj, "verify");
    p->bars = json_object_get(obj, "bars");
    if (p->bars) {
        const char *fmt = json_string_value(json_object_get(p->bars, "format"));
        static const char *const formats[] = {"databento_json", "polygon_aggs", "finnhub_candles",
                                              "alphavantage_intraday", NULL};
        int known = 0;
        for (const char *const *f = formats; fmt && *f; f++)
            known |= strcmp(*f, fmt) == 0;
        if (!json_is_object(p->bars) || !known || !json_is_string(json_object_get(p->bars, "path")))
            return fail(
                c,
                "bars needs a path and a format of databento_json, polygon_aggs, finnhub_candles or alphavantage_intraday");
    }
    p->chat = json_object_get(obj, "chat");
    if (p->chat) {
        const char *fmt = json_string_value(json_object_get(p->chat, "format"));
        const json_t *model = json_object_get(p->chat, "default_model");
        int known = fmt && (strcmp(fmt, "openai_chat") == 0 || strcmp(fmt, "anthropic_messages") == 0);
        if (!json_is_object(p->chat) || !known || !json_is_string(json_object_get(p->chat, "path")) ||
            !json_is_string(model) || json_string_length(model) == 0)
            return fail(
                c, "chat needs a path, a default_model and a format of openai_chat or anthropic_messages");
    }
    p->order = json_object_get(obj, "order");
    if (p->order && check_order(c, p->order) < 0) return -1;
    decode_limits(p);
    if (p->supports_verify) {
        json_t *classify = json_object_get(obj, "classify");
        if (!p->verify) return fail(c, "supports_verify is true but there is no verify probe");
        if (check_verify_steps(c, p->verify) < 0) return -1;
        if (!json_is_object(classify) || !json_is_true(json_object_get(classify, "__function__")))
            return fail(c, "classify must be a function when supports_verify is true");
    }
    return c->failed ? -1 : 0;
}

static int check_priority(struct checker *c, struct provider_registry *reg)
{
    const char *category;
    json_t *list, *v;
    size_t i;
    if (!json_is_object(reg->priority)) return fail(c, "priority must be a table of category = { ids... }");
    json_object_foreach(reg->priority, category, list)
    {
        snprintf(c->path, sizeof c->path, "priority.%s", category);
        if (!json_is_array(list)) return fail(c, "must be an array of provider ids");
        json_array_foreach(list, i, v)
        {
            const struct provider_def *p = providers_find(reg, json_string_value(v));
            if (!json_is_string(v) || !p)
                return fail(c, "entry %zu '%s' is not a known provider", i + 1,
                            json_is_string(v) ? json_string_value(v) : "?");
            if (strcmp(p->category, category) != 0)
                return fail(c, "entry %zu '%s' is in category %s, not %s", i + 1, p->id, p->category,
                            category);
            for (size_t j = 0; j < i; j++)
                if (strcmp(json_string_value(json_array_get(list, j)), p->id) == 0)
                    return fail(c, "entry %zu '%s' is listed twice", i + 1, p->id);
        }
    }
    c->path[0] = '\0';
    return 0;
}

static int check_categories(struct checker *c, json_t *categories)
{
    json_t *v;
    size_t i;
    if (!json_is_array(categories) || json_array_size(categories) == 0)
        return fail(c, "categories must be a non-empty array of names");
    json_array_foreach(categories, i,
                       v) if (!json_is_string(v) ||
                              !is_identifier(json_string_value(v),
                                             0)) return fail(c, "categories[%zu] must be a lower-case name",
                                                             i + 1);
    return 0;
}

struct provider_registry *providers_from_json(json_t *doc, char *err, size_t errlen)
{
    struct checker c = {.err = err, .errlen = errlen};
    struct provider_registry *reg = calloc(1, sizeof *reg);
    json_t *list = json_object_get(doc, "providers"), *v;
    size_t i;

    reg->doc = json_incref(doc);
    if (!json_is_object(doc)) {
        fail(&c, "the file must return a table");
        goto fail;
    }
    reg->categories = json_object_get(doc, "categories");
    reg->priority = json_object_get(doc, "priority");
    if (check_categories(&c, reg->categories) < 0) goto fail;
    if (!json_is_array(list) || json_array_size(list) == 0) {
        fail(&c, "providers must be a non-empty array");
        goto fail;
    }
    reg->providers = calloc(json_array_size(list), sizeof *reg->providers);
    json_array_foreach(list, i, v)
    {
        struct provider_def *p = &reg->providers[i];
        const char *id = json_string_value(json_object_get(v, "id"));
        snprintf(c.path, sizeof c.path, "providers[%zu]%s%s", i + 1, id ? " " : "", id ? id : "");
        p->index = i + 1;
        reg->count = i + 1;
        if (decode_provider(&c, v, p, reg->categories) < 0) goto fail;
        for (size_t j = 0; j < i; j++)
            if (strcmp(reg->providers[j].id, p->id) == 0) {
                fail(&c, "duplicate id '%s' (also providers[%zu])", p->id, j + 1);
                goto fail;
            }
    }
    c.path[0] = '\0';
    if (check_priority(&c, reg) < 0) goto fail;
    return reg;
fail:
    providers_free(reg);
    return NULL;
}

void providers_free(struct provider_registry *reg)
{
    if (!reg) return;
    for (size_t i = 0; i < reg->count; i++) {
        free(reg->providers[i].required_env);
        free(reg->providers[i].optional_env);
        free(reg->providers[i].public_env);
        free(reg->providers[i].aliases);
    }
    free(reg->providers);
    json_decref(reg->doc);
    free(reg);
}

const struct provider_def *providers_find(const struct provider_registry *reg, const char *id)
{
    for (size_t i = 0; id && i < reg->count; i++)
        if (reg->providers[i].id && strcmp(reg->providers[i].id, id) == 0) return &reg->providers[i];
    return NULL;
}

static int track_list(const struct provider_def *p, const char **vars, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int is_secret = !list_has(p->public_env, p->n_public, vars[i]);
        const char *v;
        if (secret_track(vars[i], is_secret) < 0) return -1;
        if (is_secret && (v = secret_value(vars[i])) && strlen(v) < SECRET_MIN_REDACT)
            LOG_WARN(NULL, "secret too short to redact", "var=%s min_length=%d", vars[i], SECRET_MIN_REDACT);
    }
    return 0;
}

int providers_track_env(const struct provider_registry *reg)
{
    for (size_t i = 0; i < reg->count; i++) {
        const struct provider_def *p = &reg->providers[i];
        if (track_list(p, p->required_env, p->n_required) < 0 ||
            track_list(p, p->optional_env, p->n_optional) < 0)
            return -1;
    }
    return 0;
}

int providers_var_present(const struct provider_def *p, const char *var)
{
    if (secret_present(var)) return 1;
    for (size_t i = 0; i < p->n_aliases; i++)
        if (strcmp(p->aliases[i].var, var) == 0 && secret_present(p->aliases[i].alias)) return 1;
    return 0;
}

json_t *providers_missing_env(const struct provider_def *p)
{
    json_t *missing = json_array();
    for (size_t i = 0; i < p->n_required; i++)
        if (!providers_var_present(p, p->required_env[i]))
            json_array_append_new(missing, json_string(p->required_env[i]));
    return missing;
}

const char *providers_base_url(const struct provider_def *p, int *overridden)
{
    const char *v;
    *overridden = 0;
    if (p->base_url_env && (v = secret_value(p->base_url_env))) {
        *overridden = 1;
        return v;
    }
    if (p->env_hosts) {
        const char *key = p->host_selector_env ? secret_value(p->host_selector_env) : NULL;
        json_t *url = key ? json_object_get(p->env_hosts, key) : NULL;
        if (!url) url = json_object_get(p->env_hosts, p->host_default_key);
        return json_string_value(url);
    }
    return p->default_base_url;
}

static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static void append_joined(char **buf, size_t *len, size_t *cap, const json_t *arr, const char **list,
                          size_t n)
{
    size_t count = arr ? json_array_size(arr) : n;
    for (size_t i = 0; i < count; i++) {
        const char *s = arr ? json_string_value(json_array_get(arr, i)) : list[i];
        if (i) append(buf, len, cap, ", ", 2);
        append(buf, len, cap, s, strlen(s));
    }
}

char *providers_expand(const struct provider_def *p, const char *tmpl, const json_t *missing)
{
    size_t len = 0, cap = strlen(tmpl) + 64;
    char *buf = malloc(cap);
    buf[0] = '\0';
    for (const char *s = tmpl; *s;) {
        if (strncmp(s, "${MISSING}", 10) == 0) {
            append_joined(&buf, &len, &cap, missing, NULL, 0);
            s += 10;
        } else if (strncmp(s, "${REQUIRED}", 11) == 0) {
            append_joined(&buf, &len, &cap, NULL, p->required_env, p->n_required);
            s += 11;
        } else if (strncmp(s, "${LABEL}", 8) == 0) {
            append(&buf, &len, &cap, p->label, strlen(p->label));
            s += 8;
        } else if (strncmp(s, "${ID}", 5) == 0) {
            append(&buf, &len, &cap, p->id, strlen(p->id));
            s += 5;
        } else {
            append(&buf, &len, &cap, s, 1);
            s++;
        }
    }
    return buf;
}

void providers_url_host(const char *url, char *out, size_t outlen)
{
    const char *start, *end, *at;
    size_t n;
    out[0] = '\0';
    if (!url || !(start = strstr(url, "://"))) return;
    start += 3;
    end = start + strcspn(start, "/?#");
    at = memchr(start, '@', (size_t)(end - start));
    if (at) start = at + 1; /* userinfo may hold a password: never part of the host */
    n = (size_t)(end - start);
    if (n >= outlen) n = outlen - 1;
    memcpy(out, start, n);
    out[n] = '\0';
}

/* ---- the validator of providers.lua, registered with policy.c ---- */

/* Turns "providers.lua: providers[N] id: msg" into "providers.lua:LINE: providers[N] id: msg" by locating the
 * entry's id line in the source, so validation errors read like Lua's own file:line errors. */
static void add_line_to_registry_error(const json_t *doc, char *err, size_t errlen)
{
    size_t n;
    int occurrence = 0, line;
    const char *id, *at = strstr(err, "providers[");
    char inner[1024];
    if (!at || sscanf(at, "providers[%zu]", &n) != 1 || n == 0) return;
    id = json_string_value(json_object_get(json_array_get(json_object_get(doc, "providers"), n - 1), "id"));
    if (!id) return;
    for (size_t i = 0; i < n; i++) {
        const char *other =
            json_string_value(json_object_get(json_array_get(json_object_get(doc, "providers"), i), "id"));
        occurrence += other && strcmp(other, id) == 0;
    }
    line = policy_source_line("providers.lua", id, occurrence, 0);
    if (line == 0) return;
    snprintf(inner, sizeof inner, "%s", at);
    snprintf(err, errlen, "providers.lua:%d: %s", line, inner);
}

/* policy_validator_fn of providers.lua: the registry, its variables tracked by secret.c (not under spec). */
static void *validate_registry(json_t *doc, const struct policy_gen *g, int spec, char *err, size_t errlen)
{
    struct provider_registry *reg = providers_from_json(doc, err, errlen);
    (void)g;
    if (spec) return reg;
    if (!reg) {
        add_line_to_registry_error(doc, err, errlen);
        return NULL;
    }
    if (providers_track_env(reg) < 0) {
        snprintf(err, errlen, "providers.lua: out of memory tracking its variables");
        providers_free(reg);
        return NULL;
    }
    return reg;
}

static void free_registry(void *reg)
{
    providers_free(reg);
}

int providers_register_validator(void)
{
    return policy_register_validator("providers.lua", validate_registry, free_registry);
}
