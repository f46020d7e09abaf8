/* static.c — serves the built web Observatory (see static.h). */
#include "static.h"

#include <event2/http.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"

#define STATIC_MAX_FILES 64
#define STATIC_MAX_BYTES (8 * 1024 * 1024)
#define STATIC_NAME_MAX 128

struct static_file {
    char rel[STATIC_NAME_MAX + 16]; /* "index.html" or "assets/<name>" */
    char *data;
    size_t len;
    char etag[2 * 16 + 3]; /* "\"<32 hex>\"" */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

static char web_dir[4096];
static struct static_file files[STATIC_MAX_FILES];
static int nfiles;
static int next_victim;

void static_init(void)
{
    if (cfg.web_dir)
        snprintf(web_dir, sizeof web_dir, "%s", cfg.web_dir);
    else
        config_path("web/dist", web_dir, sizeof web_dir);
    LOG_INFO(NULL, "web files", "dir=\"%s\"", web_dir);
}

void static_free(void)
{
    for (int i = 0; i < nfiles; i++)
        free(files[i].data);
    memset(files, 0, sizeof files);
    nfiles = 0;
}

static const char *content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

/* 1 when name is one flat file name: [A-Za-z0-9._-], not starting with '.', at most STATIC_NAME_MAX bytes. */
static int safe_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > STATIC_NAME_MAX || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int same_stat(const struct static_file *f, const struct stat *st)
{
    return f->dev == st->st_dev && f->ino == st->st_ino && f->size == st->st_size &&
           f->mtime.tv_sec == st->st_mtim.tv_sec && f->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Reads path into f (replacing its previous content). Returns 0, or -1 (f untouched). */
static int load_file(struct static_file *f, const char *rel, const char *path, const struct stat *st)
{
    unsigned char hash[16];
    FILE *fp;
    char *data;

    if (st->st_size < 0 || st->st_size > STATIC_MAX_BYTES || !(fp = fopen(path, "rb"))) return -1;
    data = malloc((size_t)st->st_size + 1);
    if (!data || fread(data, 1, (size_t)st->st_size, fp) != (size_t)st->st_size) {
        free(data);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    free(f->data);
    snprintf(f->rel, sizeof f->rel, "%s", rel);
    f->data = data;
    f->len = (size_t)st->st_size;
    crypto_generichash(hash, sizeof hash, (const unsigned char *)data, f->len, NULL, 0);
    f->etag[0] = '"';
    sodium_bin2hex(f->etag + 1, sizeof f->etag - 2, hash, sizeof hash);
    f->etag[sizeof f->etag - 2] = '"';
    f->etag[sizeof f->etag - 1] = '\0';
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->size = st->st_size;
    f->mtime = st->st_mtim;
    return 0;
}

/* The file rel ("index.html", "assets/x.js") of the web directory, from the cache when unchanged on disk;
 * NULL when it is missing, not a regular file, or unreadable. */
static const struct static_file *lookup(const char *rel)
{
    char path[4096 + STATIC_NAME_MAX + 32];
    struct stat st;
    struct static_file *slot = NULL;

    snprintf(path, sizeof path, "%s/%s", web_dir, rel);
    if (!web_dir[0] || stat(path, &st) < 0 || !S_ISREG(st.st_mode)) return NULL;
    for (int i = 0; i < nfiles; i++) {
        if (strcmp(files[i].rel, rel) != 0) continue;
        if (same_stat(&files[i], &st)) return &files[i];
        slot = &files[i];
        break;
    }
    if (!slot) slot = nfiles < STATIC_MAX_FILES ? &files[nfiles] : &files[next_victim++ % STATIC_MAX_FILES];
    if (load_file(slot, rel, path, &st) < 0) return NULL;
    if (nfiles < STATIC_MAX_FILES && slot == &files[nfiles]) nfiles++;
    return slot;
}

/* 1 when the If-None-Match header value lists etag (or is "*"). */
static int etag_matches(const char *header, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (*p == '*') return 1;
        if (strncmp(p, "W/", 2) == 0) p += 2; /* weak comparison is what If-None-Match uses */
        if (strncmp(p, etag, elen) == 0 && (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' ')) return 1;
        p = strchr(p, ',');
    }
    return 0;
}

static void reply_file(struct http_ctx *ctx, const struct static_file *f, const char *cache_control)
{
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(ctx->req), "If-None-Match");
    const char *headers[] = {
        "Content-Type",
        content_type(f->rel),
        "ETag",
        f->etag,
        "Cache-Control",
        cache_control,
        "Content-Security-Policy",
        STATIC_CSP,
        "X-Content-Type-Options",
        "nosniff",
        "X-Frame-Options",
        "DENY",
        "Referrer-Policy",
        "no-referrer",
        "Cross-Origin-Opener-Policy",
        "same-origin",
        NULL,
    };
    if (inm && etag_matches(inm, f->etag)) {
        http_reply_static(ctx, 304, headers, NULL, 0);
        return;
    }
    http_reply_static(ctx, 200, headers, f->data, f->len);
}

static void not_found(struct http_ctx *ctx, const char *reason, const char *fix)
{
    http_reply_error(ctx, 404, "NOT_FOUND", reason, fix, NULL);
}

/* A browser navigation to a client route: Accept names text/html and the last segment has no extension. */
static int is_navigation(struct http_ctx *ctx)
{
    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(ctx->req), "Accept");
    const char *last = strrchr(ctx->path, '/');
    return accept && strstr(accept, "text/html") && last && !strchr(last, '.');
}

static void serve_index(struct http_ctx *ctx)
{
    const struct static_file *f = lookup("index.html");
    if (!f) {
        not_found(
            ctx, "The web Observatory is not built: web/dist/index.html is missing.",
            "Run `make web` (make run and make test build it), or set GATEHOUSE_WEB_DIR to a built web/dist.");
        return;
    }
    ctx->route = "/";
    reply_file(ctx, f, "no-cache");
}

void static_serve(struct http_ctx *ctx)
{
    const char *path = ctx->path;
    /* metrics label: a pattern for the files served; a miss stays "unmatched" like any unknown path */
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        serve_index(ctx);
    } else if (strncmp(path, "/assets/", 8) == 0) {
        char rel[STATIC_NAME_MAX + 16];
        const struct static_file *f = NULL;
        if (safe_name(path + 8)) {
            snprintf(rel, sizeof rel, "assets/%s", path + 8);
            f = lookup(rel);
        }
        if (!f) {
            not_found(ctx, "No such web asset.", "Reload the page: the Observatory may have been rebuilt.");
            return;
        }
        /* asset names carry a content hash (web/build.mjs), so a name never changes meaning */
        ctx->route = "/assets/:name";
        reply_file(ctx, f, "public, max-age=31536000, immutable");
    } else if (is_navigation(ctx)) {
        serve_index(ctx);
    } else {
        not_found(ctx, "No such route.", "See docs/api.md for the routes gatehouse serves.");
    }
}
