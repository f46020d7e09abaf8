/* breaker.h — a bot's circuit breaker as a pure state machine (PRODUCT.md §6 "Supervision"; supervisor.h has
 * the model). instances.c persists what it decides; nothing here touches the database or the clock.
 *
 *   CLOSED    --death, failures in the window >= cfg.failures_to_open-->  OPEN
 *   CLOSED    --death, fewer failures-->                                  CLOSED (the supervisor restarts the
 * bot) HALF_OPEN --death (the probe died)-->                                 OPEN HALF_OPEN --good tick
 * (TRADED or SUPPRESSED)-->                       CLOSED (failures reset to 0) OPEN      --clock, open for
 * longer than cfg.cooldown_s-->             HALF_OPEN (one probe restart) Every other (state, event) pair
 * keeps the state. */
#ifndef GATEHOUSE_BREAKER_H
#define GATEHOUSE_BREAKER_H

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

enum breaker_event {
    BREAKER_EV_DEATH,     /* the bot's live instance died (tick ERROR, heartbeat timeout, stuck runner) */
    BREAKER_EV_GOOD_TICK, /* a tick of the live instance ended TRADED or SUPPRESSED */
    BREAKER_EV_CLOCK,     /* time passed: the sweep looks at an OPEN breaker */
};

struct breaker_cfg {
    int failures_to_open; /* GATEHOUSE_BREAKER_FAILURES (3) */
    int cooldown_s;       /* GATEHOUSE_BREAKER_COOLDOWN_S (600) */
};

/* The state after event ev in state s. failures_in_window counts the deaths in the window including this one
 * (breaker_failures(); read for BREAKER_EV_DEATH only); open_for_s is how long the breaker has been OPEN
 * (read for BREAKER_EV_CLOCK only). Pure. */
enum breaker_state breaker_next(enum breaker_state s, int failures_in_window, enum breaker_event ev,
                                const struct breaker_cfg *cfg, double open_for_s);

/* The failure count a death leaves: the carried counter (bot_instances.breaker_failures), capped by the
 * deaths of the bot recounted within the window (so old deaths expire and a closed breaker's reset holds),
 * plus this death. Pure. */
int breaker_failures(int carried, int deaths_in_window);

/* "CLOSED", "OPEN" or "HALF_OPEN" (the bot_instances.breaker_state text). */
const char *breaker_state_name(enum breaker_state s);

/* Parses the column text; 0, or -1 (out untouched) when name is none of the three. */
int breaker_state_parse(const char *name, enum breaker_state *out);

#endif
