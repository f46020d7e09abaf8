/* static.h — the web Observatory's built files (web/dist), served by the runtime.
 *
 * Public (no session): GET/HEAD of "/" and "/index.html" answer index.html; "/assets/<name>" answers that
 * file of web/dist/assets (flat directory, names of [A-Za-z0-9._-] only, so no path can leave it); any other
 * non-/api path asked for by a browser navigation (Accept: text/html, no file extension) answers index.html
 * so the client's routes work as deep links. Everything else is the JSON 404 of http.c.
 *
 * Every file answer carries a strong ETag (BLAKE2b of the bytes; If-None-Match → 304), Cache-Control
 * (index.html: no-cache, i.e. always revalidated; hashed assets: a year, immutable), a strict
 * Content-Security-Policy, X-Content-Type-Options: nosniff and the type from the file extension. */
#ifndef GATEHOUSE_STATIC_H
#define GATEHOUSE_STATIC_H

#include "http.h"

/* The Content-Security-Policy of every static answer (no inline script or style, same-origin only). */
#define STATIC_CSP                                                                                           \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "    \
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* Serves files from GATEHOUSE_WEB_DIR (default <GATEHOUSE_HOME>/web/dist). The directory may be missing or
 * rebuilt while the server runs: files are looked up per request (cached by inode, size and mtime). */
void static_init(void);

/* http.c's fallback handler for GET/HEAD requests no route matched outside /api/. */
void static_serve(struct http_ctx *ctx);

/* Frees the file cache. */
void static_free(void);

#endif
