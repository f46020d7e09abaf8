/* migrate.c — applies migrations/NNNN_name.sql in order under an advisory lock. */
#include "migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* Arbitrary constant shared by every gatehouse instance: "gatehouse" in ASCII, truncated to 63 bits. */
#define MIGRATION_LOCK_KEY "7451759498727634277"
#define MAX_MIGRATIONS 1000

struct migration {
    char version[5];
    char name[256];
    char file[512];
};

static int is_migration_name(const char *n)
{
    size_t len = strlen(n);
    return len > 9 && isdigit((unsigned char)n[0]) && isdigit((unsigned char)n[1]) &&
           isdigit((unsigned char)n[2]) && isdigit((unsigned char)n[3]) && n[4] == '_' &&
           strcmp(n + len - 4, ".sql") == 0 && len < 250;
}

static int compare_migrations(const void *a, const void *b)
{
    return strcmp(((const struct migration *)a)->version, ((const struct migration *)b)->version);
}

/* Lists the migration files of dir, sorted by version. Returns the count, or -1 with err. */
static int list_migrations(const char *dir, struct migration *out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) {
        snprintf(err, errlen, "cannot open migrations directory %s", dir);
        return -1;
    }
    while ((e = readdir(d)) && n < MAX_MIGRATIONS) {
        if (!is_migration_name(e->d_name)) continue;
        memcpy(out[n].version, e->d_name, 4);
        out[n].version[4] = '\0';
        snprintf(out[n].name, sizeof out[n].name, "%.*s", (int)(strlen(e->d_name) - 9), e->d_name + 5);
        snprintf(out[n].file, sizeof out[n].file, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    qsort(out, (size_t)n, sizeof *out, compare_migrations);
    for (int i = 1; i < n; i++)
        if (strcmp(out[i].version, out[i - 1].version) == 0) {
            snprintf(err, errlen, "two migrations share version %s", out[i].version);
            return -1;
        }
    return n;
}

static char *read_sql(const char *file, char checksum[65])
{
    FILE *f = fopen(file, "rb");
    char *buf = NULL;
    long size;
    unsigned char digest[crypto_hash_sha256_BYTES];
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)size + 1)) && fread(buf, 1, (size_t)size, f) == (size_t)size) {
        buf[size] = '\0';
        crypto_hash_sha256(digest, (const unsigned char *)buf, (unsigned long long)size);
        sodium_bin2hex(checksum, 65, digest, sizeof digest);
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Runs one command; returns 0 when it succeeded, -1 with err holding the server's message. */
static int exec_ok(PGconn *conn, const char *sql, int nparams, const char *const *params, char *err,
                   size_t errlen)
{
    PGresult *res =
        nparams ? PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0) : PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
        err[strcspn(err, "\n")] = '\0';
    }
    PQclear(res);
    return ok ? 0 : -1;
}

static PGconn *connect_with_wait(const char *conninfo, int wait_s, char *err, size_t errlen)
{
    for (int attempt = 0;; attempt++) {
        PGconn *conn = PQconnectdb(conninfo);
        if (PQstatus(conn) == CONNECTION_OK) return conn;
        snprintf(err, errlen, "cannot connect to Postgres: %s", PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
        PQfinish(conn);
        if (attempt >= wait_s * 2) return NULL;
        if (attempt == 0) LOG_WARN(NULL, "waiting for the database", "wait_s=%d", wait_s);
        usleep(500000);
    }
}

/* Checks a recorded migration against its file; 1 = applied and unchanged, 0 = pending, -1 = changed. */
static int recorded_state(PGconn *conn, const struct migration *m, const char *checksum, char *err,
                          size_t errlen)
{
    const char *params[1] = {m->version};
    PGresult *res = PQexecParams(conn, "SELECT checksum FROM schema_migrations WHERE version = $1", 1, NULL,
                                 params, NULL, NULL, 0);
    int state = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading schema_migrations: %s", PQresultErrorMessage(res));
        state = -1;
    } else if (PQntuples(res) == 1) {
        state = strcmp(PQgetvalue(res, 0, 0), checksum) == 0 ? 1 : -1;
        if (state < 0)
            snprintf(err, errlen,
                     "migration %s_%s.sql changed after it was applied; add a new migration instead",
                     m->version, m->name);
    }
    PQclear(res);
    return state;
}

