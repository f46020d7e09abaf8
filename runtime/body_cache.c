/* body_cache.c — pre-serialised response bodies; see body_cache.h. */
#include "body_cache.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clock.h"
#include "secret.h"

/* The bytes of members and deflated live in a reference-counted block, so an answer still being written when
 * the cache is rebuilt keeps its own reference (body_cache_retain) instead of a copy. Single-threaded. */
struct shared_bytes {
    size_t refs;
    max_align_t align[]; /* the bytes follow */
};

static struct shared_bytes *shared_of(const void *bytes)
{
    return (struct shared_bytes *)(void *)((char *)bytes - offsetof(struct shared_bytes, align));
}

/* n bytes (plus a NUL) with one reference, or NULL. */
static char *shared_alloc(size_t n)
{
    struct shared_bytes *b = malloc(sizeof *b + n + 1);
    if (!b) return NULL;
    b->refs = 1;
    return (char *)b->align;
}

static void shared_unref(const void *bytes)
{
    if (!bytes) return;
    struct shared_bytes *b = shared_of(bytes);
    if (--b->refs == 0) free(b);
}

void *body_cache_retain(const void *bytes)
{
    shared_of(bytes)->refs++;
    return (void *)bytes;
}

void body_cache_release(const void *data, size_t len, void *extra)
{
    (void)data, (void)len;
    shared_unref(extra);
}

uint64_t body_cache_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
    h *= 0xBF58476D1CE4E5B9ULL;
    return h ^ (h >> 31);
}

uint64_t body_cache_mix_str(uint64_t h, const char *s)
{
    uint64_t f = 1469598103934665603ULL; /* FNV-1a */
    for (; s && *s; s++)
        f = (f ^ (unsigned char)*s) * 1099511628211ULL;
    return body_cache_mix(h, s ? f : 0);
}

int body_cache_fresh(const struct body_cache *c, uint64_t key, double max_age_ms)
{
    return c->members && c->key == key && (max_age_ms <= 0 || clock_now_ms() - c->built_ms <= max_age_ms);
}

int body_cache_store(struct body_cache *c, uint64_t key, json_t *body)
{
    char *text = json_is_object(body) ? json_dumps(body, JSON_COMPACT) : NULL;
    size_t len = 0;
    char *clean = text ? secret_redact(text, strlen(text), &len) : NULL;
    json_decref(body);
    free(text);
    body_cache_clear(c);
    if (!clean || len < 2 || clean[0] != '{' || clean[len - 1] != '}') {
        free(clean);
        return -1;
    }
    char *members = shared_alloc(len - 2);
    if (!members) {
        free(clean);
        return -1;
    }
    memcpy(members, clean + 1, len - 2); /* drop the braces: the envelope supplies them */
    members[len - 2] = '\0';
    free(clean);
    c->members = members;
    c->len = len - 2;
    c->key = key;
    c->built_ms = clock_now_ms();
    return 0;
}

int body_cache_deflate(struct body_cache *c)
{
    z_stream z = {0};
    if (c->deflated) return 0;
    if (!c->members || deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    size_t cap = deflateBound(&z, c->len) + 16;
    unsigned char *out = (unsigned char *)shared_alloc(cap);
    z.next_in = (unsigned char *)c->members;
    z.avail_in = (uInt)c->len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = out ? deflate(&z, Z_SYNC_FLUSH) : Z_MEM_ERROR; /* ends byte-aligned, without a final block */
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_OK || z.avail_in != 0) {
        shared_unref(out);
        return -1;
    }
    c->deflated = out;
    c->deflated_len = n;
    c->crc = (uint32_t)crc32(0L, (const unsigned char *)c->members, (uInt)c->len);
    c->crc_op = crc32_combine_gen((z_off_t)c->len);
    return 0;
}

void body_cache_clear(struct body_cache *c)
{
    shared_unref(c->members); /* answers still being written hold their own references */
    shared_unref(c->deflated);
    c->members = NULL;
    c->deflated = NULL;
    c->len = c->deflated_len = 0;
}
