/*
 * Fetching a policy's jwks_url from C, with libcurl: what a C service does for a `jwt`
 * authenticator whose key set is at the issuer's URL (SkillMeat's CLERK_JWKS_URL).
 * admit does no I/O: it lists the URLs (admit_engine_jwks_url) and takes the fetched
 * sets (admit_engine_set_jwks); the host fetches them by the rules every admit host
 * follows (docs/policy.md, "Fetching a key set"; the ADMIT_FETCH_* constants and
 * admit_fetch_* functions):
 *
 *   - the URL checked (admit_fetch_check_url: https, or http to a loopback address);
 *   - at most ADMIT_FETCH_TIMEOUT_SECS for the whole fetch, no redirect followed, a body
 *     over ADMIT_FETCH_MAX_BYTES refused, anything but 200 refused;
 *   - the set kept until admit_fetch_refresh_after(Cache-Control) seconds have passed,
 *     then fetched again (a service does it on a timer); after a failure, again after
 *     admit_fetch_retry_after(failures) seconds; a failure, or a set admit refuses,
 *     leaves the last good set in force;
 *   - a decision that says ADMIT_REASON_UNKNOWN_KEY may fetch again, at most once per
 *     ADMIT_FETCH_UNKNOWN_KEY_INTERVAL_SECS per URL.
 *
 *   jwks_fetch POLICY [TOKEN [NOW]]
 *       builds the engine from POLICY and the process environment, fetches each jwks_url
 *       once and prints what it took and when to refresh; with TOKEN, decides
 *       GET /api/v1/artifacts with it (at NOW, unix seconds, when given: test tokens
 *       have a fixed lifetime) and prints the decision
 *
 * `refresh_key_sets` is the part to copy into a service.
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admit.h"

extern char **environ;

typedef struct {
    char *data;
    size_t len;
    int too_big;
    char cache_control[256];
} body_t;

static size_t on_body(char *p, size_t size, size_t n, void *cls) {
    body_t *b = cls;
    size_t add = size * n;
    if (b->len + add > ADMIT_FETCH_MAX_BYTES) {
        b->too_big = 1;
        return 0; /* stops the transfer */
    }
    char *grown = realloc(b->data, b->len + add + 1);
    if (!grown) return 0;
    b->data = grown;
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *cls) {
    body_t *b = cls;
    size_t len = size * n;
    static const char name[] = "cache-control:";
    if (len > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
        size_t start = sizeof name - 1;
        while (start < len && (p[start] == ' ' || p[start] == '\t')) start++;
        size_t end = len;
        while (end > start && (p[end - 1] == '\r' || p[end - 1] == '\n' || p[end - 1] == ' ')) end--;
        snprintf(b->cache_control, sizeof b->cache_control, "%.*s", (int)(end - start), p + start);
    }
    return len;
}

/* Fetches `url` by the rules into `b`; 0 on success, else prints why (never the body). */
static int fetch_set(const char *id, const char *url, body_t *b) {
    admit_error *err = NULL;
    if (admit_fetch_check_url(url, strlen(url), &err) != ADMIT_RESULT_OK) {
        admit_str m = admit_error_message(err);
        fprintf(stderr, "%s: not fetched: %.*s\n", id, (int)m.len, m.ptr);
        admit_error_free(err);
        return -1;
    }
    CURL *curl = curl_easy_init();
    if (!curl) return -1;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http"); /* the URL was checked */
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)ADMIT_FETCH_TIMEOUT_SECS);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ADMIT_FETCH_MAX_BYTES);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, b);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (b->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        fprintf(stderr, "%s: the body is over %zu bytes\n", id, (size_t)ADMIT_FETCH_MAX_BYTES);
        return -1;
    }
    if (rc != CURLE_OK) {
        fprintf(stderr, "%s: the fetch failed: %s\n", id, curl_easy_strerror(rc));
        return -1;
    }
    if (status != 200) {
        fprintf(stderr, "%s: HTTP %ld\n", id, status);
        return -1;
    }
    return 0;
}

