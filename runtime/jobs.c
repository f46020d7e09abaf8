/* jobs.c — job deadlines, heartbeats and crash recovery: one sweep every JOBS_SWEEP_MS on every instance. */
#include "jobs.h"

#include <errno.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "scheduler.h"

#define QUERY_TIMEOUT_MS 1500
#define MAX_SWEPT 500 /* rows one statement ends; the rest wait for the next sweep */
#define MAX_SWEPT_TEXT "500"

struct local_job {
    char id[37];
    jobs_cancel_cb cancel;
    void *arg;
    unsigned long registered_at; /* J.sent when it registered: a heartbeat sent before cannot know it */
    struct local_job *next;
};

static struct {
    struct event *timer;
    struct local_job *local;
    unsigned long sent, sweeps; /* sweeps sent / completed */
    int pending;                /* queries of the current sweep still out */
    char instance[37], host[256], node[160], pid[16];
} J;

/* ---- owner identity ---- */

/* "<boot id>/<pid namespace>": two processes with the same node key see each other's pids. "" when unknown
 * (then only the heartbeat rule recovers this process's jobs). */
static void read_node(char *out, size_t len)
{
    char boot[64] = "", ns[64] = "";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (!fgets(boot, sizeof boot, f)) boot[0] = '\0';
        fclose(f);
    }
    boot[strcspn(boot, "\n")] = '\0';
    ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
    ns[n > 0 ? n : 0] = '\0';
    if (boot[0] && ns[0])
        snprintf(out, len, "%s/%s", boot, ns);
    else
        out[0] = '\0';
}

const char *jobs_owner_instance(void)
{
    return J.instance;
}

const char *jobs_owner_host(void)
{
    return J.host;
}

const char *jobs_owner_node(void)
{
    return J.node;
}

const char *jobs_owner_pid(void)
{
    return J.pid;
}

/* 1 unless the process is certainly gone: no such pid, or a zombie (killed, not yet reaped). */
static int pid_alive(long pid)
{
    char path[64], buf[256];
    if (pid <= 0) return 0;
    if (kill((pid_t)pid, 0) < 0) return errno != ESRCH;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close = strrchr(buf, ')'); /* "pid (comm) S ...": comm may hold spaces and parens */
    return !(close && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X'));
}

/* ---- the local registry ---- */

int jobs_register(const char *job_id, jobs_cancel_cb cancel, void *arg)
{
    struct local_job *l = calloc(1, sizeof *l);
    if (!l) return -1;
    snprintf(l->id, sizeof l->id, "%s", job_id);
    l->cancel = cancel;
    l->arg = arg;
    l->registered_at = J.sent;
    l->next = J.local;
    J.local = l;
    return 0;
}

/* Unlinks and returns the entry of job_id, or NULL. */
static struct local_job *take(const char *job_id)
{
    for (struct local_job **pp = &J.local; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->id, job_id) == 0) {
            struct local_job *l = *pp;
            *pp = l->next;
            return l;
        }
    return NULL;
}

void jobs_unregister(const char *job_id)
{
    free(take(job_id));
}

/* Unlinks first, then calls: the callback may free its job and call jobs_unregister (a no-op by then). */
static void cancel_local(const char *job_id, const char *state, const char *code)
{
    struct local_job *l = take(job_id);
    if (!l) return;
    l->cancel(l->arg, state, code);
    free(l);
}

unsigned long jobs_sweeps(void)
{
    return J.sweeps;
}

/* ---- the sweep ---- */

static void sweep_done(void)
{
    if (--J.pending == 0) J.sweeps++;
}

/* Heartbeat: the answer lists our open jobs; a local job missing from it was ended elsewhere. */
static void on_heartbeat(struct pg_result *res, const char *err, void *arg)
{
    unsigned long sent = (unsigned long)arg;
    if (res) {
        char gone[64][37];
        int n = 0;
        for (struct local_job *l = J.local; l && n < 64; l = l->next) {
            if (l->registered_at >= sent) continue;
            int open = 0;
            for (int i = 0; i < PQntuples(res) && !open; i++)
                open = strcmp(PQgetvalue(res, i, 0), l->id) == 0;
            if (!open) snprintf(gone[n++], sizeof gone[0], "%s", l->id);
        }
        for (int i = 0; i < n; i++)
            cancel_local(gone[i], NULL, NULL);
    } else
        LOG_WARN(NULL, "job heartbeat failed", "error=\"%s\"", err ? err : "");
    sweep_done();
}

