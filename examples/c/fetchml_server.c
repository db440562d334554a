/*
 * A small FetchML job API in C on libmicrohttpd, guarded by admit.
 *
 *   fetchml_server POLICY [PORT]     listens on 127.0.0.1:PORT (0 or none: any free
 *                                    port); prints "listening on 127.0.0.1:PORT"
 *
 * Every request is decided by admit with the FetchML policy (X-API-Key, roles admin,
 * researcher, analyst). The host follows admit's one rule: if the decision does not
 * allow the request, answer its status with its headers and body; otherwise run the
 * handler and add the decision's headers to the handler's response. The list of jobs is
 * filtered by the decision's `owner` constraint. One engine serves all of the daemon's
 * threads.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admit.h"

extern char **environ;

static admit_engine *engine;
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

/* The jobs the service knows about. */
static const struct {
    const char *owner;
    int id;
    const char *name;
} jobs[] = {{"alice", 1, "train-resnet"}, {"bob", 7, "eval-bert"}, {"bob", 8, "sweep-lr"}, {"carol", 9, "report"}};

/* Header names and values as libmicrohttpd hands them over: borrowed for the request. */
typedef struct {
    admit_pair pairs[64];
    size_t len;
} headers_t;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_len,
                                      const char *value, size_t value_len) {
    (void)kind;
    headers_t *h = cls;
    if (h->len == sizeof h->pairs / sizeof h->pairs[0]) return MHD_NO;
    admit_pair p = {key, key_len, value ? value : "", value ? value_len : 0};
    h->pairs[h->len++] = p;
    return MHD_YES;
}

/* The path as the client sent it (see no_unescape): admit canonicalises it itself. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls;
    (void)c;
    return strlen(s);
}

static void add_decision_headers(struct MHD_Response *r, const admit_decision *d) {
    for (size_t i = 0; i < admit_decision_header_count(d); i++) {
        admit_str n, v;
        if (admit_decision_header(d, i, &n, &v) != ADMIT_RESULT_OK) break;
        char *name = strndup(n.ptr, n.len), *value = strndup(v.ptr, v.len);
        if (name && value) MHD_add_response_header(r, name, value);
        free(name);
        free(value);
    }
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body, size_t len,
                            const admit_decision *d) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    add_decision_headers(r, d);
    if (admit_decision_allow(d)) MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The handlers: only reached when admit allowed the request. */
