/* auth.c — settings, the hashing worker, password/backup-code hashing, tokens, secret encryption and the
 * brute-force limiter (see auth.h). */
#include "auth.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "secret.h"

struct auth_settings auth_cfg = {1800, 43200, 300, 300, 5, 120, 300};

/* ---- settings ---- */

static int env_int(const char *name, int def, int min, int max, int *out, char *err, size_t errlen)
{
    const char *v = getenv(name);
    char *end;
    long n;
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || *end || n < min || n > max) {
        snprintf(err, errlen, "%s must be an integer between %d and %d", name, min, max);
        return -1;
    }
    *out = (int)n;
    return 0;
}

int auth_settings_load(char *err, size_t errlen)
{
    if (env_int("GATEHOUSE_SESSION_IDLE_S", 1800, 1, 86400 * 30, &auth_cfg.idle_s, err, errlen) < 0 ||
        env_int("GATEHOUSE_SESSION_ABSOLUTE_S", 43200, 1, 86400 * 90, &auth_cfg.absolute_s, err, errlen) < 0 ||
        env_int("GATEHOUSE_2FA_TEMP_TTL_S", 300, 1, 3600, &auth_cfg.temp_ttl_s, err, errlen) < 0 ||
        env_int("GATEHOUSE_FRESH_2FA_S", 300, 1, 86400, &auth_cfg.fresh_2fa_s, err, errlen) < 0 ||
        env_int("GATEHOUSE_AUTH_MAX_FAILURES", 5, 1, 1000, &auth_cfg.max_failures, err, errlen) < 0 ||
        env_int("GATEHOUSE_AUTH_WINDOW_S", 120, 1, 86400, &auth_cfg.window_s, err, errlen) < 0 ||
        env_int("GATEHOUSE_AUTH_BAN_S", 300, 1, 86400, &auth_cfg.ban_s, err, errlen) < 0)
        return -1;
    return 0;
}

/* ---- the worker: argon2id off the event loop ---- */

struct job {
    void (*work)(void *);
    void (*done)(void *);
    void *arg;
    struct job *next;
};

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    int running, stopping;
    int pipe_rd, pipe_wr;
    struct event *ev;
} W = {.pipe_rd = -1, .pipe_wr = -1};

static void *worker_main(void *unused)
{
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&W.mu);
        while (!W.head && !W.stopping) pthread_cond_wait(&W.cv, &W.mu);
        struct job *j = W.head;
        if (j) {
            W.head = j->next;
            if (!W.head) W.tail = NULL;
        }
        int stop = W.stopping && !j;
        pthread_mutex_unlock(&W.mu);
        if (stop) return NULL;
        j->work(j->arg);
        /* hand the finished job back to the loop; a pointer write to a pipe is atomic */
        ssize_t n;
        do n = write(W.pipe_wr, &j, sizeof j);
        while (n < 0 && errno == EINTR);
    }
}

static void on_done(evutil_socket_t fd, short what, void *unused)
{
    struct job *j;
    for (;;) {
        ssize_t n = read(fd, &j, sizeof j);
        if (n != (ssize_t)sizeof j) return;
        j->done(j->arg);
        free(j);
    }
}

int auth_start(struct event_base *base, char *err, size_t errlen)
{
    int fds[2];
    if (auth_settings_load(err, errlen) < 0) return -1;
    if (pipe(fds) < 0) {
        snprintf(err, errlen, "auth worker pipe: %s", strerror(errno));
        return -1;
    }
    W.pipe_rd = fds[0];
    W.pipe_wr = fds[1];
    fcntl(W.pipe_rd, F_SETFL, O_NONBLOCK);
    pthread_mutex_init(&W.mu, NULL);
    pthread_cond_init(&W.cv, NULL);
    W.ev = event_new(base, W.pipe_rd, EV_READ | EV_PERSIST, on_done, NULL);
    if (!W.ev || event_add(W.ev, NULL) < 0 || pthread_create(&W.thread, NULL, worker_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the auth worker thread");
        return -1;
    }
    W.running = 1;
    return 0;
}

void auth_stop(void)
{
    if (!W.running) return;
    pthread_mutex_lock(&W.mu);
    W.stopping = 1;
    pthread_cond_signal(&W.cv);
    pthread_mutex_unlock(&W.mu);
    pthread_join(W.thread, NULL); /* finishes the queue (each job is bounded: one or ten argon2id runs) */
    on_done(W.pipe_rd, 0, NULL);  /* deliver what finished, so every request is answered and freed */
    event_free(W.ev);
    close(W.pipe_rd);
    close(W.pipe_wr);
    pthread_mutex_destroy(&W.mu);
    pthread_cond_destroy(&W.cv);
    memset(&W, 0, sizeof W);
    W.pipe_rd = W.pipe_wr = -1;
    auth_limit_reset();
}

int auth_work(void (*work)(void *), void (*done)(void *), void *arg)
{
    struct job *j;
    if (!W.running || W.stopping || !(j = calloc(1, sizeof *j))) return -1;
    j->work = work;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&W.mu);
    if (W.tail)
        W.tail->next = j;
    else
        W.head = j;
    W.tail = j;
    pthread_cond_signal(&W.cv);
    pthread_mutex_unlock(&W.mu);
    return 0;
}

