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
 *
 * Routing: libmicrohttpd hands the handler `url`, the path percent-decoded (its own
 * unescaping; see `unescape` for %00) and without the query. The router matches that
 * decoded path, and admit is
 * given the same path with ADMIT_REQUEST_PATH_DECODED, so admit's rule and its `{owner}`
 * are those of the segments the router matched and nothing is decoded twice. The router
 * matches whole paths segment by segment as the policy's patterns do: a literal segment
 * is equal, a parameter is exactly one non-empty segment, nothing may follow; the job
 * handlers then read the job id strictly (digits only).
 *
 * Keys: the policy keeps the key hashes in a keys file (`keys = { file =
 * "fetchml-keys.toml" }`, beside the policy), read when the engine is built. The service
 * watches each keys file the policy names (admit_engine_keys_file): once a second it
 * stat()s them, and on SIGHUP it rereads them at once; a changed file goes to
 * admit_engine_set_keys, so the admin's `admit revoke fetchml-keys.toml bob` takes effect
 * on the next request, without a restart. A file admit refuses (half written, a typo)
 * changes nothing: the keys in force stay, and the service logs why (never a value of
 * the file).
 *
 * FETCHML_DEBUG_HEADERS=1 (a debugging aid, used by examples/c/differential.py) adds to
 * every response the handler that ran and its parameters beside admit's verdict:
 * X-Handler (`none` when admit denied), X-Handler-Owner, X-Handler-Job, X-Admit-Allow,
 * X-Admit-Rule (`-` for none), X-Admit-Owner (the owner constraint, when there is one)
 * and X-Admit-Principal, each value percent-encoded outside printable ASCII.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admit.h"

extern char **environ;

static admit_engine *engine;
static volatile sig_atomic_t stop, reload;
static int debug_headers; /* FETCHML_DEBUG_HEADERS=1 */

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static void on_hup(int sig) {
    (void)sig;
    reload = 1;
}

/* ---- keys files: watched, and handed to admit_engine_set_keys when they change ------- */

typedef struct {
    char authenticator[128];
    char path[4096]; /* resolved against the policy's folder, as the engine read it */
    struct stat seen;
} keys_file_t;

static keys_file_t keys_files[8];
static size_t n_keys_files;

static void watch_keys_files(const char *base_dir, size_t base_len) {
    size_t n = admit_engine_keys_file_count(engine);
    for (size_t i = 0; i < n && n_keys_files < sizeof keys_files / sizeof *keys_files; i++) {
        admit_str id, path;
        if (admit_engine_keys_file(engine, i, &id, &path) != ADMIT_RESULT_OK) continue;
        keys_file_t *k = &keys_files[n_keys_files];
        snprintf(k->authenticator, sizeof k->authenticator, "%.*s", (int)id.len, id.ptr);
        if (path.len && path.ptr[0] == '/')
            snprintf(k->path, sizeof k->path, "%.*s", (int)path.len, path.ptr);
        else
            snprintf(k->path, sizeof k->path, "%.*s/%.*s", (int)base_len, base_dir, (int)path.len, path.ptr);
        if (stat(k->path, &k->seen) != 0) memset(&k->seen, 0, sizeof k->seen);
        n_keys_files++;
    }
}

