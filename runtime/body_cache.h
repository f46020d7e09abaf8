/* body_cache.h — a response body serialised once and served many times (PRODUCT.md §8: the status
 * endpoints answer ≥ 30,000 requests/s at 32 connections).
 *
 * A view that is derived from in-memory state (status decision, verify results, usage aggregates, policy
 * generation) is rebuilt only when a fingerprint of that state changes: its owner mixes the version
 * counters and values its body depends on into a key with body_cache_mix and asks body_cache_fresh before
 * building. The stored text is the compact JSON members of the body object without the outer braces,
 * already passed through the redactor, so http_reply_members only prefixes the envelope. */
#ifndef GATEHOUSE_BODY_CACHE_H
#define GATEHOUSE_BODY_CACHE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct body_cache {
    char *members; /* "\"a\":1,\"b\":[..]" (redacted, NUL-terminated; reference-counted bytes), or NULL */
    size_t len;
    uint64_t key;    /* fingerprint of the state it was built from */
    double built_ms; /* clock_now_ms() when built */
    /* members as raw deflate data ending in a sync flush (byte-aligned, no final block), built on the first
     * request that accepts gzip: http_reply_cached() frames it between the per-request envelope and "}" */
    unsigned char *deflated;
    size_t deflated_len;
    uint32_t crc;         /* CRC-32 of members */
    unsigned long crc_op; /* zlib's crc32_combine_gen(len): appends members' CRC to another cheaply */
};

/* Mixes v into the fingerprint h (start with h = 0). */
uint64_t body_cache_mix(uint64_t h, uint64_t v);

/* Mixes the bytes of s (NULL allowed) into h. */
uint64_t body_cache_mix_str(uint64_t h, const char *s);

/* 1 when c holds a body built from key, at most max_age_ms ago (max_age_ms <= 0: any age). */
int body_cache_fresh(const struct body_cache *c, uint64_t key, double max_age_ms);

/* Serialises body (stolen; a JSON object) compactly, redacts it and keeps it as c's members for key.
 * Returns 0, or -1 (out of memory; c is then empty). */
int body_cache_store(struct body_cache *c, uint64_t key, json_t *body);

/* Builds c->deflated from c->members unless it is there. Returns 0, or -1 (no body, or zlib failed). */
int body_cache_deflate(struct body_cache *c);

/* A reference to c->members or c->deflated (bytes, exactly one of those pointers) that keeps the bytes alive
 * after c is rebuilt or cleared; returns the value to pass as extra to body_cache_release. Lets an answer
 * reference the cached bytes (evbuffer_add_reference) instead of copying them. */
void *body_cache_retain(const void *bytes);

/* Drops a reference taken with body_cache_retain (extra); the signature of libevent's
 * evbuffer_ref_cleanup_cb. */
void body_cache_release(const void *data, size_t len, void *extra);

/* Drops the stored body (freed once no answer references it). */
void body_cache_clear(struct body_cache *c);

#endif
