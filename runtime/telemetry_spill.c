/* telemetry_spill.c — telemetry records and the spill file; see telemetry_spill.h. */
#include "telemetry_spill.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "secret.h"

static struct telemetry_spill_state spill = {.fd = -1};

static const char *const usage_cols[] = {
    "id",     "created_at", "user_id", "bot_id",    "run_id",  "job_id",     "provider_id", "operation",
    "status", "latency_ms", "symbol",  "timeframe", "records", "error_code", "trace_id",    "metadata"};
static const char *const verify_cols[] = {"id",          "provider_id",   "outcome",      "http_status",
                                          "latency_ms",  "base_url_host", "reason_human", "trace_id",
                                          "verified_at", "user_id"};
static const char *const system_cols[] = {"event_uuid", "created_at", "kind",     "severity",
                                          "subject",    "message",    "trace_id", "metadata"};

const struct telemetry_table_def telemetry_tables[TELEMETRY_T_COUNT] = {
    {"integration_usage_events", usage_cols, 16,
     "INSERT INTO integration_usage_events (id, created_at, user_id, bot_id, run_id, job_id, provider_id, "
     "operation, status, latency_ms, symbol, timeframe, records, error_code, trace_id, metadata) VALUES ",
     " ON CONFLICT DO NOTHING",
     /* the hot table: 16 array parameters whatever the batch size, parsed once (about 1.7x the rows/s of
      * the 16,000-parameter VALUES list; docs/PERFORMANCE.md) */
     "INSERT INTO integration_usage_events (id, created_at, user_id, bot_id, run_id, job_id, provider_id, "
     "operation, status, latency_ms, symbol, timeframe, records, error_code, trace_id, metadata) "
     "SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], "
     "$7::text[], $8::text[], $9::text[], $10::int[], $11::text[], $12::text[], $13::int[], $14::text[], "
     "$15::text[], $16::jsonb[]) ON CONFLICT DO NOTHING"},
    /* user_id references users: a user deleted meanwhile becomes NULL (the FK's own ON DELETE SET NULL)
     * instead of failing the whole batch forever */
    {"verifications", verify_cols, 10,
     "INSERT INTO verifications (id, provider_id, outcome, http_status, latency_ms, base_url_host, "
     "reason_human, "
     "trace_id, verified_at, user_id) SELECT v.id::uuid, v.provider_id, v.outcome, v.http_status::int, "
     "v.latency_ms::int, v.base_url_host, v.reason_human, v.trace_id, v.verified_at::timestamptz, "
     "(SELECT u.id FROM users u WHERE u.id = v.user_id::uuid) FROM (VALUES ",
     ") AS v(id, provider_id, outcome, http_status, latency_ms, base_url_host, reason_human, trace_id, "
     "verified_at, user_id) ON CONFLICT DO NOTHING",
     NULL},
    {"system_events", system_cols, 8,
     "INSERT INTO system_events (created_at, kind, severity, subject, message, trace_id, metadata) "
     "SELECT v.created_at::timestamptz, v.kind, v.severity, v.subject, v.message, v.trace_id, "
     "v.metadata::jsonb || jsonb_build_object('event_uuid', v.event_uuid) FROM (VALUES ",
     ") AS v(event_uuid, created_at, kind, severity, subject, message, trace_id, metadata) WHERE NOT EXISTS "
     "(SELECT 1 FROM system_events e WHERE e.created_at = v.created_at::timestamptz "
     "AND e.metadata->>'event_uuid' = v.event_uuid)",
     NULL},
};

/* ---------------------------------------------------------------- records */

/* Copies the values into one allocation. Every value passes the redactor first: rows leave the process too
 * (PRODUCT.md §3), and a message may quote a secret (e.g. a policy error near a pasted key). */