static void on_deadline(struct pg_result *res, const char *err, void *arg)
{
    if (!res) LOG_WARN(NULL, "job deadline sweep failed", "error=\"%s\"", err ? err : "");
    for (int i = 0; res && i < PQntuples(res); i++) {
        LOG_WARN(PQgetvalue(res, i, 1), "job timed out", "job=%s kind=%s code=JOB_TIMEOUT owner=%s here=%d",
                 PQgetvalue(res, i, 0), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                 strcmp(PQgetvalue(res, i, 3), J.instance) == 0);
        cancel_local(PQgetvalue(res, i, 0), "TIMEOUT", "JOB_TIMEOUT");
    }
    sweep_done();
}

static void on_recovered(struct pg_result *res, const char *err, void *arg)
{
    if (!res) LOG_WARN(NULL, "job recovery failed", "error=\"%s\"", err ? err : "");
    for (int i = 0; res && i < PQntuples(res); i++)
        LOG_WARN(PQgetvalue(res, i, 1), "job interrupted",
                 "job=%s kind=%s code=JOB_INTERRUPTED owner=%s owner_host=%s "
                 "owner_pid=%s",
                 PQgetvalue(res, i, 0), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4),
                 PQgetvalue(res, i, 5));
    sweep_done();
}

#define RECOVER_SQL                                                                                          \
    "WITH due AS (SELECT id, state FROM jobs WHERE state IN ('QUEUED', 'RUNNING') "                          \
    "    AND owner_instance IS DISTINCT FROM $3 AND (id = ANY($1::uuid[]) OR (id = ANY($2::uuid[]) "         \
    "    AND coalesce(last_heartbeat_at, started_at, created_at) < gh_now() - make_interval(secs => "        \
    "$4::int))) "                                                                                            \
    "  FOR UPDATE SKIP LOCKED), "                                                                            \
    "t AS (UPDATE jobs j SET state = 'FAILED', error_code = 'JOB_INTERRUPTED', finished_at = gh_now() "      \
    "  FROM due WHERE j.id = due.id RETURNING j.id, due.state AS from_state, j.trace_id, j.kind, "           \
    "  j.owner_instance, j.owner_host, j.owner_pid), "                                                       \
    "e AS (INSERT INTO job_run_events (job_id, from_state, to_state, reason_code, trace_id, metadata) "      \
    "  SELECT id, from_state, 'FAILED', 'JOB_INTERRUPTED', trace_id, jsonb_build_object('reason_human', "    \
    "  'The process running the job ended before the job finished (crash or restart); it was not "           \
    "re-queued.', "                                                                                          \
    "  'owner_instance', owner_instance, 'owner_host', owner_host, 'owner_pid', owner_pid, "                 \
    "  'recovered_by', $3::text) FROM t) "                                                                   \
    "SELECT id::text, trace_id, kind, coalesce(owner_instance, ''), coalesce(owner_host, ''), "              \
    "  coalesce(owner_pid::text, '') FROM t"

/* Appends id to the Postgres array literal out ("{a,b}"). */
static void array_add(char *out, size_t len, const char *id)
{
    size_t n = strlen(out);
    if (n + 40 >= len) return; /* the rest waits for the next sweep */
    snprintf(out + n - 1, len - n + 1, "%s%s}", n > 2 ? "," : "", id);
}

/* Candidates: open jobs of other instances. Decides here (pids are local facts) which owners are gone. */
static void on_candidates(struct pg_result *res, const char *err, void *arg)
{
    static char dead[MAX_SWEPT * 38 + 4], stale[MAX_SWEPT * 38 + 4];
    char orphan_s[16];
    int n_dead = 0, n_stale = 0;
    strcpy(dead, "{}");
    strcpy(stale, "{}");
    if (!res) LOG_WARN(NULL, "job recovery scan failed", "error=\"%s\"", err ? err : "");
    for (int i = 0; res && i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0), *node = PQgetvalue(res, i, 1);
        long pid = atol(PQgetvalue(res, i, 2));
        if (J.node[0] && strcmp(node, J.node) == 0 && (pid == (long)getpid() || !pid_alive(pid))) {
            array_add(dead, sizeof dead, id);
            n_dead++;
        } else if (PQgetvalue(res, i, 3)[0] == 't') {
            array_add(stale, sizeof stale, id);
            n_stale++;
        }
    }
    snprintf(orphan_s, sizeof orphan_s, "%d", JOBS_ORPHAN_S);
    const char *p[4] = {dead, stale, J.instance, orphan_s};
    if ((n_dead || n_stale) && db_query(RECOVER_SQL, 4, p, QUERY_TIMEOUT_MS, on_recovered, NULL) == 0) return;
    sweep_done();
}

