/* static_evhttp.c — the comparison row of PRODUCT.md §8: a plain libevent evhttp server answering every
 * request with the same fixed body (and the same response headers gatehouse sends), so the bench can show
 * how close the status endpoints come to what evhttp itself can do on this machine.
 *
 *   static_evhttp PORT BODY_FILE [ENCODING]   serves BODY_FILE's bytes on 127.0.0.1:PORT until SIGTERM/SIGINT;
 *                                             with ENCODING (e.g. gzip) the bytes are sent as they are with
 *                                             Content-Encoding: ENCODING (BODY_FILE holds the encoded bytes),
 *                                             the comparison row for gatehouse's gzip answers */
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

static char *body;
static size_t body_len;
static const char *encoding; /* NULL: identity */

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
    evbuffer_add_reference(out, body, body_len, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *base)
{
    event_base_loopexit(base, NULL);
}

int main(int argc, char **argv)
{
    FILE *f;
    if (argc < 3 || argc > 4 || !(f = fopen(argv[2], "rb"))) {
        fprintf(stderr, "usage: static_evhttp PORT BODY_FILE [ENCODING]\n");
        return 2;
    }
    encoding = argc == 4 ? argv[3] : NULL;
    fseek(f, 0, SEEK_END);
    body_len = (size_t)ftell(f);
    rewind(f);
    body = malloc(body_len + 1);
    if (!body || fread(body, 1, body_len, f) != body_len) return 1;
    fclose(f);
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_gencb(http, answer, NULL);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)atoi(argv[1]));
    if (!bound) {
        fprintf(stderr, "static_evhttp: cannot listen on port %s\n", argv[1]);
        return 1;
    }
    /* the same socket option gatehouse sets (accepted sockets inherit it): no Nagle delay on big bodies */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct event *term = evsignal_new(base, SIGTERM, on_signal, base), *intr = evsignal_new(base, SIGINT, on_signal, base);
    event_add(term, NULL);
    event_add(intr, NULL);
    printf("listening %s %zu\n", argv[1], body_len);
    fflush(stdout);
    event_base_dispatch(base);
    event_free(term);
    event_free(intr);
    evhttp_free(http);
    event_base_free(base);
    free(body);
    return 0;
}
