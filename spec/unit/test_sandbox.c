/* test_sandbox.c — the call budgets hold even when the policy catches their errors with pcall. */
#include <string.h>
#include <time.h>

#include "sandbox.h"
#include "tap.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Runs src in a fresh sandbox with the given limits; returns 0/-1 like sandbox_run_chunk, err filled. */
static int run(const char *src, long instr, int deadline_ms, char *err, size_t errlen, double *took)
{
    struct sandbox_limits lim = {16u << 20, instr, deadline_ms};
    struct sandbox *sb = sandbox_new(&lim, err, errlen);
    double t0 = now_s();
    int rc;
    if (!sb) return -2;
    sandbox_seal(sb);
    rc = sandbox_run_chunk(sb, src, strlen(src), "t.lua", err, errlen);
    *took = now_s() - t0;
    sandbox_free(sb);
    return rc;
}

int main(void)
{
    char err[512];
    double took;
    static const struct {
        const char *name, *src;
    } loops[] = {
        {"a plain loop", "while true do end"},
        {"a loop inside pcall, retried forever", "while true do pcall(function() while true do end end) end"},
        {"nested pcalls", "while true do pcall(function() while true do pcall(function() while true do end end) end end) end"},
        {"xpcall with a handler that loops", "while true do xpcall(function() while true do end end, function() while true do end end) end"},
        {"pcall(error) in a loop", "local n = 0 while true do n = n + 1 pcall(error, 'x') end"},
    };
    for (size_t i = 0; i < sizeof loops / sizeof *loops; i++) {
        int rc = run(loops[i].src, 2000000, 60000, err, sizeof err, &took);
        tap_ok(rc == -1 && strstr(err, "instruction budget"), "instruction budget stops %s (%s)", loops[i].name, err);
        tap_ok(took < 5, "... promptly (%.3f s)", took);
        rc = run(loops[i].src, 2000000000L, 200, err, sizeof err, &took);
        tap_ok(rc == -1 && strstr(err, "deadline budget"), "deadline budget stops %s (%s)", loops[i].name, err);
        tap_ok(took < 2, "... within the deadline plus a margin (%.3f s)", took);
    }
    err[0] = 0;
    tap_ok(run("local ok = pcall(error, 'x') assert(ok == false)", 2000000, 1000, err, sizeof err, &took) == 0,
           "a policy may still catch its own errors with pcall (%s)", err);
    tap_ok(run("local ok, m, extra = xpcall(function(a, b) error(a .. b, 0) end, function(m) return 'handled: ' .. m end, 'x', 'y')\n"
               "assert(ok == false and m == 'handled: xy' and extra == nil, tostring(m))\n"
               "local ok2, r1, r2 = xpcall(function(a) return a, 2 end, tostring, 1)\n"
               "assert(ok2 == true and r1 == 1 and r2 == 2)",
               2000000, 1000, err, sizeof err, &took) == 0,
           "xpcall keeps its meaning: the handler sees ordinary errors, arguments and results pass (%s)", err);
    return tap_done();
}
