/* heap.h — the process heap as an operator sees it: glibc's own figures (bytes in use, bytes freed but kept
 * by the allocator) beside the resident set, and a periodic return of whole free pages to the system, so a
 * burst of work (a backlog drained, a large body built once) does not leave the resident set at its peak for
 * the rest of the process's life. */
#ifndef GATEHOUSE_HEAP_H
#define GATEHOUSE_HEAP_H

#include <stddef.h>

struct event_base;

struct heap_stats {
    size_t in_use;    /* bytes handed out by malloc and not freed (small and mmap'd blocks) */
    size_t kept_free; /* bytes freed but kept by the allocator, in every arena */
};

/* Fills out with glibc's figures. Walks the allocator's free lists: call it at most a few times a second
 * (a metrics scrape, the trim timer). Under a sanitizer's allocator they describe glibc's heap, which that
 * allocator does not use. */
void heap_stats(struct heap_stats *out);

/* The process's resident set in bytes (/proc/self/statm), 0 when unknown. */
size_t heap_resident(void);

/* Returns the heap's whole free pages to the system when it keeps more than threshold free bytes. Returns 1
 * when it trimmed, else 0. Cost: one pass over the free lists, plus an madvise per free run of pages. */
int heap_trim_if(size_t threshold);

/* How many trims heap_trim_if has made since start. */
unsigned long heap_trims(void);

/* Arms the timer that calls heap_trim_if(HEAP_TRIM_THRESHOLD) every HEAP_TRIM_EVERY_S seconds on base.
 * 0, or -1 when the timer cannot be armed. */
int heap_start(struct event_base *base);

/* Disarms the timer (safe when not started). */
void heap_stop(void);

#define HEAP_TRIM_EVERY_S 30
#define HEAP_TRIM_THRESHOLD (4u * 1024u * 1024u)

#endif
