/* id.c — trace ids and UUIDs: made from libsodium's random source, checked by syntax. */
#include "id.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* Trace ids come from a small per-thread pool of random bytes, refilled from libsodium's random source
 * 64 ids at a time: one getrandom(2) per 64 requests instead of one per request. Trace ids are not secrets
 * (every answer shows its own); a forked child drops its copy of the pool so no id is issued twice. */
#define TRACE_POOL_IDS 64
static __thread unsigned char trace_pool[TRACE_POOL_IDS * 16];
static __thread size_t trace_pool_left; /* ids not yet issued, taken from the end */
static pthread_once_t trace_pool_once = PTHREAD_ONCE_INIT;

static void trace_pool_drop(void)
{
    trace_pool_left = 0;
}

static void trace_pool_init(void)
{
    pthread_atfork(NULL, NULL, trace_pool_drop);
}

void id_trace_new(char out[33])
{
    pthread_once(&trace_pool_once, trace_pool_init);
    if (trace_pool_left == 0) {
        randombytes_buf(trace_pool, sizeof trace_pool);
        trace_pool_left = TRACE_POOL_IDS;
    }
    trace_pool_left--;
    sodium_bin2hex(out, 33, trace_pool + trace_pool_left * 16, 16);
    sodium_memzero(trace_pool + trace_pool_left * 16, 16);
}

int id_is_trace_id(const char *s)
{
    return s && strlen(s) == 32 && is_lower_hex(s, 32);
}

int id_is_uuid(const char *s)
{
    if (!s || strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i])) return 0;
    }
    return 1;
}

void id_uuid_new(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

const char *id_instance(void)
{
    static char instance[37];
    if (!instance[0]) id_uuid_new(instance);
    return instance;
}

char *id_list_literal(const char (*ids)[37], int n)
{
    size_t len = (size_t)(n > 0 ? n : 0) * 37 + 3, at = 0;
    char *out = malloc(len);
    if (!out) return NULL;
    out[at++] = '{';
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(out + at, len - at, "%s%s", i ? "," : "", ids[i]);
    snprintf(out + at, len - at, "}");
    return out;
}
