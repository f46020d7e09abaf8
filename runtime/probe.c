/* probe.c — step description + secrets -> concrete request. */
#include "probe.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers.h"
#include "secret.h"

struct strbuf {
    char *s;
    size_t len, cap;
};

static void sb_add(struct strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *grown = malloc(cap);
        if (b->s) {
            memcpy(grown, b->s, b->len);
            sodium_memzero(b->s, b->cap);
            free(b->s);
        }
        b->s = grown;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(struct strbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_urlencoded(struct strbuf *b, const char *s)
{
    char *enc = curl_easy_escape(NULL, s, 0);
    if (enc) {
        sb_str(b, enc);
        sodium_memzero(enc, strlen(enc));
        curl_free(enc);
    }
}

static void wipe_free(char *s)
{
    if (!s) return;
    sodium_memzero(s, strlen(s));
    free(s);
}

static const char *alias_of(const struct provider_def *p, const char *var)
{
    for (size_t i = 0; i < p->n_aliases; i++)
        if (strcmp(p->aliases[i].var, var) == 0) return p->aliases[i].alias;
    return NULL;
}

const char *probe_env(const struct provider_def *p, const json_t *provider_doc, const char *var)
{
    const char *alias = alias_of(p, var);
    int prefer_alias = json_is_true(json_object_get(provider_doc, "prefer_alias"));
    if (alias && prefer_alias && secret_value(alias)) return secret_value(alias);
    if (secret_value(var)) return secret_value(var);
    return alias ? secret_value(alias) : NULL;
}

static void add_header(struct probe_request *r, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *h = malloc(n);
    snprintf(h, n, "%s: %s", name, value);
    r->headers = realloc(r->headers, (r->n_headers + 2) * sizeof *r->headers);
    r->headers[r->n_headers++] = h;
    r->headers[r->n_headers] = NULL;
}

/* Base URL: *_BASE_URL, else env_hosts by selector, else the default. Sets env_key for env_hosts. */
static const char *base_url(const struct provider_def *p, struct probe_request *r)
{
    int overridden = 0;
    const char *url = providers_base_url(p, &overridden);
    if (!overridden && p->env_hosts) {
        const char *key = p->host_selector_env ? secret_value(p->host_selector_env) : NULL;
        if (!key || !json_object_get(p->env_hosts, key)) key = p->host_default_key;
        r->env_key = strdup(key);
    }
    return url;
}

static void add_query(struct strbuf *url, int *first, const char *name, const char *value)
{
    sb_str(url, *first ? (strchr(url->s, '?') ? "&" : "?") : "&");
    *first = 0;
    sb_urlencoded(url, name);
    sb_str(url, "=");
    sb_urlencoded(url, value);
}

static int build_json_body(const struct provider_def *p, const json_t *doc, const json_t *auth,
                           struct probe_request *r, char *err, size_t errlen)
{
    json_t *body = json_object(), *v, *nums = json_object_get(auth, "number_fields");
    const char *key;
    json_object_foreach(json_object_get(auth, "const_fields"), key, v)
        json_object_set_new(body, key, json_deep_copy(v));
    json_object_foreach(json_object_get(auth, "optional_fields"), key, v)
    {
        const char *val = probe_env(p, doc, json_string_value(v));
        if (val) json_object_set_new(body, key, json_string(val));
    }
    json_object_foreach(json_object_get(auth, "fields"), key, v)
    {
        const char *val = probe_env(p, doc, json_string_value(v));
        if (!val) {
            snprintf(err, errlen, "%s is not set", json_string_value(v));
            json_decref(body);
            return -1;
        }
        json_object_set_new(body, key, json_string(val));
    }
    size_t i;
    json_array_foreach(nums, i, v)
    {
        json_t *cur = json_object_get(body, json_string_value(v));
        char *end;
        long long n = json_is_string(cur) ? strtoll(json_string_value(cur), &end, 10) : 0;
        if (json_is_string(cur) && *end == '\0') {
            sodium_memzero((char *)json_string_value(cur), json_string_length(cur));
            json_object_set_new(body, json_string_value(v), json_integer(n));
        }
    }
    r->body = json_dumps(body, JSON_COMPACT);
    r->body_len = r->body ? strlen(r->body) : 0;
    json_object_foreach(body, key, v) if (json_is_string(v))
        sodium_memzero((char *)json_string_value(v), json_string_length(v));
    json_decref(body);
    add_header(r, "Content-Type", "application/json");
    return r->body ? 0 : -1;
}

/* Applies the step's auth scheme. URL-building schemes append to url. */
static int apply_auth(const struct provider_def *p, const json_t *doc, const json_t *auth, struct strbuf *url,
                      int *first, const char *(*token_of)(void *, const char *), void *ctx,
                      struct probe_request *r, char *err, size_t errlen)
{
    const char *scheme = json_string_value(json_object_get(auth, "scheme"));
    const char *env = json_string_value(json_object_get(auth, "env"));
    const char *val = env ? probe_env(p, doc, env) : NULL;

    if (!scheme || strcmp(scheme, "none") == 0) return 0;
    if (env && !val && strcmp(scheme, "token_from") != 0) {
        snprintf(err, errlen, "%s is not set", env);
        return -1;
    }
    if (strcmp(scheme, "bearer") == 0) {
        struct strbuf h = {0};
        sb_str(&h, "Bearer ");
        sb_str(&h, val);
        add_header(r, "Authorization", h.s);
        wipe_free(h.s);
    } else if (strcmp(scheme, "header") == 0) {
        add_header(r, json_string_value(json_object_get(auth, "header")), val);
    } else if (strcmp(scheme, "query") == 0) {
        add_query(url, first, json_string_value(json_object_get(auth, "param")), val);
    } else if (strcmp(scheme, "basic") == 0) {
        const char *user = probe_env(p, doc, json_string_value(json_object_get(auth, "user_env")));
        const char *pw_env = json_string_value(json_object_get(auth, "password_env"));
        const char *pw =
            pw_env ? probe_env(p, doc, pw_env) : json_string_value(json_object_get(auth, "password"));
        struct strbuf up = {0};
        if (!user) {
            snprintf(err, errlen, "%s is not set", json_string_value(json_object_get(auth, "user_env")));
            return -1;
        }
        sb_str(&up, user);
        sb_str(&up, ":");
        sb_str(&up, pw ? pw : "");
        r->userpwd = up.s;
    } else if (strcmp(scheme, "json_body") == 0) {
        return build_json_body(p, doc, auth, r, err, errlen);
    } else if (strcmp(scheme, "token_from") == 0) {
        const char *tok = token_of(ctx, json_string_value(json_object_get(auth, "step")));
        const char *prefix = json_string_value(json_object_get(auth, "prefix"));
        struct strbuf h = {0};
        if (!tok) {
            snprintf(err, errlen, "no token from step %s", json_string_value(json_object_get(auth, "step")));
            return -1;
        }
        sb_str(&h, prefix ? prefix : "");
        sb_str(&h, tok);
        add_header(r, json_string_value(json_object_get(auth, "header")), h.s);
        wipe_free(h.s);
    }
    return 0;
}

/* Replaces {name} in tmpl with vars[name] (strings or integers); an unknown name stays as written.
 * Returns a malloc'd string. Values are URL-escaped when escape is set. */
static char *expand_vars(const char *tmpl, const json_t *vars, int escape)
{
    struct strbuf b = {0};
    sb_str(&b, "");
    for (const char *t = tmpl; *t;) {
        const char *close = *t == '{' ? strchr(t, '}') : NULL;
        json_t *v = NULL;
        if (close && vars && close - t < 64) {
            char name[64];
            memcpy(name, t + 1, (size_t)(close - t - 1));
            name[close - t - 1] = '\0';
            v = json_object_get(vars, name);
        }
        if (v && (json_is_string(v) || json_is_integer(v))) {
            char num[32];
            const char *val = json_is_string(v) ? json_string_value(v) : num;
            if (json_is_integer(v)) snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            if (escape)
                sb_urlencoded(&b, val);
            else
                sb_str(&b, val);
            t = close + 1;
        } else {
            sb_add(&b, t, 1);
            t++;
        }
    }
    return b.s;
}

int probe_build(const struct provider_def *p, const json_t *doc, const json_t *step,
                const char *(*token_of)(void *, const char *), void *ctx, struct probe_request *r, char *err,
                size_t errlen)
{
    return probe_build_with(p, doc, step, NULL, token_of, ctx, r, err, errlen);
}

int probe_build_with(const struct provider_def *p, const json_t *doc, const json_t *step, const json_t *vars,
                     const char *(*token_of)(void *, const char *), void *ctx, struct probe_request *r,
                     char *err, size_t errlen)
{
    const json_t *auth = json_object_get(step, "auth");
    const char *scheme = json_string_value(json_object_get(auth, "scheme"));
    const char *method = json_string_value(json_object_get(step, "method"));
    const char *path = json_string_value(json_object_get(step, "path"));
    struct strbuf url = {0};
    int first = 1;
    const char *key;
    json_t *v;

    memset(r, 0, sizeof *r);
    r->headers = calloc(1, sizeof *r->headers);
    if (scheme && strcmp(scheme, "resp") == 0) {
        const char *env = json_string_value(json_object_get(auth, "env"));
        const char *val = env ? probe_env(p, doc, env) : NULL;
        const char *cmd = json_string_value(json_object_get(step, "command"));
        if (!val) {
            snprintf(err, errlen, "%s is not set", env ? env : "the Redis URL");
            return -1;
        }
        r->is_resp = 1;
        r->url = strdup(val);
        r->resp_command = strdup(cmd ? cmd : "PING");
        return 0;
    }
    r->method = strdup(method ? method : "GET");
    if (scheme && strcmp(scheme, "url_env") == 0) {
        const char *env = json_string_value(json_object_get(auth, "env"));
        const char *val = env ? probe_env(p, doc, env) : NULL;
        if (!val) {
            snprintf(err, errlen, "%s is not set", env ? env : "the URL variable");
            return -1;
        }
        sb_str(&url, val);
    } else {
        const char *base = base_url(p, r);
        if (!base) {
            snprintf(err, errlen, "%s has no base URL", p->id);
            return -1;
        }
        char *expanded = expand_vars(path ? path : "", vars, 1);
        sb_str(&url, base);
        sb_str(&url, expanded);
        free(expanded);
    }
    json_object_foreach(json_object_get(step, "query"), key, v) if (json_is_string(v))
    {
        char *expanded = expand_vars(json_string_value(v), vars, 0);
        add_query(&url, &first, key, expanded);
        free(expanded);
    }
    json_object_foreach(json_object_get(step, "headers"), key, v) if (json_is_string(v))
        add_header(r, key, json_string_value(v));
    json_object_foreach(json_object_get(step, "env_headers"), key, v)
    {
        const char *val = json_is_string(v) ? probe_env(p, doc, json_string_value(v)) : NULL;
        if (val) add_header(r, key, val);
    }
    if (apply_auth(p, doc, auth, &url, &first, token_of, ctx, r, err, errlen) < 0) {
        wipe_free(url.s);
        return -1;
    }
    if (!r->body && (json_object_get(step, "body") || json_object_get(step, "var_fields"))) {
        /* body: constant fields; var_fields {field = "var"}: vars[var] as is (an integer stays a number) */
        json_t *body = json_is_object(json_object_get(step, "body"))
                           ? json_deep_copy(json_object_get(step, "body"))
                           : json_object();
        json_object_foreach(json_object_get(step, "var_fields"), key, v)
        {
            json_t *val = json_is_string(v) ? json_object_get(vars, json_string_value(v)) : NULL;
            if (!val) {
                snprintf(err, errlen, "body variable %s is not set",
                         json_is_string(v) ? json_string_value(v) : key);
                json_decref(body);
                wipe_free(url.s);
                return -1;
            }
            json_object_set(body, key, val);
        }
        r->body = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        r->body_len = r->body ? strlen(r->body) : 0;
        add_header(r, "Content-Type", "application/json");
    }
    add_header(r, "Accept", "application/json");
    add_header(r, "User-Agent", "gatehouse-verify/1");
    r->url = url.s;
    return 0;
}

void probe_request_free(struct probe_request *r)
{
    for (size_t i = 0; r->headers && i < r->n_headers; i++)
        wipe_free(r->headers[i]);
    free(r->headers);
    wipe_free(r->url);
    wipe_free(r->userpwd);
    wipe_free(r->body);
    free(r->method);
    free(r->resp_command);
    free(r->env_key);
    memset(r, 0, sizeof *r);
}
