/* test_log.c — log_request (the request record formatted without printf) writes the very line that
 * LOG_INFO(trace, "request", "method=%s path=\"%s\" status=%d ms=%.2f bytes=%zu%s%s", ...) writes with the
 * path escaped by log_escape: escapes, long paths, the encoding, no trace id, a secret in the path redacted,
 * and nothing below the threshold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "secret.h"
#include "tap.h"

static FILE *capture;

/* Everything written to stderr since the last call (stderr goes to a temporary file). */
static char *take_stderr(void)
{
    static long done;
    fflush(stderr);
    long end = ftell(capture) < 0 ? 0 : (fseek(capture, 0, SEEK_END), ftell(capture));
    char *out = calloc(1, (size_t)(end - done) + 1);
    fseek(capture, done, SEEK_SET);
    size_t got = fread(out, 1, (size_t)(end - done), capture);
    out[got] = '\0';
    done = end;
    return out;
}

/* The line from " level=" on: the two calls may fall in different milliseconds. */
static const char *after_ts(const char *line)
{
    const char *p = strstr(line, " level=");
    return p ? p : line;
}

static void same_line(const char *trace, const char *method, const char *path, int status, double ms,
                      size_t bytes, const char *enc, const char *name)
{
    char esc[512];
    log_request(trace, method, path, status, ms, bytes, enc);
    char *fast = take_stderr();
    LOG_INFO(trace, "request", "method=%s path=\"%s\" status=%d ms=%.2f bytes=%zu%s%s", method,
             log_escape(path, esc, sizeof esc), status, ms, bytes, enc ? " encoding=" : "", enc ? enc : "");
    char *slow = take_stderr();
    int ok = strcmp(after_ts(fast), after_ts(slow)) == 0 && strncmp(fast, "ts=", 3) == 0 &&
             fast[strlen(fast) - 1] == '\n' && strchr(fast, '\n') == fast + strlen(fast) - 1;
    tap_ok(ok, "%s", name);
    if (!ok) fprintf(stdout, "# fast: %s# printf: %s", fast, slow);
    free(fast);
    free(slow);
}

int main(void)
{
    char longpath[900];
    capture = tmpfile();
    if (!capture || dup2(fileno(capture), STDERR_FILENO) < 0) return 1;
    tap_ok(secret_init() == 0 && secret_add_literal("T_KEY", "sk-live-canary-42") == 0, "a secret literal");

    same_line("0123456789abcdef0123456789abcdef", "GET", "/api/system/status", 200, 0.1234, 11294, NULL,
              "a plain request");
    same_line("0123456789abcdef0123456789abcdef", "GET", "/api/integrations/status", 200, 12.345678, 4917,
              "gzip", "with its encoding");
    same_line(NULL, "POST", "/api/bots", 404, 0.0, 0, NULL, "no trace id, zero ms and bytes");
    same_line("0123456789abcdef0123456789abcdef", "GET", "/a\"b\\c\nd\x01\x7f", 400, 3.0, 7, NULL,
              "quotes, backslashes and control characters escaped");
    same_line("0123456789abcdef0123456789abcdef", "DELETE", "/x", 503, 98765.4321, 123456789012ull, NULL,
              "large figures");
    memset(longpath, 'p', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    same_line("0123456789abcdef0123456789abcdef", "GET", longpath, 414, 1.5, 0, NULL,
              "a path longer than the escape buffer, cut the same way");

    log_request("0123456789abcdef0123456789abcdef", "GET", "/api/x?k=sk-live-canary-42", 200, 1.0, 1, NULL);
    char *red = take_stderr();
    tap_ok(strstr(red, "sk-live-canary-42") == NULL && strstr(red, "path=\"/api/x?k=") != NULL,
           "a secret in the path is redacted");
    free(red);

    log_set_level("warn");
    log_request("0123456789abcdef0123456789abcdef", "GET", "/quiet", 200, 1.0, 1, NULL);
    char *none = take_stderr();
    tap_ok(none[0] == '\0', "nothing below the threshold");
    free(none);
    return tap_done();
}
