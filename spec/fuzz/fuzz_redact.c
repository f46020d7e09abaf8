/* fuzz_redact.c — libFuzzer target for the redactor (runtime/secret.c). Built and run by `make fuzz`.
 *
 * Three fixed secrets (with characters that URL-encoding, JSON-escaping and base64 change) are tracked for
 * the whole run. The first input byte decides whether a fourth, input-chosen secret is added for this input
 * (its length in the low 5 bits, 6..37 bytes taken after that byte; printable ASCII only, and its first byte
 * absent from its last four, so no mask hint can join the following text into a new occurrence); the store is
 * then torn down and rebuilt, which exercises secret_shutdown/secret_init and the index rebuild. The rest is
 * the text to redact. Checked contract: the output is NUL-terminated with the reported length; no secret
 * occurs raw in it; secret_contains() is 0 on the output; an input without any secret comes back unchanged;
 * redacting the output again changes nothing (idempotence). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"

static const char *const fixed[3] = {"sk-canary+/=Zq9 \"quote\\back", "AKIA1234567890ZYXW", "p@ss:w%rd&x=1?#"};
static const char *const labels[3] = {"FUZZ_A", "FUZZ_B", "FUZZ_C"};

static void track_fixed(void)
{
    if (secret_init() < 0) abort();
    for (int i = 0; i < 3; i++)
        if (secret_add_literal(labels[i], fixed[i]) < 0) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    track_fixed();
    return 0;
}

/* An input-chosen secret: printable, 6..37 bytes, first byte not among its last four. */
static int pick_secret(const uint8_t *data, size_t size, char *out, size_t *used)
{
    size_t n = 6 + (data[0] & 31);
    *used = 0;
    if (!(data[0] & 0x80) || size < 1 + n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = data[1 + i];
        if (c < 0x21 || c > 0x7e) return 0;
        out[i] = (char)c;
    }
    out[n] = '\0';
    for (size_t i = n - 4; i < n; i++)
        if (out[i] == out[0]) return 0;
    *used = n;
    return 1;
}

static int contains_raw(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle)) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char extra[40];
    size_t used = 0, outlen = 0, again_len = 0;
    int dynamic;
    if (size < 1) return 0;
    dynamic = pick_secret(data, size, extra, &used);
    if (dynamic && secret_add_literal("FUZZ_DYN", extra) < 0) abort();

    const char *text = (const char *)data + 1 + used;
    size_t len = size - 1 - used;
    int had = secret_contains(text, len);
    char *out = secret_redact(text, len, &outlen);
    if (!out) abort();
    if (out[outlen] != '\0') abort();
    if (!had && (outlen != len || memcmp(out, text, len) != 0)) abort();
    for (int i = 0; i < 3; i++)
        if (contains_raw(out, outlen, fixed[i])) abort();
    if (dynamic && contains_raw(out, outlen, extra)) abort();
    if (secret_contains(out, outlen)) abort();
    char *again = secret_redact(out, outlen, &again_len);
    if (!again || again_len != outlen || memcmp(again, out, outlen) != 0) abort();
    free(again);
    free(out);

    if (dynamic) { /* back to the fixed store: the next input must not see this one's secret */
        secret_shutdown();
        track_fixed();
    }
    return 0;
}
