/* log.c — structured one-line logs through the redactor. Single-threaded: one event loop. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "secret.h"

enum log_level log_threshold = LOG_LEVEL_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

int log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, level_names[i]) == 0) {
            log_threshold = (enum log_level)i;
            return 0;
        }
    if (name && strcmp(name, "warning") == 0) {
        log_threshold = LOG_LEVEL_WARN;
        return 0;
    }
    return -1;
}

char *log_escape(const char *value, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0) return out;
    for (const unsigned char *p = (const unsigned char *)(value ? value : ""); *p && o + 5 < outlen; p++) {
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
    return out;
}

/* Escapes, in place, every control character left in line[0..n) by a value a caller did not pass through
 * log_escape (\n as "\\n", others as "\\xHH"), so one call is always one line: no value can forge a record.
 * Keeps at most cap bytes (truncating the tail). Returns the new length. */
static size_t escape_controls(char *line, size_t n, size_t cap)
{
    char tmp[8192];
    size_t o = 0, i = 0;
    for (; i < n && !((unsigned char)line[i] < 0x20 || line[i] == 0x7f); i++) {
    }
    if (i == n) return n; /* the usual case: nothing to do */
    for (i = 0; i < n && o + 4 < sizeof tmp && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c == '\n')
            o += (size_t)snprintf(tmp + o, sizeof tmp - o, "\\n");
        else if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(tmp + o, sizeof tmp - o, "\\x%02x", c);
        else
            tmp[o++] = (char)c;
    }
    memcpy(line, tmp, o);
    return o;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ"; the calendar part is formatted once per second. */
static size_t format_timestamp(char *buf, size_t len)
{
    static time_t cached_s = (time_t)-1;
    static char cached[32];
    static size_t cached_n;
    struct timespec ts;
    clock_wall_timespec(&ts);
    if (ts.tv_sec != cached_s) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        cached_n = strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_s = ts.tv_sec;
    }
    if (len < cached_n + 6) return 0;
    long ms = ts.tv_nsec / 1000000;
    memcpy(buf, cached, cached_n);
    buf[cached_n] = '.';
    buf[cached_n + 1] = (char)('0' + ms / 100 % 10);
    buf[cached_n + 2] = (char)('0' + ms / 10 % 10);
    buf[cached_n + 3] = (char)('0' + ms % 10);
    buf[cached_n + 4] = 'Z';
    buf[cached_n + 5] = '\0';
    return cached_n + 5;
}

/* ---- deferred writes (log_defer) ---- */
#define LOG_BATCH_BYTES 65536

static void (*schedule_flush)(void); /* NULL: every line is written at once */
static char batch[LOG_BATCH_BYTES];
static size_t batch_len;

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0) return; /* stderr closed or full: lines are dropped, never retried in a loop */
        p += w, n -= (size_t)w;
    }
}

void log_flush(void)
{
    size_t n = batch_len;
    batch_len = 0;
    if (n) write_all(batch, n);
}

/* A forked child must not write its parent's pending lines a second time. */
static void forget_batch_in_child(void)
{
    batch_len = 0;
}

void log_defer(void (*schedule)(void))
{
    static int hooks_installed;
    if (!schedule) log_flush();
    schedule_flush = schedule;
    if (schedule && !hooks_installed) {
        hooks_installed = 1;
        atexit(log_flush);
        pthread_atfork(NULL, NULL, forget_batch_in_child);
    }
}

/* Sends one finished line: into the batch when deferring and the level allows it (warnings and errors flush
 * the batch and themselves at once, in order), else straight to stderr. */
static void emit(enum log_level level, const char *line, size_t n)
{
    if (!schedule_flush || level >= LOG_LEVEL_WARN || n > sizeof batch) {
        log_flush();
        write_all(line, n);
        return;
    }
    if (batch_len + n > sizeof batch) log_flush();
    int was_empty = batch_len == 0;
    memcpy(batch + batch_len, line, n);
    batch_len += n;
    if (was_empty) schedule_flush();
}

