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
 * (The autonomy policy, scripts/autonomy.lua score_all(), needs the evidence autonomy.c gathers in SQL: the
 * bench measures it in the running server instead, bench/bench.pl step 5b.)
 * Prints one JSON line with the median over ROUNDS of each, in milliseconds. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "policy.h"
#include "secret.h"
#include "status.h"

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

int main(int argc, char **argv)
{
    int bots = argc > 1 ? atoi(argv[1]) : 1000, rounds = argc > 2 ? atoi(argv[2]) : 7;
    static const char *stages[] = {"PAPER", "PAPER", "SHADOW", "LIVE"};
    static const char *tiers[] = {"LOCKED", "SUPERVISED", "LIMITED_AUTONOMY", "FULL_AUTONOMY"};
    char err[2048];
    if (bots < 1 || rounds < 1 || bots > 100000 || rounds > 1000) return 2;
    if (secret_init() < 0 || config_load(err, sizeof err) < 0 || policy_init(err, sizeof err) < 0) {
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
    double *t_many = calloc((size_t)rounds, sizeof(double));
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
        json_decref(snap);
        snap = status_snapshot(g);
        const json_t *margs[2] = {all_reqs, snap};
        json_t *many = policy_call_n(g, "gates.lua", "safe_start_many", margs, 2, err, sizeof err);
        t_many[r] = clock_now_ms() - t0;
        json_t *answers = json_array_get(many, 0), *a;
        size_t ai;
        if (!many || json_array_size(answers) != (size_t)bots) failures++;
        json_array_foreach(answers, ai, a) allowed_many += json_is_true(json_object_get(a, "allowed"));
        json_decref(many);

        json_decref(snap);

        t0 = clock_now_ms();
        for (int i = 0; i < bots; i++) json_decref(status_safe_start(reqs[i], "00000000000000000000000000000001"));
        t_rt[r] = clock_now_ms() - t0;
    }
    printf("{\"bots\": %d, \"rounds\": %d, \"evaluate_ms\": %.3f, \"gates_ms\": %.3f, \"per_bot_ms\": %.3f, "
           "\"runtime_safe_start_ms\": %.3f, \"allowed\": %ld, "
           "\"allowed_many\": %ld, \"failures\": %ld}\n",
           bots, rounds, median(t_eval, rounds), median(t_many, rounds), median(t_gates, rounds), median(t_rt, rounds),
           allowed / rounds, allowed_many / rounds, failures);
    for (int i = 0; i < bots; i++) json_decref(reqs[i]);
    json_decref(all_reqs);
    policy_shutdown();
    secret_shutdown();
    return failures ? 1 : 0;
}
