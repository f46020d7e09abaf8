/* policy.c — builds, validates and swaps policy generations; the single policy_call() into Lua. */
#include "policy.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <lauxlib.h>
#include <lua.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "lrt.h"
#include "sandbox.h"
#include "sandbox_json.h"
#include "secret.h"

#define MODULES_KEY "gatehouse.modules"
#define MAX_POLICY_FILES 128
#define MAX_POLICY_BYTES (4 * 1024 * 1024)
#define LIB_KEY "gatehouse.lib" /* the table behind the read-only global `lib` */
#define LIB_DIR "scripts/lib"

#define MAX_CONTRACTS 16

struct policy_gen {
    struct sandbox *sb;
    void *validated[MAX_CONTRACTS]; /* per contract: what its registered validator kept (opaque), or NULL */
    char version[17];
    time_t loaded_at;
    json_t *files;
    int refs; /* the "current" slot holds one; in-flight async work (a verify probe) holds others */
};

static struct policy_gen *current;
static int push_path(lua_State *L, const char *module, const char *fn_path, char *err, size_t errlen);
static char last_error[2048];
static time_t last_reload_at;
static unsigned char watched_fingerprint[crypto_generichash_BYTES];
static struct event *sighup_event, *watch_event;

/* ---- policy file discovery ---- */

struct file_list {
    char *names[MAX_POLICY_FILES]; /* relative to GATEHOUSE_HOME, sorted within each directory */
    size_t count;
};

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_lua_files_in(struct file_list *fl, const char *reldir)
{
    char dir[4200];
    DIR *d = opendir(config_path(reldir, dir, sizeof dir));
    struct dirent *e;
    size_t first = fl->count;
    if (!d) return;
    while ((e = readdir(d)) && fl->count < MAX_POLICY_FILES) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".lua") == 0 && e->d_name[0] != '.') {
            char rel[512];
            snprintf(rel, sizeof rel, "%s/%s", reldir, e->d_name);
            fl->names[fl->count++] = strdup(rel);
        }
    }
    closedir(d);
    qsort(fl->names + first, fl->count - first, sizeof fl->names[0], compare_names);
}

/* scripts/lib/ first (every other file may use `lib`), then providers.lua (mandatory); gates.lua and scripts/
 * (and scripts/strategies/) are loaded when present. */
static void list_policy_files(struct file_list *fl)
{
    char path[4200];
    struct stat st;
    fl->count = 0;
    add_lua_files_in(fl, LIB_DIR);
    fl->names[fl->count++] = strdup("providers.lua");
    if (stat(config_path("gates.lua", path, sizeof path), &st) == 0)
        fl->names[fl->count++] = strdup("gates.lua");
    add_lua_files_in(fl, "scripts");
    add_lua_files_in(fl, "scripts/strategies");
}

static void free_file_list(struct file_list *fl)
{
    for (size_t i = 0; i < fl->count; i++)
        free(fl->names[i]);
    fl->count = 0;
}

/* Reads a whole file (at most MAX_POLICY_BYTES) into a malloc'd, NUL-terminated buffer. */
static char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    const char *rel = path;
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", rel, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && size <= MAX_POLICY_BYTES &&
        fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)size + 1);
        if (buf && fread(buf, 1, (size_t)size, f) == (size_t)size) {
            buf[size] = '\0';
            *len = (size_t)size;
        } else {
            free(buf);
            buf = NULL;
        }
    }
    if (!buf) snprintf(err, errlen, "%s: cannot read (larger than %d bytes?)", rel, MAX_POLICY_BYTES);
    fclose(f);
    return buf;
}

/* Reads a policy file given relative to GATEHOUSE_HOME; errors name the relative path. */
static char *read_file(const char *rel, size_t *len, char *err, size_t errlen)
{
    char path[4200];
    char *buf = slurp(config_path(rel, path, sizeof path), len, err, errlen);
    if (!buf) {
        char inner[1024];
        const char *colon = strstr(err, ": ");
        snprintf(inner, sizeof inner, "%s", colon ? colon + 2 : err);
        snprintf(err, errlen, "%s: %s", rel, inner);
    }
    return buf;
}

/* ---- generations ---- */

