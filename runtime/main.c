/* main.c — subcommands, wiring, signals and shutdown order.
 *
 *   gatehouse [serve]      migrate, load policies, serve the API (default)
 *   gatehouse migrate      apply pending migrations and exit
 *   gatehouse check        validate the policy files offline (exit 1 on error)
 *   gatehouse spec FILE..  run Lua policy specs inside the sandbox, TAP on stdout
 *   gatehouse keygen       print a fresh APP_ENC_KEY (32 random bytes as 64 hex characters)
 *   gatehouse user add USERNAME [--role admin|operator|viewer] [--reset-2fa]
 *                          create a user, or recover one (new password, role, re-enabled); the password comes
 *                          from GATEHOUSE_USER_PASSWORD or stdin
 */
#include <event2/event.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_2fa.h"
#include "api_auth.h"
#include "api_integrations.h"
#include "api_autonomy.h"
#include "autonomy.h"
#include "bar_share.h"
#include "bar_store.h"
#include "api_bars.h"
#include "api_bots.h"
#include "api_fleet.h"
#include "api_strategies.h"
#include "api_jobs.h"
#include "api_backtests.h"
#include "api_orders.h"
#include "api_runner.h"
#include "api_traces.h"
#include "api_trading.h"
#include "api_system.h"
#include "api_telemetry.h"
#include "api_users.h"
#include "auth.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "fetch.h"
#include "fleet.h"
#include "heap.h"
#include "http.h"
#include "id.h"
#include "jobs.h"
#include "log.h"
#include "markets.h"
#include "migrate.h"
#include "policy.h"
#include "providers.h"
#include "resp.h"
#include "secret.h"
#include "session.h"
#include "telemetry.h"
#include "tick_batch.h"
#include "verify.h"
#include "alerts.h"
#include "metrics.h"
#include "scheduler.h"
#include "status.h"
#include "api_variables.h"
#include "api_ai_ops.h"
#include "variables.h"
#include "static.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DRAIN_TIMEOUT_MS 10000

