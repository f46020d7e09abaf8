/* loadgen.c — a small closed-loop HTTP/1.1 load generator for the requests wrk cannot count exactly.
 *
 *   loadgen -p PORT -m METHOD -u PATH [-H "Name: value"]... [-b BODY_FILE] [-c CONNS] [-d SECONDS] [-n REQUESTS]
 *
 * CONNS threads, one keep-alive connection each, send the same request back to back for SECONDS (or until
 * REQUESTS in total have been answered) and count every answer by status class. Unlike wrk, a request is only
 * counted when its whole answer has been read, and none is left in flight when it stops, so the count of 2xx
 * answers is exact: the telemetry ingest bench compares it with the rows found in Postgres afterwards.
 * Prints one JSON line: {"requests", "s2xx", "s4xx", "s5xx", "errors", "seconds", "p50_ms", "p99_ms", "max_ms"}. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES (1 << 20)

static int port, conns = 4, total_limit;
static double duration = 10;
static char *request;
static size_t request_len;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long n_req, n2, n4, n5, n_err, started;
static double *samples;
static long n_samples;
static double t_stop;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_once(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0) return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends the request and reads one whole answer; returns the status, or -1 (the connection is then useless). */
static int exchange(int fd, char *buf, size_t cap)
{
    size_t off = 0, have = 0;
    while (off < request_len) {
        ssize_t w = write(fd, request + off, request_len - off);
        if (w <= 0) return -1;
        off += (size_t)w;
    }
    char *end = NULL;
    while (!end) {
        if (have + 1 >= cap) return -1;
        ssize_t r = read(fd, buf + have, cap - 1 - have);
        if (r <= 0) return -1;
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = atoi(buf + 9);
    char *cl = strcasestr(buf, "\r\nContent-Length:");
    long body = cl && cl < end ? atol(cl + 17) : 0;
    size_t want = (size_t)(end + 4 - buf) + (size_t)body;
    while (have < want) {
        ssize_t r = read(fd, buf, cap < want - have ? cap : want - have);
        if (r <= 0) return -1;
        have += (size_t)r;
    }
    return status;
}

static void *worker(void *arg)
{
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    int fd = -1;
    while (now_s() < t_stop) {
        pthread_mutex_lock(&mu);
        int go = !total_limit || started < total_limit;
        if (go) started++;
        pthread_mutex_unlock(&mu);
        if (!go) break;
        if (fd < 0 && (fd = connect_once()) < 0) {
            pthread_mutex_lock(&mu);
            n_err++, started--;
            pthread_mutex_unlock(&mu);
            usleep(10000);
            continue;
        }
        double t0 = now_s();
        int st = exchange(fd, buf, cap);
        double ms = (now_s() - t0) * 1000;
        pthread_mutex_lock(&mu);
        if (st < 0) {
            n_err++;
            close(fd);
            fd = -1;
        } else {
            n_req++;
            if (st >= 200 && st < 300) n2++;
            else if (st >= 400 && st < 500) n4++;
            else if (st >= 500) n5++;
            if (n_samples < MAX_SAMPLES) samples[n_samples++] = ms;
        }
        pthread_mutex_unlock(&mu);
    }
    if (fd >= 0) close(fd);
    free(buf);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *method = "GET", *path = "/", *body_file = NULL;
    char headers[8192] = "";
    size_t hl = 0;
    int opt;
    while ((opt = getopt(argc, argv, "p:m:u:H:b:c:d:n:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'm': method = optarg; break;
        case 'u': path = optarg; break;
        case 'H': hl += (size_t)snprintf(headers + hl, sizeof headers - hl, "%s\r\n", optarg); break;
        case 'b': body_file = optarg; break;
        case 'c': conns = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'n': total_limit = atoi(optarg); break;
        default: fprintf(stderr, "usage: loadgen -p PORT -m METHOD -u PATH [-H h]... [-b FILE] [-c N] [-d S] [-n R]\n"); return 2;
        }
    }
    char *body = NULL;
    long blen = 0;
    if (body_file) {
        FILE *f = fopen(body_file, "rb");
        if (!f) { perror(body_file); return 2; }
        fseek(f, 0, SEEK_END);
        blen = ftell(f);
        rewind(f);
        body = malloc((size_t)blen + 1);
        if (fread(body, 1, (size_t)blen, f) != (size_t)blen) return 2;
        fclose(f);
    }
    request = malloc(16384 + (size_t)blen);
    request_len = (size_t)sprintf(request, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%s%ld\r\n\r\n", method, path, port,
                                  headers, body ? "Content-Type: application/json\r\nContent-Length: " : "Content-Length: ", blen);
    if (body) memcpy(request + request_len, body, (size_t)blen), request_len += (size_t)blen;
    samples = malloc(sizeof *samples * MAX_SAMPLES);
    pthread_t th[256];
    if (conns < 1 || conns > 256) conns = 4;
    double t0 = now_s();
    t_stop = t0 + duration;
    for (int i = 0; i < conns; i++) pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < conns; i++) pthread_join(th[i], NULL);
    double secs = now_s() - t0;
    qsort(samples, (size_t)n_samples, sizeof *samples, cmp);
    double p50 = n_samples ? samples[n_samples / 2] : 0, p99 = n_samples ? samples[(long)(n_samples * 0.99)] : 0;
    printf("{\"requests\": %ld, \"s2xx\": %ld, \"s4xx\": %ld, \"s5xx\": %ld, \"errors\": %ld, \"seconds\": %.3f, "
           "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
           n_req, n2, n4, n5, n_err, secs, p50, p99, n_samples ? samples[n_samples - 1] : 0.0);
    return 0;
}
