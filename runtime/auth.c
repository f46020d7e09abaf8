/* auth.c — the hashing worker, password/backup-code hashing, tokens, secret encryption, the
 * brute-force limiter with its ban accounting, and the second-factor check (see auth.h). */
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

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "secret.h"
#include "telemetry.h"
#include "totp.h"

#define DB_TIMEOUT_MS 3000

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
        while (!W.head && !W.stopping)
            pthread_cond_wait(&W.cv, &W.mu);
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
        do
            n = write(W.pipe_wr, &j, sizeof j);
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
    return crypto_pwhash_str_alg(out, pw, strlen(pw), PW_OPS, PW_MEM, crypto_pwhash_ALG_ARGON2ID13) == 0 ? 0
                                                                                                         : -1;
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
        if (crypto_pwhash_str_verify(dummy_hash, pw, strlen(pw)) == 0)
            return 0; /* same work, always a miss */
        return 0;
    }
    return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

int auth_backup_hash(const char *code, char out[AUTH_PWHASH_LEN])
{
    return crypto_pwhash_str_alg(out, code, strlen(code), BACKUP_OPS, BACKUP_MEM,
                                 crypto_pwhash_ALG_ARGON2ID13) == 0
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
    size_t total =
        crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + len + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    *out = NULL;
    if (enc_key(key) < 0 || !(buf = malloc(total)) || !(*out = malloc(2 + total * 2 + 1))) {
        sodium_memzero(key, sizeof key);
        return -1;
    }
    secret_ad(user_id, ad, sizeof ad);
    randombytes_buf(buf, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(buf + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &clen,
                                               secret, len, (const unsigned char *)ad, strlen(ad), NULL, buf,
                                               key);
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
    const size_t overhead =
        crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    int rc = -1;
    if (!bytea_hex || strncmp(bytea_hex, "\\x", 2) != 0 || enc_key(key) < 0) return -1;
    if (sodium_hex2bin(buf, sizeof buf, bytea_hex + 2, strlen(bytea_hex + 2), NULL, &n, NULL) != 0 ||
        n <= overhead || n - overhead > outlen)
        goto out;
    secret_ad(user_id, ad, sizeof ad);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL,
                                                   buf + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
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
    int recent = 0, cap = cfg.auth_max_failures < LIMIT_MAX_FAILS ? cfg.auth_max_failures : LIMIT_MAX_FAILS;
    if (!e) return 0;
    e->last = now;
    e->fails[e->nfails++ % LIMIT_MAX_FAILS] = now;
    for (int i = 0; i < LIMIT_MAX_FAILS && i < e->nfails; i++)
        if (now - e->fails[i] <= cfg.auth_window_s) recent++;
    if (recent >= cap && e->banned_until <= now) {
        e->banned_until = now + cfg.auth_ban_s;
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

/* ---- hash, then continue on the loop ---- */

struct hash_then {
    char *password;
    char hash[AUTH_PWHASH_LEN];
    int ok;
    auth_hashed_cb done;
    void *arg;
};

static void hash_then_work(void *arg)
{
    struct hash_then *h = arg;
    h->ok = auth_password_hash(h->password, h->hash) == 0;
}

static void hash_then_free(struct hash_then *h)
{
    sodium_memzero(h->password, strlen(h->password));
    free(h->password);
    sodium_memzero(h, sizeof *h);
    free(h);
}

static void hash_then_done(void *arg)
{
    struct hash_then *h = arg;
    h->done(h->ok ? h->hash : NULL, h->arg);
    hash_then_free(h);
}

int auth_hash_then(const char *password, auth_hashed_cb done, void *arg)
{
    struct hash_then *h = calloc(1, sizeof *h);
    if (!h) return -1;
    if (!(h->password = strdup(password))) {
        free(h);
        return -1;
    }
    h->done = done;
    h->arg = arg;
    if (auth_work(hash_then_work, hash_then_done, h) < 0) {
        hash_then_free(h);
        return -1;
    }
    return 0;
}

/* ---- decisions and ban accounting ---- */

void auth_log_decision(const struct auth_caller *who, const char *event, const char *decision,
                       const char *reason, const char *username)
{
    char esc[300];
    LOG_INFO(who->trace_id, "auth decision", "event=%s decision=%s reason=%s user=\"%s\" ip=%s", event,
             decision, reason, log_escape(username ? username : "", esc, sizeof esc), who->ip);
}

static void key_of(char *out, size_t len, const char *kind, const char *v)
{
    snprintf(out, len, "%s:%s", kind, v);
}

void auth_failure(const struct auth_caller *who, const char *username)
{
    char key[320];
    const char *ip = who->ip;
    int banned_ip, banned_user = 0;
    key_of(key, sizeof key, "ip", ip);
    banned_ip = auth_limit_fail(key);
    if (username && *username) {
        key_of(key, sizeof key, "user", username);
        banned_user = auth_limit_fail(key);
    }
    if (!banned_ip && !banned_user) return;
    char msg[400];
    snprintf(msg, sizeof msg, "%d failed sign-in attempts within %d s: %s%s%s banned for %d s",
             cfg.auth_max_failures, cfg.auth_window_s, banned_user ? "account" : "",
             banned_user && banned_ip ? " and " : "", banned_ip ? "IP" : "", cfg.auth_ban_s);
    auth_log_decision(who, "ban", "deny",
                      banned_user ? (banned_ip ? "account_and_ip_banned" : "account_banned") : "ip_banned",
                      username);
    json_t *meta = json_pack("{s:s, s:b, s:b, s:i}", "ip", ip, "account", banned_user, "ip_banned", banned_ip,
                             "ban_s", cfg.auth_ban_s);
    telemetry_system_event("auth.ban", "warning", username && *username ? username : ip, msg, who->trace_id,
                           meta);
    json_decref(meta);
}

int auth_banned(const struct auth_caller *who, const char *username, long *retry_after_s)
{
    char key[320];
    long left = 0, l2 = 0;
    key_of(key, sizeof key, "ip", who->ip);
    int b = auth_limit_banned(key, &left);
    if (username && *username) {
        key_of(key, sizeof key, "user", username);
        if (auth_limit_banned(key, &l2)) {
            b = 1;
            if (l2 > left) left = l2;
        }
    }
    *retry_after_s = left;
    if (!b) return 0;
    auth_log_decision(who, "rate_limit", "deny", "banned", username);
    return 1;
}

/* ---- the second factor ---- */

struct factor {
    struct auth_caller who;
    char user_id[37], username[300];
    char code[8];
    char backup[AUTH_BACKUP_CODE_LEN + 1];
    int use_backup, enrolled_only;
    auth_factor_cb cb;
    void *arg;
    char **hashes; /* backup-code hashes (strings copied for the worker) */
    int nhashes, match;
    int64_t step;
};

static void factor_done(struct factor *f, enum auth_factor outcome)
{
    f->cb(outcome, f->arg);
    for (int i = 0; i < f->nhashes; i++)
        free(f->hashes[i]);
    free(f->hashes);
    sodium_memzero(f, sizeof *f);
    free(f);
}

static void on_step_recorded(struct pg_result *res, const char *err, void *arg)
{
    struct factor *f = arg;
    if (!res) {
        factor_done(f, AUTH_FACTOR_DB_ERROR);
        return;
    }
    if (PQntuples(res) == 1) {
        factor_done(f, AUTH_FACTOR_OK);
        return;
    }
    /* another request used this step (or a later one) between our read and this write */
    auth_log_decision(&f->who, "totp", "deny", "replay", f->username);
    factor_done(f, AUTH_FACTOR_REPLAY);
}

static void replay_event(struct factor *f)
{
    char msg[200];
    snprintf(msg, sizeof msg,
             "TOTP code replayed: a code of an already used time step was presented again (refused)");
    json_t *meta = json_pack("{s:s, s:s}", "ip", f->who.ip, "user_id", f->user_id);
    telemetry_system_event("auth.totp_replay", "warning", f->username, msg, f->who.trace_id, meta);
    json_decref(meta);
}

static void check_totp(struct factor *f, const char *secret_bytea, int64_t last_step)
{
    unsigned char key[64];
    int n = auth_decrypt_secret(secret_bytea, f->user_id, key, sizeof key);
    if (n <= 0) {
        if (auth_enc_key_ok())
            LOG_ERROR(
                f->who.trace_id, "totp secret unreadable",
                "user_id=%s reason=\"decryption failed: APP_ENC_KEY changed or the row was tampered with\"",
                f->user_id);
        factor_done(f, AUTH_FACTOR_NO_KEY);
        return;
    }
    enum totp_result r = totp_verify(key, (size_t)n, f->code, clock_wall_s(), last_step, &f->step);
    sodium_memzero(key, sizeof key);
    if (r == TOTP_REPLAY) {
        auth_log_decision(&f->who, "totp", "deny", "replay", f->username);
        replay_event(f);
        factor_done(f, AUTH_FACTOR_REPLAY);
        return;
    }
    if (r != TOTP_OK) {
        auth_log_decision(&f->who, "totp", "deny", "wrong_code", f->username);
        factor_done(f, AUTH_FACTOR_INVALID);
        return;
    }
    char step[24];
    snprintf(step, sizeof step, "%lld", (long long)f->step);
    const char *p[2] = {f->user_id, step};
    /* compare-and-set: a step is accepted once, even by two requests racing */
    if (db_query("UPDATE users SET two_factor_last_step = $2::bigint, two_factor_last_verified_at = gh_now()"
                 " WHERE id = $1 AND coalesce(two_factor_last_step, -1) < $2::bigint RETURNING 1",
                 2, p, DB_TIMEOUT_MS, on_step_recorded, f) < 0)
        on_step_recorded(NULL, NULL, f);
}

static void on_backup_removed(struct pg_result *res, const char *err, void *arg)
{
    struct factor *f = arg;
    if (!res) {
        factor_done(f, AUTH_FACTOR_DB_ERROR);
        return;
    }
    if (PQntuples(res) != 1) { /* spent by a concurrent request */
        auth_log_decision(&f->who, "backup_code", "deny", "already_used", f->username);
        factor_done(f, AUTH_FACTOR_INVALID);
        return;
    }
    LOG_INFO(f->who.trace_id, "backup code used", "user_id=%s remaining=%s", f->user_id,
             PQgetvalue(res, 0, 0));
    factor_done(f, AUTH_FACTOR_OK);
}

static void backup_work(void *arg)
{
    struct factor *f = arg;
    f->match = -1;
    /* every hash is tried, so the time does not tell which code matched */
    for (int i = 0; i < f->nhashes; i++)
        if (crypto_pwhash_str_verify(f->hashes[i], f->backup, strlen(f->backup)) == 0 && f->match < 0)
            f->match = i;
}

static void backup_checked(void *arg)
{
    struct factor *f = arg;
    char idx[16];
    if (f->match < 0) {
        auth_log_decision(&f->who, "backup_code", "deny", "wrong_or_used_code", f->username);
        factor_done(f, AUTH_FACTOR_INVALID);
        return;
    }
    snprintf(idx, sizeof idx, "%d", f->match);
    const char *p[3] = {f->user_id, idx, f->hashes[f->match]};
    if (db_query("UPDATE users SET two_factor_backup_codes_hash = two_factor_backup_codes_hash - $2::int,"
                 " two_factor_last_verified_at = gh_now()"
                 " WHERE id = $1 AND two_factor_backup_codes_hash ->> $2::int = $3"
                 " RETURNING jsonb_array_length(two_factor_backup_codes_hash)",
                 3, p, DB_TIMEOUT_MS, on_backup_removed, f) < 0)
        on_backup_removed(NULL, NULL, f);
}

static void on_factor_user(struct pg_result *res, const char *err, void *arg)
{
    struct factor *f = arg;
    if (!res) {
        factor_done(f, AUTH_FACTOR_DB_ERROR);
        return;
    }
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 1) ||
        (f->enrolled_only && strcmp(PQgetvalue(res, 0, 0), "t") != 0)) {
        factor_done(f, AUTH_FACTOR_NOT_ENROLLED);
        return;
    }
    if (!f->use_backup) {
        if (!auth_enc_key_ok()) { /* backup codes are hashes and need no key: they stay a recovery path */
            factor_done(f, AUTH_FACTOR_NO_KEY);
            return;
        }
        check_totp(f, PQgetvalue(res, 0, 1), atoll(PQgetvalue(res, 0, 2)));
        return;
    }
    json_t *arr = json_loads(PQgetvalue(res, 0, 3), 0, NULL), *h;
    size_t i;
    f->hashes = calloc(json_array_size(arr) + 1, sizeof *f->hashes);
    json_array_foreach(arr, i, h) if (json_is_string(h)) f->hashes[f->nhashes++] =
        strdup(json_string_value(h));
    json_decref(arr);
    if (auth_work(backup_work, backup_checked, f) < 0) factor_done(f, AUTH_FACTOR_DB_ERROR);
}

void auth_factor_check(const struct auth_caller *who, const char *user_id, const char *username,
                       const char *code, const char *backup_code, int enrolled_only, auth_factor_cb cb,
                       void *arg)
{
    struct factor *f = calloc(1, sizeof *f);
    f->who = *who;
    f->cb = cb;
    f->arg = arg;
    f->enrolled_only = enrolled_only;
    snprintf(f->user_id, sizeof f->user_id, "%s", user_id);
    snprintf(f->username, sizeof f->username, "%s", username);
    if (code) {
        if (strlen(code) != TOTP_DIGITS) {
            auth_log_decision(who, "totp", "deny", "malformed_code", username);
            factor_done(f, AUTH_FACTOR_INVALID);
            return;
        }
        snprintf(f->code, sizeof f->code, "%s", code);
    } else {
        f->use_backup = 1;
        if (!backup_code || auth_backup_normalise(backup_code, f->backup) < 0) {
            auth_log_decision(who, "backup_code", "deny", "malformed_code", username);
            factor_done(f, AUTH_FACTOR_INVALID);
            return;
        }
    }
    const char *p[1] = {user_id};
    if (db_query("SELECT two_factor_enabled, two_factor_secret_encrypted, coalesce(two_factor_last_step, -1),"
                 " coalesce(two_factor_backup_codes_hash, '[]'::jsonb)::text FROM users"
                 " WHERE id = $1 AND disabled_at IS NULL",
                 1, p, DB_TIMEOUT_MS, on_factor_user, f) < 0)
        on_factor_user(NULL, NULL, f);
}