static struct sandbox_limits call_limits(void)
{
    struct sandbox_limits lim = {cfg.policy_mem_bytes, cfg.policy_instr_budget, cfg.policy_deadline_ms};
    return lim;
}

static void free_validated(struct policy_gen *g);

static void free_generation(struct policy_gen *g)
{
    if (!g) return;
    sandbox_free(g->sb);
    free_validated(g);
    json_decref(g->files);
    free(g);
}

/* Candidate texts that replace files of the same name (dry-run); NULL outside policy_build_candidate. */
static const struct policy_override *overrides;
static size_t n_overrides;

static char *source_of(const char *rel, size_t *len, char *err, size_t errlen)
{
    for (size_t i = 0; i < n_overrides; i++)
        if (strcmp(overrides[i].name, rel) == 0) {
            *len = strlen(overrides[i].text);
            return strdup(overrides[i].text);
        }
    return read_file(rel, len, err, errlen);
}

/* ---- the shared library: scripts/lib/<name>.lua is lib.<name> ---- */

/* Creates the table behind `lib` and sets the global (before sandbox_seal, which makes it read-only). */
static void open_lib_table(lua_State *L)
{
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LIB_KEY);
    lua_setglobal(L, "lib");
}

/* 1 when rel is a file of scripts/lib/. */
static int is_lib_file(const char *rel)
{
    return strncmp(rel, LIB_DIR "/", sizeof LIB_DIR) == 0;
}

/* Adds the table on top of the stack, frozen, to `lib` under rel's base name (scripts/lib/util.lua:
 * lib.util). Stack unchanged. */
static void add_to_lib(lua_State *L, const char *rel)
{
    char name[256];
    snprintf(name, sizeof name, "%s", rel + sizeof LIB_DIR);
    name[strlen(name) - 4] = '\0'; /* drop ".lua" */
    lua_getfield(L, LUA_REGISTRYINDEX, LIB_KEY);
    sandbox_freeze(L, -2, name);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

/* Runs one policy file; on success stores its table in the modules registry table (stack unchanged). */
static int load_module(struct policy_gen *g, const char *rel, crypto_generichash_state *hash, char *err,
                       size_t errlen)
{
    lua_State *L = sandbox_state(g->sb);
    size_t len;
    char *src = source_of(rel, &len, err, errlen);
    int rc = -1;
    if (!src) return -1;
    crypto_generichash_update(hash, (const unsigned char *)rel, strlen(rel) + 1);
    crypto_generichash_update(hash, (const unsigned char *)src, len);
    if (sandbox_run_chunk(g->sb, src, len, rel, err, errlen) == 0) {
        if (lua_type(L, -1) != LUA_TTABLE) {
            snprintf(err, errlen, "%s: must return a table (got %s)", rel, luaL_typename(L, -1));
            lua_pop(L, 1);
        } else {
            if (is_lib_file(rel)) add_to_lib(L, rel);
            lua_getfield(L, LUA_REGISTRYINDEX, MODULES_KEY);
            lua_insert(L, -2);
            lua_setfield(L, -2, rel);
            lua_pop(L, 1);
            rc = 0;
        }
    }
    free(src);
    return rc;
}

/* 1 when line (up to its newline) is `id = "<id>"` or `id = '<id>'`, spacing free. */
static int is_id_line(const char *line, const char *id)
{
    size_t n = strlen(id);
    line += strspn(line, " \t{");
    if (strncmp(line, "id", 2) != 0) return 0;
    line += 2;
    line += strspn(line, " \t");
    if (*line++ != '=') return 0;
    line += strspn(line, " \t");
    return (*line == '"' || *line == '\'') && strncmp(line + 1, id, n) == 0 && line[n + 1] == line[0];
}

/* 1 when line (up to its newline) holds the string literal "<s>" or '<s>'. */
static int has_literal_line(const char *line, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = line; *p && *p != '\n'; p++)
        if ((*p == '"' || *p == '\'') && strncmp(p + 1, s, n) == 0 && p[n + 1] == *p) return 1;
    return 0;
}

/* Line number of the occurrence-th `id = "<id>"` line of src (the occurrence-th line holding the literal when
 * literal is set), or 0. */
