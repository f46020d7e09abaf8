/* textbuf.h — a growable, NUL-terminated text buffer for writers that build one answer in memory (metrics
 * exposition, a policy result's JSON text). An allocation failure is sticky: later appends do nothing and the
 * writer checks `failed` once at the end. */
#ifndef GATEHOUSE_TEXTBUF_H
#define GATEHOUSE_TEXTBUF_H

#include <stddef.h>

struct textbuf {
    char *p; /* NUL-terminated once anything was appended; the owner frees it */
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete */
};

/* Appends n bytes of s (doubling the buffer as needed). */
void textbuf_add(struct textbuf *b, const char *s, size_t n);

/* Makes room for n more bytes (and the NUL), so that bytes already in the buffer can be appended again
 * without the buffer moving under them. Returns 0, or -1 when the allocation failed (then `failed` is set).
 */
int textbuf_reserve(struct textbuf *b, size_t n);

/* Appends the C string s. */
void textbuf_str(struct textbuf *b, const char *s);

#endif
