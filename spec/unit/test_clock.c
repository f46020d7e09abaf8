/* test_clock.c — the runtime's one clock: RFC 3339 parsing, a test clock that starts at a chosen instant and
 * runs at the real rate, and that clearing it returns to the system clock. The assertions compare the clock
 * with the instant it was set to (and with CLOCK_REALTIME read around it), never with a calendar date. */
#include <string.h>
#include <time.h>

#include "clock.h"
#include "tap.h"

static long long real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_parse(void)
{
    time_t t = 0;
    tap_ok(clock_parse_rfc3339("2026-12-08T15:00:00Z", &t) == 0, "parses a UTC instant");
    tap_is_int(t, 1796742000, "2026-12-08T15:00:00Z = 1796742000");
    tap_ok(clock_parse_rfc3339("1970-01-01T00:00:00Z", &t) == 0 && t == 0, "the epoch");
    tap_ok(clock_parse_rfc3339("2028-02-29T23:59:59Z", &t) == 0 && t == 1835481599, "a leap day");
    tap_ok(clock_parse_rfc3339("2027-02-29T00:00:00Z", &t) < 0, "29 February of a common year is refused");
    tap_ok(clock_parse_rfc3339("2026-13-01T00:00:00Z", &t) < 0, "month 13 is refused");
    tap_ok(clock_parse_rfc3339("2026-12-08T24:00:00Z", &t) < 0, "hour 24 is refused");
    tap_ok(clock_parse_rfc3339("2026-12-08T15:00:00", &t) < 0, "no zone is refused (UTC only)");
    tap_ok(clock_parse_rfc3339("2026-12-08T15:00:00+01:00", &t) < 0, "an offset is refused (UTC only)");
    tap_ok(clock_parse_rfc3339("2026-12-08T15:00:00.5Z", &t) < 0, "fractions are refused");
    tap_ok(clock_parse_rfc3339("2026-12-08 15:00:00Z", &t) < 0, "a space for T is refused");
    tap_ok(clock_parse_rfc3339("next tuesday", &t) < 0, "words are refused");
    tap_ok(clock_parse_rfc3339(NULL, &t) < 0, "NULL is refused");
}

static void test_system_clock(void)
{
    char err[256] = "";
    tap_ok(clock_set_test(NULL, err, sizeof err) == 0, "clearing the test clock succeeds");
    tap_ok(!clock_is_test(), "no test clock");
    tap_is_int(clock_offset_ms(), 0, "offset 0");
    tap_is_str(clock_test_setting(), "", "no setting");
    long long before = real_ms();
    double wall = clock_wall() * 1000.0;
    long long after = real_ms();
    tap_ok(wall >= (double)before - 1 && wall <= (double)after + 1, "the wall clock is the system clock");
}

static void test_test_clock(void)
{
    char err[256] = "";
    long long before = real_ms();
    tap_ok(clock_set_test("2026-12-05T22:00:00Z", err, sizeof err) == 0, "a test clock at a Saturday");
    long long after = real_ms();
    tap_ok(clock_is_test(), "is a test clock");
    tap_is_str(clock_test_setting(), "2026-12-05T22:00:00Z", "the setting is kept");
    long long at = 1796508000LL * 1000; /* 2026-12-05T22:00:00Z */
    tap_ok(clock_offset_ms() <= at - before && clock_offset_ms() >= at - after,
           "offset = the instant - the real time");
    time_t s = clock_wall_s();
    tap_ok(s >= 1796508000 && s <= 1796508000 + 5,
           "clock_wall_s reads the instant (plus the time the test took)");
    struct timespec ts;
    clock_wall_timespec(&ts);
    tap_ok(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000, "timespec nanoseconds stay normalised");
    tap_ok(ts.tv_sec >= 1796508000 && ts.tv_sec <= 1796508000 + 5, "timespec seconds read the instant");
    double a = clock_wall();
    struct timespec pause = {0, 20 * 1000000};
    nanosleep(&pause, NULL);
    double b = clock_wall();
    tap_ok(b - a >= 0.015 && b - a < 5, "the test clock runs forward at the real rate");
    char out[32];
    tap_is_str(clock_rfc3339(1796508000, out), "2026-12-05T22:00:00Z", "RFC 3339 text of the instant");
    double m0 = clock_now_ms();
    tap_ok(m0 > 0, "the monotonic clock is not shifted (positive, unrelated to the test instant)");
}

static void test_bad_setting_keeps_clock(void)
{
    char err[256] = "";
    long long offset = clock_offset_ms();
    tap_ok(clock_set_test("tuesday", err, sizeof err) < 0, "a malformed setting is refused");
    tap_ok(strstr(err, "GATEHOUSE_TEST_CLOCK") != NULL, "the error names the variable");
    tap_is_int(clock_offset_ms(), offset, "the clock is unchanged");
    tap_ok(clock_set_test("", err, sizeof err) == 0 && !clock_is_test(), "an empty setting clears it");
}

static void test_formats(void)
{
    char out[32];
    struct timespec ts = {1796508000, 123456789};
    tap_is_str(clock_format_rfc3339(&ts, 1, out, sizeof out), "2026-12-05T22:00:00.123456Z",
               "with microseconds");
    tap_is_str(clock_format_rfc3339(&ts, 0, out, sizeof out), "2026-12-05T22:00:00Z", "without microseconds");
    tap_ok(clock_rfc3339_us(1796508000, out) == 1796508000 && strcmp(out, "2026-12-05T22:00:00.000000Z") == 0,
           "a given instant has zero microseconds");
    time_t now = clock_rfc3339_us(0, out);
    tap_ok(now > 0 && strlen(out) == 27 && out[19] == '.', "0 formats the wall clock now, with microseconds");
    json_t *j = clock_json_time(1796508000), *n = clock_json_time(0);
    tap_is_str(json_string_value(j), "2026-12-05T22:00:00Z", "JSON time of an instant");
    tap_ok(json_is_null(n), "JSON time of 0 is null");
    json_decref(j);
    json_decref(n);
}

int main(void)
{
    test_formats();
    test_parse();
    test_system_clock();
    test_test_clock();
    test_bad_setting_keeps_clock();
    return tap_done();
}