static int find_line(const char *src, const char *id, int occurrence, int literal)
{
    int line = 1;
    for (const char *p = src; *p; line++) {
        if ((literal ? has_literal_line(p, id) : is_id_line(p, id)) && --occurrence == 0) return line;
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    return 0;
}

int policy_source_line(const char *file, const char *needle, int occurrence, int literal)
{
    size_t len;
    char ignored[256], *src = source_of(file, &len, ignored, sizeof ignored);
    int line = src ? find_line(src, needle, occurrence, literal) : 0;
    free(src);
    return line;
}

/* ---- contracts: what each policy file must export, checked when a generation is built ---- */

struct policy_contract {
    const char *file; /* a file name, or "<dir>/" then "*.lua": each .lua file directly in <dir> */
    int required;     /* the file must be present */
    const char *const *functions; /* what its table must hold as functions: what C calls unconditionally */
    policy_validator_fn validate; /* registered from above (policy_register_validator); run once every file is
                                   * loaded, its result kept in the generation */
    void (*free_fn)(void *);      /* frees what validate returned */
};

/* Functions that C guards with policy_has_function (gates.lua safe_start_many, market_hours.lua
 * lookback_start, a strategy's llm_request), functions whose absence C already answers (market_hours.lua
 * calendar_of: the symbol is listed without a calendar) and plain data (a strategy's name, params) are not
 * required. */
static struct policy_contract contracts[] = {
    {"providers.lua", 1, NULL, NULL, NULL},
    {"gates.lua", 0, (const char *const[]){"evaluate", "safe_start", NULL}, NULL, NULL},
    {"scripts/risk.lua", 0, (const char *const[]){"check", "review", NULL}, NULL, NULL},
    {"scripts/features.lua", 0, (const char *const[]){"compute", NULL}, NULL, NULL},
    {"scripts/market_hours.lua", 0, (const char *const[]){"session", NULL}, NULL, NULL},
    {"scripts/autonomy.lua", 0, (const char *const[]){"score_all", "evidence_spec", NULL}, NULL, NULL},
    {"scripts/variables.lua", 0, NULL, NULL, NULL},
    {"scripts/instruments.lua", 0, (const char *const[]){"multiplier_of", NULL}, NULL, NULL},
    {"scripts/strategies/*.lua", 0, (const char *const[]){"decide", NULL}, NULL, NULL},
};

/* 1 when rel is the contract's file, or a .lua file directly in the directory of a directory contract. */
static int contract_matches(const struct policy_contract *c, const char *rel)
{
    const char *star = strstr(c->file, "/*.lua");
    size_t dir;
    if (!star) return strcmp(c->file, rel) == 0;
    dir = (size_t)(star - c->file) + 1;
    return strncmp(rel, c->file, dir) == 0 && !strchr(rel + dir, '/');
}

/* Checks that module rel's table holds every function its contract names ("gates.lua: missing function
 * evaluate"). 0, or -1 with err. */
static int check_functions(struct policy_gen *g, const char *rel, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof contracts / sizeof *contracts; i++) {
        if (!contract_matches(&contracts[i], rel) || !contracts[i].functions) continue;
        for (const char *const *fn = contracts[i].functions; *fn; fn++)
            if (!policy_has_function(g, rel, *fn)) {
                snprintf(err, errlen, "%s: missing function %s", rel, *fn);
                return -1;
            }
    }
    return 0;
}

#define N_CONTRACTS (sizeof contracts / sizeof *contracts)
_Static_assert(N_CONTRACTS <= MAX_CONTRACTS, "raise MAX_CONTRACTS");

int policy_register_validator(const char *file, policy_validator_fn build, void (*free_fn)(void *))
{
    for (size_t i = 0; file && build && free_fn && i < N_CONTRACTS; i++)
        if (strcmp(contracts[i].file, file) == 0 && !strstr(file, "*")) {
            contracts[i].validate = build;
            contracts[i].free_fn = free_fn;
            return 0;
        }
    return -1;
}

/* Index of the contract of file with a registered validator, or -1. */
static int validated_slot(const char *file)
{
    for (size_t i = 0; i < N_CONTRACTS; i++)
        if (contracts[i].validate && strcmp(contracts[i].file, file) == 0) return (int)i;
    return -1;
}

