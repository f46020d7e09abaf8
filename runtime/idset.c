/* idset.c — a fixed-capacity set of ids, open addressing (idset.h). */
#include "idset.h"

#include <stdlib.h>
#include <string.h>

struct idset {
    size_t capacity, count, mask;
    char (*slot)[IDSET_ID_MAX + 1]; /* "" = free */
};

struct idset *idset_new(size_t capacity)
{
    size_t slots = 16;
    if (capacity == 0) return NULL;
    while (slots < 2 * capacity)
        slots *= 2;
    struct idset *s = calloc(1, sizeof *s);
    if (!s || !(s->slot = calloc(slots, sizeof *s->slot))) {
        free(s);
        return NULL;
    }
    s->capacity = capacity;
    s->mask = slots - 1;
    return s;
}

static size_t home_of(const struct idset *s, const char *id)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h & s->mask;
}

/* The slot holding id, or the free slot that ends its probe (the table is never full: twice the capacity). */
static size_t slot_of(const struct idset *s, const char *id)
{
    size_t i = home_of(s, id);
    while (s->slot[i][0] && strcmp(s->slot[i], id) != 0)
        i = (i + 1) & s->mask;
    return i;
}

int idset_add(struct idset *s, const char *id)
{
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > IDSET_ID_MAX) return -1;
    size_t i = slot_of(s, id);
    if (s->slot[i][0] || s->count >= s->capacity) return -1;
    memcpy(s->slot[i], id, len + 1);
    s->count++;
    return 0;
}

int idset_remove(struct idset *s, const char *id)
{
    if (!id || !id[0]) return 0;
    size_t hole = slot_of(s, id);
    if (!s->slot[hole][0]) return 0;
    s->slot[hole][0] = '\0';
    s->count--;
    /* the ids after the hole in its run move back into it, unless their home lies cyclically in (hole, j] */
    for (size_t j = (hole + 1) & s->mask; s->slot[j][0]; j = (j + 1) & s->mask) {
        size_t home = home_of(s, s->slot[j]);
        int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays) continue;
        memcpy(s->slot[hole], s->slot[j], sizeof s->slot[0]);
        s->slot[j][0] = '\0';
        hole = j;
    }
    return 1;
}

int idset_has(const struct idset *s, const char *id)
{
    return id && id[0] && s->slot[slot_of(s, id)][0] != '\0';
}

size_t idset_count(const struct idset *s)
{
    return s->count;
}

void idset_free(struct idset *s)
{
    if (!s) return;
    free(s->slot);
    free(s);
}
