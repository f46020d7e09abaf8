/* test_id.c — trace ids and UUIDs: what id_* make passes what id_is_* check, and the checks' edges. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "id.h"
#include "secret.h"
#include "tap.h"

static void made(void)
{
    char t1[33], t2[33], u1[37], u2[37];
    id_trace_new(t1);
    id_trace_new(t2);
    tap_ok(id_is_trace_id(t1) && strlen(t1) == 32, "a new trace id is 32 lower-case hex");
    tap_ok(strcmp(t1, t2) != 0, "two trace ids differ");
    id_uuid_new(u1);
    id_uuid_new(u2);
    tap_ok(id_is_uuid(u1), "a new UUID is canonical");
    tap_ok(strcmp(u1, u2) != 0, "two UUIDs differ");
    tap_ok(u1[14] == '4', "version 4");
    tap_ok(strchr("89ab", u1[19]) != NULL, "RFC 4122 variant");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* The ids come from a pool refilled every 64 ids: across many refills, UUIDs and trace ids taken in turn are
 * all canonical and all distinct (no byte of the pool is issued twice). */
static void pooled(void)
{
    enum { N = 600 };
    static char ids[2 * N][37];
    int canonical = 1, distinct = 1;
    for (int i = 0; i < N; i++) {
        id_uuid_new(ids[2 * i]);
        id_trace_new(ids[2 * i + 1]);
        canonical &= id_is_uuid(ids[2 * i]) && ids[2 * i][14] == '4' && strchr("89ab", ids[2 * i][19]) &&
                     id_is_trace_id(ids[2 * i + 1]);
    }
    for (int i = 0; i < N; i++) /* a UUID's hex, dashes removed, must not be a trace id's either */
    {
        char *u = ids[2 * i], *o = u;
        for (char *p = u; *p; p++)
            if (*p != '-') *o++ = *p;
        *o = '\0';
    }
    qsort(ids, 2 * N, sizeof ids[0], cmp_str);
    for (int i = 1; i < 2 * N; i++)
        distinct &= strcmp(ids[i - 1], ids[i]) != 0;
    tap_ok(canonical, "600 UUIDs and 600 trace ids across pool refills are canonical");
    tap_ok(distinct, "and all 1,200 are distinct");
}

/* A forked child drops the pool it inherited: its next id is not the parent's next id. */
static void forked(void)
{
    char parent[37], child[37] = "";
    int fds[2];
    id_uuid_new(parent); /* the pool now holds ids the child would inherit */
    if (pipe(fds) != 0) {
        tap_ok(0, "pipe");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        char mine[37];
        id_uuid_new(mine);
        ssize_t w = write(fds[1], mine, sizeof mine);
        _exit(w == (ssize_t)sizeof mine ? 0 : 1);
    }
    ssize_t r = read(fds[0], child, sizeof child);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    close(fds[1]);
    id_uuid_new(parent);
    tap_ok(r == (ssize_t)sizeof child && id_is_uuid(child) && strcmp(child, parent) != 0,
           "a forked child's next UUID differs from its parent's next one");
}

static void checks(void)
{
    tap_ok(id_is_uuid("123e4567-e89b-42d3-a456-426614174000"), "a lower-case UUID");
    tap_ok(id_is_uuid("123E4567-E89B-42D3-A456-426614174000"), "an upper-case UUID");
    tap_ok(!id_is_uuid("123e4567e89b42d3a456426614174000"), "no dashes: not a UUID");
    tap_ok(!id_is_uuid("123e4567-e89b-42d3-a456-42661417400"), "one character short");
    tap_ok(!id_is_uuid("123e4567-e89b-42d3-a456-42661417400g"), "a non-hex character");
    tap_ok(!id_is_uuid(NULL), "NULL is not a UUID");
    tap_ok(id_is_trace_id("0af7651916cd43dd8448eb211c80319c"), "a trace id");
    tap_ok(!id_is_trace_id("0AF7651916CD43DD8448EB211C80319C"), "upper case is not a trace id");
    tap_ok(!id_is_trace_id("0af7651916cd43dd8448eb211c80319"), "31 characters");
    tap_ok(!id_is_trace_id(NULL), "NULL is not a trace id");
}

int main(void)
{
    secret_init();
    made();
    pooled();
    forked();
    checks();
    return tap_done();
}