static const struct http_route routes[] = {
    {"GET", "/healthz", api_system_healthz, HTTP_ACCESS_PUBLIC},
    {"GET", "/readyz", api_system_readyz, HTTP_ACCESS_PUBLIC},
    {"GET", "/api/integrations/status", api_integrations_status, HTTP_ACCESS_VIEWER},
    {"POST", "/api/integrations/verify", api_integrations_verify, HTTP_ACCESS_OPERATOR},
    {"GET", "/api/integrations/:id/events", api_integrations_events, HTTP_ACCESS_VIEWER},
    {"POST", "/api/telemetry/usage-events", api_telemetry_ingest, HTTP_ACCESS_SERVICE},
    {"POST", "/api/policy/reload", api_system_policy_reload, HTTP_ACCESS_ADMIN},
    {"POST", "/api/policy/dry-run", api_system_policy_dry_run, HTTP_ACCESS_OPERATOR},
    {"GET", "/api/system/status", api_system_status, HTTP_ACCESS_VIEWER},
    {"GET", "/api/system/events", api_system_events, HTTP_ACCESS_VIEWER},
    {"GET", "/api/system/instances", api_fleet_instances, HTTP_ACCESS_VIEWER},
    {"POST", "/api/gates/check", api_system_gates_check, HTTP_ACCESS_OPERATOR},
    {"GET", "/metrics", api_system_metrics, HTTP_ACCESS_PUBLIC},
    {"GET", "/api/bots", api_bots_list, HTTP_ACCESS_VIEWER},
    {"POST", "/api/bots", api_bots_create, HTTP_ACCESS_OPERATOR},
    {"GET", "/api/bots/:id", api_bots_get, HTTP_ACCESS_VIEWER},
    {"PATCH", "/api/bots/:id", api_bots_patch, HTTP_ACCESS_OPERATOR},
    {"POST", "/api/bots/:id/clone", api_bots_clone, HTTP_ACCESS_OPERATOR},
    {"GET", "/api/strategies", api_strategies_list, HTTP_ACCESS_VIEWER},
    {"GET", "/api/bots/:id/bars", api_bars_list, HTTP_ACCESS_VIEWER},
    {"GET", "/api/settings/trading", api_settings_trading_get, HTTP_ACCESS_VIEWER},
    {"PUT", "/api/settings/trading", api_settings_trading_put, HTTP_ACCESS_ADMIN},
    {"GET", "/api/bots/:id/decision-traces", api_traces_decision_list, HTTP_ACCESS_VIEWER},
    {"POST", "/api/bots/:id/decision-traces", api_traces_decision_create, HTTP_ACCESS_SERVICE},
    {"GET", "/api/bots/:id/no-trade-traces", api_traces_no_trade_list, HTTP_ACCESS_VIEWER},
    {"POST", "/api/bots/:id/no-trade-traces", api_traces_no_trade_create, HTTP_ACCESS_SERVICE},
    {"POST", "/api/bots/:id/start", api_runner_start, HTTP_ACCESS_OPERATOR},
    {"POST", "/api/bots/:id/restart", api_runner_restart, HTTP_ACCESS_OPERATOR},
    {"POST", "/api/bots/:id/stop", api_runner_stop, HTTP_ACCESS_OPERATOR},
    {"POST", "/api/bots/:id/kill", api_runner_kill, HTTP_ACCESS_OPERATOR},
    {"POST", "/api/bots/:id/tick", api_runner_tick, HTTP_ACCESS_OPERATOR_OR_SERVICE},
    {"POST", "/api/bots/:id/backtests", api_backtests_create, HTTP_ACCESS_OPERATOR},
    {"GET", "/api/bots/:id/runs", api_bots_runs, HTTP_ACCESS_VIEWER},
    {"GET", "/api/bots/:id/proof", api_bots_proof, HTTP_ACCESS_VIEWER},
    {"GET", "/api/bots/:id/positions", api_trading_positions, HTTP_ACCESS_VIEWER},
    {"GET", "/api/bots/:id/orders", api_trading_orders, HTTP_ACCESS_VIEWER},
    {"GET", "/api/bots/:id/fills", api_trading_fills, HTTP_ACCESS_VIEWER},
    {"GET", "/api/bots/:id/pnl", api_trading_pnl, HTTP_ACCESS_VIEWER},
    {"GET", "/api/portfolio", api_trading_portfolio, HTTP_ACCESS_VIEWER},
    {"GET", "/api/jobs/:id", api_jobs_get, HTTP_ACCESS_VIEWER},
    {"POST", "/api/bots/kill-all", api_runner_kill_all, HTTP_ACCESS_OPERATOR_FRESH_2FA},
    {"POST", "/api/orders/:id/cancel", api_orders_cancel, HTTP_ACCESS_OPERATOR},
    {"POST", "/api/orders/:id/modify", api_orders_modify, HTTP_ACCESS_OPERATOR},
    {"POST", "/api/bots/:id/blockers/:code/ack", api_bots_blocker_ack, HTTP_ACCESS_OPERATOR},
    {"POST", "/api/system/reconcile", api_system_reconcile, HTTP_ACCESS_OPERATOR},
    {"POST", "/api/auth/register", api_auth_register, HTTP_ACCESS_PUBLIC},
    {"POST", "/api/auth/login", api_auth_login, HTTP_ACCESS_PUBLIC},
    {"POST", "/api/auth/2fa/verify", api_auth_2fa_verify, HTTP_ACCESS_PUBLIC},
    {"POST", "/api/auth/2fa/setup", api_auth_2fa_setup, HTTP_ACCESS_VIEWER},
    {"POST", "/api/auth/2fa/confirm", api_auth_2fa_confirm, HTTP_ACCESS_VIEWER},
    {"POST", "/api/auth/2fa/backup-codes", api_auth_2fa_backup_codes, HTTP_ACCESS_VIEWER},
    {"POST", "/api/auth/2fa/step-up", api_auth_2fa_step_up, HTTP_ACCESS_VIEWER},
    {"POST", "/api/auth/logout", api_auth_logout, HTTP_ACCESS_VIEWER},
    {"GET", "/api/auth/me", api_auth_me, HTTP_ACCESS_VIEWER},
    {"GET", "/api/auth/sessions", api_auth_sessions_list, HTTP_ACCESS_VIEWER},
    {"DELETE", "/api/auth/sessions/:id", api_auth_sessions_revoke, HTTP_ACCESS_VIEWER},
    {"GET", "/api/users", api_users_list, HTTP_ACCESS_ADMIN},
    {"POST", "/api/users", api_users_create, HTTP_ACCESS_ADMIN},
    {"PATCH", "/api/users/:id", api_users_patch, HTTP_ACCESS_ADMIN},
    {"GET", "/api/variables", api_variables_list, HTTP_ACCESS_VIEWER},
    {"GET", "/api/ai-ops", api_ai_ops, HTTP_ACCESS_VIEWER},
    {"GET", "/api/bots/:id/autonomy-score", api_autonomy_get, HTTP_ACCESS_VIEWER},
    {"POST", "/api/bots/:id/autonomy-score", api_autonomy_recompute, HTTP_ACCESS_OPERATOR},
    {"GET", "/api/openapi.json", api_system_openapi, HTTP_ACCESS_PUBLIC},
    {NULL, NULL, NULL, HTTP_ACCESS_UNSET},
};

