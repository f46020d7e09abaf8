/* api_autonomy.h — GET/POST /api/bots/:id/autonomy-score (PRODUCT.md §6 "Autonomy score"). */
#ifndef GATEHOUSE_API_AUTONOMY_H
#define GATEHOUSE_API_AUTONOMY_H

struct http_ctx;

/* GET: the bot's latest autonomy_scores row as {autonomy_score: {bot_id, autonomy_score, the five sub-scores,
 * autonomy_tier, blockers, breakdown, last_updated_at}}; a bot never scored is scored now. 404 NOT_FOUND for
 * an unknown bot. */
void api_autonomy_get(struct http_ctx *ctx);

/* POST: recomputes the bot's score now from fresh evidence, upserts it and answers it (same shape). */
void api_autonomy_recompute(struct http_ctx *ctx);

#endif
