/* api_ai_ops.h — GET /api/ai-ops: LLM calls per provider and model (PRODUCT.md §6, seed 003 F1 "AI Ops"). */
#ifndef GATEHOUSE_API_AI_OPS_H
#define GATEHOUSE_API_AI_OPS_H

struct http_ctx;

/* GET /api/ai-ops?window_h=24 (1..720) — from the llm.chat usage events of the registry's LLM providers in
 * the last window_h hours: {window_h, since, until, totals {calls, errors, input_tokens, output_tokens},
 * providers[] {provider_id, label, configured, connected, state, calls, ok, errors, errors_by_code,
 * latency_ms {p50, p95}, input_tokens, output_tokens, purposes, last_call_at, last_trace_id, last_status,
 * last_error_code, models[] {model, <the same counters>}}}. Every LLM provider of the registry is listed
 * (zero calls when it made none); counts equal the events in the window. Never prompts or answers (they are
 * not stored). 400 VALIDATION_FAILED for a bad window_h; 503 DB_UNAVAILABLE. */
void api_ai_ops(struct http_ctx *ctx);

#endif
