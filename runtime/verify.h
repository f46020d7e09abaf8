/* verify.h — verify probes: the safe, timeboxed check that a provider's credentials work now.
 *
 * A probe runs the steps providers.lua declares for the provider (built in C from the registry and the
 * secrets; Lua never sees a secret), one after another within verify.timeout_ms, classifies each answer
 * with the provider's Lua classifier (which receives a redacted, size-capped body), and records the
 * outcome: in memory (the state the status views read), as a verifications row, a system event and a
 * VERIFY usage event. Concurrent requests for the same provider share one running probe. A background
 * timer re-verifies configured providers shortly before their TTL runs out, with jitter. */
#ifndef GATEHOUSE_VERIFY_H
#define GATEHOUSE_VERIFY_H

#include <stddef.h>
#include <time.h>

struct event_base;
struct provider_def;

struct verify_result {
    const char *provider_id;
    const char *outcome; /* OK AUTH_FAILED NOT_ENTITLED RATE_LIMITED TIMEOUT NETWORK_ERROR PROVIDER_ERROR */
    const char *reason_human; /* what to do; never a secret */
    const char *state;        /* VERIFIED or DEGRADED (the provider's state after the probe) */
    int http_status;          /* of the deciding step, 0 when none */
    int latency_ms;
    time_t verified_at;
    const char *trace_id;
};

typedef void (*verify_done_cb)(const struct verify_result *r, void *arg);

/* What the status views need of a provider's latest verification. */
struct verify_status {
    int has_result; /* a probe has completed since start-up (or was loaded from the database) */
    int running;
    char outcome[24];
    char reason_human[512];
    time_t verified_at, last_ok_at;
    int latency_ms, http_status;
};

/* Seeds the latest verification of each provider from the database (start-up: may block) and arms the
 * background re-verification timer (unless GATEHOUSE_BACKGROUND_VERIFY=0). Returns 0, or -1 with err. */
int verify_init(struct event_base *base, const char *conninfo, int background, char *err, size_t errlen);

/* Stops the timer; running probes complete with NETWORK_ERROR "shutting down". */
void verify_shutdown(void);

/* Starts (or joins) a probe for provider_id. The provider must exist and be configured (the caller checks).
 * cb runs exactly once from the loop. Returns 0, or -1 with err (provider unknown or without a probe). */
int verify_start(const char *provider_id, const char *trace_id, const char *user_id, verify_done_cb cb,
                 void *arg, char *err, size_t errlen);

/* Latest verification of provider_id (zeroed when none). */
void verify_status_of(const char *provider_id, struct verify_status *out);

/* 1 when the latest probe returned OK and is younger than ttl_s. */
int verify_connected(const struct verify_status *st, int ttl_s, time_t now);

/* Called after every completed probe (its outcome already recorded), e.g. to re-evaluate the gates at once.
 */
typedef void (*verify_listener)(const char *provider_id, const char *trace_id);
void verify_set_listener(verify_listener fn);

/* Probes running now. */
int verify_running(void);

/* A number that changes whenever any provider's verify status changes (cache key for derived views). */
unsigned long verify_version(void);

#endif
