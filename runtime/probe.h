/* probe.h — builds one verify step's outbound request from the registry's description and the secrets.
 * Secret values are read here (C only), placed in buffers that probe_request_free wipes, and never logged. */
#ifndef GATEHOUSE_PROBE_H
#define GATEHOUSE_PROBE_H

#include <jansson.h>
#include <stddef.h>

struct provider_def;

struct probe_request {
    int is_resp;    /* Redis RESP exchange instead of HTTP */
    char *method;   /* "GET", "POST" */
    char *url;      /* secret-bearing: wiped on free */
    char **headers; /* "Name: value", NULL-terminated; wiped on free */
    size_t n_headers;
    char *userpwd; /* "user:password" or NULL; wiped */
    char *body;    /* JSON body or NULL; wiped */
    size_t body_len;
    char *resp_command; /* e.g. "PING" */
    char *env_key;      /* env_hosts key in use ("demo"/"live"), or NULL when *_BASE_URL or no env_hosts */
};

/* Reads the variable `var` of provider p, honouring aliases (prefer_alias: the alias first). Borrowed value
 * from secret.c or NULL. */
const char *probe_env(const struct provider_def *p, const json_t *provider_doc, const char *var);

/* Builds the request for step (a verify.steps[] entry of provider p; provider_doc is p's table in the
 * registry document). token_of(step_name) returns a token captured from an earlier step's answer (or
 * NULL). Returns 0, or -1 with err (secret-free) when the step cannot be built (a variable or token is
 * missing). */
int probe_build(const struct provider_def *p, const json_t *provider_doc, const json_t *step,
                const char *(*token_of)(void *ctx, const char *step_name), void *ctx,
                struct probe_request *out, char *err, size_t errlen);

/* Same, for a data call (e.g. the registry's `bars` description): {name} in the path and in query values is
 * replaced by vars[name] (a JSON object of strings/integers; path values are URL-escaped). A step's
 * var_fields {field = "var"} adds vars[var] to its JSON body (next to the constant `body` fields), type kept;
 * a missing var is an error. */
int probe_build_with(const struct provider_def *p, const json_t *provider_doc, const json_t *step,
                     const json_t *vars, const char *(*token_of)(void *ctx, const char *step_name), void *ctx,
                     struct probe_request *out, char *err, size_t errlen);

/* Wipes and frees everything in r. */
void probe_request_free(struct probe_request *r);

#endif
