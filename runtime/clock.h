/* clock.h — the runtime's one clock.
 *
 * Two notions of time, one module:
 *   - a monotonic clock for deadlines, intervals and latencies (never jumps, never shifted);
 *   - the wall clock every "now" of the runtime reads: tick instants, bar windows, market hours, TTLs,
 *     24 h windows, session timeouts, TOTP steps, timestamps written to Postgres (SQL reads the same
 *     instant through gh_now(): db.c hands the offset to every pool session), the Lua rt.now().
 *
 * The wall clock is the system's real time unless a test clock is set (GATEHOUSE_TEST_CLOCK, an RFC 3339
 * UTC instant): then it starts at that instant when the process starts and runs forward at the real
 * rate, so specs run at a chosen hour and day whatever the machine's date. `serve` refuses a test clock
 * unless every configured provider is on loopback (a simulator): see main.c. */
#ifndef GATEHOUSE_CLOCK_H
#define GATEHOUSE_CLOCK_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC (never jumps with wall-clock changes, never shifted by a test clock). */
double clock_now_ms(void);

/* The runtime's wall clock as fractional epoch seconds (real time + the test offset). */
double clock_wall(void);

/* The runtime's wall clock in whole epoch seconds. */
time_t clock_wall_s(void);

/* The runtime's wall clock as a timespec (CLOCK_REALTIME resolution, shifted by the test offset). */
void clock_wall_timespec(struct timespec *ts);

/* Sets the test clock from setting, an RFC 3339 UTC instant ("2026-12-08T15:00:00Z"; fractions of a second
 * are not accepted): from now on clock_wall() reads that instant plus the real time elapsed since this call.
 * NULL or "" clears it. Returns 0, or -1 with err filled when setting is malformed (the clock is unchanged).
 */
int clock_set_test(const char *setting, char *err, size_t errlen);

/* 1 when a test clock is set. */
int clock_is_test(void);

/* Milliseconds the wall clock is shifted from the real time (0 without a test clock). */
long long clock_offset_ms(void);

/* The setting the test clock was made from ("" without one). */
const char *clock_test_setting(void);

/* Days since 1970-01-01 of a proleptic Gregorian date y-m-d (H. Hinnant's days_from_civil; negative before).
 */
long long clock_days_from_civil(int y, int m, int d);

/* Parses "YYYY-MM-DDTHH:MM:SSZ" into epoch seconds. Returns 0, or -1 when the text is not exactly that. */
int clock_parse_rfc3339(const char *text, time_t *out);

/* The runtime's one RFC 3339 UTC formatter: writes ts as "2026-11-24T12:00:00Z", or with with_usec as
 * "2026-11-24T12:00:00.123456Z" (microseconds of ts->tv_nsec), into out (len bytes, 32 is enough). Returns
 * out. */
char *clock_format_rfc3339(const struct timespec *ts, int with_usec, char *out, size_t len);

/* Writes t as "2026-11-24T12:00:00Z" into out. Returns out. */
char *clock_rfc3339(time_t t, char out[32]);

/* Writes t with microseconds ("2026-11-24T12:00:00.000000Z") into out; t 0 means the wall clock now (with its
 * microseconds). Returns the whole seconds written. */
time_t clock_rfc3339_us(time_t t, char out[32]);

/* An RFC 3339 UTC timestamp ("2026-11-24T12:00:00Z") as a new JSON string, or JSON null when t is 0. */
json_t *clock_json_time(time_t t);

#endif
