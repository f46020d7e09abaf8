/* log.h — one-line structured logs (key=value), every line passed through the redactor.
 *
 * Format: ts=<RFC 3339 UTC, ms> level=<lvl> msg="<msg>" [trace_id=<32 hex>] <key=value ...>
 * The level is checked inside the macros, so arguments of suppressed lines are not evaluated;
 * LOG_DEBUG compiles out unless GATEHOUSE_DEBUG is defined. */
#ifndef GATEHOUSE_LOG_H
#define GATEHOUSE_LOG_H

#include <stddef.h>

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

extern enum log_level log_threshold;

/* Sets the threshold from a name ("debug", "info", "warn", "error"). Returns 0, or -1 for an unknown name. */
int log_set_level(const char *name);

/* Writes one line to stderr. trace_id may be NULL or "". kv_fmt is a printf format for the trailing
 * key=value pairs (may be NULL). The whole line is redacted before it is written (one write(2), or appended
 * to the batch while log_defer is on). */
void log_line(enum log_level level, const char *trace_id, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Batches lines below warn level instead of writing each at once: schedule is called when the batch gets its
 * first line, and its owner calls log_flush soon after (the HTTP server: at the end of the event loop pass,
 * so a request's line is written before its answer). A warning or error writes the batch and itself at once,
 * in order; a full batch and exit() flush too. log_defer(NULL) flushes and writes every line at once again.
 */
void log_defer(void (*schedule)(void));

/* Writes the batched lines (nothing when none is pending). */
void log_flush(void);

/* Copies value into out as a log-safe token: quotes, backslashes and control characters escaped, so a
 * user-controlled string can sit inside key="..." without breaking the line. Returns out. */
char *log_escape(const char *value, char *out, size_t outlen);

/* The HTTP server's record of one answered request, at info: the same line as
 *   LOG_INFO(trace_id, "request", "method=%s path=\"%s\" status=%d ms=%.2f bytes=%zu[ encoding=%s]", ...)
 * with path escaped by log_escape, formatted without printf (it is written once per request). */
void log_request(const char *trace_id, const char *method, const char *path, int status, double ms,
                 size_t bytes, const char *encoding);

#define LOG_AT(lvl, trace, msg, ...)                                                                         \
    do {                                                                                                     \
        if ((lvl) >= log_threshold) log_line((lvl), (trace), (msg), __VA_ARGS__);                            \
    } while (0)
#define LOG_INFO(trace, msg, ...) LOG_AT(LOG_LEVEL_INFO, trace, msg, __VA_ARGS__)
#define LOG_WARN(trace, msg, ...) LOG_AT(LOG_LEVEL_WARN, trace, msg, __VA_ARGS__)
#define LOG_ERROR(trace, msg, ...) LOG_AT(LOG_LEVEL_ERROR, trace, msg, __VA_ARGS__)
#ifdef GATEHOUSE_DEBUG
#define LOG_DEBUG(trace, msg, ...) LOG_AT(LOG_LEVEL_DEBUG, trace, msg, __VA_ARGS__)
#else
#define LOG_DEBUG(trace, msg, ...)                                                                           \
    do {                                                                                                     \
    } while (0)
#endif

#endif