static int apply_one(PGconn *conn, const struct migration *m, const char *sql, const char *checksum,
                     char *err, size_t errlen)
{
    const char *params[3] = {m->version, m->name, checksum};
    char inner[1024];
    if (exec_ok(conn, "BEGIN", 0, NULL, err, errlen) < 0) return -1;
    if (exec_ok(conn, sql, 0, NULL, inner, sizeof inner) < 0 ||
        exec_ok(conn, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", 3,
                params, inner, sizeof inner) < 0 ||
        exec_ok(conn, "COMMIT", 0, NULL, inner, sizeof inner) < 0) {
        snprintf(err, errlen, "migration %s_%s.sql failed: %s", m->version, m->name, inner);
        exec_ok(conn, "ROLLBACK", 0, NULL, inner, sizeof inner);
        return -1;
    }
    return 0;
}

static int apply_pending(PGconn *conn, const struct migration *list, int n, int *applied, char *err,
                         size_t errlen)
{
    for (int i = 0; i < n; i++) {
        char checksum[65];
        char *sql = read_sql(list[i].file, checksum);
        int state;
        if (!sql) {
            snprintf(err, errlen, "cannot read %s", list[i].file);
            return -1;
        }
        state = recorded_state(conn, &list[i], checksum, err, errlen);
        if (state == 0) {
            if (apply_one(conn, &list[i], sql, checksum, err, errlen) < 0)
                state = -1;
            else {
                (*applied)++;
                LOG_INFO(NULL, "migration applied", "version=%s name=%s", list[i].version, list[i].name);
            }
        }
        free(sql);
        if (state < 0) return -1;
    }
    return 0;
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* With a test clock, every new session of this database (psql, a spec's checks, other instances) reads the
 * same gh_now() as the pool: the offset becomes the database's default of gatehouse.clock_offset_ms. Needs
 * the database's owner; a failure is logged and the pool's own sessions still carry the offset. */
static void share_test_clock(PGconn *conn)
{
    char offset[32], err[256];
    const char *p[1] = {offset};
    snprintf(offset, sizeof offset, "%lld", clock_offset_ms());
    if (exec_ok(conn, "SELECT set_config('gatehouse.clock_offset_ms', $1, false)", 1, p, err, sizeof err) <
            0 ||
        exec_ok(conn,
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET gatehouse.clock_offset_ms = %L', "
                "current_database(), current_setting('gatehouse.clock_offset_ms')); END $$",
                0, NULL, err, sizeof err) < 0)
        LOG_WARN(NULL, "test clock not shared with other sessions", "error=\"%s\"", err);
}

int migrate_run(const char *conninfo, const char *dir, int wait_s, int *applied, char *err, size_t errlen)
{
    static struct migration list[MAX_MIGRATIONS];
    PGconn *conn;
    int n, rc = -1;

    *applied = 0;
    err[0] = '\0';
    if ((n = list_migrations(dir, list, err, errlen)) < 0) return -1;
    if (!(conn = connect_with_wait(conninfo, wait_s, err, errlen))) return -1;
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    if (exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", 0, NULL, err, errlen) < 0) goto out;
    if (exec_ok(conn,
                "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, name text NOT NULL, "
                "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                0, NULL, err, errlen) == 0)
        rc = apply_pending(conn, list, n, applied, err, errlen);
    char unlock_err[256];
    exec_ok(conn, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")", 0, NULL, unlock_err,
            sizeof unlock_err);
    if (rc == 0) LOG_INFO(NULL, "migrations complete", "applied=%d known=%d", *applied, n);
    if (rc == 0 && clock_is_test()) share_test_clock(conn);
out:
    PQfinish(conn);
    return rc;
}
