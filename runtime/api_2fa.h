/* api_2fa.h — the 2FA routes (PRODUCT.md §6 "Auth and 2FA"; docs/api.md "Auth"): TOTP enrollment, backup
 * codes and step-up. The second-factor check itself is auth_factor_check (auth.h); 2fa/verify at sign-in is
 * api_auth.c. */
#ifndef GATEHOUSE_API_2FA_H
#define GATEHOUSE_API_2FA_H

#include "auth.h"

struct http_ctx;

/* POST /api/auth/2fa/setup {password} — the password again (a wrong one counts as a failed sign-in); answers
 * the new TOTP secret and its otpauth:// URL. 2FA stays off until /confirm. */
void api_auth_2fa_setup(struct http_ctx *ctx);

/* POST /api/auth/2fa/confirm {code} — enables 2FA, answers the backup codes and ends the user's other
 * sessions; NOT a step-up. */
void api_auth_2fa_confirm(struct http_ctx *ctx);

/* POST /api/auth/2fa/backup-codes {code} — a fresh set of backup codes (a step-up). */
void api_auth_2fa_backup_codes(struct http_ctx *ctx);

/* POST /api/auth/2fa/step-up {code | backup_code} — marks the session 2FA-verified now (the fresh window). */
void api_auth_2fa_step_up(struct http_ctx *ctx);

#endif
