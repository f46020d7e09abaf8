/* fuzz_route.c — libFuzzer target for routing and path handling (runtime/http.c). Built and run by `make fuzz`.
 *
 * The input is a raw request path as it arrives on the wire: "[pattern\n]path[\x01traceparent]". The path is
 * percent-decoded with evhttp_uridecode exactly as http.c's new_ctx does (a decoded NUL rejects the request),
 * then looked up with http_route_find in gatehouse's own route table (build/fuzz/routes.inc, generated from
 * runtime/main.c by the Makefile, so new routes are fuzzed too) for every method, and matched against the
 * input's own pattern with http_match. Checked contract: a match substitutes back — putting the captured
 * params into the pattern's :name segments gives the decoded path again; params are non-empty and hold no '/';
 * at most HTTP_MAX_PARAMS; a miss with a non-empty Allow list means another method's route matched; the
 * traceparent parser yields 32 lower-case hex characters, never all zeros. The same trailing header value also
 * goes through http_accepts_gzip: it never reads past the string, and says yes only to a value naming gzip. */
#include <event2/http.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "id.h"

static const struct http_route routes[] = {
#include "routes.inc"
    {0},
};

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

/* Substitutes params into pattern's :name segments; 1 when the result equals path. */
static int substitutes_back(const char *pattern, const char *path, const char *const *params)
{
    size_t cap = strlen(pattern) + strlen(path) + 2, w = 0;
    int k = 0;
    char *buf = malloc(cap);
    for (const char *p = pattern; *p;) {
        if (p[0] == ':' && p > pattern && p[-1] == '/') {
            const char *v = params[k++];
            size_t vl = strlen(v);
            if (vl == 0 || strchr(v, '/') || w + vl >= cap) abort();
            memcpy(buf + w, v, vl);
            w += vl;
            p += strcspn(p, "/");
        } else {
            if (w + 1 >= cap) abort();
            buf[w++] = *p++;
        }
    }
    buf[w] = '\0';
    int same = strcmp(buf, path) == 0;
    free(buf);
    return same;
}

static void check_match(const char *pattern, const char *path, const char **params)
{
    int n = 0;
    for (const char *p = pattern; (p = strstr(p, "/:")) != NULL; p += 2)
        n++;
    if (n > HTTP_MAX_PARAMS) return; /* such a pattern cannot match (http_match refuses) */
    if (!substitutes_back(pattern, path, params)) abort();
}

static void fuzz_traceparent(const char *s)
{
    char id[33];
    memset(id, 'x', sizeof id);
    if (http_parse_traceparent(s, id) == 0) {
        if (!id_is_trace_id(id) || strspn(id, "0") == 32) abort();
    }
}

static void fuzz_accept_encoding(const char *s)
{
    if (http_accepts_gzip(s) && !strcasestr(s, "gzip")) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1), *pattern = NULL, *raw = in, *tp;
    size_t plen = 0;
    memcpy(in, data, size);
    in[size] = '\0';
    if ((tp = memchr(in, '\x01', size)) != NULL) {
        *tp++ = '\0';
        fuzz_traceparent(tp);
        fuzz_accept_encoding(tp);
    }
    char *nl = strchr(in, '\n');
    if (nl) {
        *nl = '\0';
        pattern = in;
        raw = nl + 1;
    }
    (void)id_is_uuid(raw);

    char *path = evhttp_uridecode(*raw ? raw : "/", 0, &plen);
    if (!path) goto out;
    if (strlen(path) != plen || path[0] != '/') goto out; /* http.c answers 400 for these */
    char *scratch = malloc(plen + 1);
    const char *params[HTTP_MAX_PARAMS];
    char allow[128];
    for (size_t m = 0; m < sizeof methods / sizeof *methods; m++) {
        memset(params, 0, sizeof params);
        const struct http_route *r =
            http_route_find(routes, methods[m], path, scratch, params, allow, sizeof allow);
        if (r) {
            check_match(r->pattern, path, params);
            if (strcmp(r->method, methods[m]) && !(strcmp(methods[m], "HEAD") == 0 && strcmp(r->method, "GET") == 0))
                abort();
        } else if (allow[0] && strstr(allow, methods[m]) && strcmp(methods[m], "HEAD")) {
            abort(); /* the Allow list names the very method that found nothing */
        }
    }
    if (pattern && pattern[0] == '/') {
        memset(params, 0, sizeof params);
        if (http_match(pattern, path, scratch, params)) check_match(pattern, path, params);
    }
    free(scratch);
out:
    free(path);
    free(in);
    return 0;
}