struct telemetry_rec *telemetry_rec_new(enum telemetry_table t, const char *const *vals)
{
    size_t total = 0, off = 0, lens[TELEMETRY_MAX_COLS] = {0};
    char *clean[TELEMETRY_MAX_COLS] = {0};
    int n = telemetry_tables[t].ncols;
    struct telemetry_rec *r = NULL;
    for (int i = 0; i < n; i++) {
        if (!vals[i]) continue;
        if (!(clean[i] = secret_redact(vals[i], strlen(vals[i]), &lens[i]))) goto out;
        total += lens[i] + 1;
    }
    if (!(r = malloc(sizeof *r + total))) goto out;
    r->table = t;
    r->ack = NULL;
    for (int i = 0; i < TELEMETRY_MAX_COLS; i++)
        r->v[i] = NULL;
    for (int i = 0; i < n; i++) {
        if (!clean[i]) continue;
        memcpy(r->data + off, clean[i], lens[i] + 1);
        r->v[i] = r->data + off;
        off += lens[i] + 1;
    }
out:
    for (int i = 0; i < n; i++)
        free(clean[i]);
    return r;
}

json_t *telemetry_rec_to_json(const struct telemetry_rec *r)
{
    const struct telemetry_table_def *t = &telemetry_tables[r->table];
    json_t *o = json_pack("{s:s}", "table", t->name);
    for (int i = 0; o && i < t->ncols; i++)
        json_object_set_new(o, t->cols[i], r->v[i] ? json_string(r->v[i]) : json_null());
    return o;
}

/* Parses one spill line; NULL when it is not a record of a known table. */
struct telemetry_rec *telemetry_rec_from_line(const char *line)
{
    json_t *o = json_loads(line, 0, NULL);
    const char *vals[TELEMETRY_MAX_COLS] = {0};
    struct telemetry_rec *r = NULL;
    const char *name = json_string_value(json_object_get(o, "table"));
    for (int t = 0; name && t < TELEMETRY_T_COUNT && !r; t++) {
        if (strcmp(name, telemetry_tables[t].name) != 0) continue;
        for (int i = 0; i < telemetry_tables[t].ncols; i++)
            vals[i] = json_string_value(json_object_get(o, telemetry_tables[t].cols[i]));
        r = telemetry_rec_new((enum telemetry_table)t, vals);
    }
    json_decref(o);
    return r;
}

int telemetry_spill_open(void)
{
    struct stat st;
    if (spill.fd >= 0) return 0;
    if (!spill.path[0]) return -1;
    spill.fd = open(spill.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (spill.fd < 0 || fstat(spill.fd, &st) < 0) return -1;
    if ((st.st_mode & 0777) != 0600 && fchmod(spill.fd, 0600) < 0) return -1; /* an older file, say */
    spill.bytes = st.st_size;
    return 0;
}

/* Appends rows as JSON lines with one write(2); fsync when sync. A failed write is cut back off the file, so
 * the file only ever holds whole lines. Returns 0 or -1 (nothing written). */
int telemetry_spill_write(struct telemetry_rec *const *rows, int n, int sync, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0, done = 0;
    ssize_t w;
    int rc = -1;
    FILE *m = open_memstream(&buf, &len);
    for (int i = 0; m && i < n; i++) {
        json_t *o = telemetry_rec_to_json(rows[i]);
        int bad = !o || json_dumpf(o, m, JSON_COMPACT) < 0 || fputc('\n', m) == EOF;
        json_decref(o);
        if (bad) n = -1;
    }
    if (!m || fclose(m) != 0 || n < 0 || telemetry_spill_open() < 0) goto out;
    for (; done < len; done += (size_t)w)
        if ((w = write(spill.fd, buf + done, len - done)) < 0) {
            if (errno == EINTR)
                w = 0;
            else {
                if (ftruncate(spill.fd, spill.bytes) < 0) errno = EIO; /* keep whole lines: best effort */
                goto out;
            }
        }
    spill.bytes += (off_t)len;
    spill.spilled_total += n;
    spill.dirty = !sync || fdatasync(spill.fd) < 0;
    rc = 0;
out:
    if (rc < 0) snprintf(err, errlen, "cannot write the spill file: %s", strerror(errno));
    free(buf);
    return rc;
}

/* Copies a line the replay could not use to <spill>.rejected (kept for an operator; never silently lost). */
void telemetry_spill_reject_line(const char *line, const char *why)
{
    char path[4200], esc[256];
    int fd;
    snprintf(path, sizeof path, "%s.rejected", spill.path);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        size_t len = strlen(line);
        if (write(fd, line, len) != (ssize_t)len || (len && line[len - 1] != '\n' && write(fd, "\n", 1) != 1))
            LOG_ERROR(NULL, "telemetry cannot write the rejected-records file", NULL);
        fdatasync(fd);
        close(fd);
    }
    spill.rejected_total++;
    LOG_ERROR(NULL, "telemetry record rejected", "why=\"%s\" file=\"%s\"", log_escape(why, esc, sizeof esc),
              log_escape(path, esc + 128, 128));
}