static struct event_base *base;
static struct event *drain_timer;
static int drain_waited_ms;

static void usage(void)
{
    fprintf(
        stderr,
        "usage: gatehouse [serve | migrate | check | spec FILE... | keygen | user add USERNAME --role ROLE]\n"
        "Configuration comes from the environment; see README.md.\n");
}

static int fail_startup(const char *what, const char *err)
{
    char esc[2048];
    LOG_ERROR(NULL, what, "error=\"%s\"", log_escape(err, esc, sizeof esc));
    return 1;
}

/* 1 for a URL host[:port] on loopback: 127.0.0.0/8, localhost, [::1]. */
static int is_loopback_host(const char *host)
{
    if (strncmp(host, "127.", 4) == 0) return 1;
    if (strncmp(host, "localhost", 9) == 0) return host[9] == '\0' || host[9] == ':';
    if (strncmp(host, "[::1]", 5) == 0) return host[5] == '\0' || host[5] == ':';
    return 0;
}

/* A test clock (GATEHOUSE_TEST_CLOCK) is a test setting: serve accepts it only when every configured provider
 * is reached on loopback (the provider simulator), so a shifted clock can never time a real market, a real
 * broker or a real alert. Returns 0 when allowed (or no test clock), -1 with err naming the first real host.
 */
static int test_clock_guard(char *err, size_t errlen)
{
    const struct provider_registry *reg = policy_providers(policy_current());
    char host[256];
    if (!clock_is_test()) return 0;
    if (!reg) {
        snprintf(err, errlen,
                 "GATEHOUSE_TEST_CLOCK is set but providers.lua is not loaded: cannot prove every "
                 "provider is a loopback simulator");
        return -1;
    }
    for (size_t i = 0; i < reg->count; i++) {
        const struct provider_def *p = &reg->providers[i];
        json_t *missing = providers_missing_env(p);
        int configured = json_array_size(missing) == 0;
        json_decref(missing);
        if (!configured) continue;
        int overridden;
        const char *url = providers_base_url(p, &overridden);
        if (!url && p->n_required)
            url = secret_value(p->required_env[0]); /* REDIS_URL, DISCORD_WEBHOOK_URL */
        providers_url_host(url, host, sizeof host);
        if (!is_loopback_host(host)) {
            snprintf(err, errlen,
                     "GATEHOUSE_TEST_CLOCK is a test setting and %s is configured against %s, not a "
                     "loopback simulator: unset GATEHOUSE_TEST_CLOCK (production runs on the real clock)",
                     p->id, host[0] ? host : "an unknown host");
            return -1;
        }
    }
    LOG_WARN(NULL, "test clock in effect", "setting=%s offset_ms=%lld", clock_test_setting(),
             clock_offset_ms());
    return 0;
}

static char *migrations_dir(char *out, size_t len)
{
    return config_path("migrations", out, len);
}

