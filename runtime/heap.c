/* heap.c — glibc heap figures and the periodic trim (heap.h). */
#include "heap.h"

#include <event2/event.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

static struct {
    struct event *timer;
    unsigned long trims;
} H;

size_t heap_resident(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (size_t)resident * (size_t)page : 0;
}

void heap_stats(struct heap_stats *out)
{
    struct mallinfo2 mi = mallinfo2();
    out->in_use = mi.uordblks + mi.hblkhd;
    out->kept_free = mi.fordblks;
}

int heap_trim_if(size_t threshold)
{
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks <= threshold) return 0;
    malloc_trim(0);
    H.trims++;
    return 1;
}

unsigned long heap_trims(void)
{
    return H.trims;
}

static void on_trim_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    heap_trim_if(HEAP_TRIM_THRESHOLD);
}

int heap_start(struct event_base *base)
{
    struct timeval every = {HEAP_TRIM_EVERY_S, 0};
    heap_stop();
    H.timer = event_new(base, -1, EV_PERSIST, on_trim_timer, NULL);
    return H.timer && event_add(H.timer, &every) == 0 ? 0 : -1;
}

void heap_stop(void)
{
    if (H.timer) event_free(H.timer);
    H.timer = NULL;
}
