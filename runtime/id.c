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

/* Trace ids and UUIDs come from a small per-thread pool of random bytes, refilled from libsodium's random
 * source 64 ids at a time: one getrandom(2) per 64 ids instead of one per id (a tick makes several: its run,
 * its usage rows). Neither is a secret (every answer shows its trace id; UUIDs name rows); a forked child
 * drops its copy of the pool so no id is issued twice. */
#define ID_POOL_IDS 64
static __thread unsigned char id_pool[ID_POOL_IDS * 16];
static __thread size_t id_pool_left; /* ids not yet issued, taken from the end */
static pthread_once_t id_pool_once = PTHREAD_ONCE_INIT;

static void id_pool_drop(void)
{
    id_pool_left = 0;
}

static void id_pool_init(void)
{
    pthread_atfork(NULL, NULL, id_pool_drop);
}

/* 16 fresh random bytes from the pool (wiped there once taken). */
static void id_pool_take(unsigned char out[16])
{
    pthread_once(&id_pool_once, id_pool_init);
    if (id_pool_left == 0) {
        randombytes_buf(id_pool, sizeof id_pool);
        id_pool_left = ID_POOL_IDS;
    }
    id_pool_left--;
    memcpy(out, id_pool + id_pool_left * 16, 16);
    sodium_memzero(id_pool + id_pool_left * 16, 16);
}

void id_trace_new(char out[33])
{
    unsigned char b[16];
    id_pool_take(b);
    sodium_bin2hex(out, 33, b, sizeof b);
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
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    id_pool_take(b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = '\0';
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