static int same_file(const struct stat *a, const struct stat *b) {
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Rereads each keys file that changed since it was last read (every one when `force`),
 * and hands it to admit_engine_set_keys: the next decision, on any thread, uses it. */
static void reload_keys_files(int force) {
    for (size_t i = 0; i < n_keys_files; i++) {
        keys_file_t *k = &keys_files[i];
        struct stat now;
        if (stat(k->path, &now) != 0) {
            if (force) fprintf(stderr, "keys: %s: cannot stat %s; the keys in force stay\n", k->authenticator, k->path);
            continue;
        }
        if (!force && same_file(&now, &k->seen)) continue;
        k->seen = now; /* tried once per change, whatever the outcome */
        FILE *f = fopen(k->path, "rb");
        if (!f) continue;
        size_t cap = (size_t)now.st_size + 1, len = 0;
        char *text = malloc(cap);
        if (text) len = fread(text, 1, cap, f);
        fclose(f);
        if (!text) continue;
        size_t count = 0;
        admit_error *err = NULL;
        if (admit_engine_set_keys(engine, k->authenticator, strlen(k->authenticator), text, len, &count, &err) ==
            ADMIT_RESULT_OK) {
            printf("keys: %s: %zu keys from %s\n", k->authenticator, count, k->path);
        } else {
            admit_str m = admit_error_message(err); /* places and lines, never a value */
            printf("keys: %s: %s refused: %.*s\n", k->authenticator, k->path, (int)m.len, m.ptr ? m.ptr : "");
        }
        fflush(stdout);
        admit_error_free(err);
        free(text);
    }
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

/* libmicrohttpd's own unescaping (%HH), except that a decoded NUL, which would cut the
 * C string `url` short (`/jobs/bob/7%00/../x` would be routed as `/jobs/bob/7`), becomes
 * 0x01: a control byte that admit refuses (400), as it refuses %00 in a raw target. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls;
    (void)c;
    size_t n = MHD_http_unescape(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0') s[i] = '\x01';
    return n;
}

/* ---- routing ------------------------------------------------------------------------ */

/* A segment of the decoded path: `len` bytes at `p`, no NUL. */
typedef struct {
    const char *p;
    size_t len;
} seg_t;

/* The handlers, each named as the policy rule that must have allowed it. */
typedef enum { NOT_FOUND, STATUS, LIST_JOBS, QUEUE_JOB, READ_JOB, CANCEL_JOB } handler_t;
static const char *const handler_names[] = {"not-found", "status", "list-jobs", "queue-job", "read-job", "cancel-job"};

typedef struct {
    handler_t handler;
    seg_t owner, job; /* READ_JOB, CANCEL_JOB */
} route_t;

static int seg_is(seg_t s, const char *lit) { return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0; }

/* Splits an absolute path into its segments; -1 unless every segment is non-empty (no
 * `//`, no trailing `/`) or there are more than `max`. "/" has none. */
static int split(const char *path, seg_t *segs, int max) {
    if (path[0] != '/') return -1;
    if (path[1] == '\0') return 0;
    int n = 0;
    const char *p = path;
    while (*p == '/') {
        const char *start = p + 1, *end = start;
        while (*end && *end != '/') end++;
        if (end == start || n == max) return -1;
        segs[n].p = start;
        segs[n].len = (size_t)(end - start);
        n++;
        p = end;
    }
    return n;
}

/* The route of a decoded path: the whole path matches, as the policy's patterns
 * /api/v1/status, /api/v1/jobs and /api/v1/jobs/{owner}/{job} do (HEAD with GET). */
static route_t route(const char *method, const char *url) {
    route_t r = {NOT_FOUND, {NULL, 0}, {NULL, 0}};
    seg_t s[6];
    int n = split(url, s, 6);
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (n < 3 || !seg_is(s[0], "api") || !seg_is(s[1], "v1")) return r;
    if (n == 3 && seg_is(s[2], "status")) {
        if (get) r.handler = STATUS;
    } else if (n == 3 && seg_is(s[2], "jobs")) {
        if (get) r.handler = LIST_JOBS;
        else if (!strcmp(method, "POST")) r.handler = QUEUE_JOB;
    } else if (n == 5 && seg_is(s[2], "jobs")) {
        if (get) r.handler = READ_JOB;
        else if (!strcmp(method, "DELETE")) r.handler = CANCEL_JOB;
        r.owner = s[3];
        r.job = s[4];
    }
    return r;
}

/* A job id: 1 to 9 decimal digits and nothing else; -1 otherwise. */
static int job_id(seg_t s) {
    if (s.len == 0 || s.len > 9) return -1;
    int id = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9') return -1;
        id = id * 10 + (s.p[i] - '0');
    }
    return id;
}

/* ---- responses ------------------------------------------------------------------------ */

/* `len` bytes at `p` for a header value or a log line: printable ASCII as it is, `%`
 * and every other byte as %XX (cut short when `cap` is reached). */
static void escape(char *out, size_t cap, const char *p, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        unsigned char b = (unsigned char)p[i];
        if (b > 0x20 && b < 0x7f && b != '%') {
            out[o++] = (char)b;
        } else {
            out[o++] = '%';
            out[o++] = hex[b >> 4];
            out[o++] = hex[b & 15];
        }
    }
    out[o] = '\0';
}

static void debug_header(struct MHD_Response *r, const char *name, const char *p, size_t len) {
    char v[4096];
    escape(v, sizeof v, p, len);
    MHD_add_response_header(r, name, v);
}