const void *policy_validated(const struct policy_gen *g, const char *file)
{
    int slot = g ? validated_slot(file) : -1;
    return slot < 0 ? NULL : g->validated[slot];
}

static void free_validated(struct policy_gen *g)
{
    for (size_t i = 0; i < N_CONTRACTS; i++)
        if (g->validated[i]) contracts[i].free_fn(g->validated[i]);
}

/* Runs the registered validators, in contract order, once every file is loaded: each gets its file's table as
 * JSON (NULL when the file is absent) and its result is kept in g. 0, or -1 with err. */
static int run_validators(struct policy_gen *g, char *err, size_t errlen)
{
    lua_State *L = sandbox_state(g->sb);
    for (size_t i = 0; i < N_CONTRACTS; i++) {
        json_t *doc = NULL;
        char inner[1024];
        if (!contracts[i].validate) continue;
        lua_getfield(L, LUA_REGISTRYINDEX, MODULES_KEY);
        lua_getfield(L, -1, contracts[i].file);
        if (!lua_isnil(L, -1) && !(doc = sandbox_to_json(L, -1, inner, sizeof inner))) {
            lua_pop(L, 2);
            snprintf(err, errlen, "%s: %s", contracts[i].file, inner);
            return -1;
        }
        lua_pop(L, 2);
        g->validated[i] = contracts[i].validate(doc, g, 0, err, errlen);
        json_decref(doc);
        if (!g->validated[i]) return -1;
    }
    return 0;
}

/* Number of entries in providers.lua's `providers` array in g (for the load log line). */
static size_t provider_count(struct policy_gen *g)
{
    lua_State *L = sandbox_state(g->sb);
    size_t n = 0;
    lua_getfield(L, LUA_REGISTRYINDEX, MODULES_KEY);
    lua_getfield(L, -1, "providers.lua");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "providers");
        if (lua_istable(L, -1)) n = (size_t)lua_rawlen(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    return n;
}

/* Creates a generation: every file loaded, the registry validated. NULL with err on any failure. */
static struct policy_gen *build_generation(char *err, size_t errlen)
{
    struct sandbox_limits lim = call_limits();
    struct policy_gen *g = calloc(1, sizeof *g);
    struct file_list fl;
    crypto_generichash_state hash;
    unsigned char digest[crypto_generichash_BYTES];
    lua_State *L;

    if (!g || !(g->sb = sandbox_new(&lim, err, errlen))) {
        free(g);
        return NULL;
    }
    L = sandbox_state(g->sb);
    lrt_open(L); /* the runtime library, installed by the policy layer: the sandbox stays library-agnostic */
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, MODULES_KEY);
    open_lib_table(L);
    sandbox_seal(g->sb);
    g->files = json_array();
    crypto_generichash_init(&hash, NULL, 0, sizeof digest);
    list_policy_files(&fl);
    for (size_t i = 0; i < fl.count; i++) {
        json_array_append_new(g->files, json_string(fl.names[i]));
        if (load_module(g, fl.names[i], &hash, err, errlen) < 0 ||
            check_functions(g, fl.names[i], err, errlen) < 0)
            goto fail;
    }
    if (run_validators(g, err, errlen) < 0) goto fail;
    crypto_generichash_final(&hash, digest, sizeof digest);
    sodium_bin2hex(g->version, sizeof g->version, digest, 8);
    g->loaded_at = clock_wall_s();
    g->refs = 1;
    free_file_list(&fl);
    return g;
fail:
    free_file_list(&fl);
    free_generation(g);
    return NULL;
}

int policy_init(char *err, size_t errlen)
{
    return policy_reload("start-up", err, errlen);
}

static policy_reload_listener reload_listener;

void policy_set_reload_listener(policy_reload_listener fn)
{
    reload_listener = fn;
}

