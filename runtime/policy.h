/* policy.h — policy generations: every policy file loaded into one sandbox, validated, then swapped in
 * whole. A failed reload keeps the last good generation and records the error (ARCHITECTURE.md §8). */
#ifndef GATEHOUSE_POLICY_H
#define GATEHOUSE_POLICY_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

struct event_base;
struct policy_gen;
struct provider_registry;

/* Builds the first generation from GATEHOUSE_HOME. Returns 0, or -1 with err ("file:line: message"). */
int policy_init(char *err, size_t errlen);

/* Builds a new generation and swaps it in on success. reason is logged ("SIGHUP", "file change", "api").
 * Returns 0, or -1 with err; on failure the current generation stays and policy_last_error() reports err. */
int policy_reload(const char *reason, char *err, size_t errlen);

/* Called after every reload attempt: ok, the reason, the version in force, and the error (NULL when ok). */
typedef void (*policy_reload_listener)(int ok, const char *reason, const char *version, const char *error);
void policy_set_reload_listener(policy_reload_listener fn);

/* Validates the policy files offline (what `gatehouse check` and `make check` run). 0 or -1 with err. */
int policy_check(char *err, size_t errlen);

/* Reloads on SIGHUP and, every GATEHOUSE_POLICY_WATCH_MS, when a policy file changed. 0 or -1. */
int policy_watch_start(struct event_base *base);

/* Frees the current generation and the watchers. */
void policy_shutdown(void);

/* The generation in force (NULL before policy_init succeeded). Borrowed; valid until the next swap, so
 * do not keep it across event-loop turns. */
struct policy_gen *policy_current(void);

struct policy_override {
    const char *name; /* "gates.lua", "providers.lua", "scripts/risk.lua" ... */
    const char *text; /* candidate source */
};

/* Builds a generation like a reload would, but with the given texts in place of those files, and does not
 * install it (policy dry-run). Returns it with one reference (policy_release it), or NULL with err. */
struct policy_gen *policy_build_candidate(const struct policy_override *files, size_t n, char *err,
                                          size_t errlen);

/* 1 when module's table has a function at fn_path in generation g. */
int policy_has_function(struct policy_gen *g, const char *module, const char *fn_path);

/* 1 when module's returned table has key set to a true value (rawget-free read of plain data). */
int policy_module_flag(struct policy_gen *g, const char *module, const char *key);

/* Reads the number at path (dot-separated keys, e.g. "thresholds.loop_lag_warn_ms") inside the table policy
 * file `module` returned, in generation g: 0 with *out set, or -1 when g is NULL or the value is absent or
 * not a number. A plain read: no policy code runs, nothing is allocated. */
int policy_module_number(struct policy_gen *g, const char *module, const char *path, double *out);

/* The plain data at path (dot-separated keys) inside the table policy file `module` returned, in g, as JSON
 * (a new reference; a function inside becomes {"__function__": true}), or NULL when g is NULL or the value is
 * absent or not convertible. No policy code runs. */
json_t *policy_module_value(struct policy_gen *g, const char *module, const char *path);

/* The version hash of g (NULL for NULL). */
const char *policy_version_of(const struct policy_gen *g);

/* Keeps g alive across event-loop turns (a reload swaps it out but does not free it); returns g. */
struct policy_gen *policy_retain(struct policy_gen *g);

/* Drops a reference taken with policy_retain; frees g when it is no longer current nor used. */
void policy_release(struct policy_gen *g);

/* ---- validators: the C side of a policy file's contract, registered from above ----
 *
 * policy.c knows which files exist and what they must export; what a file's table must look like
 * (providers.lua, scripts/variables.lua) belongs to the subsystem that uses it, which registers a validator
 * here (providers.c, variables.c; main.c and every tool that builds generations call their
 * *_register_validator first). */