static enum MHD_Result handle(struct MHD_Connection *c, const char *method, const char *url, const admit_decision *d) {
    char out[2048];
    int n = 0;
    char owner[64];
    int id = 0;
    admit_str who = admit_decision_principal_id(d);
    if (!strcmp(url, "/api/v1/status")) {
        n = snprintf(out, sizeof out, "{\"status\": \"ok\", \"user\": \"%.*s\"}", (int)who.len, who.ptr);
    } else if (!strcmp(url, "/api/v1/jobs") && !strcmp(method, "GET")) {
        /* admit says whose jobs this caller may see: all of them, or only `owner`'s. */
        admit_str only = admit_decision_constraint_get(d, "owner", 5);
        n = snprintf(out, sizeof out, "{\"jobs\": [");
        int first = 1;
        for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
            if (only.ptr && (strlen(jobs[i].owner) != only.len || memcmp(jobs[i].owner, only.ptr, only.len))) continue;
            n += snprintf(out + n, sizeof out - (size_t)n, "%s{\"owner\": \"%s\", \"id\": %d, \"name\": \"%s\"}",
                          first ? "" : ", ", jobs[i].owner, jobs[i].id, jobs[i].name);
            first = 0;
        }
        n += snprintf(out + n, sizeof out - (size_t)n, "]}");
    } else if (!strcmp(url, "/api/v1/jobs") && !strcmp(method, "POST")) {
        n = snprintf(out, sizeof out, "{\"queued\": true, \"owner\": \"%.*s\"}", (int)who.len, who.ptr);
        return reply(c, MHD_HTTP_CREATED, out, (size_t)n, d);
    } else if (sscanf(url, "/api/v1/jobs/%63[a-z]/%d", owner, &id) == 2) {
        for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
            if (strcmp(jobs[i].owner, owner) || jobs[i].id != id) continue;
            if (!strcmp(method, "DELETE"))
                n = snprintf(out, sizeof out, "{\"cancelled\": %d}", id);
            else
                n = snprintf(out, sizeof out, "{\"owner\": \"%s\", \"id\": %d, \"name\": \"%s\"}", owner, id,
                             jobs[i].name);
            return reply(c, MHD_HTTP_OK, out, (size_t)n, d);
        }
        n = snprintf(out, sizeof out, "{\"error\": \"no such job\"}");
        return reply(c, MHD_HTTP_NOT_FOUND, out, (size_t)n, d);
    } else {
        n = snprintf(out, sizeof out, "{\"error\": \"not found\"}");
        return reply(c, MHD_HTTP_NOT_FOUND, out, (size_t)n, d);
    }
    return reply(c, MHD_HTTP_OK, out, (size_t)n, d);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state) {
    (void)cls;
    (void)version;
    (void)upload;
    if (*state == NULL) { /* headers are in; the body (if any) follows */
        *state = c;
        return MHD_YES;
    }
    if (*upload_size) { /* this API reads no request bodies */
        *upload_size = 0;
        return MHD_YES;
    }

    headers_t h = {.len = 0};
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, collect_header, &h);
    char peer[INET6_ADDRSTRLEN] = "";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr, peer, sizeof peer);
    else if (ci && ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr, peer,
                  sizeof peer);

    admit_request req = {method, strlen(method), url, strlen(url), h.pairs, h.len, peer[0] ? peer : NULL,
                         strlen(peer), admit_now()};
    admit_decision *d = admit_decide(engine, &req);
    admit_str reason = admit_decision_reason(d), who = admit_decision_principal_id(d);
    printf("%s %s -> %s %u %.*s %.*s\n", method, url, admit_decision_allow(d) ? "allow" : "deny",
           admit_decision_status(d), (int)reason.len, reason.ptr, (int)who.len, who.ptr ? who.ptr : "-");
    fflush(stdout);

    enum MHD_Result ret;
    if (!admit_decision_allow(d)) {
        admit_str body = admit_decision_body(d);
        ret = reply(c, admit_decision_status(d), body.ptr ? body.ptr : "", body.len, d);
    } else {
        ret = handle(c, method, url, d);
    }
    admit_decision_free(d);
    return ret;
}

/* The process environment as admit's env pairs: the policy's { env = ... } references
 * see exactly what this service was started with. */
static admit_pair *environment(size_t *len) {
    size_t n = 0;
    while (environ[n]) n++;
    admit_pair *pairs = calloc(n + 1, sizeof *pairs);
    size_t k = 0;
    for (size_t i = 0; pairs && i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        if (!eq) continue;
        admit_pair p = {environ[i], (size_t)(eq - environ[i]), eq + 1, strlen(eq + 1)};
        pairs[k++] = p;
    }
    *len = k;
    return pairs;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s POLICY [PORT]\n", argv[0]);
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

    size_t env_len = 0;
    admit_pair *env = environment(&env_len);
    const char *slash = strrchr(argv[1], '/');
    admit_engine_config config = {ADMIT_FORMAT_TOML, env, env_len, argv[1], slash ? (size_t)(slash - argv[1]) : 0};
    if (!slash) config.base_dir = ".", config.base_dir_len = 1;
    if (strlen(argv[1]) > 5 && !strcmp(argv[1] + strlen(argv[1]) - 5, ".json")) config.format = ADMIT_FORMAT_JSON;
    admit_error *err = NULL;
    if (admit_engine_new(policy, policy_len, &config, &engine, &err) != ADMIT_RESULT_OK) {
        admit_str m = admit_error_message(err);
        fprintf(stderr, "%s: %.*s\n", argv[1], (int)m.len, m.ptr);
        admit_error_free(err);
        free(env);
        return 2;
    }
    free(env);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)(argc > 2 ? atoi(argv[2]) : 0));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)4, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape,
        NULL, MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "cannot listen on 127.0.0.1\n");
        admit_engine_free(engine);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on 127.0.0.1:%u\n", info ? (unsigned)info->port : 0u);
    fflush(stdout);

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop) pause();
    MHD_stop_daemon(daemon);
    admit_engine_free(engine);
    return 0;
}
