/* llm.c — the chat adapter of the provider-call engine: the body in, the answer text and token counts out. */
#include "llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "probe.h"
#include "provider_call.h"
#include "providers.h"

#define MAX_ANSWER_BYTES (1u << 20)

struct llm_call {
    char purpose[64];
    char *system, *prompt;
    int max_tokens;
    char model[128]; /* the model that answered (or was asked) in the latest attempt */
    char *text;      /* the answer of the attempt that succeeded */
    long input_tokens, output_tokens;
    llm_cb cb;
    void *arg;
};

static const char *default_model(const struct provider_def *p)
{
    return json_string_value(json_object_get(p->chat, "default_model"));
}

static int anthropic(const struct provider_def *p)
{
    return strcmp(json_string_value(json_object_get(p->chat, "format")), "anthropic_messages") == 0;
}

static json_t *vars_for(const struct provider_def *p, void *arg)
{
    struct llm_call *c = arg;
    snprintf(c->model, sizeof c->model, "%s", default_model(p));
    return json_pack("{s:s}", "model", c->model);
}

/* The chat body replaces whatever the description's body had. */
static int prepare(const struct provider_def *p, struct probe_request *req, void *arg)
{
    struct llm_call *c = arg;
    json_t *body;
    if (anthropic(p))
        body = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:i}", "model", c->model, "system", c->system,
                         "messages", "role", "user", "content", c->prompt, "max_tokens", c->max_tokens);
    else
        body = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:i}", "model", c->model, "messages", "role",
                         "system", "content", c->system, "role", "user", "content", c->prompt, "max_tokens",
                         c->max_tokens);
    free(req->body);
    req->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    req->body_len = req->body ? strlen(req->body) : 0;
    json_decref(body);
    return req->body ? 0 : -1;
}

static long tokens(const json_t *usage, const char *key)
{
    const json_t *v = json_object_get(usage, key);
    return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

static json_t *tokens_json(long n)
{
    return n >= 0 ? json_integer(n) : json_null();
}

/* A 2xx answer is OK only with an answer text; the metadata carries the model and the token counts. */
static void judge(const struct provider_answer *a, struct provider_verdict *v, void *arg)
{
    struct llm_call *c = arg;
    long in_tok = -1, out_tok = -1;
    if (strcmp(v->outcome, "OK") == 0 && a->resp->status == FETCH_OK && a->resp->http_status == 200) {
        json_t *doc = json_loadb(a->resp->body, a->resp->body_len, 0, NULL);
        const json_t *usage = json_object_get(doc, "usage"), *text;
        int an = anthropic(a->p);
        if (an)
            text = json_object_get(json_array_get(json_object_get(doc, "content"), 0), "text");
        else
            text = json_object_get(
                json_object_get(json_array_get(json_object_get(doc, "choices"), 0), "message"), "content");
        in_tok = tokens(usage, an ? "input_tokens" : "prompt_tokens");
        out_tok = tokens(usage, an ? "output_tokens" : "completion_tokens");
        if (json_is_string(json_object_get(doc, "model")))
            snprintf(c->model, sizeof c->model, "%s", json_string_value(json_object_get(doc, "model")));
        if (json_is_string(text)) {
            free(c->text);
            c->text = strdup(json_string_value(text));
        } else {
            v->outcome = "PROVIDER_ERROR";
        }
        json_decref(doc);
    } else if (strcmp(v->outcome, "OK") == 0) {
        v->outcome = "PROVIDER_ERROR";
    }
    c->input_tokens = in_tok;
    c->output_tokens = out_tok;
    v->meta = json_pack("{s:s, s:s, s:o, s:o}", "model", c->model, "purpose", c->purpose, "input_tokens",
                        tokens_json(in_tok), "output_tokens", tokens_json(out_tok));
}

static void call_free(struct llm_call *c)
{
    if (c->system) memset(c->system, 0, strlen(c->system));
    if (c->prompt) memset(c->prompt, 0, strlen(c->prompt));
    if (c->text) memset(c->text, 0, strlen(c->text));
    free(c->system);
    free(c->prompt);
    free(c->text);
    free(c);
}

static void on_done(const struct provider_call_result *r, void *arg)
{
    struct llm_call *c = arg;
    const char *text = r->ok ? c->text : NULL;
    struct llm_result out = {text != NULL,
                             r->p ? r->p->id : NULL,
                             r->p ? c->model : NULL,
                             text,
                             text ? c->input_tokens : -1,
                             text ? c->output_tokens : -1,
                             text         ? NULL
                             : r->outcome ? r->outcome
                                          : "LLM_UNAVAILABLE"};
    c->cb(&out, c->arg);
    call_free(c);
}

int llm_chat(const struct llm_request *req, llm_cb cb, void *arg)
{
    return llm_chat_for(req, NULL, cb, arg);
}

int llm_chat_for(const struct llm_request *req, const char *user_id, llm_cb cb, void *arg)
{
    if (!req || !req->system || !req->prompt || !req->trace_id || !req->gen || !cb) return -1;
    struct llm_call *c = calloc(1, sizeof *c);
    if (!c) return -1;
    snprintf(c->purpose, sizeof c->purpose, "%s", req->purpose ? req->purpose : "unspecified");
    c->system = strdup(req->system);
    c->prompt = strdup(req->prompt);
    c->max_tokens = req->max_tokens > 0 ? req->max_tokens : 64;
    c->cb = cb;
    c->arg = arg;
    struct provider_call pc = {.gen = req->gen,
                               .candidates = req->candidates,
                               .op = "chat",
                               .operation = "llm.chat",
                               .trace_id = req->trace_id,
                               .bot_id = req->bot_id,
                               .run_id = req->run_id,
                               .user_id = user_id,
                               .failover = 1,
                               .max_response_bytes = MAX_ANSWER_BYTES,
                               .vars_for = vars_for,
                               .prepare = prepare,
                               .judge = judge,
                               .hook_arg = c};
    if (provider_call_start(&pc, on_done, c) < 0) {
        call_free(c);
        return -1;
    }
    return 0;
}