int policy_reload(const char *reason, char *err, size_t errlen)
{
    struct policy_gen *g = build_generation(err, errlen);
    char esc[2048];
    last_reload_at = clock_wall_s();
    if (!g) {
        snprintf(last_error, sizeof last_error, "%s", err);
        char resc[512];
        LOG_ERROR(NULL, "policy reload failed", "reason=\"%s\" error=\"%s\" keeping_version=%s",
                  log_escape(reason, resc, sizeof resc), log_escape(err, esc, sizeof esc),
                  current ? current->version : "none");
        if (reload_listener) reload_listener(0, reason, current ? current->version : NULL, err);
        return -1;
    }
    policy_release(current);
    current = g;
    last_error[0] = '\0';
    LOG_INFO(NULL, "policy loaded", "reason=\"%s\" version=%s files=%zu providers=%zu",
             log_escape(reason, esc, sizeof esc), g->version, json_array_size(g->files), provider_count(g));
    if (reload_listener) reload_listener(1, reason, g->version, NULL);
    return 0;
}

int policy_check(char *err, size_t errlen)
{
    struct policy_gen *g = build_generation(err, errlen);
    if (!g) return -1;
    free_generation(g);
    return 0;
}

struct policy_gen *policy_build_candidate(const struct policy_override *files, size_t n, char *err,
                                          size_t errlen)
{
    struct policy_gen *g;
    overrides = files;
    n_overrides = n;
    g = build_generation(err, errlen);
    overrides = NULL;
    n_overrides = 0;
    return g;
}

int policy_has_function(struct policy_gen *g, const char *module, const char *fn_path)
{
    char err[256];
    lua_State *L;
    int top;
    if (!g) return 0;
    L = sandbox_state(g->sb);
    top = lua_gettop(L);
    int found = push_path(L, module, fn_path, err, sizeof err) == 0;
    lua_settop(L, top);
    return found;
}

int policy_module_flag(struct policy_gen *g, const char *module, const char *key)
{
    lua_State *L;
    int top, flag;
    if (!g) return 0;
    L = sandbox_state(g->sb);
    top = lua_gettop(L);
    lua_getfield(L, LUA_REGISTRYINDEX, MODULES_KEY);
    lua_getfield(L, -1, module);
    flag = lua_type(L, -1) == LUA_TTABLE && (lua_getfield(L, -1, key), lua_toboolean(L, -1));
    lua_settop(L, top);
    return flag;
}

const char *policy_version_of(const struct policy_gen *g)
{
    return g ? g->version : NULL;
}

struct policy_gen *policy_current(void)
{
    return current;
}

struct policy_gen *policy_retain(struct policy_gen *g)
{
    if (g) g->refs++;
    return g;
}

void policy_release(struct policy_gen *g)
{
    if (g && --g->refs == 0) free_generation(g);
}

const struct provider_registry *policy_providers(const struct policy_gen *g)
{
    return policy_validated(g, "providers.lua");
}

const json_t *policy_variables(const struct policy_gen *g)
{
    return policy_validated(g, "scripts/variables.lua");
}

const char *policy_last_error(void)
{
    return last_error[0] ? last_error : NULL;
}

json_t *policy_status_json(void)
{
    return json_pack("{s:b, s:o, s:o, s:o, s:o, s:o}", "loaded", current != NULL, "version",
                     current ? json_string(current->version) : json_null(), "loaded_at",
                     clock_json_time(current ? current->loaded_at : 0), "files",
                     current ? json_copy(current->files) : json_array(), "last_reload_error",
                     last_error[0] ? json_string(last_error) : json_null(), "last_reload_at",
                     clock_json_time(last_reload_at));
}

/* ---- policy_call ---- */

/* Pushes the value at path inside module's table (+1; nil when a step is missing or not a table). Keys are
 * dot-separated; numbers index arrays. -1 (value pushed all the same) when a key is too long. */
static int push_value(lua_State *L, const char *module, const char *path)
{
    char seg[128];
    lua_getfield(L, LUA_REGISTRYINDEX, MODULES_KEY);
    lua_getfield(L, -1, module);
    lua_remove(L, -2);
    for (const char *p = path; p && *p;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char *end;
        if (n >= sizeof seg) return -1;
        if (lua_type(L, -1) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_pushnil(L);
            return 0;
        }
        memcpy(seg, p, n);
        seg[n] = '\0';
        long idx = strtol(seg, &end, 10);
        if (*end == '\0' && n > 0)
            lua_rawgeti(L, -1, idx);
        else
            lua_getfield(L, -1, seg);
        lua_remove(L, -2);
        p = dot ? dot + 1 : NULL;
    }
    return 0;
}