/* The debugging headers (FETCHML_DEBUG_HEADERS=1): what ran, and what admit decided. */
static void add_debug_headers(struct MHD_Response *r, const admit_decision *d, const route_t *rt) {
    int allow = admit_decision_allow(d);
    const char *h = allow ? handler_names[rt->handler] : "none";
    MHD_add_response_header(r, "X-Handler", h);
    if (allow && (rt->handler == READ_JOB || rt->handler == CANCEL_JOB)) {
        debug_header(r, "X-Handler-Owner", rt->owner.p, rt->owner.len);
        debug_header(r, "X-Handler-Job", rt->job.p, rt->job.len);
    }
    MHD_add_response_header(r, "X-Admit-Allow", allow ? "true" : "false");
    admit_str rule = admit_decision_rule(d), owner = admit_decision_constraint_get(d, "owner", 5),
              who = admit_decision_principal_id(d);
    if (rule.ptr) debug_header(r, "X-Admit-Rule", rule.ptr, rule.len);
    else MHD_add_response_header(r, "X-Admit-Rule", "-");
    if (owner.ptr) debug_header(r, "X-Admit-Owner", owner.ptr, owner.len);
    if (who.ptr) debug_header(r, "X-Admit-Principal", who.ptr, who.len);
    else MHD_add_response_header(r, "X-Admit-Principal", "-");
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
                            const admit_decision *d, const route_t *rt) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    add_decision_headers(r, d);
    if (debug_headers) add_debug_headers(r, d, rt);
    if (admit_decision_allow(d)) MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The handlers: only reached when admit allowed the request. */
static enum MHD_Result handle(struct MHD_Connection *c, const route_t *rt, const admit_decision *d) {
    char out[2048];
    int n = 0;
    admit_str who = admit_decision_principal_id(d);
    switch (rt->handler) {
    case STATUS:
        n = snprintf(out, sizeof out, "{\"status\": \"ok\", \"user\": \"%.*s\"}", (int)who.len, who.ptr);
        return reply(c, MHD_HTTP_OK, out, (size_t)n, d, rt);
    case LIST_JOBS: {
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
        return reply(c, MHD_HTTP_OK, out, (size_t)n, d, rt);
    }
    case QUEUE_JOB:
        n = snprintf(out, sizeof out, "{\"queued\": true, \"owner\": \"%.*s\"}", (int)who.len, who.ptr);
        return reply(c, MHD_HTTP_CREATED, out, (size_t)n, d, rt);
    case READ_JOB:
    case CANCEL_JOB: {
        int id = job_id(rt->job);
        for (size_t i = 0; id >= 0 && i < sizeof jobs / sizeof jobs[0]; i++) {
            if (!seg_is(rt->owner, jobs[i].owner) || jobs[i].id != id) continue;
            if (rt->handler == CANCEL_JOB)
                n = snprintf(out, sizeof out, "{\"cancelled\": %d}", id);
            else
                n = snprintf(out, sizeof out, "{\"owner\": \"%s\", \"id\": %d, \"name\": \"%s\"}", jobs[i].owner, id,
                             jobs[i].name);
            return reply(c, MHD_HTTP_OK, out, (size_t)n, d, rt);
        }
        n = snprintf(out, sizeof out, "{\"error\": \"no such job\"}");
        return reply(c, MHD_HTTP_NOT_FOUND, out, (size_t)n, d, rt);
    }
    case NOT_FOUND:
    default:
        n = snprintf(out, sizeof out, "{\"error\": \"not found\"}");
        return reply(c, MHD_HTTP_NOT_FOUND, out, (size_t)n, d, rt);
    }
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

    /* `url` is the decoded path the router matches: admit is told so. */
    admit_request req = {method, strlen(method), url, strlen(url), h.pairs, h.len, peer[0] ? peer : NULL,
                         strlen(peer), admit_now(), ADMIT_REQUEST_PATH_DECODED};
    admit_decision *d = admit_decide(engine, &req);
    route_t rt = route(method, url);
    admit_str reason = admit_decision_reason(d), who = admit_decision_principal_id(d);
    char shown[512];
    escape(shown, sizeof shown, url, strlen(url));
    printf("%s %s -> %s %u %.*s %.*s\n", method, shown, admit_decision_allow(d) ? "allow" : "deny",
           admit_decision_status(d), (int)reason.len, reason.ptr, (int)who.len, who.ptr ? who.ptr : "-");
    fflush(stdout);

    enum MHD_Result ret;
    if (!admit_decision_allow(d)) {
        admit_str body = admit_decision_body(d);
        ret = reply(c, admit_decision_status(d), body.ptr ? body.ptr : "", body.len, d, &rt);
    } else {
        ret = handle(c, &rt, d);
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
    const char *dbg = getenv("FETCHML_DEBUG_HEADERS");
    debug_headers = dbg && !strcmp(dbg, "1");
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
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)4, MHD_OPTION_UNESCAPE_CALLBACK, unescape,
        NULL, MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "cannot listen on 127.0.0.1\n");
        admit_engine_free(engine);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on 127.0.0.1:%u\n", info ? (unsigned)info->port : 0u);
    fflush(stdout);

    watch_keys_files(config.base_dir, config.base_dir_len);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_hup);
    while (!stop) {
        sleep(1); /* returns early on a signal */
        int force = reload;
        reload = 0;
        reload_keys_files(force);
    }
    MHD_stop_daemon(daemon);
    admit_engine_free(engine);
    return 0;
}
