/* config.c — environment settings with defaults; see README.md "Configuration". */
#include "config.h"

#include "clock.h"
#include "log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <sys/socket.h>
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
        snprintf(err, errlen, "%s: must be an integer between %ld and %ld", name, min, max);
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
    snprintf(err, errlen, "GATEHOUSE_LISTEN: must be host:port (got \"%s\")", v);
    return -1;
}

/* Adds host (n bytes, lower-cased) to the allowed Host values, once. Returns 0, or -1 with err. */
static int add_host(const char *host, size_t n, char *err, size_t errlen)
{
    char h[264];
    if (n == 0) return 0;
    if (n >= sizeof h ||
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]") < n) {
        snprintf(err, errlen, "GATEHOUSE_ALLOWED_HOSTS: \"%.*s\" is not a host or host:port",
                 (int)(n > 80 ? 80 : n), host);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        h[i] = (char)tolower((unsigned char)host[i]);
    h[n] = '\0';
    for (int i = 0; i < cfg.n_allowed_hosts; i++)
        if (strcmp(cfg.allowed_hosts[i], h) == 0) return 0;
    if (cfg.n_allowed_hosts >= CONFIG_MAX_HOSTS) {
        snprintf(err, errlen, "GATEHOUSE_ALLOWED_HOSTS: at most %d hosts", CONFIG_MAX_HOSTS - 12);
        return -1;
    }
    memcpy(cfg.allowed_hosts[cfg.n_allowed_hosts++], h, n + 1);
    return 0;
}

/* host, and host:<listen port>. */
static int add_host_and_port(const char *host, char *err, size_t errlen)
{
    char hp[300];
    snprintf(hp, sizeof hp, "%s:%d", host, cfg.listen_port);
    return add_host(host, strlen(host), err, errlen) < 0 || add_host(hp, strlen(hp), err, errlen) < 0 ? -1
                                                                                                      : 0;
}

/* The allowed Host values: the defaults, GATEHOUSE_ORIGIN's host, then the comma list
 * GATEHOUSE_ALLOWED_HOSTS. */
static int load_allowed_hosts(char *err, size_t errlen)
{
    char listen[300];
    snprintf(listen, sizeof listen, strchr(cfg.listen_host, ':') ? "[%s]" : "%s", cfg.listen_host);
    if (add_host_and_port(listen, err, errlen) < 0 || add_host_and_port("localhost", err, errlen) < 0 ||
        add_host_and_port("127.0.0.1", err, errlen) < 0 || add_host_and_port("[::1]", err, errlen) < 0)
        return -1;
    if (cfg.origin && strstr(cfg.origin, "://")) {
        const char *h = strstr(cfg.origin, "://") + 3;
        if (add_host(h, strcspn(h, "/"), err, errlen) < 0) return -1;
    }
    const char *v = getenv("GATEHOUSE_ALLOWED_HOSTS");
    while (v && *v) {
        v += strspn(v, " \t,");
        size_t n = strcspn(v, ",");
        size_t t = n;
        while (t && (v[t - 1] == ' ' || v[t - 1] == '\t'))
            t--;
        if (add_host(v, t, err, errlen) < 0) return -1;
        v += n;
    }
    return 0;
}

int config_parse_cidr(const char *text, struct config_cidr *out)
{
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t n = slash ? (size_t)(slash - text) : strlen(text);
    if (n == 0 || n >= sizeof addr) return -1;
    memcpy(addr, text, n);
    addr[n] = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, addr, out->addr) == 1)
        out->family = AF_INET, out->bits = 32;
    else if (inet_pton(AF_INET6, addr, out->addr) == 1)
        out->family = AF_INET6, out->bits = 128;
    else
        return -1;
    if (slash) {
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || bits < 0 || bits > out->bits) return -1;
        out->bits = (int)bits;
    }
    return 0;
}

/* GATEHOUSE_TRUSTED_PROXIES: a comma list of addresses or CIDR blocks (default none). */
static int load_trusted_proxies(char *err, size_t errlen)
{
    const char *v = getenv("GATEHOUSE_TRUSTED_PROXIES");
    while (v && *v) {
        char item[80];
        v += strspn(v, " \t,");
        size_t n = strcspn(v, ", \t");
        if (n == 0) break;
        if (n >= sizeof item || cfg.n_trusted_proxies >= CONFIG_MAX_PROXIES) goto bad;
        memcpy(item, v, n);
        item[n] = '\0';
        if (config_parse_cidr(item, &cfg.trusted_proxies[cfg.n_trusted_proxies]) < 0) goto bad;
        cfg.n_trusted_proxies++;
        v += n;
        continue;
    bad:
        snprintf(err, errlen,
                 "GATEHOUSE_TRUSTED_PROXIES: must be a comma list of at most %d addresses or CIDR "
                 "blocks (e.g. 127.0.0.1,10.0.0.0/8)",
                 CONFIG_MAX_PROXIES);
        return -1;
    }
    return 0;
}

