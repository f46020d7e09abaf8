/* static_evhttp.c — the comparison row of PRODUCT.md §8: a plain libevent evhttp server answering every
 * request with the same fixed body (and the same response headers gatehouse sends), so the bench can show
 * how close the status endpoints come to what evhttp itself can do on this machine.
 *
 *   static_evhttp PORT BODY_FILE      serves BODY_FILE's bytes on 127.0.0.1:PORT until SIGTERM/SIGINT
 *   static_evhttp PORT BODY_FILE SYMBOL=FILE...
 *                                     the same, but a request whose query names symbols=SYMBOL gets FILE's
 *                                     bytes (the bench's replayed Databento bars, one answer per symbol)
 *   static_evhttp PORT BODY_FILE ENCODING
 *                                     the bytes are sent as they are with Content-Encoding: ENCODING (e.g.
 * gzip; BODY_FILE holds the encoded bytes): the comparison row for gatehouse's gzip answers */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct body {
    const char *symbol; /* NULL: the default body */
    char *bytes;
    size_t len;
};

#define MAX_BODIES 64
static struct body bodies[MAX_BODIES];
static size_t n_bodies;
static const char *encoding; /* NULL: identity */

/* Reads path into b; 0 on success. */
static int load_body(struct body *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    b->bytes = malloc((size_t)(n < 0 ? 0 : n) + 1);
    if (n < 0 || !b->bytes || fread(b->bytes, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        return -1;
    }
    fclose(f);
    b->len = (size_t)n;
    return 0;
}

/* The body for req: the one whose symbol the query's symbols= names, else the default (bodies[0]). */
static const struct body *body_for(struct evhttp_request *req)
{
    const char *q = n_bodies > 1 ? evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)) : NULL;
    struct evkeyvalq params;
    const struct body *b = &bodies[0];
    if (q && evhttp_parse_query_str(q, &params) == 0) {
        const char *sym = evhttp_find_header(&params, "symbols");
        for (size_t i = 1; sym && i < n_bodies; i++)
            if (strcmp(bodies[i].symbol, sym) == 0) b = &bodies[i];
        evhttp_clear_headers(&params);
    }
    return b;
}

static void answer(struct evhttp_request *req, void *arg)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Vary", "Accept-Encoding");
    evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
    if (encoding) evhttp_add_header(h, "Content-Encoding", encoding);
    evhttp_add_header(h, "X-Trace-Id", "00000000000000000000000000000000");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    const struct body *b = body_for(req);
    evbuffer_add_reference(out, b->bytes, b->len, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *base)
{
    event_base_loopexit(base, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc - 2 > MAX_BODIES || load_body(&bodies[0], argv[2]) != 0) {
        fprintf(stderr, "usage: static_evhttp PORT BODY_FILE [ENCODING | SYMBOL=FILE...]\n");
        return 2;
    }
    if (argc == 4 && !strchr(argv[3], '=')) {
        encoding = argv[3];
        argc = 3;
    }
    for (n_bodies = 1; (int)n_bodies + 2 <= argc - 1; n_bodies++) {
        char *arg = argv[n_bodies + 2], *eq = strchr(arg, '=');
        if (!eq || (*eq = '\0', bodies[n_bodies].symbol = arg, load_body(&bodies[n_bodies], eq + 1)) != 0) {
            fprintf(stderr, "static_evhttp: cannot read %s (want SYMBOL=FILE)\n", arg);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_gencb(http, answer, NULL);
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)atoi(argv[1]));
    if (!bound) {
        fprintf(stderr, "static_evhttp: cannot listen on port %s\n", argv[1]);
        return 1;
    }
    /* the same socket option gatehouse sets (accepted sockets inherit it): no Nagle delay on big bodies */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct event *term = evsignal_new(base, SIGTERM, on_signal, base),
                 *intr = evsignal_new(base, SIGINT, on_signal, base);
    event_add(term, NULL);
    event_add(intr, NULL);
    printf("listening %s %zu\n", argv[1], bodies[0].len);
    fflush(stdout);
    event_base_dispatch(base);
    event_free(term);
    event_free(intr);
    evhttp_free(http);
    event_base_free(base);
    for (size_t i = 0; i < n_bodies; i++)
        free(bodies[i].bytes);
    return 0;
}
