/* resp.h — a minimal non-blocking Redis client for the verify probe: connect, AUTH (when the URL carries a
 * password), SELECT (when it names a db), one command (PING), read one reply line. Built on a libevent
 * bufferevent with non-blocking DNS; every request has a deadline. */
#ifndef GATEHOUSE_RESP_H
#define GATEHOUSE_RESP_H

#include "fetch.h"

struct event_base;

struct resp_request {
    const char *url;     /* redis://[user[:password]@]host[:port][/db]; a secret: copied and wiped */
    const char *command; /* e.g. "PING" (sent as a RESP array) */
    int timeout_ms;
};

/* status: FETCH_OK when a reply line arrived (reply is e.g. "+PONG" or "-WRONGPASS ..."; when AUTH failed
 * the AUTH error line is the reply), FETCH_ETIMEOUT, FETCH_ENETWORK, FETCH_EINTERNAL (bad URL, "rediss"
 * TLS not supported). reply and error are valid during the callback only. */
typedef void (*resp_cb)(enum fetch_status status, const char *reply, double total_ms, const char *error,
                        void *arg);

/* Initialises DNS for the client on base. Returns 0 or -1. */
int resp_init(struct event_base *base);

/* Frees the DNS base; pending requests complete with FETCH_ECANCELLED first. */
void resp_shutdown(void);

/* Starts the exchange. Returns 0, or -1 for an invalid request (no callback then). The callback runs exactly
 * once, never from inside resp_start. */
int resp_start(const struct resp_request *req, resp_cb cb, void *arg);

#endif