/* GATEHOUSE_LOG_LEVEL (default info), applied at once so everything after start-up logs at it. */
static int load_log_level(char *err, size_t errlen)
{
    const char *v = getenv("GATEHOUSE_LOG_LEVEL");
    snprintf(cfg.log_level, sizeof cfg.log_level, "%s", v && *v ? v : "info");
    if ((v && *v && strlen(v) >= sizeof cfg.log_level) || log_set_level(cfg.log_level) < 0) {
        snprintf(err, errlen, "GATEHOUSE_LOG_LEVEL: must be debug, info, warn or error");
        return -1;
    }
    return 0;
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

#define LOAD(field, name, def, min, max)                                                                     \
    if ((n = env_long(name, def, min, max, err, errlen)) < 0) return -1;                                     \
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
    LOAD(reconcile_every_s, "GATEHOUSE_RECONCILE_EVERY_S", 60, 1, 86400)
    LOAD(risk_sweep_every_s, "GATEHOUSE_RISK_SWEEP_EVERY_S", 60, 1, 86400)
    LOAD(tick_interval_s, "GATEHOUSE_TICK_INTERVAL_S", 0, 0, 86400)
    LOAD(heartbeat_timeout_s, "GATEHOUSE_HEARTBEAT_TIMEOUT_S", 0, 0, 7 * 86400)
    LOAD(breaker_failures, "GATEHOUSE_BREAKER_FAILURES", 3, 1, 1000)
    LOAD(breaker_window_s, "GATEHOUSE_BREAKER_WINDOW_S", 1800, 1, 30 * 86400)
    LOAD(breaker_cooldown_s, "GATEHOUSE_BREAKER_COOLDOWN_S", 600, 1, 30 * 86400)
    LOAD(lease_s, "GATEHOUSE_LEASE_S", 7, 2, 60)
    LOAD(capacity, "GATEHOUSE_CAPACITY", 1000, 1, 100000)
    LOAD(autonomy_interval_s, "GATEHOUSE_AUTONOMY_INTERVAL_S", 30, 1, 86400)
    LOAD(autonomy_sweep_s, "GATEHOUSE_AUTONOMY_SWEEP_S", 300, 1, 86400)
    LOAD(cookie_secure, "GATEHOUSE_COOKIE_SECURE", 0, 0, 1)
    LOAD(read_timeout_s, "GATEHOUSE_READ_TIMEOUT_S", 10, 1, 3600)
    LOAD(max_header_bytes, "GATEHOUSE_MAX_HEADER_BYTES", 16384, 1024, 1048576)
    LOAD(background_verify, "GATEHOUSE_BACKGROUND_VERIFY", 1, 0, 1)
    LOAD(alerts, "GATEHOUSE_ALERTS", 1, 0, 1)
    LOAD(session_idle_s, "GATEHOUSE_SESSION_IDLE_S", 1800, 1, 86400 * 30)
    LOAD(session_absolute_s, "GATEHOUSE_SESSION_ABSOLUTE_S", 43200, 1, 86400 * 90)
    LOAD(temp_ttl_2fa_s, "GATEHOUSE_2FA_TEMP_TTL_S", 300, 1, 3600)
    LOAD(fresh_2fa_s, "GATEHOUSE_FRESH_2FA_S", 300, 1, 86400)
    LOAD(auth_max_failures, "GATEHOUSE_AUTH_MAX_FAILURES", 5, 1, 1000)
    LOAD(auth_window_s, "GATEHOUSE_AUTH_WINDOW_S", 120, 1, 86400)
    LOAD(auth_ban_s, "GATEHOUSE_AUTH_BAN_S", 300, 1, 86400)
#undef LOAD
    cfg.policy_mem_bytes *= 1048576;
    v = getenv("GATEHOUSE_ORIGIN");
    cfg.origin = v && *v ? v : NULL;
    v = getenv("GATEHOUSE_SPILL_FILE");
    cfg.spill_file = v && *v ? v : NULL;
    v = getenv("GATEHOUSE_WEB_DIR");
    cfg.web_dir = v && *v ? v : NULL;
    if (load_log_level(err, errlen) < 0) return -1;
    if (load_allowed_hosts(err, errlen) < 0 || load_trusted_proxies(err, errlen) < 0) return -1;
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
