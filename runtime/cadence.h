/* cadence.h — the one cadence rule: a bot's tick interval and heartbeat timeout, used by the scheduler (when
 * to tick), the supervisor (when a silent instance is dead) and autonomy (heartbeat evidence). Pure; reads
 * cfg. */
#ifndef GATEHOUSE_CADENCE_H
#define GATEHOUSE_CADENCE_H

/* The one cadence rule: a bot's tick interval in seconds — GATEHOUSE_TICK_INTERVAL_S when set, else its
 * params.tick_interval_s (tick_interval_param, its text; may be NULL) when positive, else by timeframe
 * (5m 300, 15m 900, 1h 3600, anything else 60). Pure (reads cfg). */
int cadence_interval_s(const char *timeframe, const char *tick_interval_param);

/* A bot's heartbeat timeout in seconds: GATEHOUSE_HEARTBEAT_TIMEOUT_S when set, else 3 x its tick interval,
 * at least 30. Same arguments as cadence_interval_s. Pure (reads cfg). */
int cadence_heartbeat_timeout_s(const char *timeframe, const char *tick_interval_param);

#endif
