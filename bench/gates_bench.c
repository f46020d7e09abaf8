/* gates_bench.c — PRODUCT.md §8 "Gates + autonomy policy for 1,000 bots evaluated in ≤ 20 ms", in process.
 *
 *   gates_bench [BOTS] [ROUNDS]        (GATEHOUSE_HOME names the policy files; provider variables as for serve)
 *
 * Loads the policy generation exactly as `gatehouse serve` does, builds the gate snapshot the runtime builds
 * (status_snapshot: every provider's facts), then per round times, for BOTS bots with a mix of stages,
 * autonomy tiers and requires_ai:
 *   evaluate   gates.lua evaluate(snapshot) once (the system decision every status read is served from);
 *   gates      gates.lua safe_start_many(reqs, snapshot): every bot in one call, the snapshot built once
 *              per round (what a scheduler pass over its due bots needs);
 *   per_bot    gates.lua safe_start(req, snapshot) once per bot (one policy call each);
 *   runtime    status_safe_start(req) for every bot — the runtime's own entry point, which builds the
 *              snapshot on each call (what a tick pays);
 *   autonomy   scripts/autonomy.lua score_all({system, bots}) for BOTS bots, called as autonomy.c calls it, on
 *              synthetic evidence of the shape autonomy.c's SQL returns (running PAPER bots with bars,
 *              traces, risk checks, orders, a heartbeat; every 7th with errors, every 11th stopped);
 *              bench/bench.pl also reads the same figure from the running server's rounds over real rows.
 * Prints one JSON line with the median over ROUNDS of each, in milliseconds. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "policy.h"
#include "providers.h"
#include "secret.h"
#include "status.h"
#include "variables.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

/* The evidence of bot i, as autonomy.c's EVIDENCE_SQL builds it (plus heartbeat_timeout_s). */
static json_t *synthetic_evidence(int i, const char *id, json_int_t now)
{
    int errs = i % 7 == 0 ? 3 : 0, stopped = i % 11 == 0;
    json_t *by_code = json_object();
    if (i % 5 == 0) json_object_set_new(by_code, "MARKET_CLOSED", json_integer(4));
    return json_pack("{s:s, s:s, s:s, s:s, "
                     "s:{s:i, s:i, s:I, s:o, s:o}, s:i, "
                     "s:{s:i, s:i, s:i, s:I, s:I, s:f, s:i}, "
                     "s:{s:i, s:i, s:i, s:o, s:{s:f, s:f, s:f, s:f}}, "
                     "s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:n, s:f, s:f}, "
                     "s:{s:s, s:s, s:i, s:f, s:i}, s:i, s:i}",
                     "bot_id", id, "name", "bench", "stage", "PAPER", "desired_state", stopped ? "STOPPED" : "RUNNING",
                     "bars", "ok", 50 - errs, "err", errs, "last_ok_at", now - 1,
                     "last_err_at", errs ? json_integer(now - 30) : json_null(),
                     "last_error_code", errs ? json_string("TIMEOUT") : json_null(), "proof_24h", 1000,
                     "traces", "decisions", 12, "no_trades", 38, "policy_errors", 0, "last_decision_at", now - 20,
                     "last_no_trade_at", now - 1, "avg_confidence", 0.62, "confidence_n", 12,
                     "risk", "ok", 45, "blocked", i % 5 == 0 ? 4 : 0, "error", 0, "by_code", by_code, "usage",
                     "contracts", 0.2, "daily_loss", 0.1, "drawdown", 0.05, "order_rate", 0.1,
                     "orders", "total", 12, "filled", 10, "submitted", 2, "intents", 0, "blocked", 0, "rejected", 0,
                     "cancelled", 0, "live", 0, "simulated_fills", 10, "real_fills", 0, "avg_real_fill_latency_ms",
                     "avg_sim_fill_latency_ms", 950.0, "avg_slippage_ticks", 1.0,
                     "instance", "state", stopped ? "STOPPED" : "RUNNING", "breaker_state", "CLOSED", "restart_count", 0,
                     "heartbeat_age_s", 0.8, "heartbeat_timeout_s", 30, "deaths", 0, "kills", 0);
}

/* score_all's input for bots bots: the system facts autonomy.c passes, and the evidence. */
static json_t *autonomy_input(int bots)
{
    json_int_t now = (json_int_t)time(NULL);
    json_t *list = json_array();
    for (int i = 0; i < bots; i++) {
        char id[37];
        snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
        json_array_append_new(list, synthetic_evidence(i, id, now));
    }
    return json_pack("{s:{s:I, s:s, s:[], s:{s:s, s:b, s:i, s:I}, s:{s:s, s:b}, s:b}, s:o}", "system", "now", now,
                     "system_status", "OK", "blockers", "market_data_primary", "providerId", "databento", "connected", 1,
                     "proof_24h", 30000, "last_used_at", now - 1, "execution_primary", "providerId", "ironbeam",
                     "connected", 1, "leader_alive", 1, "bots", list);
}