/* ---- hashing ---- */

#define PW_OPS crypto_pwhash_OPSLIMIT_INTERACTIVE /* 2 passes */
#define PW_MEM crypto_pwhash_MEMLIMIT_INTERACTIVE /* 64 MiB */
#define BACKUP_OPS 2
#define BACKUP_MEM (19U * 1024 * 1024)

int auth_password_hash(const char *pw, char out[AUTH_PWHASH_LEN])
{
    return crypto_pwhash_str_alg(out, pw, strlen(pw), PW_OPS, PW_MEM, crypto_pwhash_ALG_ARGON2ID13) == 0 ? 0 : -1;
}

static char dummy_hash[AUTH_PWHASH_LEN];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

/* A real hash of a random password with the password parameters: checking against it costs what a real
 * check does. */
static void make_dummy(void)
{
    unsigned char r[16];
    char hex[33];
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    auth_password_hash(hex, dummy_hash);
}

int auth_password_verify(const char *hash, const char *pw)
{
    if (!hash || strncmp(hash, "$argon2id$", 10) != 0) {
        pthread_once(&dummy_once, make_dummy);
        if (crypto_pwhash_str_verify(dummy_hash, pw, strlen(pw)) == 0) return 0; /* same work, always a miss */
        return 0;
    }
    return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

int auth_backup_hash(const char *code, char out[AUTH_PWHASH_LEN])
{
    return crypto_pwhash_str_alg(out, code, strlen(code), BACKUP_OPS, BACKUP_MEM, crypto_pwhash_ALG_ARGON2ID13) == 0
               ? 0
               : -1;
}

static const char BACKUP_ALPHABET[] = "abcdefghjkmnpqrstuvwxyz23456789"; /* no i l o 0 1 */

int auth_backup_normalise(const char *in, char out[AUTH_BACKUP_CODE_LEN + 1])
{
    int n = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == '-' || c == ' ') continue;
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (!strchr(BACKUP_ALPHABET, c) || c == '\0' || n >= 10) return -1;
        out[n < 5 ? n : n + 1] = c;
        n++;
    }
    if (n != 10) return -1;
    out[5] = '-';
    out[AUTH_BACKUP_CODE_LEN] = '\0';
    return 0;
}

void auth_new_backup_code(char out[AUTH_BACKUP_CODE_LEN + 1])
{
    size_t alpha = sizeof BACKUP_ALPHABET - 1;
    for (int i = 0; i < AUTH_BACKUP_CODE_LEN; i++)
        out[i] = i == 5 ? '-' : BACKUP_ALPHABET[randombytes_uniform((uint32_t)alpha)];
    out[AUTH_BACKUP_CODE_LEN] = '\0';
}

/* ---- tokens ---- */

static void sha256_hex(const unsigned char *in, size_t len, char hex[AUTH_HASH_HEX], unsigned char raw[32])
{
    unsigned char d[32];
    crypto_hash_sha256(d, in, len);
    sodium_bin2hex(hex, AUTH_HASH_HEX, d, sizeof d);
    if (raw) memcpy(raw, d, sizeof d);
}

