/* telemetry_spill.h — the records of the telemetry writer and their life on disk (internal to telemetry.c).
 *
 * A record is one row for integration_usage_events, verifications or system_events: its column values as
 * text (NULL = SQL NULL), redacted, in one allocation. When Postgres cannot take them, records go to the
 * spill file: JSON lines, one record per line, {"table": "<table name>", "<column>": "<text>" | null, ...}
 * (every value as text, metadata as its compact JSON text), opened O_APPEND|O_CREAT, mode 0600. The writer
 * (telemetry.c) decides when to spill and when to replay; this module writes whole lines (a failed write is
 * cut back off the file), reads them back in chunks of one table, sets unreadable lines aside in
 * <spill>.rejected (never silently lost), repairs a torn last line after a crash and empties the file once
 * it has been replayed. Single-threaded (the loop thread, or start/stop outside the loop). */
#ifndef GATEHOUSE_TELEMETRY_SPILL_H
#define GATEHOUSE_TELEMETRY_SPILL_H

#include <jansson.h>
#include <stdio.h>
#include <sys/types.h>

#define TELEMETRY_MAX_COLS 16
#define TELEMETRY_BATCH_MAX                                                                                  \
    1000 /* rows per batch; 16 columns × 1000 rows stays below libpq's 65535 parameters */

enum telemetry_table { TELEMETRY_T_USAGE, TELEMETRY_T_VERIFY, TELEMETRY_T_SYSTEM, TELEMETRY_T_COUNT };

struct telemetry_table_def {
    const char *name;
    const char *const *cols;
    int ncols;
    const char *sql_head, *sql_tail; /* the statement is head + "($1,..),(..)" + tail */
    const char
        *unnest_sql; /* when set, the statement instead: one array parameter per column ($1 = ids ...) */
};

struct telemetry_ack;

/* One accepted record: column values as text (NULL = SQL NULL) pointing into data. */
struct telemetry_rec {
    enum telemetry_table table;
    struct telemetry_ack *ack; /* the HTTP request waiting for this record to be durable, or NULL */
    const char *v[TELEMETRY_MAX_COLS];
    char data[];
};

/* The batch being written: from the queue (owned rows) or a chunk of the spill file ending at spill_end. */
struct telemetry_batch {
    struct telemetry_rec *rows[TELEMETRY_BATCH_MAX];
    int n;
    int from_spill;
    int fresh; /* queue rows never sent before: written with a plain COPY (nothing of them can be there yet)
                */
    off_t spill_end;
    unsigned id;    /* matches the db_query callback to this batch; 0 = none in flight */
    double sent_ms; /* clock_now_ms() when it was sent */
    int spilled;    /* queue rows in flight that are already in the spill file as well */
};

extern const struct telemetry_table_def telemetry_tables[TELEMETRY_T_COUNT];

/* The spill file (private to telemetry_spill.c; read through telemetry_spill_state()). fd -1 while closed. */
struct telemetry_spill_state {
    char path[4096];
    int fd, dirty;           /* dirty: written since the last fdatasync */
    FILE *rf;                /* reader used by the replay */
    off_t bytes, replay_off; /* size of the file; where the replay has reached */
    long spilled_total, rejected_total;
};

/* The spill file's state, read-only (its path, size, replay position and totals). */
const struct telemetry_spill_state *telemetry_spill_state(void);

/* Bytes of the file not replayed yet (size - replay position); 0 when everything has been replayed. */
off_t telemetry_spill_pending(void);

/* Records that the replay has reached offset end (a chunk written, or a rejected line set aside). */
void telemetry_spill_replayed_to(off_t end);

/* Sets the file's path (before telemetry_spill_open). 0, or -1 when path is empty or too long. */
int telemetry_spill_set_path(const char *path);

/* A new record of table t from its column values (copied, each through the redactor); NULL when out of
 * memory. Free with free(). */
struct telemetry_rec *telemetry_rec_new(enum telemetry_table t, const char *const *vals);

/* The record as its spill-line object (new reference), NULL when out of memory. */
json_t *telemetry_rec_to_json(const struct telemetry_rec *r);

/* Parses one spill line; NULL when it is not a record of a known table. */
struct telemetry_rec *telemetry_rec_from_line(const char *line);

/* Opens the spill file for appending (no-op when open); 0 or -1. */
int telemetry_spill_open(void);

/* Appends rows as JSON lines with one write(2); fdatasync when sync. Returns 0, or -1 with err filled
 * (nothing written). */
int telemetry_spill_write(struct telemetry_rec *const *rows, int n, int sync, char *err, size_t errlen);

/* Copies a line the replay cannot use to <spill>.rejected, with the reason in the log. */
void telemetry_spill_reject_line(const char *line, const char *why);

/* Loads into b the next spill lines from replay_off: up to chunk_max consecutive records of one table.
 * Returns the rows loaded (b->spill_end = where the chunk ends), 0 when nothing is left to replay. */
int telemetry_spill_load_chunk(struct telemetry_batch *b, int chunk_max);

/* Empties the file when every line of it has been replayed; 1 when it did. */
int telemetry_spill_truncate_if_replayed(void);

/* A crash may leave a torn last line: sets it aside so the file holds whole lines only. */
void telemetry_spill_repair_tail(void);

/* fdatasyncs the file when it was written since the last sync. 0 when everything written is synced, -1 when
 * the sync failed. */
int telemetry_spill_sync_if_dirty(void);

/* Syncs, closes and forgets the file (telemetry_stop). */
void telemetry_spill_close(void);

#endif