/* Pushes the function at fn_path inside module's table (+1), or returns -1 with err and pushes nothing. */
static int push_path(lua_State *L, const char *module, const char *fn_path, char *err, size_t errlen)
{
    if (push_value(L, module, fn_path) == 0 && lua_type(L, -1) == LUA_TFUNCTION) return 0;
    lua_pop(L, 1);
    snprintf(err, errlen, "%s: %s is not a function", module, fn_path);
    return -1;
}

int policy_module_number(struct policy_gen *g, const char *module, const char *path, double *out)
{
    lua_State *L;
    int top, found;
    if (!g) return -1;
    L = sandbox_state(g->sb);
    top = lua_gettop(L);
    found = push_value(L, module, path) == 0 && lua_type(L, -1) == LUA_TNUMBER;
    if (found) *out = lua_tonumber(L, -1);
    lua_settop(L, top);
    return found ? 0 : -1;
}

json_t *policy_module_value(struct policy_gen *g, const char *module, const char *path)
{
    lua_State *L;
    int top;
    char err[256];
    json_t *out = NULL;
    if (!g) return NULL;
    L = sandbox_state(g->sb);
    top = lua_gettop(L);
    if (push_value(L, module, path) == 0 && !lua_isnil(L, -1)) out = sandbox_to_json(L, -1, err, sizeof err);
    lua_settop(L, top);
    return out;
}

/* Calls fn_path of module with args (each converted to a Lua value) under the budgets, leaving nresults
 * results (LUA_MULTRET: all) on the stack above *top. Returns the state, or NULL with err filled and the
 * stack as it was. */
static lua_State *call_policy(struct policy_gen *g, const char *module, const char *fn_path,
                              const json_t *const *args, int nargs, int nresults, int *top, char *err,
                              size_t errlen)
{
    if (!g) {
        snprintf(err, errlen, "no policy generation is loaded");
        return NULL;
    }
    lua_State *L = sandbox_state(g->sb);
    *top = lua_gettop(L);
    if (push_path(L, module, fn_path, err, errlen) < 0) return NULL;
    for (int i = 0; i < nargs; i++)
        if (sandbox_push_json(L, args[i]) < 0) {
            lua_settop(L, *top);
            snprintf(err, errlen, "%s: argument %d nested too deeply", fn_path, i + 1);
            return NULL;
        }
    if (sandbox_pcall(g->sb, nargs, nresults, err, errlen) < 0) {
        lua_settop(L, *top);
        return NULL;
    }
    return L;
}

json_t *policy_call(struct policy_gen *g, const char *module, const char *fn_path, const json_t *arg,
                    char *err, size_t errlen)
{
    return policy_call_n(g, module, fn_path, arg ? &arg : NULL, arg ? 1 : 0, err, errlen);
}

json_t *policy_call_n(struct policy_gen *g, const char *module, const char *fn_path,
                      const json_t *const *args, int nargs, char *err, size_t errlen)
{
    int top;
    lua_State *L = call_policy(g, module, fn_path, args, nargs, LUA_MULTRET, &top, err, errlen);
    if (!L) return NULL;
    json_t *results = json_array();
    for (int i = top + 1; i <= lua_gettop(L); i++) {
        json_t *v = sandbox_to_json(L, i, err, errlen);
        if (!v) {
            json_decref(results);
            results = NULL;
            break;
        }
        json_array_append_new(results, v);
    }
    lua_settop(L, top);
    return results;
}

char *policy_call_list_text(struct policy_gen *g, const char *module, const char *fn_path, const json_t *arg,
                            json_t **heads, char *err, size_t errlen)
{
    int top;
    char *text = NULL;
    *heads = NULL;
    lua_State *L = call_policy(g, module, fn_path, &arg, 1, 1, &top, err, errlen);
    if (!L) return NULL;
    lua_Integer n = lua_type(L, -1) == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : -1;
    json_t *list = n >= 0 ? json_array() : NULL;
    if (!list) snprintf(err, errlen, "%s %s did not return a list", module, fn_path);
    for (lua_Integer i = 1; list && i <= n; i++) {
        lua_rawgeti(L, -1, i);
        json_t *head = sandbox_to_json_shallow(L, -1, err, errlen);
        lua_pop(L, 1);
        if (!head) {
            char why[256];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "%s %s result %lld: %s", module, fn_path, (long long)i, why);
            json_decref(list);
            list = NULL;
        } else {
            json_array_append_new(list, head);
        }
    }
    if (list && (text = sandbox_to_json_text(L, -1, NULL, err, errlen)) && text[0] != '[') {
        snprintf(err, errlen, "%s %s did not return a list", module, fn_path);
        free(text);
        text = NULL;
    }
    if (text)
        *heads = list;
    else
        json_decref(list);
    lua_settop(L, top);
    return text;
}

