/* tap.h — a tiny header-only TAP producer for the C unit tests (run them under `prove`).
 *
 *   tap_ok(cond, fmt, ...)              ok N - <name>
 *   tap_is_str(got, expected, name)     string equality (NULL-safe)
 *   tap_is_int(got, expected, name)     integer equality
 *   tap_diag(fmt, ...)                  "# ..." comment on stdout (shown by prove -v)
 *   return tap_done();                  prints the plan 1..N; exit status 0 if all passed, else 1
 *
 * Failures print "# got: ... expected: ..." and the source location on stderr, as Test::More does.
 * Strings in diagnostics are escaped so a newline or control byte cannot break the TAP stream.
 */
#ifndef GATEHOUSE_TAP_H
#define GATEHOUSE_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct tap_state {
    int run, failed;
};

static inline struct tap_state *tap_state_(void)
{
    static struct tap_state st;
    return &st;
}

/* Prints s (or "(null)") single-quoted, escaping control and non-ASCII bytes, to f. */
static inline void tap_put_escaped_(FILE *f, const char *s)
{
    if (s == NULL) {
        fputs("(null)", f);
        return;
    }
    fputc('\'', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == '\'')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('\'', f);
}

/* Prints the test line; the name is formatted, then newlines in it are flattened. */
static inline int tap_result_(int pass, const char *file, int line, const char *fmt, va_list ap)
{
    struct tap_state *st = tap_state_();
    char name[512];
    vsnprintf(name, sizeof name, fmt, ap);
    for (char *p = name; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '#') *p = ' ';
    st->run++;
    if (!pass) st->failed++;
    printf("%sok %d - %s\n", pass ? "" : "not ", st->run, name);
    if (!pass) {
        fflush(stdout);
        fprintf(stderr, "#   Failed test '%s'\n#   at %s line %d.\n", name, file, line);
    }
    fflush(stdout);
    return pass;
}

__attribute__((format(printf, 4, 5))) static inline int tap_ok_(int pass, const char *file, int line,
                                                                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_result_(pass, file, line, fmt, ap);
    va_end(ap);
    return pass;
}

static inline int tap_call_(int pass, const char *file, int line, const char *name)
{
    return tap_ok_(pass, file, line, "%s", name);
}

static inline int tap_is_str_(const char *got, const char *exp, const char *file, int line, const char *name)
{
    int pass = (got == NULL || exp == NULL) ? got == exp : strcmp(got, exp) == 0;
    tap_call_(pass, file, line, name);
    if (!pass) {
        fputs("# got: ", stderr);
        tap_put_escaped_(stderr, got);
        fputs(" expected: ", stderr);
        tap_put_escaped_(stderr, exp);
        fputc('\n', stderr);
    }
    return pass;
}

static inline int tap_is_int_(long long got, long long exp, const char *file, int line, const char *name)
{
    int pass = got == exp;
    tap_call_(pass, file, line, name);
    if (!pass) fprintf(stderr, "# got: %lld expected: %lld\n", got, exp);
    return pass;
}

__attribute__((format(printf, 1, 2))) static inline void tap_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}

static inline int tap_done(void)
{
    struct tap_state *st = tap_state_();
    printf("1..%d\n", st->run);
    if (st->failed) fprintf(stderr, "# Looks like you failed %d test(s) of %d.\n", st->failed, st->run);
    fflush(stdout);
    return st->failed ? 1 : 0;
}

#define tap_ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define tap_is_str(got, expected, name) tap_is_str_((got), (expected), __FILE__, __LINE__, (name))
#define tap_is_int(got, expected, name)                                                                      \
    tap_is_int_((long long)(got), (long long)(expected), __FILE__, __LINE__, (name))

#endif
