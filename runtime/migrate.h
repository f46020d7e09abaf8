/* migrate.h — forward-only schema migrations from migrations/NNNN_name.sql.
 *
 * Runs at start-up (before the event loop serves) and from `gatehouse migrate`, so it may block. Each
 * pending file runs once, in order, in its own transaction, recorded in schema_migrations with a checksum;
 * a session advisory lock serialises instances starting together. A recorded migration whose file changed
 * is an error (forward-only: add a new file instead). */
#ifndef GATEHOUSE_MIGRATE_H
#define GATEHOUSE_MIGRATE_H

#include <stddef.h>

/* Applies pending migrations from dir over conninfo, retrying the connection for up to wait_s seconds.
 * *applied gets the number applied. Returns 0, or -1 with err filled. */
int migrate_run(const char *conninfo, const char *dir, int wait_s, int *applied, char *err, size_t errlen);

#endif