/* Loads into b the next spill lines from replay_off: up to chunk_max consecutive records of one table.
 * Unparseable lines go to the rejected file and are skipped. Returns the rows loaded (b->spill_end = where
 * the chunk ends), 0 when nothing is left to replay. */
int telemetry_spill_load_chunk(struct telemetry_batch *b, int chunk_max)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    off_t pos = spill.replay_off;
    b->n = 0;
    b->from_spill = 1;
    if (!spill.rf && !(spill.rf = fopen(spill.path, "re"))) return 0;
    if (fseeko(spill.rf, pos, SEEK_SET) < 0) return 0;
    while (b->n < chunk_max && (len = getline(&line, &cap, spill.rf)) > 0) {
        if (line[len - 1] != '\n') break; /* a line still being written, or a crash's torn tail (see start) */
        struct telemetry_rec *r = telemetry_rec_from_line(line);
        if (!r && b->n) break; /* set aside as the first line of the next chunk, so only once */
        if (!r) {
            telemetry_spill_reject_line(line, "unreadable spill line");
        } else if (b->n && r->table != b->rows[0]->table) {
            free(r);
            break;
        } else {
            b->rows[b->n++] = r;
        }
        pos += len;
        if (!b->n) spill.replay_off = pos; /* only rejected lines so far: skip them for good */
    }
    free(line);
    b->spill_end = pos;
    return b->n;
}

int telemetry_spill_truncate_if_replayed(void)
{
    if (!spill.bytes || spill.replay_off < spill.bytes || spill.fd < 0) return 0;
    if (ftruncate(spill.fd, 0) < 0) return 0; /* kept: replayed again later, harmlessly */
    fdatasync(spill.fd);
    spill.bytes = spill.replay_off = 0;
    spill.dirty = 0;
    return 1;
}

/* A crash may leave a torn last line: set it aside so the file holds whole lines only. */
void telemetry_spill_repair_tail(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    off_t pos = 0;
    FILE *f = fopen(spill.path, "re");
    if (!f) return;
    if (fseeko(f, -1, SEEK_END) < 0 || fgetc(f) == '\n' || fseeko(f, 0, SEEK_SET) < 0) { /* whole lines */
        fclose(f);
        return;
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n') {
            telemetry_spill_reject_line(line, "torn last line of the spill file");
            if (ftruncate(spill.fd, pos) == 0) spill.bytes = pos;
            break;
        }
        pos += len;
    }
    free(line);
    fclose(f);
}

int telemetry_spill_sync_if_dirty(void)
{
    if (spill.dirty && spill.fd >= 0 && fdatasync(spill.fd) == 0) spill.dirty = 0;
    return spill.dirty ? -1 : 0;
}

void telemetry_spill_close(void)
{
    if (spill.fd >= 0) {
        fdatasync(spill.fd);
        close(spill.fd);
    }
    if (spill.rf) fclose(spill.rf);
    spill.fd = -1;
    spill.rf = NULL;
    spill.bytes = spill.replay_off = 0;
}

const struct telemetry_spill_state *telemetry_spill_state(void)
{
    return &spill;
}

off_t telemetry_spill_pending(void)
{
    return spill.bytes - spill.replay_off;
}

void telemetry_spill_replayed_to(off_t end)
{
    spill.replay_off = end;
}

int telemetry_spill_set_path(const char *path)
{
    if (!path || !*path || strlen(path) >= sizeof spill.path) return -1;
    snprintf(spill.path, sizeof spill.path, "%s", path);
    return 0;
}
