/* clock.h — the runtime's two notions of time: a monotonic clock for deadlines and latencies, and RFC 3339
 * UTC text for timestamps that leave the process. */
#ifndef GATEHOUSE_CLOCK_H
#define GATEHOUSE_CLOCK_H

#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC (never jumps with wall-clock changes). */
double clock_now_ms(void);

/* Writes t as "2026-11-24T12:00:00Z" into out. Returns out. */
char *clock_rfc3339(time_t t, char out[32]);

#endif
