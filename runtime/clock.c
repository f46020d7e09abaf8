/* clock.c — monotonic milliseconds, the runtime's wall clock (optionally shifted by a test clock) and
 * RFC 3339 UTC text (the one formatter, with or without microseconds). */
#include "clock.h"

#include <stdio.h>
#include <string.h>

static struct {
    long long offset_ms; /* added to the real time; 0 without a test clock */
    int test;
    char setting[32];
} C;

double clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static long long real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_wall_timespec(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    if (!C.offset_ms) return;
    long long ns = (long long)ts->tv_nsec + (C.offset_ms % 1000) * 1000000;
    ts->tv_sec += (time_t)(C.offset_ms / 1000);
    while (ns < 0) {
        ns += 1000000000;
        ts->tv_sec--;
    }
    while (ns >= 1000000000) {
        ns -= 1000000000;
        ts->tv_sec++;
    }
    ts->tv_nsec = (long)ns;
}

double clock_wall(void)
{
    struct timespec ts;
    clock_wall_timespec(&ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

time_t clock_wall_s(void)
{
    struct timespec ts;
    clock_wall_timespec(&ts);
    return ts.tv_sec;
}

long long clock_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int clock_parse_rfc3339(const char *text, time_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, s, n = 0;
    if (!text || strlen(text) != 20 ||
        sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || n != 20)
        return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || s > 59)
        return -1;
    *out = (time_t)(clock_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s);
    return 0;
}

int clock_set_test(const char *setting, char *err, size_t errlen)
{
    time_t at;
    if (!setting || !*setting) {
        memset(&C, 0, sizeof C);
        return 0;
    }
    if (clock_parse_rfc3339(setting, &at) < 0) {
        snprintf(err, errlen,
                 "GATEHOUSE_TEST_CLOCK: must be an RFC 3339 UTC instant such as 2026-12-08T15:00:00Z");
        return -1;
    }
    C.offset_ms = (long long)at * 1000 - real_ms();
    C.test = 1;
    snprintf(C.setting, sizeof C.setting, "%s", setting);
    return 0;
}

int clock_is_test(void)
{
    return C.test;
}

long long clock_offset_ms(void)
{
    return C.offset_ms;
}

const char *clock_test_setting(void)
{
    return C.setting;
}

char *clock_format_rfc3339(const struct timespec *ts, int with_usec, char *out, size_t len)
{
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    if (with_usec)
        snprintf(out + n, len - n, ".%06ldZ", ts->tv_nsec / 1000);
    else
        snprintf(out + n, len - n, "Z");
    return out;
}

char *clock_rfc3339(time_t t, char out[32])
{
    struct timespec ts = {t, 0};
    return clock_format_rfc3339(&ts, 0, out, 32);
}

time_t clock_rfc3339_us(time_t t, char out[32])
{
    struct timespec ts = {t, 0};
    if (!t) clock_wall_timespec(&ts);
    clock_format_rfc3339(&ts, 1, out, 32);
    return ts.tv_sec;
}

json_t *clock_json_time(time_t t)
{
    char buf[32];
    return t ? json_string(clock_rfc3339(t, buf)) : json_null();
}
