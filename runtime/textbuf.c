/* textbuf.c — a growable, NUL-terminated text buffer (see textbuf.h). */
#include "textbuf.h"

#include <stdlib.h>
#include <string.h>

int textbuf_reserve(struct textbuf *b, size_t n)
{
    if (b->failed) return -1;
    if (b->len + n + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    char *p;
    while (cap < b->len + n + 1)
        cap *= 2;
    if (!(p = realloc(b->p, cap))) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void textbuf_add(struct textbuf *b, const char *s, size_t n)
{
    if (textbuf_reserve(b, n) < 0) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void textbuf_str(struct textbuf *b, const char *s)
{
    textbuf_add(b, s, strlen(s));
}
