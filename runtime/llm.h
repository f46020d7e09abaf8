/* llm.h — one LLM chat call for a bot: the caller's LLM candidates (the live stack's connected primary, then
 * its connected fallbacks) that have a `chat` description in providers.lua, until one answers, on the
 * provider-call engine (provider_call_start, op "chat"). This file builds the body (OpenAI chat completions
 * or Anthropic messages) and reads the answer; secrets are substituted by probe.c. One usage event per
 * attempt (operation "llm.chat", metadata {model, purpose, input_tokens, output_tokens, attempt, failover});
 * never the prompt or the answer. */
#ifndef GATEHOUSE_LLM_H
#define GATEHOUSE_LLM_H

#include <jansson.h>

struct policy_gen;

struct llm_request {
    const char *purpose;         /* short tag, e.g. "regime_classification" (copied) */
    const char *system, *prompt; /* copied; never logged or stored */
    int max_tokens;              /* <= 0: 64 */
    const char *bot_id, *run_id; /* uuid text or NULL */
    const char *trace_id;        /* required, 32 hex */
    struct policy_gen *gen;      /* required: caller's reference, valid for the call (retained inside) */
    const json_t *candidates;    /* ordered LLM provider ids (copied); NULL or [] = none */
};

struct llm_result {
    int ok;
    const char *provider_id;          /* the provider that answered (or the last one tried), or NULL */
    const char *model;                /* the model that answered (or was asked), or NULL */
    const char *text;                 /* the answer text; valid only during the callback; NULL unless ok */
    long input_tokens, output_tokens; /* -1 when unknown */
    const char *error_code; /* NULL when ok; LLM_UNAVAILABLE, AUTH_FAILED, RATE_LIMITED, TIMEOUT, ... */
};

typedef void (*llm_cb)(const struct llm_result *r, void *arg);

/* Starts the call; cb runs exactly once (possibly before llm_chat returns when there is no candidate).
 * Returns 0, or -1 when req is invalid (no system, prompt, trace id or generation; cb is not called). */
int llm_chat(const struct llm_request *req, llm_cb cb, void *arg);

/* As llm_chat, on behalf of a signed-in user (uuid text, copied; NULL = none): its llm.chat usage events
 * carry it. */
int llm_chat_for(const struct llm_request *req, const char *user_id, llm_cb cb, void *arg);

#endif
