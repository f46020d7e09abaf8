/* test_heap.c — heap.h: the figures follow allocations, and a trim returns the whole free pages of a
 * fragmented heap (freed blocks between live ones, which glibc never gives back on its own) to the system;
 * below the threshold nothing is trimmed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "tap.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

#define BLOCKS 40000
#define BLOCK_BYTES 1000 /* below the mmap threshold: from the heap */
#define KEEP_EVERY 32    /* one live block per ~8 pages keeps the heap from shrinking at its top */

static char *blocks[BLOCKS];

__attribute__((unused)) static void fragmented_heap_is_trimmed(void)
{
    struct heap_stats before, filled, freed, trimmed;
    heap_stats(&before);
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(BLOCK_BYTES);
        memset(blocks[i], i & 0xff, BLOCK_BYTES); /* touched: resident */
    }
    heap_stats(&filled);
    size_t rss_filled = heap_resident();
    tap_ok(filled.in_use >= before.in_use + (size_t)BLOCKS * BLOCK_BYTES,
           "in use grows by the 40 MB allocated");
    for (int i = 0; i < BLOCKS; i++)
        if (i % KEEP_EVERY != KEEP_EVERY - 1) {
            free(blocks[i]);
            blocks[i] = NULL;
        }
    heap_stats(&freed);
    size_t rss_freed = heap_resident();
    tap_ok(freed.kept_free >= 30u * 1024 * 1024, "the freed blocks are kept by the allocator (%zu bytes)",
           freed.kept_free);
    tap_ok(rss_freed >= rss_filled - 4u * 1024 * 1024, "and stay resident without a trim (%zu -> %zu bytes)",
           rss_filled, rss_freed);
    tap_ok(heap_trim_if((size_t)-1) == 0 && heap_trims() == 0, "no trim while below the threshold");
    tap_ok(heap_trim_if(HEAP_TRIM_THRESHOLD) == 1 && heap_trims() == 1, "a trim above it");
    heap_stats(&trimmed);
    size_t rss_trimmed = heap_resident();
    tap_ok(rss_trimmed + 20u * 1024 * 1024 <= rss_freed,
           "the trim returns the free pages: resident %zu -> %zu bytes", rss_freed, rss_trimmed);
    tap_ok(trimmed.in_use == freed.in_use, "and frees nothing in use");
    int intact = 1;
    for (int i = 0; i < BLOCKS; i++)
        if (blocks[i] && (blocks[i][0] != (char)(i & 0xff) || blocks[i][BLOCK_BYTES - 1] != (char)(i & 0xff)))
            intact = 0;
    tap_ok(intact, "the live blocks keep their bytes");
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[i]);
}

int main(void)
{
#ifdef UNDER_SANITIZER
    tap_ok(1, "# SKIP the sanitizer's allocator has no glibc heap figures or trim");
#else
    fragmented_heap_is_trimmed();
#endif
    return tap_done();
}