json_t *policy_call_first(struct policy_gen *g, const char *module, const char *fn_path,
                          const json_t *const *args, int nargs, char *err, size_t errlen)
{
    json_t *res = policy_call_n(g, module, fn_path, args, nargs, err, errlen);
    json_t *first = res ? json_incref(json_array_get(res, 0)) : NULL;
    if (res && !first) snprintf(err, errlen, "%s %s returned nothing", module, fn_path);
    json_decref(res);
    return first;
}

/* ---- watching: SIGHUP and file changes ---- */

/* Fingerprint of the policy file set: names, sizes and modification times. */
static void fingerprint_files(unsigned char out[crypto_generichash_BYTES])
{
    crypto_generichash_state st;
    struct file_list fl;
    crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES);
    list_policy_files(&fl);
    for (size_t i = 0; i < fl.count; i++) {
        char path[4200];
        struct stat sb;
        long long meta[3] = {0, 0, 0};
        if (stat(config_path(fl.names[i], path, sizeof path), &sb) == 0) {
            meta[0] = (long long)sb.st_size;
            meta[1] = (long long)sb.st_mtim.tv_sec;
            meta[2] = (long long)sb.st_mtim.tv_nsec;
        }
        crypto_generichash_update(&st, (const unsigned char *)fl.names[i], strlen(fl.names[i]) + 1);
        crypto_generichash_update(&st, (const unsigned char *)meta, sizeof meta);
    }
    free_file_list(&fl);
    crypto_generichash_final(&st, out, crypto_generichash_BYTES);
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    char err[2048];
    fingerprint_files(watched_fingerprint);
    policy_reload("SIGHUP", err, sizeof err);
}

static void on_watch_tick(evutil_socket_t fd, short what, void *arg)
{
    unsigned char now[crypto_generichash_BYTES];
    char err[2048];
    fingerprint_files(now);
    if (sodium_memcmp(now, watched_fingerprint, sizeof now) == 0) return;
    memcpy(watched_fingerprint, now, sizeof now); /* a failing file is retried only after it changes again */
    policy_reload("file change", err, sizeof err);
}

int policy_watch_start(struct event_base *base)
{
    fingerprint_files(watched_fingerprint);
    sighup_event = evsignal_new(base, SIGHUP, on_sighup, NULL);
    if (!sighup_event || evsignal_add(sighup_event, NULL) < 0) return -1;
    if (cfg.policy_watch_ms > 0) {
        struct timeval tv = {cfg.policy_watch_ms / 1000, (cfg.policy_watch_ms % 1000) * 1000};
        watch_event = event_new(base, -1, EV_PERSIST, on_watch_tick, NULL);
        if (!watch_event || event_add(watch_event, &tv) < 0) return -1;
    }
    return 0;
}

void policy_shutdown(void)
{
    if (sighup_event) event_free(sighup_event);
    if (watch_event) event_free(watch_event);
    sighup_event = watch_event = NULL;
    policy_release(current);
    current = NULL;
}

/* ---- `gatehouse spec` ---- */

static int spec_load_policy(lua_State *L, const char *name, char *err, size_t errlen)
{
    size_t len;
    char *src;
    struct sandbox *sb;
    if (strstr(name, "..") || name[0] == '/') {
        snprintf(err, errlen, "%s: policy names are relative to GATEHOUSE_HOME", name);
        return -1;
    }
    if (!(src = read_file(name, &len, err, errlen))) return -1;
    lua_getfield(L, LUA_REGISTRYINDEX, "gatehouse.sandbox");
    sb = lua_touserdata(L, -1);
    lua_pop(L, 1);
    int rc = sandbox_run_chunk(sb, src, len, name, err, errlen);
    free(src);
    return rc;
}

