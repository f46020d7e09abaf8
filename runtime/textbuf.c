/* textbuf.c — a growable, NUL-terminated text buffer (see textbuf.h). */
#include "textbuf.h"

#include <stdlib.h>
#include <string.h>

void textbuf_add(struct textbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (!(p = realloc(b->p, cap))) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void textbuf_str(struct textbuf *b, const char *s)
{
    textbuf_add(b, s, strlen(s));
}