static int cmd_migrate(void)
{
    char err[2048], dir[4200];
    int applied;
    if (!cfg.database_url) return fail_startup("cannot migrate", "DATABASE_URL is not set");
    if (migrate_run(cfg.database_url, migrations_dir(dir, sizeof dir), cfg.db_wait_s, &applied, err,
                    sizeof err) < 0)
        return fail_startup("migration failed", err);
    return 0;
}

/* gatehouse user add ...: migrate (a fresh database works), then create or recover the user. */
static int cmd_user(int argc, char **argv)
{
    if (cmd_migrate() != 0) return 1;
    return api_users_cli(argc, argv);
}

static int cmd_check(void)
{
    char err[2048];
    if (policy_check(err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        printf("policy check failed\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}

static int cmd_keygen(void)
{
    unsigned char key[32];
    char hex[65];
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    sodium_memzero(key, sizeof key);
    printf("%s\n", hex);
    sodium_memzero(hex, sizeof hex);
    return 0;
}

/* Drain: stop accepting, wait until in-flight requests are answered (or the timeout), then leave the loop. */
/* Drain: answer in-flight requests, then let the telemetry writer empty its queue into Postgres; what is
 * still queued at the deadline goes to the spill file in telemetry_stop (replayed at the next start). */
/* The usage stream's one listener: the variable catalog and autonomy's dirty marks both hear every event. */
static void note_usage(const struct usage_event *ev)
{
    variables_note_usage(ev);
    autonomy_note_usage(ev);
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    drain_waited_ms += 50;
    if ((http_inflight() == 0 && (telemetry_drain_pending() == 0 || !db_reachable())) ||
        drain_waited_ms >= DRAIN_TIMEOUT_MS) {
        if (http_inflight() || telemetry_drain_pending())
            LOG_WARN(NULL, "drain timed out", "inflight=%d telemetry_pending=%d", http_inflight(),
                     telemetry_drain_pending());
        event_base_loopexit(base, NULL);
    }
}

static void on_terminate(evutil_socket_t sig, short what, void *arg)
{
    struct timeval every = {0, 50000};
    if (drain_timer) return;
    LOG_INFO(NULL, "draining", "signal=%s inflight=%d", sig == SIGTERM ? "SIGTERM" : "SIGINT",
             http_inflight());
    http_stop_accepting();
    scheduler_stop();
    fleet_stop(); /* releases this instance's leases while the loop still runs, so the others take over at
                     once */
    drain_timer = event_new(base, -1, EV_PERSIST, on_drain_tick, NULL);
    event_add(drain_timer, &every);
}

#define SPILL_SLOTS 16

static int spill_lock_fd = -1; /* held for the process's life: the kernel drops it at any exit, kill -9 too */

/* Spill file of the telemetry writer: GATEHOUSE_SPILL_FILE, else under GATEHOUSE_HOME
 * var/spill/<hash of DATABASE_URL>.jsonl (servers sharing a checkout but not a database never replay each
 * other's events) — or, when another live instance of the fleet holds that one, <hash>.<n>.jsonl: each file
 * is flock'ed by the one process writing it, and a process takes the first free one, so a restarted instance
 * replays what a dead one (of the same home and database) left there, and two live ones never share a file.
 */
static void spill_path(char *out, size_t len)
{
    unsigned char digest[8];
    char hex[17], dir[4200];
    if (cfg.spill_file) {
        snprintf(out, len, "%s", cfg.spill_file);
        return;
    }
    crypto_generichash(digest, sizeof digest, (const unsigned char *)cfg.database_url,
                       strlen(cfg.database_url), NULL, 0);
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    mkdir(config_path("var", dir, sizeof dir), 0700);
    mkdir(config_path("var/spill", dir, sizeof dir), 0700);
    for (int slot = 0; slot < SPILL_SLOTS; slot++) {
        if (slot == 0)
            snprintf(out, len, "%s/%s.jsonl", dir, hex);
        else
            snprintf(out, len, "%s/%s.%d.jsonl", dir, hex, slot);
        int fd = open(out, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            spill_lock_fd = fd;
            return;
        }
        close(fd);
    }
    snprintf(out, len, "%s/%s.%ld.jsonl", dir, hex, (long)getpid()); /* every slot busy: a file of its own */
}

/* Policy reloads are system events (and a metric); a failed one also alerts. The system decision is
 * re-evaluated at once, under the generation now serving: a failed reload's POLICY_ERROR blocker appears, and
 * a good reload's clears, in the answer to the reload itself rather than at the next periodic evaluation. */
static void on_policy_reload(int ok, const char *reason, const char *version, const char *error)
{
    char trace[33], msg[2200];
    id_trace_new(trace);
    status_refresh(trace);
    metrics_policy_reload(ok);
    snprintf(msg, sizeof msg, ok ? "policy loaded (%s), version %s" : "policy reload failed (%s): %s", reason,
             ok ? version : error);
    telemetry_system_event("policy.reload", ok ? "info" : "SEV-2", "policy", msg, trace, NULL);
    if (ok) variables_sync(trace); /* profit_variables follows scripts/variables.lua */
    if (!ok)
        alerts_notify("policy", "policy:reload_failed", "SEV-2", "gatehouse: policy reload failed", msg,
                      trace);
}

static double gauge_queue_depth(void)
{
    json_t *s = telemetry_status_json();
    double v = (double)json_integer_value(json_object_get(s, "queue_depth"));
    json_decref(s);
    return v;
}

static double gauge_spill_bytes(void)
{
    json_t *s = telemetry_status_json();
    double v = (double)json_integer_value(json_object_get(s, "spill_bytes"));
    json_decref(s);
    return v;
}

static double gauge_job_sweeps(void)
{
    return (double)jobs_sweeps();
}

static double gauge_db_up(void)
{
    return db_reachable();
}

static double gauge_inflight(void)
{
    return http_inflight();
}

static double gauge_fetch_inflight(void)
{
    return fetch_inflight();
}

/* The fleet gauges read this instance's facts as of its last lease round (fleet.h). */
static double gauge_fleet_owned_bots(void)
{
    struct fleet_status f;
    fleet_status(&f);
    return f.owned_bots;
}

static double gauge_fleet_owned_shards(void)
{
    struct fleet_status f;
    fleet_status(&f);
    return f.owned_shards;
}

static double gauge_fleet_leader(void)
{
    struct fleet_status f;
    fleet_status(&f);
    return f.leader ? 1 : 0;
}

static double gauge_fleet_alive_instances(void)
{
    struct fleet_status f;
    fleet_status(&f);
    return f.alive_instances;
}

static double gauge_heap_in_use(void)
{
    struct heap_stats h;
    heap_stats(&h);
    return (double)h.in_use;
}

static double gauge_heap_kept_free(void)
{
    struct heap_stats h;
    heap_stats(&h);
    return (double)h.kept_free;
}

static double gauge_resident(void)
{
    return (double)heap_resident();
}

static double gauge_heap_trims(void)
{
    return (double)heap_trims();
}

static void register_gauges(void)
{
    metrics_register_gauge("gatehouse_telemetry_queue_depth",
                           "Usage/system events waiting for the batch writer.", gauge_queue_depth);
    metrics_register_gauge("gatehouse_telemetry_spill_bytes",
                           "Bytes in the telemetry spill file (Postgres outage).", gauge_spill_bytes);
    metrics_register_gauge("gatehouse_job_sweeps",
                           "Job sweeps (heartbeat, deadline, recovery) completed since start.",
                           gauge_job_sweeps);
    metrics_register_gauge("gatehouse_db_up", "1 when Postgres answered the last readiness ping.",
                           gauge_db_up);
    metrics_register_gauge("gatehouse_http_inflight_requests", "HTTP requests received and not yet answered.",
                           gauge_inflight);
    metrics_register_gauge("gatehouse_outbound_inflight_requests",
                           "Outbound provider requests in flight or queued.", gauge_fetch_inflight);
    metrics_register_gauge("gatehouse_fleet_owned_bots",
                           "Running bots in the shards this instance holds, as of its last lease round.",
                           gauge_fleet_owned_bots);
    metrics_register_gauge("gatehouse_fleet_owned_shards",
                           "Shard leases this instance holds and may tick now.", gauge_fleet_owned_shards);
    metrics_register_gauge("gatehouse_fleet_leader", "1 while this instance holds the leader lease, else 0.",
                           gauge_fleet_leader);
    metrics_register_gauge("gatehouse_fleet_alive_instances",
                           "Alive instances of the fleet (this one included), as of the last lease round.",
                           gauge_fleet_alive_instances);
    metrics_register_gauge("gatehouse_heap_in_use_bytes", "Heap bytes allocated and not freed (glibc).",
                           gauge_heap_in_use);
    metrics_register_gauge("gatehouse_heap_kept_free_bytes",
                           "Heap bytes freed but kept by the allocator; returned to the system when above "
                           "4 MiB at the 30 s trim.",
                           gauge_heap_kept_free);
    metrics_register_gauge("gatehouse_resident_memory_bytes", "The process's resident set size.",
                           gauge_resident);
    metrics_register_gauge("gatehouse_heap_trims",
                           "Heap trims (free pages returned to the system) since start.", gauge_heap_trims);
}

/* Starts the I/O subsystems that need the loop; 0 or -1 with err. */
static int start_subsystems(char *err, size_t errlen)
{
    char spill[4300];
    spill_path(spill, sizeof spill);
    if (db_pool_start(base, cfg.database_url, (int)cfg.db_pool_size, err, errlen) < 0) return -1;
    if (fetch_init(base) < 0 || resp_init(base) < 0) {
        snprintf(err, errlen, "cannot initialise outbound I/O (curl multi / DNS)");
        return -1;
    }
    if (telemetry_start(base, spill, cfg.retention_days, err, errlen) < 0) return -1;
    if (variables_start(base) < 0) {
        snprintf(err, errlen, "cannot start the variable catalog");
        return -1;
    }
    telemetry_set_usage_listener(note_usage);
    if (auth_start(base, err, errlen) < 0) return -1;
    http_set_auth_hooks(session_resolve, api_telemetry_has_service_token);
    if (!auth_enc_key_ok())
        LOG_WARN(NULL, "APP_ENC_KEY missing",
                 "effect=\"2FA setup and verification fail closed (ENCRYPTION_KEY_MISSING)\"");
    if (verify_init(base, cfg.database_url, cfg.background_verify, err, errlen) < 0) return -1;
    if (!cfg.alerts)
        LOG_INFO(NULL, "alerts disabled", "by=GATEHOUSE_ALERTS");
    else
        alerts_init(base);
    register_gauges();
    if (heap_start(base) < 0) {
        snprintf(err, errlen, "cannot start the heap trim timer");
        return -1;
    }
    struct fleet_config fleet = {cfg.lease_s, cfg.capacity, GATEHOUSE_VERSION};
    if (fleet_start(base, &fleet) < 0) {
        snprintf(err, errlen, "cannot start the fleet's lease rounds");
        return -1;
    }
    if (autonomy_init(base, status_decision) < 0 || tick_batch_start(base) < 0 || scheduler_start(base) < 0 ||
        jobs_start(base) < 0 || status_start(base) < 0 || markets_start(base) < 0) {
        snprintf(err, errlen, "cannot start the scheduler or the status engine");
        return -1;
    }
    return 0;
}

static int cmd_serve(void)
{
    char err[2048], dir[4200];
    int applied, rc = 1;
    struct event *sigterm = NULL, *sigint = NULL;

    if (!cfg.database_url)
        return fail_startup("cannot start", "DATABASE_URL is not set (make run provisions one)");
    if (db_register_secret(cfg.database_url) < 0) return fail_startup("cannot start", "out of memory");
    if (migrate_run(cfg.database_url, migrations_dir(dir, sizeof dir), cfg.db_wait_s, &applied, err,
                    sizeof err) < 0)
        return fail_startup("migration failed", err);
    /* Without a valid policy the server still starts, not ready (fail closed): /readyz names the error and
     * the watcher loads the file once it is fixed. */
    if (policy_init(err, sizeof err) < 0) LOG_ERROR(NULL, "serving without a policy generation", NULL);
    if (test_clock_guard(err, sizeof err) < 0) return fail_startup("cannot start", err);
    if (!(base = event_base_new())) return fail_startup("cannot start", "event_base_new failed");
    signal(SIGPIPE, SIG_IGN);
    sigterm = evsignal_new(base, SIGTERM, on_terminate, NULL);
    sigint = evsignal_new(base, SIGINT, on_terminate, NULL);
    if (evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0 || policy_watch_start(base) < 0) {
        fail_startup("cannot start", "signal or watcher set-up failed");
        goto out;
    }
    if (start_subsystems(err, sizeof err) < 0 || http_start(base, routes, err, sizeof err) < 0) {
        fail_startup("cannot start", err);
        goto out;
    }
    static_init(); /* the web Observatory (web/dist), public: see static.h */
    http_set_fallback(static_serve);
    /* from here on every reload is recorded; the start-up load is recorded now */
    policy_set_reload_listener(on_policy_reload);
    on_policy_reload(policy_current() != NULL, "start-up", policy_version_of(policy_current()),
                     policy_last_error());
    LOG_INFO(NULL, "listening", "addr=%s:%d home=\"%s\"", cfg.listen_host, cfg.listen_port, cfg.home);
    event_base_dispatch(base);
    LOG_INFO(NULL, "stopped", NULL);
    rc = 0;
out:
    autonomy_stop();
    heap_stop();
    markets_stop();
    status_stop();
    jobs_stop();
    scheduler_stop();
    fleet_stop();
    tick_batch_stop(); /* the traces still queued go out now (or fail with the pool) */
    alerts_shutdown();
    verify_shutdown();
    fetch_shutdown();  /* running probes complete (cancelled) and record their outcome */
    bar_share_clear(); /* after the fetches: a share still pending has freed itself */
    bar_store_clear();
    api_trading_clear();
    resp_shutdown();
    auth_stop(); /* answers requests whose hashing finished; after the drain nothing is queued */
    session_shutdown();
    telemetry_stop(1000);
    http_free();
    static_free();
    api_system_free();
    api_integrations_free();
    db_pool_stop();
    telemetry_set_usage_listener(NULL);
    variables_stop();
    policy_shutdown();
    metrics_reset();
    if (drain_timer) event_free(drain_timer);
    if (sigterm) event_free(sigterm);
    if (sigint) event_free(sigint);
    event_base_free(base);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";
    char err[512];
    int rc;

    if (secret_init() < 0) {
        fprintf(stderr, "gatehouse: libsodium failed to initialise\n");
        return 1;
    }
    if (config_load(err, sizeof err) < 0) {
        fprintf(stderr, "gatehouse: %s\n", err);
        return 2;
    }
    /* what providers.lua and scripts/variables.lua must hold, checked by every generation (serve, check,
     * spec) */
    if (providers_register_validator() < 0 || variables_register_validator() < 0) {
        fprintf(stderr, "gatehouse: policy validators could not be registered\n");
        return 1;
    }
    /* gatehouse's own secrets: redacted everywhere like provider keys */
    if (secret_track("GATEHOUSE_SERVICE_TOKEN", 1) < 0 || secret_track("APP_ENC_KEY", 1) < 0) {
        fprintf(stderr, "gatehouse: out of memory\n");
        return 1;
    }
    if (strcmp(cmd, "serve") == 0)
        rc = cmd_serve();
    else if (strcmp(cmd, "migrate") == 0)
        rc = cmd_migrate();
    else if (strcmp(cmd, "check") == 0)
        rc = cmd_check();
    else if (strcmp(cmd, "spec") == 0 && argc > 2)
        rc = policy_run_specs(argc - 2, argv + 2);
    else if (strcmp(cmd, "keygen") == 0)
        rc = cmd_keygen();
    else if (strcmp(cmd, "user") == 0 && argc > 2)
        rc = cmd_user(argc - 2, argv + 2);
    else {
        usage();
        rc = 2;
    }
    secret_shutdown();
    return rc;
}
