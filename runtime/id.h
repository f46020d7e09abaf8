/* id.h — the runtime's identifiers: random trace ids and UUIDs, and their syntax checks.
 *
 * Core layer: no I/O beyond libsodium's random source, no other runtime module. Every layer may use it
 * (a request's trace id, a tick's trace id, a row id made before the INSERT so a replayed row keeps it). */
#ifndef GATEHOUSE_ID_H
#define GATEHOUSE_ID_H

/* Writes a fresh random 32-hex trace id into out. */
void id_trace_new(char out[33]);

/* Writes a fresh random UUID v4 (36 characters, lower-case) into out: ids made here, not by Postgres, so a
 * replayed row keeps its id. */
void id_uuid_new(char out[37]);

/* 1 when s is a trace id: exactly 32 lower-case hex characters (NULL is 0). */
int id_is_trace_id(const char *s);

/* 1 when s is a canonical 36-character UUID (hex with dashes at 8-4-4-4-12; either case; NULL is 0). */
int id_is_uuid(const char *s);

/* This process's instance id: a random UUID made at the first call and kept for the life of the process
 * (the scheduler's lease holder and the host of the bot instances it opens). Never NULL. */
const char *id_instance(void);

/* The Postgres array literal "{id1,id2,...}" of n UUIDs (a uuid[] parameter), malloc'd; NULL when out of
 * memory. */
char *id_list_literal(const char (*ids)[37], int n);

#endif
