/* test_breaker.c — the circuit breaker's transition table (runtime/breaker.h). */
#include "breaker.h"

#include "tap.h"

int main(void)
{
    struct breaker_cfg c = {.failures_to_open = 3, .cooldown_s = 600};

    /* deaths */
    tap_is_int(breaker_next(BREAKER_CLOSED, 1, BREAKER_EV_DEATH, &c, 0), BREAKER_CLOSED,
               "CLOSED, 1st failure: stays CLOSED");
    tap_is_int(breaker_next(BREAKER_CLOSED, 2, BREAKER_EV_DEATH, &c, 0), BREAKER_CLOSED,
               "CLOSED, 2nd failure: stays CLOSED");
    tap_is_int(breaker_next(BREAKER_CLOSED, 3, BREAKER_EV_DEATH, &c, 0), BREAKER_OPEN,
               "CLOSED, 3rd failure: OPEN");
    tap_is_int(breaker_next(BREAKER_CLOSED, 7, BREAKER_EV_DEATH, &c, 0), BREAKER_OPEN,
               "CLOSED, beyond the threshold: OPEN");
    tap_is_int(breaker_next(BREAKER_HALF_OPEN, 1, BREAKER_EV_DEATH, &c, 0), BREAKER_OPEN,
               "HALF_OPEN, probe died: OPEN");
    tap_is_int(breaker_next(BREAKER_OPEN, 1, BREAKER_EV_DEATH, &c, 0), BREAKER_OPEN,
               "OPEN, death: stays OPEN");

    /* good ticks */
    tap_is_int(breaker_next(BREAKER_HALF_OPEN, 0, BREAKER_EV_GOOD_TICK, &c, 0), BREAKER_CLOSED,
               "HALF_OPEN, good tick: CLOSED");
    tap_is_int(breaker_next(BREAKER_CLOSED, 0, BREAKER_EV_GOOD_TICK, &c, 0), BREAKER_CLOSED,
               "CLOSED, good tick: CLOSED");
    tap_is_int(breaker_next(BREAKER_OPEN, 0, BREAKER_EV_GOOD_TICK, &c, 0), BREAKER_OPEN,
               "OPEN, good tick: stays OPEN");

    /* the clock */
    tap_is_int(breaker_next(BREAKER_OPEN, 0, BREAKER_EV_CLOCK, &c, 599.9), BREAKER_OPEN,
               "OPEN within the cool-down: OPEN");
    tap_is_int(breaker_next(BREAKER_OPEN, 0, BREAKER_EV_CLOCK, &c, 600), BREAKER_OPEN,
               "OPEN exactly the cool-down: OPEN");
    tap_is_int(breaker_next(BREAKER_OPEN, 0, BREAKER_EV_CLOCK, &c, 600.5), BREAKER_HALF_OPEN,
               "OPEN past the cool-down: HALF_OPEN");
    tap_is_int(breaker_next(BREAKER_CLOSED, 0, BREAKER_EV_CLOCK, &c, 1e6), BREAKER_CLOSED,
               "CLOSED, clock: CLOSED");
    tap_is_int(breaker_next(BREAKER_HALF_OPEN, 0, BREAKER_EV_CLOCK, &c, 1e6), BREAKER_HALF_OPEN,
               "HALF_OPEN, clock: HALF_OPEN");

    /* another threshold */
    struct breaker_cfg one = {.failures_to_open = 1, .cooldown_s = 6};
    tap_is_int(breaker_next(BREAKER_CLOSED, 1, BREAKER_EV_DEATH, &one, 0), BREAKER_OPEN,
               "threshold 1: the first death opens");
    tap_is_int(breaker_next(BREAKER_OPEN, 0, BREAKER_EV_CLOCK, &one, 7), BREAKER_HALF_OPEN,
               "cool-down 6: HALF_OPEN after 7 s");

    /* the failure count */
    tap_is_int(breaker_failures(0, 0), 1, "first death: 1 failure");
    tap_is_int(breaker_failures(2, 5), 3, "carried 2, 5 in the window: 3");
    tap_is_int(breaker_failures(5, 1), 2, "old deaths expired: capped by the window count");
    tap_is_int(breaker_failures(0, 4), 1, "a closed breaker's reset holds");

    /* names */
    enum breaker_state s = BREAKER_CLOSED;
    tap_is_str(breaker_state_name(BREAKER_HALF_OPEN), "HALF_OPEN", "name of HALF_OPEN");
    tap_ok(breaker_state_parse("OPEN", &s) == 0 && s == BREAKER_OPEN, "parse OPEN");
    tap_ok(breaker_state_parse("open", &s) < 0 && s == BREAKER_OPEN, "parse refuses other text");
    return tap_done();
}