void auth_new_token(char out[AUTH_TOKEN_LEN + 1], char hash_hex[AUTH_HASH_HEX])
{
    unsigned char r[32];
    randombytes_buf(r, sizeof r);
    sodium_bin2base64(out, AUTH_TOKEN_LEN + 1, r, sizeof r, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(r, sizeof r);
    sha256_hex((const unsigned char *)out, AUTH_TOKEN_LEN, hash_hex, NULL);
}

int auth_token_hash(const char *token, char hash_hex[AUTH_HASH_HEX], unsigned char raw[32])
{
    if (!token || strlen(token) != AUTH_TOKEN_LEN) return -1;
    for (const char *p = token; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_'))
            return -1;
    sha256_hex((const unsigned char *)token, AUTH_TOKEN_LEN, hash_hex, raw);
    return 0;
}

/* ---- APP_ENC_KEY ---- */

static int enc_key(unsigned char key[32])
{
    const char *hex = secret_value("APP_ENC_KEY");
    size_t n = 0;
    if (!hex || strlen(hex) != 64) return -1;
    if (sodium_hex2bin(key, 32, hex, 64, NULL, &n, NULL) != 0 || n != 32) return -1;
    return 0;
}

int auth_enc_key_ok(void)
{
    unsigned char k[32];
    int ok = enc_key(k) == 0;
    sodium_memzero(k, sizeof k);
    return ok;
}

static void secret_ad(const char *user_id, char *ad, size_t len)
{
    snprintf(ad, len, "users.two_factor_secret_encrypted|%s|v1", user_id);
}

int auth_encrypt_secret(const unsigned char *secret, size_t len, const char *user_id, char **out)
{
    unsigned char key[32], *buf;
    char ad[128];
    unsigned long long clen = 0;
    size_t total = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + len + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    *out = NULL;
    if (enc_key(key) < 0 || !(buf = malloc(total)) || !(*out = malloc(2 + total * 2 + 1))) {
        sodium_memzero(key, sizeof key);
        return -1;
    }
    secret_ad(user_id, ad, sizeof ad);
    randombytes_buf(buf, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(buf + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &clen, secret, len,
                                               (const unsigned char *)ad, strlen(ad), NULL, buf, key);
    memcpy(*out, "\\x", 2);
    sodium_bin2hex(*out + 2, total * 2 + 1, buf, total);
    sodium_memzero(key, sizeof key);
    free(buf);
    return 0;
}

int auth_decrypt_secret(const char *bytea_hex, const char *user_id, unsigned char *out, size_t outlen)
{
    unsigned char key[32], buf[512];
    char ad[128];
    size_t n = 0;
    unsigned long long mlen = 0;
    const size_t overhead = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    int rc = -1;
    if (!bytea_hex || strncmp(bytea_hex, "\\x", 2) != 0 || enc_key(key) < 0) return -1;
    if (sodium_hex2bin(buf, sizeof buf, bytea_hex + 2, strlen(bytea_hex + 2), NULL, &n, NULL) != 0 || n <= overhead ||
        n - overhead > outlen)
        goto out;
    secret_ad(user_id, ad, sizeof ad);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, buf + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                                   n - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                                   (const unsigned char *)ad, strlen(ad), buf, key) == 0)
        rc = (int)mlen;
out:
    sodium_memzero(key, sizeof key);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

/* ---- brute-force limiter ---- */

#define LIMIT_SLOTS 4096
#define LIMIT_MAX_FAILS 64

struct limit_entry {
    char key[300];
    double fails[LIMIT_MAX_FAILS]; /* monotonic seconds of recent failures (a ring) */
    int nfails;
    double banned_until;
    double last;
};

static struct limit_entry *limits;
static int nlimits;

static double now_s(void)
{
    return clock_now_ms() / 1000.0;
}

/* The entry of key, created when create is set. When the table is full, the least recently used entry
 * without an active ban is evicted: a ban is never lifted by filling the table (4,200 failures from
 * different addresses used to evict it). NULL when every slot holds an active ban (see
 * auth_limit_banned: fail closed). */
static struct limit_entry *limit_find(const char *key, int create)
{
    double now = now_s(), oldest = 0;
    int victim = -1;
    for (int i = 0; i < nlimits; i++) {
        if (strcmp(limits[i].key, key) == 0) return &limits[i];
        if (limits[i].banned_until > now) continue;
        if (victim < 0 || limits[i].last < oldest) victim = i, oldest = limits[i].last;
    }
    if (!create) return NULL;
    if (!limits && !(limits = calloc(LIMIT_SLOTS, sizeof *limits))) return NULL;
    if (nlimits >= LIMIT_SLOTS && victim < 0) return NULL;
    struct limit_entry *e = nlimits < LIMIT_SLOTS ? &limits[nlimits++] : &limits[victim];
    memset(e, 0, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", key);
    e->last = now;
    return e;
}

/* 1 when every slot holds an active ban (a new key could not be counted); *soonest gets the first end. */
static int limit_full_of_bans(double now, double *soonest)
{
    if (nlimits < LIMIT_SLOTS) return 0;
    *soonest = 0;
    for (int i = 0; i < nlimits; i++) {
        if (limits[i].banned_until <= now) return 0;
        if (*soonest == 0 || limits[i].banned_until < *soonest) *soonest = limits[i].banned_until;
    }
    return 1;
}

int auth_limit_banned(const char *key, long *retry_after_s)
{
    struct limit_entry *e = limit_find(key, 0);
    double now = now_s(), soonest;
    if (!e && limit_full_of_bans(now, &soonest)) {
        /* fail closed: a key that could not be counted is refused until a ban ends and frees a slot */
        if (retry_after_s) *retry_after_s = (long)(soonest - now) + 1;
        return 1;
    }
    if (!e || e->banned_until <= now) return 0;
    if (retry_after_s) *retry_after_s = (long)(e->banned_until - now) + 1;
    return 1;
}

int auth_limit_fail(const char *key)
{
    struct limit_entry *e = limit_find(key, 1);
    double now = now_s();
    int recent = 0, cap = auth_cfg.max_failures < LIMIT_MAX_FAILS ? auth_cfg.max_failures : LIMIT_MAX_FAILS;
    if (!e) return 0;
    e->last = now;
    e->fails[e->nfails++ % LIMIT_MAX_FAILS] = now;
    for (int i = 0; i < LIMIT_MAX_FAILS && i < e->nfails; i++)
        if (now - e->fails[i] <= auth_cfg.window_s) recent++;
    if (recent >= cap && e->banned_until <= now) {
        e->banned_until = now + auth_cfg.ban_s;
        e->nfails = 0; /* a new ban needs new failures after this one ends */
        return 1;
    }
    return 0;
}

void auth_limit_clear(const char *key)
{
    struct limit_entry *e = limit_find(key, 0);
    if (e && e->banned_until <= now_s()) e->nfails = 0;
}

void auth_limit_reset(void)
{
    free(limits);
    limits = NULL;
    nlimits = 0;
}
