/* test_id.c — trace ids and UUIDs: what id_* make passes what id_is_* check, and the checks' edges. */
#include <string.h>

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
    checks();
    return tap_done();
}
