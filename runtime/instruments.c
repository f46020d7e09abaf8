/* instruments.c — contract multipliers from scripts/instruments.lua (instruments.h). */
#include "instruments.h"

#include <jansson.h>
#include <stdio.h>

#include "policy.h"

#define INSTRUMENTS "scripts/instruments.lua"

double instruments_multiplier(struct policy_gen *g, const char *symbol, char *reason, size_t reasonlen)
{
    char err[512] = "";
    reason[0] = '\0';
    if (!symbol) symbol = "";
    if (!g || !policy_has_function(g, INSTRUMENTS, "multiplier_of")) {
        snprintf(reason, reasonlen, INSTRUMENTS " is not loaded: no contract multipliers");
        return 0;
    }
    json_t *arg = json_string(symbol);
    const json_t *args[1] = {arg};
    json_t *res = policy_call_n(g, INSTRUMENTS, "multiplier_of", args, 1, err, sizeof err);
    json_decref(arg);
    json_t *mv = json_array_get(res, 0), *root = json_array_get(res, 1);
    double mult = json_is_number(mv) ? json_number_value(mv) : 0;
    if (!(mult > 0)) {
        mult = 0;
        if (res)
            snprintf(reason, reasonlen, "no contract multiplier for root %.64s in " INSTRUMENTS,
                     json_is_string(root) ? json_string_value(root) : symbol);
        else
            snprintf(reason, reasonlen, INSTRUMENTS " could not value %.64s: %.160s", symbol, err);
    }
    json_decref(res);
    return mult;
}