/* Fetches every jwks_url of `engine` and hands each good set to admit_engine_set_jwks.
 * Returns the number of seconds until the next refresh is due (the soonest of all; after
 * a failure, admit_fetch_retry_after of the failures so far). A service calls it at
 * start, then on a timer, and on an ADMIT_REASON_UNKNOWN_KEY decision (rate-limited). */
static unsigned long refresh_key_sets(const admit_engine *engine, unsigned *failures) {
    unsigned long next = 3600;
    size_t n = admit_engine_jwks_url_count(engine);
    for (size_t i = 0; i < n; i++) {
        admit_str id_view, url_view;
        if (admit_engine_jwks_url(engine, i, &id_view, &url_view) != ADMIT_RESULT_OK) continue;
        char id[128], url[2049];
        snprintf(id, sizeof id, "%.*s", (int)id_view.len, id_view.ptr);
        snprintf(url, sizeof url, "%.*s", (int)url_view.len, url_view.ptr);
        body_t b = {0};
        unsigned long wait;
        size_t keys = 0;
        admit_error *err = NULL;
        if (fetch_set(id, url, &b) == 0 &&
            admit_engine_set_jwks(engine, id, strlen(id), b.data, b.len, &keys, &err) == ADMIT_RESULT_OK) {
            *failures = 0;
            wait = (unsigned long)admit_fetch_refresh_after(b.cache_control[0] ? b.cache_control : NULL,
                                                            strlen(b.cache_control));
            printf("%s: %zu keys; refresh in %lu s\n", id, keys, wait);
        } else {
            if (err) {
                admit_str m = admit_error_message(err);
                fprintf(stderr, "%s: the set was refused: %.*s\n", id, (int)m.len, m.ptr);
            }
            wait = (unsigned long)admit_fetch_retry_after(++*failures);
            printf("%s: the last good set stays; retry in %lu s\n", id, wait);
        }
        admit_error_free(err);
        free(b.data);
        if (wait < next) next = wait;
    }
    return next;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s POLICY [TOKEN [NOW]]\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    static char policy[1 << 20];
    size_t policy_len = fread(policy, 1, sizeof policy, f);
    fclose(f);
    size_t n = 0;
    while (environ[n]) n++;
    admit_pair *env = calloc(n + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; env && i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        if (!eq) continue;
        admit_pair p = {environ[i], (size_t)(eq - environ[i]), eq + 1, strlen(eq + 1)};
        env[k++] = p;
    }
    const char *slash = strrchr(argv[1], '/');
    admit_engine_config config = {ADMIT_FORMAT_TOML, env, k, argv[1], slash ? (size_t)(slash - argv[1]) : 0};
    admit_engine *engine = NULL;
    admit_error *err = NULL;
    if (admit_engine_new(policy, policy_len, &config, &engine, &err) != ADMIT_RESULT_OK) {
        admit_str m = admit_error_message(err);
        fprintf(stderr, "%s: %.*s\n", argv[1], (int)m.len, m.ptr);
        admit_error_free(err);
        free(env);
        return 2;
    }
    free(env);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    unsigned failures = 0;
    refresh_key_sets(engine, &failures);
    if (argc > 2) {
        char auth[8192];
        snprintf(auth, sizeof auth, "Bearer %s", argv[2]);
        admit_pair h = {"Authorization", 13, auth, strlen(auth)};
        admit_request req = {"GET", 3, "/api/v1/artifacts", 17, &h, 1, NULL, 0, admit_now(), 0};
        if (argc > 3) req.now = strtoll(argv[3], NULL, 10);
        admit_decision *d = admit_decide(engine, &req);
        admit_str reason = admit_decision_reason(d);
        printf("decision: %s %.*s\n", admit_decision_allow(d) ? "allow" : "deny", (int)reason.len, reason.ptr);
        admit_decision_free(d);
    }
    curl_global_cleanup();
    admit_engine_free(engine);
    return 0;
}
