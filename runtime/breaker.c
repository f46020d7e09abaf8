/* breaker.c — the circuit breaker's transition rule (model in breaker.h). */
#include "breaker.h"

#include <string.h>

static const char *const NAMES[] = {"CLOSED", "OPEN", "HALF_OPEN"};

enum breaker_state breaker_next(enum breaker_state s, int failures_in_window, enum breaker_event ev,
                                const struct breaker_cfg *cfg, double open_for_s)
{
    switch (ev) {
    case BREAKER_EV_DEATH:
        if (s == BREAKER_HALF_OPEN) return BREAKER_OPEN;
        if (s == BREAKER_CLOSED && failures_in_window >= cfg->failures_to_open) return BREAKER_OPEN;
        return s;
    case BREAKER_EV_GOOD_TICK:
        return s == BREAKER_HALF_OPEN ? BREAKER_CLOSED : s;
    case BREAKER_EV_CLOCK:
        return s == BREAKER_OPEN && open_for_s > cfg->cooldown_s ? BREAKER_HALF_OPEN : s;
    }
    return s;
}

int breaker_failures(int carried, int deaths_in_window)
{
    return (carried < deaths_in_window ? carried : deaths_in_window) + 1;
}

const char *breaker_state_name(enum breaker_state s)
{
    return (unsigned)s < sizeof NAMES / sizeof *NAMES ? NAMES[s] : "CLOSED";
}

int breaker_state_parse(const char *name, enum breaker_state *out)
{
    for (unsigned i = 0; name && i < sizeof NAMES / sizeof *NAMES; i++)
        if (strcmp(name, NAMES[i]) == 0) {
            *out = (enum breaker_state)i;
            return 0;
        }
    return -1;
}