/* Loads the files of scripts/lib/ into `lib` for a spec sandbox, as a generation does. 0, or -1 with err. */
static int spec_load_lib(struct sandbox *sb, char *err, size_t errlen)
{
    struct file_list fl = {.count = 0};
    lua_State *L = sandbox_state(sb);
    int rc = 0;
    add_lua_files_in(&fl, LIB_DIR);
    for (size_t i = 0; i < fl.count; i++) {
        size_t len;
        char *src = read_file(fl.names[i], &len, err, errlen);
        rc = src ? sandbox_run_chunk(sb, src, len, fl.names[i], err, errlen) : -1;
        free(src);
        if (rc < 0) break;
        if (lua_type(L, -1) == LUA_TTABLE) {
            add_to_lib(L, fl.names[i]);
        } else {
            snprintf(err, errlen, "%s: must return a table (got %s)", fl.names[i], luaL_typename(L, -1));
            rc = -1;
        }
        lua_pop(L, 1);
    }
    free_file_list(&fl);
    return rc;
}

/* Runs file's registered validator on doc in scratch (spec = 1) and keeps the result there. 0, or -1 with
 * err. */
static int spec_validate(struct policy_gen *scratch, const char *file, json_t *doc, char *err, size_t errlen)
{
    int slot = validated_slot(file);
    if (slot < 0) {
        snprintf(err, errlen, "%s: no validator registered", file);
        return -1;
    }
    scratch->validated[slot] = contracts[slot].validate(doc, scratch, 1, err, errlen);
    return scratch->validated[slot] ? 0 : -1;
}

static int spec_validate_providers(json_t *doc, char *err, size_t errlen)
{
    struct policy_gen scratch = {.sb = NULL};
    int rc = spec_validate(&scratch, "providers.lua", doc, err, errlen);
    free_validated(&scratch);
    return rc;
}

/* The variables document is checked against the registry of providers_doc (NULL: no provider ids known). */
static int spec_validate_variables(json_t *doc, json_t *providers_doc, char *err, size_t errlen)
{
    struct policy_gen scratch = {.sb = NULL};
    int rc = providers_doc ? spec_validate(&scratch, "providers.lua", providers_doc, err, errlen) : 0;
    if (rc == 0) rc = spec_validate(&scratch, "scripts/variables.lua", doc, err, errlen);
    free_validated(&scratch);
    return rc;
}

static int spec_file(const char *file, const struct lrt_spec_hooks *hooks)
{
    struct sandbox_limits lim = {256u << 20, 2000000000L, 120000};
    char err[4096];
    size_t len;
    char *src = NULL;
    struct sandbox *sb = sandbox_new(&lim, err, sizeof err);
    int rc = -1;
    if (!sb) goto out;
    lua_State *L = sandbox_state(sb);
    lua_pushlightuserdata(L, sb);
    lua_setfield(L, LUA_REGISTRYINDEX, "gatehouse.sandbox");
    lrt_open(L);
    lrt_open_spec(L, hooks);
    open_lib_table(L);
    sandbox_seal(sb);
    if (spec_load_lib(sb, err, sizeof err) < 0 || !(src = slurp(file, &len, err, sizeof err))) goto out;
    if (sandbox_run_chunk(sb, src, len, file, err, sizeof err) == 0) {
        lua_pop(L, 1);
        rc = 0;
    }
out:
    if (rc < 0) {
        char desc[4200];
        snprintf(desc, sizeof desc, "%s runs to the end", file);
        lrt_spec_report(0, desc);
        printf("#   error: %s\n", err);
    }
    free(src);
    sandbox_free(sb);
    return rc;
}

int policy_run_specs(int argc, char **argv)
{
    static const struct lrt_spec_hooks hooks = {spec_load_policy, spec_validate_providers,
                                                spec_validate_variables};
    int run, failed, errors = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < argc; i++)
        errors += spec_file(argv[i], &hooks) < 0;
    lrt_spec_counts(&run, &failed);
    if (run == 0) {
        lrt_spec_report(0, "the spec files ran at least one assertion");
        lrt_spec_counts(&run, &failed);
    }
    printf("1..%d\n", run);
    return failed || errors ? 1 : 0;
}
