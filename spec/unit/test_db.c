/* test_db.c — db_array_literal: the array parameters of the batched writes (no_trade_traces, usage events),
 * checked byte for byte, and a NULL element kept SQL NULL. */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "tap.h"

static const char *at(const void *ctx, size_t i)
{
    return ((const char *const *)ctx)[i];
}

static void literal_is(const char *const *vals, size_t n, const char *want, const char *what)
{
    char *got = db_array_literal(n, at, vals);
    tap_ok(got && strcmp(got, want) == 0, what);
    if (got && strcmp(got, want) != 0) tap_diag("got %s, want %s", got, want);
    free(got);
}

int main(void)
{
    const char *none[1] = {NULL};
    literal_is(none, 0, "{}", "no values: {}");
    literal_is(none, 1, "{NULL}", "a NULL value is SQL NULL, not the text NULL");
    const char *plain[3] = {"a", "", "NULL"};
    literal_is(plain, 3, "{\"a\",\"\",\"NULL\"}",
               "every element quoted: empty text and the word NULL stay text");
    const char *json[2] = {"[\"LEASE_LOST\"]", "{\"k\": \"a\\\\b\"}"};
    literal_is(json, 2, "{\"[\\\"LEASE_LOST\\\"]\",\"{\\\"k\\\": \\\"a\\\\\\\\b\\\"}\"}",
               "JSON text: quotes and backslashes escaped");
    const char *seps[2] = {"a,b", "{c} d\te\n"};
    literal_is(seps, 2, "{\"a,b\",\"{c} d\te\n\"}",
               "commas, braces, blanks and newlines inside quotes as they are");
    const char *utf8[1] = {"\xc3\xa9t\xc3\xa9 \xe2\x82\xac"};
    literal_is(utf8, 1, "{\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac\"}", "UTF-8 bytes copied as they are");
    return tap_done();
}
