/* idset.h — a set of short ids (UUID text) with a fixed capacity: open addressing with linear probing, so
 * adding, finding and removing an id cost a few compares however many ids it holds (runner.c: the bots with
 * a tick running, thousands at a time at 5,000 bots). */
#ifndef GATEHOUSE_IDSET_H
#define GATEHOUSE_IDSET_H

#include <stddef.h>

#define IDSET_ID_MAX 36 /* the longest id it holds: a UUID's text */

struct idset;

/* A new empty set for at most capacity ids (its table has at least twice as many slots); NULL when out of
 * memory or capacity is 0. */
struct idset *idset_new(size_t capacity);

/* Adds id. Returns 0, or -1 when id is already in the set, the set is full, or id is empty or longer than
 * IDSET_ID_MAX (the set is unchanged then). */
int idset_add(struct idset *s, const char *id);

/* Removes id. Returns 1 when it was in the set, else 0. */
int idset_remove(struct idset *s, const char *id);

/* 1 when id is in the set. */
int idset_has(const struct idset *s, const char *id);

/* How many ids the set holds. */
size_t idset_count(const struct idset *s);

void idset_free(struct idset *s);

#endif