/* Checks doc, the table the policy file returned converted to JSON (borrowed; NULL when an optional file is
 * absent), and returns what C keeps of it — stored in the generation, read back with policy_validated, freed
 * with the registration's free_fn — or NULL with err filled. g is the generation being built: results of the
 * files validated before (contract order: providers.lua first) are readable through policy_validated. spec is
 * 1 under `gatehouse spec` (rt.spec's validate hooks): g is then a scratch generation holding only those
 * results, and the validator has no side effects and reports the bare error (no file:line prefix). */
typedef void *(*policy_validator_fn)(json_t *doc, const struct policy_gen *g, int spec, char *err,
                                     size_t errlen);

/* Registers the validator of `file` (a file named in policy.c's contracts table, not a directory pattern),
 * replacing an earlier one; call before the first generation is built. Returns 0, or -1 when file has no
 * contract or an argument is NULL. */
int policy_register_validator(const char *file, policy_validator_fn build, void (*free_fn)(void *));

/* What file's registered validator returned for generation g; NULL for NULL g, or when no validator is
 * registered for file. Borrowed, lives as long as g. */
const void *policy_validated(const struct policy_gen *g, const char *file);

/* Line number in file's source (the candidate text during a dry-run) of the occurrence-th (1-based) line that
 * declares `id = "<needle>"`, or with literal set the occurrence-th line holding the string literal
 * "<needle>"; 0 when not found or unreadable. For validators that point their errors at a line. */
int policy_source_line(const char *file, const char *needle, int occurrence, int literal);

/* The validated provider registry of g (what providers.c's validator kept); NULL for NULL. Borrowed, lives as
 * long as g. */
const struct provider_registry *policy_providers(const struct policy_gen *g);

/* The validated variable catalog of g (see variables.h): an array, empty when scripts/variables.lua is
 * absent; NULL for NULL. Borrowed, lives as long as g. */
const json_t *policy_variables(const struct policy_gen *g);

/* New JSON object {loaded, version, loaded_at, files[], last_reload_error, last_reload_at} for /readyz and
 * /api/system/status. */
json_t *policy_status_json(void);

/* The last reload error, or NULL when the last reload succeeded. */
const char *policy_last_error(void);

/* Calls the function found at fn_path (dot-separated keys; numbers index arrays, e.g. "providers.3.classify")
 * inside the table returned by policy file `module`, with arg converted to a Lua table (or no argument when
 * arg is NULL), under the call budgets. Returns a new JSON array of the function's results, or NULL with err
 * filled (the policy error fails closed: callers treat NULL as a denial). */
json_t *policy_call(struct policy_gen *g, const char *module, const char *fn_path, const json_t *arg,
                    char *err, size_t errlen);

/* Same with nargs arguments (each converted to a Lua value). */
json_t *policy_call_n(struct policy_gen *g, const char *module, const char *fn_path,
                      const json_t *const *args, int nargs, char *err, size_t errlen);

/* Calls fn_path(arg) like policy_call when its one result is a list of objects to store as they are (autonomy
 * scores): returns that list as compact JSON text (malloc'd; sandbox_to_json_text, no tree is built) and in
 * *heads a new JSON array of each object's top level (sandbox_to_json_shallow: scalars, and each table member
 * as an empty [] or {}), for the caller's shape check. NULL with err filled (and *heads NULL) on a policy
 * error, a result that is not a list of objects, or a value that has no JSON form. */
char *policy_call_list_text(struct policy_gen *g, const char *module, const char *fn_path, const json_t *arg,
                            json_t **heads, char *err, size_t errlen);

/* policy_call_n's first result (a new reference), or NULL with err filled — also when the function returned
 * nothing ("<module> <fn_path> returned nothing"). */
json_t *policy_call_first(struct policy_gen *g, const char *module, const char *fn_path,
                          const json_t *const *args, int nargs, char *err, size_t errlen);

/* `gatehouse spec FILE...`: runs Lua spec files in the sandbox and prints TAP. Returns the exit status. */
int policy_run_specs(int argc, char **argv);

#endif
