/* config.c — environment settings with defaults; see README.md "Configuration". */
#include "config.h"

#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct config cfg;

/* Reads a positive integer variable; returns def when unset, -1 with err when malformed. */
static long env_long(const char *name, long def, long min, long max, char *err, size_t errlen)
{
    const char *v = getenv(name);
    char *end;
    long n;
    if (!v || !*v) return def;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || *end || n < min || n > max) {
        snprintf(err, errlen, "%s must be an integer between %ld and %ld", name, min, max);
        return -1;
    }
    return n;
}

static int parse_listen(const char *v, char *err, size_t errlen)
{
    const char *colon = strrchr(v, ':');
    char *end;
    long port;
    size_t hostlen;
    if (!colon || colon == v) goto bad;
    hostlen = (size_t)(colon - v);
    if (v[0] == '[' && colon[-1] == ']') { /* [::1]:8080 */
        v++;
        hostlen -= 2;
    }
    if (hostlen >= sizeof cfg.listen_host) goto bad;
    port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) goto bad;
    memcpy(cfg.listen_host, v, hostlen);
    cfg.listen_host[hostlen] = '\0';
    cfg.listen_port = (int)port;
    return 0;
bad:
    snprintf(err, errlen, "GATEHOUSE_LISTEN must be host:port (got \"%s\")", v);
    return -1;
}

int config_load(char *err, size_t errlen)
{
    const char *v;
    long n;

    memset(&cfg, 0, sizeof cfg);
    v = getenv("GATEHOUSE_LISTEN");
    if (parse_listen(v && *v ? v : "127.0.0.1:8080", err, errlen) < 0) return -1;
    v = getenv("DATABASE_URL");
    cfg.database_url = v && *v ? v : NULL;
    v = getenv("GATEHOUSE_HOME");
    if (v && *v)
        snprintf(cfg.home, sizeof cfg.home, "%s", v);
    else if (!getcwd(cfg.home, sizeof cfg.home)) {
        snprintf(err, errlen, "cannot determine the working directory");
        return -1;
    }

#define LOAD(field, name, def, min, max)                                                                   \
    if ((n = env_long(name, def, min, max, err, errlen)) < 0) return -1;                                   \
    cfg.field = n;
    LOAD(max_body_bytes, "GATEHOUSE_MAX_BODY_BYTES", 1048576, 64, 64L * 1048576)
    LOAD(verify_ttl_s, "GATEHOUSE_VERIFY_TTL_S", 900, 1, 86400 * 30)
    LOAD(retention_days, "GATEHOUSE_RETENTION_DAYS", 30, 1, 3650)
    LOAD(db_wait_s, "GATEHOUSE_DB_WAIT_S", 30, 0, 3600)
    LOAD(db_pool_size, "GATEHOUSE_DB_POOL_SIZE", 8, 1, 16)
    LOAD(policy_watch_ms, "GATEHOUSE_POLICY_WATCH_MS", 1000, 0, 600000)
    LOAD(policy_mem_bytes, "GATEHOUSE_POLICY_MEM_MB", 64, 4, 4096)
    LOAD(policy_instr_budget, "GATEHOUSE_POLICY_INSTR_BUDGET", 50000000, 1000, 2000000000)
    LOAD(policy_deadline_ms, "GATEHOUSE_POLICY_DEADLINE_MS", 1000, 10, 600000)
    LOAD(job_deadline_s, "GATEHOUSE_JOB_DEADLINE_S", 600, 1, 7 * 86400)
    LOAD(verify_cooldown_ms, "GATEHOUSE_VERIFY_COOLDOWN_MS", 2000, 0, 3600000)
    LOAD(max_backtests, "GATEHOUSE_MAX_BACKTESTS", 4, 1, 1000)
    LOAD(cookie_secure, "GATEHOUSE_COOKIE_SECURE", 0, 0, 1)
#undef LOAD
    cfg.policy_mem_bytes *= 1048576;
    v = getenv("GATEHOUSE_ORIGIN");
    cfg.origin = v && *v ? v : NULL;
    /* the test clock starts here, before anything reads the time (clock.h; serve checks it is allowed) */
    v = getenv("GATEHOUSE_TEST_CLOCK");
    cfg.test_clock = v && *v ? v : NULL;
    if (clock_set_test(cfg.test_clock, err, errlen) < 0) return -1;
    return 0;
}

char *config_path(const char *relative, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", cfg.home, relative);
    return out;
}