#define DEADLINE_SQL                                                                                         \
    "WITH due AS (SELECT id, state FROM jobs WHERE state IN ('QUEUED', 'RUNNING') AND deadline_at <= "       \
    "gh_now() "                                                                                              \
    "  ORDER BY deadline_at LIMIT " MAX_SWEPT_TEXT " FOR UPDATE SKIP LOCKED), "                              \
    "t AS (UPDATE jobs j SET state = 'TIMEOUT', error_code = 'JOB_TIMEOUT', finished_at = gh_now() "         \
    "  FROM due WHERE j.id = due.id RETURNING j.id, due.state AS from_state, j.trace_id, j.kind, "           \
    "j.deadline_at, "                                                                                        \
    "  j.owner_instance), "                                                                                  \
    "e AS (INSERT INTO job_run_events (job_id, from_state, to_state, reason_code, trace_id, metadata) "      \
    "  SELECT id, from_state, 'TIMEOUT', 'JOB_TIMEOUT', trace_id, jsonb_build_object('reason_human', "       \
    "  'The job passed its deadline and was stopped.', 'deadline_at', deadline_at, "                         \
    "  'owner_instance', owner_instance, 'swept_by', $1::text) FROM t) "                                     \
    "SELECT id::text, trace_id, kind, coalesce(owner_instance, '') FROM t"

static void sweep(evutil_socket_t fd, short what, void *arg)
{
    char orphan_s[16];
    (void)fd, (void)what, (void)arg;
    if (J.pending) return; /* the last sweep is still out (a slow database): skip this turn */
    J.sent++;
    snprintf(orphan_s, sizeof orphan_s, "%d", JOBS_ORPHAN_S);
    const char *me[1] = {J.instance}, *scan[2] = {J.instance, orphan_s};
    if (db_query("UPDATE jobs SET last_heartbeat_at = gh_now() WHERE owner_instance = $1 "
                 "AND state IN ('QUEUED', 'RUNNING') RETURNING id::text",
                 1, me, QUERY_TIMEOUT_MS, on_heartbeat, (void *)J.sent) == 0)
        J.pending++;
    if (db_query(DEADLINE_SQL, 1, me, QUERY_TIMEOUT_MS, on_deadline, NULL) == 0) J.pending++;
    if (db_query(
            "SELECT id::text, coalesce(owner_node, ''), coalesce(owner_pid, 0), "
            "coalesce(last_heartbeat_at, started_at, created_at) < gh_now() - make_interval(secs => $2::int) "
            "FROM jobs WHERE state IN ('QUEUED', 'RUNNING') AND owner_instance IS DISTINCT FROM $1 "
            "LIMIT " MAX_SWEPT_TEXT,
            2, scan, QUERY_TIMEOUT_MS, on_candidates, NULL) == 0)
        J.pending++;
}

int jobs_start(struct event_base *base)
{
    struct scheduler_status sch;
    struct timeval every = {JOBS_SWEEP_MS / 1000, (JOBS_SWEEP_MS % 1000) * 1000};
    struct local_job *keep = J.local;
    memset(&J, 0, sizeof J);
    J.local = keep;
    scheduler_status(&sch);
    snprintf(J.instance, sizeof J.instance, "%s", sch.instance_id);
    if (gethostname(J.host, sizeof J.host) < 0) J.host[0] = '\0';
    J.host[sizeof J.host - 1] = '\0';
    read_node(J.node, sizeof J.node);
    snprintf(J.pid, sizeof J.pid, "%ld", (long)getpid());
    J.timer = event_new(base, -1, EV_PERSIST, sweep, NULL);
    if (!J.timer || event_add(J.timer, &every) < 0) return -1;
    LOG_INFO(NULL, "job sweeper started",
             "instance=%s host=\"%s\" node=\"%s\" pid=%s every_ms=%d orphan_s=%d", J.instance, J.host, J.node,
             J.pid, JOBS_SWEEP_MS, JOBS_ORPHAN_S);
    sweep(-1, 0, NULL); /* crash recovery at start */
    return 0;
}

void jobs_stop(void)
{
    if (J.timer) event_free(J.timer);
    J.timer = NULL;
    while (J.local) {
        struct local_job *l = J.local;
        J.local = l->next;
        free(l);
    }
}