/* This thread's CPU time in ms: robust to a loaded machine (the wall clock counts the waits for a core). */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    int bots = argc > 1 ? atoi(argv[1]) : 1000, rounds = argc > 2 ? atoi(argv[2]) : 7;
    static const char *stages[] = {"PAPER", "PAPER", "SHADOW", "LIVE"};
    static const char *tiers[] = {"LOCKED", "SUPERVISED", "LIMITED_AUTONOMY", "FULL_AUTONOMY"};
    char err[2048];
    if (bots < 1 || rounds < 1 || bots > 100000 || rounds > 1000) return 2;
    if (secret_init() < 0 || config_load(err, sizeof err) < 0 || providers_register_validator() < 0 ||
        variables_register_validator() < 0 || policy_init(err, sizeof err) < 0) {
        fprintf(stderr, "gates_bench: %s\n", err);
        return 1;
    }
    struct policy_gen *g = policy_current();
    json_t **reqs = calloc((size_t)bots, sizeof *reqs);
    for (int i = 0; i < bots; i++) {
        char id[37];
        snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
        reqs[i] = json_pack("{s:s, s:b, s:s, s:s}", "stage", stages[i % 4], "requires_ai", i % 3 == 0, "bot_id", id,
                            "autonomy_tier", tiers[(i / 4) % 4]);
    }
    json_t *all_reqs = json_array();
    for (int i = 0; i < bots; i++) json_array_append(all_reqs, reqs[i]);

    double *t_eval = calloc((size_t)rounds, sizeof(double)), *t_gates = calloc((size_t)rounds, sizeof(double));
    double *t_rt = calloc((size_t)rounds, sizeof(double));
    double *t_many = calloc((size_t)rounds, sizeof(double)), *t_auto = calloc((size_t)rounds, sizeof(double));
    double *c_many = calloc((size_t)rounds, sizeof(double)), *c_auto = calloc((size_t)rounds, sizeof(double));
    json_t *auto_in = autonomy_input(bots);
    long scored = 0;
    long allowed_many = 0;
    long allowed = 0, failures = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = clock_now_ms();
        json_t *snap = status_snapshot(g);
        json_t *d = policy_call(g, "gates.lua", "evaluate", snap, err, sizeof err);
        t_eval[r] = clock_now_ms() - t0;
        if (!d) failures++;
        json_decref(d);

        t0 = clock_now_ms();
        json_decref(snap);
        snap = status_snapshot(g);
        for (int i = 0; i < bots; i++) {
            const json_t *args[2] = {reqs[i], snap};
            json_t *res = policy_call_n(g, "gates.lua", "safe_start", args, 2, err, sizeof err);
            if (!res) failures++;
            else allowed += json_is_true(json_object_get(json_array_get(res, 0), "allowed"));
            json_decref(res);
        }
        t_gates[r] = clock_now_ms() - t0;

        t0 = clock_now_ms();
        double c0 = cpu_ms();
        json_decref(snap);
        snap = status_snapshot(g);
        const json_t *margs[2] = {all_reqs, snap};
        json_t *many = policy_call_n(g, "gates.lua", "safe_start_many", margs, 2, err, sizeof err);
        t_many[r] = clock_now_ms() - t0;
        c_many[r] = cpu_ms() - c0;
        json_t *answers = json_array_get(many, 0), *a;
        size_t ai;
        if (!many || json_array_size(answers) != (size_t)bots) failures++;
        json_array_foreach(answers, ai, a) allowed_many += json_is_true(json_object_get(a, "allowed"));
        json_decref(many);

        json_decref(snap);

        t0 = clock_now_ms();
        for (int i = 0; i < bots; i++) json_decref(status_safe_start(reqs[i], "00000000000000000000000000000001"));
        t_rt[r] = clock_now_ms() - t0;

        t0 = clock_now_ms();
        c0 = cpu_ms();
        json_t *scores = policy_call(g, "scripts/autonomy.lua", "score_all", auto_in, err, sizeof err);
        t_auto[r] = clock_now_ms() - t0;
        c_auto[r] = cpu_ms() - c0;
        if (json_array_size(json_array_get(scores, 0)) != (size_t)bots) {
            fprintf(stderr, "gates_bench: score_all: %s\n", scores ? "wrong number of results" : err);
            failures++;
        }
        scored = (long)json_array_size(json_array_get(scores, 0));
        json_decref(scores);
    }
    printf("{\"bots\": %d, \"rounds\": %d, \"evaluate_ms\": %.3f, \"gates_ms\": %.3f, \"per_bot_ms\": %.3f, "
           "\"runtime_safe_start_ms\": %.3f, \"autonomy_ms\": %.3f, \"scored\": %ld, \"allowed\": %ld, "
           "\"allowed_many\": %ld, \"failures\": %ld, \"gates_cpu_ms\": %.3f, \"autonomy_cpu_ms\": %.3f}\n",
           bots, rounds, median(t_eval, rounds), median(t_many, rounds), median(t_gates, rounds), median(t_rt, rounds),
           median(t_auto, rounds), scored, allowed / rounds, allowed_many / rounds, failures, median(c_many, rounds),
           median(c_auto, rounds));
    json_decref(auto_in);
    for (int i = 0; i < bots; i++) json_decref(reqs[i]);
    json_decref(all_reqs);
    policy_shutdown();
    secret_shutdown();
    return failures ? 1 : 0;
}
