/* test_providers.c — registry validation (providers_from_json), templates, URL hosts. */
#include <stdlib.h>
#include <string.h>

#include "providers.h"
#include "secret.h"
#include "tap.h"

static const char *valid_doc =
    "{\"schema_version\":1,\"categories\":[\"market_data\",\"llm\"],"
    "\"priority\":{\"market_data\":[\"alpha\",\"beta\"]},"
    "\"providers\":["
    "{\"id\":\"alpha\",\"label\":\"Alpha\",\"category\":\"market_data\",\"required_env_vars\":[\"TEST_ALPHA_KEY\"],"
    "\"optional_env_vars\":[\"TEST_ALPHA_BASE_URL\"],\"public_env_vars\":[\"TEST_ALPHA_BASE_URL\"],"
    "\"base_url_env\":\"TEST_ALPHA_BASE_URL\",\"default_base_url\":\"https://alpha.example.com\","
    "\"supports_verify\":false,\"suggested_fix\":\"Set ${MISSING} for ${LABEL}\",\"setup_instructions\":\"Add ${REQUIRED} (${ID})\"},"
    "{\"id\":\"beta\",\"label\":\"Beta\",\"category\":\"market_data\",\"required_env_vars\":[\"TEST_BETA_KEY\",\"TEST_BETA_USER\"],"
    "\"optional_env_vars\":[\"TEST_BETA_ALIAS\"],\"aliases\":{\"TEST_BETA_KEY\":\"TEST_BETA_ALIAS\"},"
    "\"supports_verify\":false,\"suggested_fix\":\"Set ${MISSING}\",\"setup_instructions\":\"Add ${REQUIRED}\"}"
    "]}";

static json_t *doc_with(const char *find, const char *replace)
{
    char buf[4096];
    const char *at = strstr(valid_doc, find);
    size_t pre = (size_t)(at - valid_doc);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)pre, valid_doc, replace, at + strlen(find));
    return json_loads(buf, 0, NULL);
}

static void expect_rejected(const char *find, const char *replace, const char *needle, const char *what)
{
    char err[512] = "";
    json_t *doc = doc_with(find, replace);
    struct provider_registry *reg = doc ? providers_from_json(doc, err, sizeof err) : NULL;
    tap_ok(doc && !reg && strstr(err, needle), "%s is rejected", what);
    if (!strstr(err, needle)) tap_diag("error was: %s", err);
    providers_free(reg);
    json_decref(doc);
}

static void test_validation(void)
{
    char err[512] = "";
    json_t *doc = json_loads(valid_doc, 0, NULL);
    struct provider_registry *reg = providers_from_json(doc, err, sizeof err);
    tap_ok(reg != NULL, "a valid document is accepted (%s)", err);
    tap_is_int(reg ? (long)reg->count : 0, 2, "both providers are loaded");
    tap_ok(reg && providers_find(reg, "beta") && !providers_find(reg, "gamma"), "lookup by id");
    providers_free(reg);
    json_decref(doc);

    doc = doc_with("\"schema_version\":1", "\"schema_version\":1,\"notes\":\"operator comment\"");
    reg = providers_from_json(doc, err, sizeof err);
    tap_ok(reg != NULL, "extra top-level keys (outside provider entries) are tolerated");
    providers_free(reg);
    json_decref(doc);

    expect_rejected("\"id\":\"beta\"", "\"id\":\"alpha\"", "duplicate id 'alpha'", "a duplicate id");
    expect_rejected("\"category\":\"market_data\",\"required_env_vars\":[\"TEST_BETA",
                    "\"category\":\"weather\",\"required_env_vars\":[\"TEST_BETA",
                    "unknown category 'weather'", "an unknown category");
    expect_rejected("[\"alpha\",\"beta\"]", "[\"alpha\",\"gamma\"]", "'gamma' is not a known provider",
                    "a priority entry naming an unknown provider");
    expect_rejected("\"label\":\"Alpha\",", "", "missing required field 'label'", "a missing label");
    expect_rejected("[\"TEST_ALPHA_KEY\"]", "[\"test_alpha_key\"]", "upper-case variable name",
                    "a lower-case env var");
    expect_rejected("\"supports_verify\":false,\"suggested_fix\":\"Set ${MISSING} for",
                    "\"supports_verify\":true,\"suggested_fix\":\"Set ${MISSING} for", "no verify probe",
                    "supports_verify without a probe");
    expect_rejected("\"label\":\"Beta\"", "\"label\":\"Beta\",\"colour\":\"red\"", "unknown field 'colour'",
                    "an unknown field");
    expect_rejected("\"label\":\"Alpha\"", "\"label\":7", "must be a non-empty string",
                    "a label of the wrong type");
}

static void test_presence_and_templates(void)
{
    char err[512];
    json_t *doc = json_loads(valid_doc, 0, NULL);
    struct provider_registry *reg = providers_from_json(doc, err, sizeof err);
    const struct provider_def *beta = providers_find(reg, "beta");
    setenv("TEST_BETA_ALIAS", "alias-value-123456", 1);
    setenv("TEST_ALPHA_BASE_URL", "http://127.0.0.1:9999", 1);
    providers_track_env(reg);
    json_t *missing = providers_missing_env(beta);
    tap_is_int((long)json_array_size(missing), 1, "the alias satisfies its variable; one still missing");
    tap_is_str(json_string_value(json_array_get(missing, 0)), "TEST_BETA_USER", "the missing one is named");
    char *fix = providers_expand(beta, beta->suggested_fix, missing);
    tap_is_str(fix, "Set TEST_BETA_USER", "${MISSING} expands to the missing names");
    free(fix);
    char *setup =
        providers_expand(providers_find(reg, "alpha"), "Add ${REQUIRED} (${ID}, ${LABEL})", missing);
    tap_is_str(setup, "Add TEST_ALPHA_KEY (alpha, Alpha)", "${REQUIRED} ${ID} ${LABEL} expand");
    free(setup);
    int overridden = 0;
    const char *url = providers_base_url(providers_find(reg, "alpha"), &overridden);
    tap_is_str(url, "http://127.0.0.1:9999", "the *_BASE_URL override wins");
    tap_ok(overridden == 1, "and is reported as an override");
    json_decref(missing);
    providers_free(reg);
    json_decref(doc);
}

static void test_url_host(void)
{
    char host[128];
    providers_url_host("https://hist.databento.com/v0/x?y=1", host, sizeof host);
    tap_is_str(host, "hist.databento.com", "host of an https URL");
    providers_url_host("redis://user:s3cretpass@cache.internal:6380/0", host, sizeof host);
    tap_is_str(host, "cache.internal:6380", "userinfo (password) is never part of the host");
    providers_url_host("not a url", host, sizeof host);
    tap_is_str(host, "", "no host without a scheme");
}

int main(void)
{
    secret_init();
    test_validation();
    test_presence_and_templates();
    test_url_host();
    secret_shutdown();
    return tap_done();
}
