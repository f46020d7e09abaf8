/* cadence.c — the one cadence rule of a bot: its tick interval and its heartbeat timeout (see cadence.h). */
#include "cadence.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"

int cadence_interval_s(const char *timeframe, const char *tick_interval_param)
{
    if (cfg.tick_interval_s > 0) return cfg.tick_interval_s;
    if (tick_interval_param && atoi(tick_interval_param) > 0) return atoi(tick_interval_param);
    if (!timeframe) return 60;
    if (strcmp(timeframe, "5m") == 0) return 300;
    if (strcmp(timeframe, "15m") == 0) return 900;
    if (strcmp(timeframe, "1h") == 0) return 3600;
    return 60;
}

int cadence_heartbeat_timeout_s(const char *timeframe, const char *tick_interval_param)
{
    int interval = cadence_interval_s(timeframe, tick_interval_param);
    if (cfg.heartbeat_timeout_s > 0) return cfg.heartbeat_timeout_s;
    return 3 * interval < 30 ? 30 : 3 * interval;
}
