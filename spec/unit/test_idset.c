/* test_idset.c — the set of running ticks' bot ids (idset.h): add, find, remove, capacity, and removal
 * keeping every other id findable however the probe runs are laid out (checked against a plain array model).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idset.h"
#include "tap.h"

static void basics(void)
{
    struct idset *s = idset_new(3);
    tap_ok(s != NULL, "a set of 3");
    tap_ok(idset_add(s, "a") == 0 && idset_add(s, "b") == 0, "two ids added");
    tap_ok(idset_add(s, "a") == -1, "an id already held is refused");
    tap_ok(idset_has(s, "a") && idset_has(s, "b") && !idset_has(s, "c"), "held ids are found, others not");
    tap_ok(idset_add(s, "c") == 0 && idset_add(s, "d") == -1, "full at its capacity");
    tap_ok(idset_count(s) == 3, "count 3");
    tap_ok(idset_remove(s, "b") == 1 && idset_remove(s, "b") == 0, "removed once, then absent");
    tap_ok(idset_add(s, "d") == 0 && idset_count(s) == 3, "room again after a removal");
    tap_ok(idset_add(s, "") == -1 && idset_add(s, NULL) == -1, "empty and NULL ids are refused");
    tap_ok(idset_add(s, "0123456789012345678901234567890123456") == -1,
           "an id longer than a UUID is refused");
    tap_ok(!idset_has(s, "") && idset_remove(s, NULL) == 0, "nor found nor removed");
    tap_ok(idset_new(0) == NULL, "a set of 0 is refused");
    idset_free(s);
}

/* A model: random adds and removes of 300 ids into a set of 200 (a 512-slot table, long probe runs), and the
 * set must agree with a plain array after every step. */
static void against_model(void)
{
    enum { IDS = 300, CAP = 200, STEPS = 20000 };
    static char ids[IDS][37];
    int held[IDS] = {0}, n = 0, agree = 1;
    struct idset *s = idset_new(CAP);
    srand(18);
    for (int i = 0; i < IDS; i++)
        snprintf(ids[i], sizeof ids[i], "%08x-0000-4000-8000-%012x", (unsigned)rand(), (unsigned)i);
    for (int step = 0; step < STEPS && agree; step++) {
        int k = rand() % IDS;
        if (rand() % 2) {
            int rc = idset_add(s, ids[k]);
            int want = held[k] || n >= CAP ? -1 : 0;
            agree &= rc == want;
            if (rc == 0) held[k] = 1, n++;
        } else {
            agree &= idset_remove(s, ids[k]) == held[k];
            if (held[k]) held[k] = 0, n--;
        }
        if (step % 97 == 0)
            for (int i = 0; i < IDS; i++)
                agree &= idset_has(s, ids[i]) == held[i];
        agree &= (int)idset_count(s) == n;
    }
    tap_ok(agree, "20,000 random adds and removes agree with a plain array model");
    idset_free(s);
}

int main(void)
{
    basics();
    against_model();
    return tap_done();
}