/* Ends line[0..n) (escaped controls, newline) and emits it through the redactor. */
static void finish_line(enum log_level level, char *line, int n, size_t cap)
{
    if (n < 0) return;
    if ((size_t)n >= cap - 1) n = (int)cap - 2; /* truncated: keep one line */
    n = (int)escape_controls(line, (size_t)n, cap - 1);
    line[n++] = '\n';

    /* the usual line holds no secret: the redactor's scan proves it without copying the line */
    if (!secret_contains(line, (size_t)n)) {
        emit(level, line, (size_t)n);
        return;
    }
    size_t outlen = 0;
    char *clean = secret_redact(line, (size_t)n, &outlen);
    const char *out = clean ? clean : "ts=? level=error msg=\"log redaction failed\"\n";
    emit(level, out, clean ? outlen : strlen(out));
    free(clean);
}

void log_line(enum log_level level, const char *trace_id, const char *msg, const char *kv_fmt, ...)
{
    char line[8192], ts[40], esc[1024];
    int n;

    format_timestamp(ts, sizeof ts);
    n = snprintf(line, sizeof line, "ts=%s level=%s msg=\"%s\"", ts, level_names[level],
                 log_escape(msg, esc, sizeof esc));
    if (trace_id && *trace_id && n > 0 && (size_t)n < sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, " trace_id=%s", trace_id);
    if (kv_fmt && *kv_fmt && n > 0 && (size_t)n + 1 < sizeof line) {
        va_list ap;
        line[n++] = ' ';
        va_start(ap, kv_fmt);
        n += vsnprintf(line + n, sizeof line - (size_t)n, kv_fmt, ap);
        va_end(ap);
    }
    finish_line(level, line, n, sizeof line);
}

/* ---- the request record, without printf ---- */

struct line_buf {
    char *p;
    size_t n, cap;
};

static void put(struct line_buf *b, const char *s, size_t len)
{
    if (b->n + len > b->cap) len = b->cap - b->n;
    memcpy(b->p + b->n, s, len);
    b->n += len;
}

static void put_str(struct line_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_uint(struct line_buf *b, unsigned long long v)
{
    char d[24];
    size_t i = sizeof d;
    do
        d[--i] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    put(b, d + i, sizeof d - i);
}

void log_request(const char *trace_id, const char *method, const char *path, int status, double ms,
                 size_t bytes, const char *encoding)
{
    if (LOG_LEVEL_INFO < log_threshold) return;
    char line[2048], ts[40], esc[512];
    struct line_buf b = {line, 0, sizeof line - 2};
    format_timestamp(ts, sizeof ts);
    put_str(&b, "ts=");
    put_str(&b, ts);
    put_str(&b, " level=info msg=\"request\"");
    if (trace_id && *trace_id) {
        put_str(&b, " trace_id=");
        put_str(&b, trace_id);
    }
    put_str(&b, " method=");
    put_str(&b, method ? method : "");
    put_str(&b, " path=\"");
    put_str(&b, log_escape(path, esc, sizeof esc));
    put_str(&b, "\" status=");
    if (status < 0) {
        put_str(&b, "-");
        status = -status;
    }
    put_uint(&b, (unsigned)status);
    /* ms with two decimals, rounded half up ("%.2f" differs only on exact halves) */
    unsigned long long hundredths = ms > 0 ? (unsigned long long)(ms * 100.0 + 0.5) : 0;
    put_str(&b, " ms=");
    put_uint(&b, hundredths / 100);
    char frac[3] = {'.', (char)('0' + hundredths / 10 % 10), (char)('0' + hundredths % 10)};
    put(&b, frac, sizeof frac);
    put_str(&b, " bytes=");
    put_uint(&b, bytes);
    if (encoding) {
        put_str(&b, " encoding=");
        put_str(&b, encoding);
    }
    finish_line(LOG_LEVEL_INFO, line, (int)b.n, sizeof line);
}
