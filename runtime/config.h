/* config.h — gatehouse's own settings, read once from the environment at start-up into one struct config
 * (PRODUCT.md §9, README.md "Configuration"). Provider variables are NOT read here: secret.c owns them. */
#ifndef GATEHOUSE_CONFIG_H
#define GATEHOUSE_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_HOSTS 64
#define CONFIG_MAX_PROXIES 32

/* An address block of GATEHOUSE_TRUSTED_PROXIES: family AF_INET or AF_INET6, the address in network order
 * (4 or 16 bytes used) and the prefix length. */
struct config_cidr {
    int family;
    unsigned char addr[16];
    int bits;
};

struct config {
    char listen_host[256];
    int listen_port;
    const char *database_url; /* borrowed from the environment; NULL when unset */
    char home[4096];          /* GATEHOUSE_HOME: where providers.lua, gates.lua, scripts/, migrations/ live */
    size_t max_body_bytes;    /* GATEHOUSE_MAX_BODY_BYTES: JSON request body limit (413 above) */
    int verify_ttl_s;         /* GATEHOUSE_VERIFY_TTL_S: default verify TTL when a provider sets none */
    int retention_days;       /* GATEHOUSE_RETENTION_DAYS */
    int db_wait_s;            /* GATEHOUSE_DB_WAIT_S: how long serve waits for Postgres at start-up */
    int db_pool_size;         /* GATEHOUSE_DB_POOL_SIZE: connections of the query pool (1..16, default 8) */
    int policy_watch_ms;      /* GATEHOUSE_POLICY_WATCH_MS: policy file change polling period (0 = off) */
    size_t policy_mem_bytes;  /* GATEHOUSE_POLICY_MEM_MB: memory cap of one policy generation */
    long policy_instr_budget; /* GATEHOUSE_POLICY_INSTR_BUDGET: VM instructions per policy call */
    int policy_deadline_ms;   /* GATEHOUSE_POLICY_DEADLINE_MS: wall-clock deadline per policy call */
    int job_deadline_s;     /* GATEHOUSE_JOB_DEADLINE_S: a job's deadline when its request sets none (600) */
    int verify_cooldown_ms; /* GATEHOUSE_VERIFY_COOLDOWN_MS: a requested verify of a provider again within
                               this after the last one completed → 429 (2000; 0 = off) */
    int reconcile_every_s;  /* GATEHOUSE_RECONCILE_EVERY_S: broker reconciliation period on the leader (60) */
    int risk_sweep_every_s; /* GATEHOUSE_RISK_SWEEP_EVERY_S: held-exposure review period on the leader (60) */
    int tick_interval_s;    /* GATEHOUSE_TICK_INTERVAL_S: every running bot's tick interval (0 = unset:
                               params/timeframe) */
    int heartbeat_timeout_s; /* GATEHOUSE_HEARTBEAT_TIMEOUT_S: a bot's heartbeat timeout (0 = unset: 3 x
                                interval, >= 30) */
    int breaker_failures;    /* GATEHOUSE_BREAKER_FAILURES: deaths in the window that open a bot's circuit
                                breaker (3) */
    int breaker_window_s;    /* GATEHOUSE_BREAKER_WINDOW_S: the window those deaths are counted in (1800) */
    int breaker_cooldown_s;  /* GATEHOUSE_BREAKER_COOLDOWN_S: OPEN for this long, then HALF_OPEN (600) */
    int lease_s;  /* GATEHOUSE_LEASE_S: the fleet's lease period; a dead instance's bots move within it (7) */
    int capacity; /* GATEHOUSE_CAPACITY: running bots this instance is sized for; more is a SEV-2 (1000) */
    int autonomy_interval_s; /* GATEHOUSE_AUTONOMY_INTERVAL_S: period of the leader's autonomy round of every
                                bot (30) */
    int autonomy_sweep_s;    /* GATEHOUSE_AUTONOMY_SWEEP_S: every bot is rescored at least this often even
                                when nothing this process saw changed its evidence (300) */
    int max_backtests; /* GATEHOUSE_MAX_BACKTESTS: backtests running at once on this instance; one more → 429
                          (4) */
    int cookie_secure; /* GATEHOUSE_COOKIE_SECURE=1: served over TLS (or a TLS proxy): Secure + __Host- cookie
                        */
    const char *origin; /* GATEHOUSE_ORIGIN: the browser origin to expect (default http[s]://<Host>) */
    /* Host header values served (lower case; "name" or "name:port"): the listen address, localhost,
     * 127.0.0.1 and [::1] (each with and without the listen port), GATEHOUSE_ORIGIN's host, and
     * GATEHOUSE_ALLOWED_HOSTS. Any other Host is 421 MISDIRECTED_REQUEST (DNS rebinding). */
    char allowed_hosts[CONFIG_MAX_HOSTS][264];
    int n_allowed_hosts;
    struct config_cidr trusted_proxies[CONFIG_MAX_PROXIES]; /* GATEHOUSE_TRUSTED_PROXIES (default none) */
    int n_trusted_proxies;
    int read_timeout_s; /* GATEHOUSE_READ_TIMEOUT_S: headers and body of a request must arrive within it */
    size_t max_header_bytes; /* GATEHOUSE_MAX_HEADER_BYTES: request line + headers limit (431 above) */
    const char
        *test_clock;    /* GATEHOUSE_TEST_CLOCK: the instant the wall clock starts at (tests only), or NULL */
    char log_level[16]; /* GATEHOUSE_LOG_LEVEL: debug, info, warn (or warning), error (info); applied by
                           config_load */
    const char
        *spill_file; /* GATEHOUSE_SPILL_FILE: the telemetry spill file, or NULL (var/spill/<hash>.jsonl) */
    int background_verify;  /* GATEHOUSE_BACKGROUND_VERIFY: 0 turns background re-verification off (1) */
    int alerts;             /* GATEHOUSE_ALERTS: 0 turns Discord alerts off (1) */
    const char *web_dir;    /* GATEHOUSE_WEB_DIR: the built web Observatory, or NULL (<home>/web/dist) */
    int session_idle_s;     /* GATEHOUSE_SESSION_IDLE_S (1800): a session unused this long is over */
    int session_absolute_s; /* GATEHOUSE_SESSION_ABSOLUTE_S (43200): a session never lives longer */
    int temp_ttl_2fa_s;     /* GATEHOUSE_2FA_TEMP_TTL_S (300): life of the login -> 2fa/verify temp token */
    int fresh_2fa_s; /* GATEHOUSE_FRESH_2FA_S (300): how recent a 2FA must be for trading on / kill-all */
    int auth_max_failures; /* GATEHOUSE_AUTH_MAX_FAILURES (5): failures within the window that start a ban */
    int auth_window_s;     /* GATEHOUSE_AUTH_WINDOW_S (120): the failure-counting window */
    int auth_ban_s;        /* GATEHOUSE_AUTH_BAN_S (300): how long a ban lasts */
};

extern struct config cfg;

/* Fills cfg from the environment with the documented defaults (README.md "Configuration"), checking every
 * value against its bounds, and applies the two settings that take effect at once (the log level, the test
 * clock). Returns 0, or -1 with err naming the variable when a value is malformed or out of range
 * ("GATEHOUSE_X: must be an integer between A and B"). Every GATEHOUSE_* setting is read here, except
 * GATEHOUSE_USER_PASSWORD (an input of `gatehouse user add`, not a setting: api_users.c) and
 * GATEHOUSE_SERVICE_TOKEN (a secret: secret.c). */
int config_load(char *err, size_t errlen);

/* Parses "10.0.0.0/8", "::1" or "192.168.1.7" into out (a bare address is a full-length prefix). Returns 0,
 * or -1 when text is not an address or the prefix is out of range. Pure. */
int config_parse_cidr(const char *text, struct config_cidr *out);

/* Joins cfg.home and a relative path into out. Returns out. */
char *config_path(const char *relative, char *out, size_t outlen);

#endif
