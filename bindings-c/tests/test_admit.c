/*
 * The C binding's tests: every shared vector in tests/vectors/ through admit_decide (the
 * request struct and the accessors) and through admit_decide_json; NULL and malformed
 * arguments; the request flags (a decoded path, a `now` of 0), a NULL peer, reason
 * codes, the version; delegated authenticators checked by a C callback
 * (admit_engine_set_check); one engine shared by several threads while its key set is
 * replaced, and by threads whose decisions call the callback. Everything runs on threads with a 128 KB stack (musl's default), and deeply
 * nested JSON and TOML are fed to admit_decide_json and admit_engine_new there, each in
 * a child process so that an overflow is reported, not fatal to the run.
 *
 * Usage: test_admit REPO_ROOT [THREAD_ITERATIONS]
 *        test_admit REPO_ROOT --stack    measure the stack each entry point needs
 * Prints one line per failure and ends with "N passed, M failed"; exits 1 on a failure.
 * Mirrors cli/tests/vectors.rs (placeholders, expectations).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_STACK */
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admit.h"

static int passed, failed;
static const char *root;
static json_t *tokens;

static void ok(int cond, const char *fmt, ...) {
    if (cond) {
        passed++;
        return;
    }
    failed++;
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stdout);
    vprintf(fmt, ap);
    fputs("\n", stdout);
    va_end(ap);
}

/* ---- small helpers ---------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[len] = '\0';
    if (len_out) *len_out = len;
    return buf;
}

static char *path_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* A growable string. */
typedef struct {
    char *s;
    size_t len, cap;
} buf_t;

static void buf_add(buf_t *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) abort();
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* Replaces ${token:NAME}, ${file:PATH} and ${repeat:N:TEXT}; returns a new string, or
 * NULL (with a message) when a placeholder cannot be expanded. */
static char *expand(const char *s, size_t *len_out) {
    buf_t out = {0};
    buf_add(&out, "", 0);
    const char *rest = s;
    const char *start;
    while ((start = strstr(rest, "${")) != NULL) {
        buf_add(&out, rest, (size_t)(start - rest));
        const char *end = strchr(start, '}');
        const char *colon = strchr(start, ':');
        if (!end || !colon || colon > end) {
            printf("bad placeholder in %s\n", s);
            free(out.s);
            return NULL;
        }
        size_t kind_len = (size_t)(colon - start - 2);
        char *arg = strndup(colon + 1, (size_t)(end - colon - 1));
        if (kind_len == 5 && strncmp(start + 2, "token", 5) == 0) {
            const char *t = json_string_value(json_object_get(tokens, arg));
            if (!t) {
                printf("no token `%s`\n", arg);
                free(arg);
                free(out.s);
                return NULL;
            }
            buf_add(&out, t, strlen(t));
        } else if (kind_len == 4 && strncmp(start + 2, "file", 4) == 0) {
            char *p = path_join(root, arg);
            size_t n = 0;
            char *text = read_file(p, &n);
            free(p);
            if (!text) {
                printf("cannot read `%s`\n", arg);
                free(arg);
                free(out.s);
                return NULL;
            }
            buf_add(&out, text, n);
            free(text);
        } else if (kind_len == 6 && strncmp(start + 2, "repeat", 6) == 0) {
            char *text = strchr(arg, ':');
            long n = text ? strtol(arg, NULL, 10) : 0;
            for (long i = 0; text && i < n; i++) buf_add(&out, text + 1, strlen(text + 1));
        } else {
            printf("unknown placeholder in %s\n", s);
            free(arg);
            free(out.s);
            return NULL;
        }
        free(arg);
        rest = end + 1;
    }
    buf_add(&out, rest, strlen(rest));
    if (len_out) *len_out = out.len;
    return out.s;
}

/* Expands every string in a JSON value in place; 0 on failure. */
static int expand_value(json_t *v) {
    size_t i;
    const char *key;
    json_t *x;
    switch (json_typeof(v)) {
    case JSON_STRING: {
        if (!strstr(json_string_value(v), "${")) return 1;
        size_t n = 0;
        char *s = expand(json_string_value(v), &n);
        if (!s) return 0;
        json_string_setn(v, s, n);
        free(s);
        return 1;
    }
    case JSON_ARRAY:
        json_array_foreach(v, i, x) if (!expand_value(x)) return 0;
        return 1;
    case JSON_OBJECT:
        json_object_foreach(v, key, x) if (!expand_value(x)) return 0;
        return 1;
    default:
        return 1;
    }
}

static json_t *jstr(admit_str s) { return s.ptr ? json_stringn(s.ptr, s.len) : json_null(); }

/* The text of each admit_reason value: admit_decision_reason_code and
 * admit_decision_reason must agree on every decision. */
static const char *const reason_names[] = {
    [ADMIT_REASON_OK] = "ok",
    [ADMIT_REASON_PUBLIC] = "public",
    [ADMIT_REASON_PREFLIGHT] = "preflight",
    [ADMIT_REASON_MISSING_CREDENTIALS] = "missing_credentials",
    [ADMIT_REASON_INVALID_CREDENTIALS] = "invalid_credentials",
    [ADMIT_REASON_EXPIRED] = "expired",
    [ADMIT_REASON_NOT_YET_VALID] = "not_yet_valid",
    [ADMIT_REASON_REVOKED] = "revoked",
    [ADMIT_REASON_UNKNOWN_KEY] = "unknown_key",
    [ADMIT_REASON_INSUFFICIENT_SCOPE] = "insufficient_scope",
    [ADMIT_REASON_ORIGIN_NOT_ALLOWED] = "origin_not_allowed",
    [ADMIT_REASON_NOT_LOCAL] = "not_local",
    [ADMIT_REASON_ROUTE_DENIED] = "route_denied",
    [ADMIT_REASON_NO_ROUTE] = "no_route",
    [ADMIT_REASON_MALFORMED_REQUEST] = "malformed_request",
};
enum { REASONS = sizeof reason_names / sizeof reason_names[0] };
_Static_assert(REASONS == ADMIT_REASON_MALFORMED_REQUEST + 1, "a reason_names entry per admit_reason");

static int reason_code_agrees(const admit_decision *d) {
    admit_reason code = admit_decision_reason_code(d);
    admit_str text = admit_decision_reason(d);
    return (unsigned)code < REASONS && reason_names[code] && text.ptr && text.len == strlen(reason_names[code]) &&
           memcmp(text.ptr, reason_names[code], text.len) == 0;
}

/* ---- the decision, read through the accessors ---------------------------------------- */

static json_t *decision_via_accessors(const admit_decision *d) {
    json_t *o = json_object();
    json_object_set_new(o, "allow", json_boolean(admit_decision_allow(d)));
    json_object_set_new(o, "status", json_integer(admit_decision_status(d)));
    json_object_set_new(o, "reason", jstr(admit_decision_reason(d)));
    json_object_set_new(o, "message", jstr(admit_decision_message(d)));
    json_t *headers = json_array();
    for (size_t i = 0; i < admit_decision_header_count(d); i++) {
        admit_str n, v;
        if (admit_decision_header(d, i, &n, &v) != ADMIT_RESULT_OK) break;
        json_array_append_new(headers, json_pack("[oo]", jstr(n), jstr(v)));
    }
    json_object_set_new(o, "headers", headers);
    json_object_set_new(o, "body", jstr(admit_decision_body(d)));
    admit_str id = admit_decision_principal_id(d);
    if (id.ptr) {
        json_t *p = json_object();
        json_object_set_new(p, "id", jstr(id));
        json_object_set_new(p, "authenticator", jstr(admit_decision_principal_authenticator(d)));
        json_object_set_new(p, "kind", jstr(admit_decision_principal_kind(d)));
        json_t *roles = json_array(), *scopes = json_array();
        for (size_t i = 0; i < admit_decision_role_count(d); i++)
            json_array_append_new(roles, jstr(admit_decision_role(d, i)));
        for (size_t i = 0; i < admit_decision_scope_count(d); i++)
            json_array_append_new(scopes, jstr(admit_decision_scope(d, i)));
        json_object_set_new(p, "roles", roles);
        json_object_set_new(p, "scopes", scopes);
        char *claims = NULL;
        size_t claims_len = 0;
        json_t *c = json_null();
        if (admit_decision_claims_json(d, &claims, &claims_len) == ADMIT_RESULT_OK && claims) {
            c = json_loadb(claims, claims_len, 0, NULL);
            if (!c) c = json_string("<claims not JSON>");
        }
        admit_string_free(claims);
        json_object_set_new(p, "claims", c);
        json_object_set_new(o, "principal", p);
    } else {
        json_object_set_new(o, "principal", json_null());
    }
    json_object_set_new(o, "rule", jstr(admit_decision_rule(d)));
    json_t *constraints = json_object();
    for (size_t i = 0; i < admit_decision_constraint_count(d); i++) {
        admit_str n, v;
        if (admit_decision_constraint(d, i, &n, &v) != ADMIT_RESULT_OK) break;
        char *name = strndup(n.ptr, n.len);
        json_object_set_new(constraints, name, jstr(v));
        free(name);
    }
    json_object_set_new(o, "constraints", constraints);
    json_object_set_new(o, "dry_run", json_boolean(admit_decision_dry_run(d)));
    return o;
}

/* ---- expectations (as cli/tests/vectors.rs compares them) --------------------------- */

static int subset(json_t *want, json_t *got) {
    if (json_is_object(want) && json_is_object(got)) {
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v) {
            json_t *g = json_object_get(got, k);
            if (!g || !subset(v, g)) return 0;
        }
        return 1;
    }
    return json_equal(want, got);
}

static int has_header(json_t *headers, const char *name, json_t *value) {
    size_t i;
    json_t *h;
    json_array_foreach(headers, i, h) {
        const char *n = json_string_value(json_array_get(h, 0));
        if (n && strcasecmp(n, name) == 0 && (!value || json_equal(json_array_get(h, 1), value))) return 1;
    }
    return 0;
}

/* Compares the keys `expect` has; prints what differs; returns the number of errors. */
static int check(const char *label, json_t *expect, json_t *got) {
    int errors = 0;
    const char *k;
    json_t *want;
    json_object_foreach(expect, k, want) {
        json_t *g = json_object_get(got, k);
        if (!g) g = json_null();
        if (!strcmp(k, "allow") || !strcmp(k, "status") || !strcmp(k, "reason") || !strcmp(k, "message") ||
            !strcmp(k, "body") || !strcmp(k, "rule") || !strcmp(k, "dry_run") || !strcmp(k, "constraints")) {
            if (!json_equal(want, g)) {
                char *w = json_dumps(want, JSON_ENCODE_ANY), *h = json_dumps(g, JSON_ENCODE_ANY);
                printf("  %s: %s: want %s, got %s\n", label, k, w, h);
                free(w);
                free(h);
                errors++;
            }
        } else if (!strcmp(k, "principal")) {
            if (json_is_null(want) || json_is_null(g)) {
                if (!json_equal(want, g)) {
                    printf("  %s: principal: want %s\n", label, json_is_null(want) ? "null" : "a principal");
                    errors++;
                }
                continue;
            }
            const char *pk;
            json_t *pv;
            json_object_foreach(want, pk, pv) {
                json_t *gv = json_object_get(g, pk);
                if (!gv) gv = json_null();
                int good = !strcmp(pk, "claims") ? subset(pv, gv) : json_equal(pv, gv);
                if (!good) {
                    char *w = json_dumps(pv, JSON_ENCODE_ANY), *h = json_dumps(gv, JSON_ENCODE_ANY);
                    printf("  %s: principal.%s: want %s, got %s\n", label, pk, w, h);
                    free(w);
                    free(h);
                    errors++;
                }
            }
        } else if (!strcmp(k, "headers")) {
            size_t i;
            json_t *pair;
            json_array_foreach(want, i, pair) {
                const char *n = json_string_value(json_array_get(pair, 0));
                if (!n || !has_header(json_object_get(got, "headers"), n, json_array_get(pair, 1))) {
                    printf("  %s: header %s missing\n", label, n ? n : "?");
                    errors++;
                }
            }
        } else if (!strcmp(k, "absent_headers")) {
            size_t i;
            json_t *n;
            json_array_foreach(want, i, n) {
                if (has_header(json_object_get(got, "headers"), json_string_value(n), NULL)) {
                    printf("  %s: header %s should be absent\n", label, json_string_value(n));
                    errors++;
                }
            }
        } else {
            printf("  %s: unknown expectation `%s`\n", label, k);
            errors++;
        }
    }
    return errors;
}

/* A case's `explain` expectation against a trace (tests/README.md): objects by the keys
 * given, arrays item by item with the same length, other values equal. Prints what
 * differs; returns the number of errors. */
static int check_trace(const char *label, const char *place, json_t *want, json_t *got) {
    if (json_is_object(want)) {
        if (!json_is_object(got)) {
            printf("  %s: %s: want an object\n", label, place);
            return 1;
        }
        int errors = 0;
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.%s", place, k);
            json_t *g = json_object_get(got, k);
            if (!g) {
                printf("  %s: %s: missing\n", label, sub);
                errors++;
            } else {
                errors += check_trace(label, sub, v, g);
            }
        }
        return errors;
    }
    if (json_is_array(want) && json_is_array(got) && json_array_size(want) == json_array_size(got)) {
        int errors = 0;
        size_t i;
        json_t *v;
        json_array_foreach(want, i, v) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s[%zu]", place, i);
            errors += check_trace(label, sub, v, json_array_get(got, i));
        }
        return errors;
    }
    if (json_equal(want, got)) return 0;
    char *w = json_dumps(want, JSON_ENCODE_ANY), *h = json_dumps(got, JSON_ENCODE_ANY);
    printf("  %s: %s: want %s, got %s\n", label, place, w, h ? h : "nothing");
    free(w);
    free(h);
    return 1;
}

/* ---- requests ----------------------------------------------------------------------- */

typedef struct {
    admit_request req;
    admit_pair *headers;
} c_request;

static admit_pair pair_of(const char *name, const char *value) {
    admit_pair p = {name, strlen(name), value, strlen(value)};
    return p;
}

/* The request struct for a vector's request JSON; its strings point into `r`. */
static c_request request_of(json_t *r) {
    c_request c;
    memset(&c, 0, sizeof c);
    json_t *m = json_object_get(r, "method"), *p = json_object_get(r, "path");
    c.req.method = json_string_value(m);
    c.req.method_len = json_string_length(m);
    c.req.path = json_string_value(p);
    c.req.path_len = json_string_length(p);
    json_t *peer = json_object_get(r, "peer");
    if (json_is_string(peer)) {
        c.req.peer = json_string_value(peer);
        c.req.peer_len = json_string_length(peer);
    }
    c.req.now = json_integer_value(json_object_get(r, "now"));
    json_t *h = json_object_get(r, "headers");
    size_t n = 0, i;
    json_t *x;
    const char *k;
    if (json_is_array(h)) {
        c.headers = calloc(json_array_size(h) + 1, sizeof(admit_pair));
        json_array_foreach(h, i, x) {
            json_t *hn = json_array_get(x, 0), *hv = json_array_get(x, 1);
            admit_pair pr = {json_string_value(hn), json_string_length(hn), json_string_value(hv),
                             json_string_length(hv)};
            c.headers[n++] = pr;
        }
    } else if (json_is_object(h)) {
        size_t count = 0;
        json_object_foreach(h, k, x) count += json_is_array(x) ? json_array_size(x) : 1;
        c.headers = calloc(count + 1, sizeof(admit_pair));
        json_object_foreach(h, k, x) {
            if (json_is_array(x)) {
                size_t j;
                json_t *v;
                json_array_foreach(x, j, v) {
                    admit_pair pr = {k, strlen(k), json_string_value(v), json_string_length(v)};
                    c.headers[n++] = pr;
                }
            } else {
                admit_pair pr = {k, strlen(k), json_string_value(x), json_string_length(x)};
                c.headers[n++] = pr;
            }
        }
    }
    c.req.headers = c.headers;
    c.req.headers_len = n;
    return c;
}

/* ---- engines ------------------------------------------------------------------------ */

/* Builds the engine a vector describes: its policy, exactly its env, files beside the
 * policy. Returns the result code; *err gets the error (caller frees). */
static admit_result engine_for(const char *policy_rel, json_t *env, admit_engine **engine, admit_error **err) {
    char *policy_path = path_join(root, policy_rel);
    size_t len = 0;
    char *text = read_file(policy_path, &len);
    if (!text) {
        printf("cannot read policy %s\n", policy_path);
        free(policy_path);
        *engine = NULL;
        *err = NULL;
        return ADMIT_RESULT_NULL_ARGUMENT;
    }
    size_t n = json_is_object(env) ? json_object_size(env) : 0, i = 0;
    admit_pair *pairs = calloc(n + 1, sizeof(admit_pair));
    const char *k;
    json_t *v;
    if (json_is_object(env)) json_object_foreach(env, k, v) {
            admit_pair p = {k, strlen(k), json_string_value(v), json_string_length(v)};
            pairs[i++] = p;
        }
    char *slash = strrchr(policy_path, '/');
    size_t dir_len = slash ? (size_t)(slash - policy_path) : 0;
    size_t plen = strlen(policy_path);
    admit_engine_config config = {
        .format = (plen > 5 && strcmp(policy_path + plen - 5, ".json") == 0) ? ADMIT_FORMAT_JSON : ADMIT_FORMAT_TOML,
        .env = pairs,
        .env_len = n,
        .base_dir = policy_path, /* a length, not a NUL: the folder part only */
        .base_dir_len = dir_len,
    };
    admit_result r = admit_engine_new(text, len, &config, engine, err);
    free(pairs);
    free(text);
    free(policy_path);
    return r;
}

/* A vector's `checks`: the host's check of a delegated authenticator, as a table of
 * verdicts by credential (tests/README.md). A credential the table lacks, or a verdict
 * that is not `{"id", "roles"?, "scopes"?}` or `{"refuse"}`, sets nothing: a refusal. */
static void table_check(void *user_data, admit_str authenticator, admit_str credential, admit_check_result *result) {
    (void)authenticator;
    json_t *verdict = json_object_getn((json_t *)user_data, credential.ptr, credential.len);
    if (!json_is_object(verdict)) return;
    const char *key;
    json_t *v;
    json_object_foreach(verdict, key, v) {
        int known = !strcmp(key, "id") || !strcmp(key, "roles") || !strcmp(key, "scopes") || !strcmp(key, "refuse");
        if (!known) return;
    }
    json_t *refuse = json_object_get(verdict, "refuse");
    json_t *id = json_object_get(verdict, "id");
    if (refuse) {
        const char *r = json_string_value(refuse);
        if (!r || id || json_object_get(verdict, "roles") || json_object_get(verdict, "scopes")) return;
        uint32_t reason = !strcmp(r, "expired")   ? ADMIT_REASON_EXPIRED
                          : !strcmp(r, "revoked") ? ADMIT_REASON_REVOKED
                                                  : ADMIT_REASON_INVALID_CREDENTIALS;
        if (!strcmp(r, "expired") || !strcmp(r, "revoked") || !strcmp(r, "invalid_credentials"))
            admit_check_result_refuse(result, reason);
        return;
    }
    if (!json_is_string(id)) return;
    json_t *roles = json_object_get(verdict, "roles"), *scopes = json_object_get(verdict, "scopes");
    if ((roles && !json_is_array(roles)) || (scopes && !json_is_array(scopes))) return;
    size_t i;
    json_array_foreach(roles, i, v) if (!json_is_string(v)) return;
    json_array_foreach(scopes, i, v) if (!json_is_string(v)) return;
    admit_check_result_set_principal(result, json_string_value(id), json_string_length(id));
    json_array_foreach(roles, i, v) admit_check_result_add_role(result, json_string_value(v), json_string_length(v));
    json_array_foreach(scopes, i, v) admit_check_result_add_scope(result, json_string_value(v), json_string_length(v));
}

/* A vector's `jwks` (key sets a host fetched) to admit_engine_set_jwks, its `keys`
 * (keys files) to admit_engine_set_keys, and its `checks` to admit_engine_set_check, as
 * a host does after the load. The tables of `checks` live as long as `doc`. */
static int hand_over(const admit_engine *engine, json_t *doc, const char *file) {
    int good = 1;
    const char *id;
    json_t *v;
    json_object_foreach(json_object_get(doc, "checks"), id, v) {
        admit_error *err = NULL;
        if (admit_engine_set_check(engine, id, strlen(id), table_check, v, &err) != ADMIT_RESULT_OK) {
            admit_str m = admit_error_message(err);
            printf("%s: set_check %s: %.*s\n", file, id, (int)m.len, m.ptr ? m.ptr : "");
            good = 0;
        }
        admit_error_free(err);
    }
    json_object_foreach(json_object_get(doc, "jwks"), id, v) {
        admit_error *err = NULL;
        if (admit_engine_set_jwks(engine, id, strlen(id), json_string_value(v), json_string_length(v), NULL, &err) !=
            ADMIT_RESULT_OK) {
            admit_str m = admit_error_message(err);
            printf("%s: set_jwks %s: %.*s\n", file, id, (int)m.len, m.ptr ? m.ptr : "");
            good = 0;
        }
        admit_error_free(err);
    }
    json_object_foreach(json_object_get(doc, "keys"), id, v) {
        admit_error *err = NULL;
        if (admit_engine_set_keys(engine, id, strlen(id), json_string_value(v), json_string_length(v), NULL, &err) !=
            ADMIT_RESULT_OK) {
            admit_str m = admit_error_message(err);
            printf("%s: set_keys %s: %.*s\n", file, id, (int)m.len, m.ptr ? m.ptr : "");
            good = 0;
        }
        admit_error_free(err);
    }
    return good;
}

/* ---- the shared vectors -------------------------------------------------------------- */

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void run_vector(const char *dir, const char *file) {
    char *path = path_join(dir, file);
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    free(path);
    if (!doc || !expand_value(doc)) {
        ok(0, "%s: cannot read the vector: %s", file, doc ? "placeholder" : jerr.text);
        json_decref(doc);
        return;
    }
    const char *policy = json_string_value(json_object_get(doc, "policy"));
    admit_engine *engine = NULL;
    admit_error *err = NULL;
    admit_result r = engine_for(policy ? policy : "", json_object_get(doc, "env"), &engine, &err);
    const char *load_error = json_string_value(json_object_get(doc, "expect_load_error"));
    if (load_error) {
        admit_str m = admit_error_message(err);
        ok(r == ADMIT_RESULT_POLICY_ERROR && engine == NULL && m.ptr && strstr(m.ptr, load_error),
           "%s: want a load error with `%s`, got %d: %.*s", file, load_error, (int)r, (int)m.len, m.ptr ? m.ptr : "");
        ok(admit_error_count(err) > 0 && admit_error_code(err) == ADMIT_RESULT_POLICY_ERROR,
           "%s: a policy error lists its problems", file);
        admit_error_free(err);
        admit_engine_free(engine);
        json_decref(doc);
        return;
    }
    if (r != ADMIT_RESULT_OK) {
        admit_str m = admit_error_message(err);
        ok(0, "%s: the policy does not load: %.*s", file, (int)m.len, m.ptr ? m.ptr : "");
        admit_error_free(err);
        json_decref(doc);
        return;
    }
    ok(hand_over(engine, doc, file), "%s: its jwks, keys and checks are taken", file);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "cases"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *request = json_object_get(c, "request"), *expect = json_object_get(c, "expect");
        char label[512];

        /* 1. the request struct and the accessors */
        c_request cr = request_of(request);
        admit_decision *d = admit_decide(engine, &cr.req);
        json_t *got = decision_via_accessors(d);
        snprintf(label, sizeof label, "%s / %s [admit_decide]", file, name);
        ok(check(label, expect, got) == 0, "%s", label);
        ok(reason_code_agrees(d), "%s: admit_decision_reason_code is the reason's text", label);

        /* the accessors and admit_decision_to_json agree */
        char *dj = NULL;
        size_t dj_len = 0;
        admit_result tr = admit_decision_to_json(d, &dj, &dj_len);
        json_t *as_json = dj ? json_loadb(dj, dj_len, JSON_ALLOW_NUL, NULL) : NULL;
        ok(tr == ADMIT_RESULT_OK && as_json && json_equal(as_json, got), "%s: accessors and to_json agree", label);
        json_decref(as_json);
        admit_string_free(dj);

        /* 2. admit_decide_json */
        char *req_json = json_dumps(request, JSON_COMPACT);
        char *out = NULL;
        size_t out_len = 0;
        admit_result jr = admit_decide_json(engine, req_json, strlen(req_json), &out, &out_len);
        json_t *got2 = out ? json_loadb(out, out_len, JSON_ALLOW_NUL, NULL) : NULL;
        snprintf(label, sizeof label, "%s / %s [admit_decide_json]", file, name);
        ok(jr == ADMIT_RESULT_OK && got2 && check(label, expect, got2) == 0, "%s", label);
        ok(got2 && json_equal(got, got2), "%s: the same decision both ways", label);

        /* 3. admit_engine_explain, for a case with an `explain` expectation: its decision
         * is admit_decide_json's, its trace holds what the case asserts */
        json_t *want_trace = json_object_get(c, "explain");
        if (want_trace) {
            char *ex = NULL;
            size_t ex_len = 0;
            admit_result er = admit_engine_explain(engine, req_json, strlen(req_json), &ex, &ex_len);
            json_t *explained = ex ? json_loadb(ex, ex_len, JSON_ALLOW_NUL, NULL) : NULL;
            snprintf(label, sizeof label, "%s / %s [admit_engine_explain]", file, name);
            ok(er == ADMIT_RESULT_OK && explained && json_equal(json_object_get(explained, "decision"), got2),
               "%s: the decision is admit_decide_json's", label);
            ok(explained && check_trace(label, "trace", want_trace, json_object_get(explained, "trace")) == 0, "%s",
               label);
            json_decref(explained);
            admit_string_free(ex);
        }

        json_decref(got2);
        admit_string_free(out);
        free(req_json);
        json_decref(got);
        admit_decision_free(d);
        free(cr.headers);
    }
    admit_engine_free(engine);
    json_decref(doc);
}

static void run_vectors(void) {
    char *dir = path_join(root, "tests/vectors");
    DIR *dp = opendir(dir);
    if (!dp) {
        ok(0, "no vectors in %s", dir);
        free(dir);
        return;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0) {
            names = realloc(names, (n + 1) * sizeof *names);
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(dp);
    qsort(names, n, sizeof *names, cmp_names);
    ok(n > 0, "vectors found");
    int before = passed + failed;
    for (size_t i = 0; i < n; i++) {
        run_vector(dir, names[i]);
        free(names[i]);
    }
    free(names);
    free(dir);
    printf("vectors: %zu files, %d checks\n", n, passed + failed - before);
}

/* ---- FetchML: a policy the host loads once ------------------------------------------- */

static admit_engine *fetchml(void) {
    admit_engine *engine = NULL;
    admit_error *err = NULL;
    admit_result r = engine_for("examples/policies/fetchml.toml", NULL, &engine, &err);
    ok(r == ADMIT_RESULT_OK && engine && !err, "fetchml.toml loads");
    admit_error_free(err);
    return engine;
}

static int streq(admit_str s, const char *want) {
    return s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* Decides GET/POST `path` with X-API-Key `key` (NULL: none). */
static admit_decision *fetch(const admit_engine *e, const char *method, const char *path, const char *key) {
    admit_pair h = pair_of("X-API-Key", key ? key : "");
    admit_request req = {method, strlen(method), path,       strlen(path), key ? &h : NULL,
                         key ? 1 : 0, "10.0.0.1",   8,    1790000000, 0};
    return admit_decide(e, &req);
}

/* ---- NULL and malformed arguments ---------------------------------------------------- */

static void test_null_and_malformed(void) {
    admit_engine *e = fetchml();
    admit_engine *engine = NULL;
    admit_error *err = NULL;

    /* admit_engine_new */
    ok(admit_engine_new(NULL, 10, NULL, &engine, &err) == ADMIT_RESULT_NULL_ARGUMENT && !engine &&
           admit_error_code(err) == ADMIT_RESULT_NULL_ARGUMENT,
       "engine_new: NULL policy with a length");
    admit_error_free(err);
    err = NULL;
    ok(admit_engine_new("", 0, NULL, NULL, &err) == ADMIT_RESULT_NULL_ARGUMENT, "engine_new: NULL engine_out");
    admit_error_free(err);
    err = NULL;
    ok(admit_engine_new("x = 1", 5, NULL, &engine, NULL) == ADMIT_RESULT_POLICY_ERROR && !engine,
       "engine_new: a bad policy without error_out");
    ok(admit_engine_new("", 0, NULL, &engine, &err) == ADMIT_RESULT_OK && engine && !err,
       "engine_new: NULL with length 0 is the empty policy");
    admit_engine_free(engine);
    engine = NULL;
    const char bad[] = "scopes = [\"a\"]\n[[routes]]\nmethods = [\"GET\"]\npath = \"/x\"\nrequire = [\"nope\"]\n";
    admit_result r = admit_engine_new(bad, sizeof bad - 1, NULL, &engine, &err);
    ok(r == ADMIT_RESULT_POLICY_ERROR && !engine && admit_error_count(err) >= 1, "engine_new: an unknown scope");
    admit_str place = admit_error_place(err, 0), detail = admit_error_detail(err, 0);
    ok(place.ptr && detail.ptr && admit_error_line(err, 0) > 0 && admit_error_column(err, 0) > 0,
       "engine_new: the error has a place (%.*s), line and column", (int)place.len, place.ptr ? place.ptr : "");
    admit_str msg = admit_error_message(err);
    ok(msg.ptr && msg.ptr[msg.len] == '\0' && strlen(msg.ptr) == msg.len, "error message is NUL-terminated");
    ok(!admit_error_place(err, 99).ptr && admit_error_line(err, 99) == 0, "error: index out of range");
    admit_error_free(err);
    err = NULL;
    const char invalid_utf8[] = "realm = \"\xff\"";
    ok(admit_engine_new(invalid_utf8, sizeof invalid_utf8 - 1, NULL, &engine, &err) == ADMIT_RESULT_INVALID_UTF8,
       "engine_new: policy not UTF-8");
    admit_error_free(err);
    err = NULL;
    admit_engine_config cfg = {.format = 7};
    ok(admit_engine_new("", 0, &cfg, &engine, &err) == ADMIT_RESULT_INVALID_ARGUMENT, "engine_new: unknown format");
    admit_error_free(err);
    err = NULL;
    admit_engine_config cfg2 = {.format = ADMIT_FORMAT_TOML, .env = NULL, .env_len = 2};
    ok(admit_engine_new("", 0, &cfg2, &engine, &err) == ADMIT_RESULT_NULL_ARGUMENT, "engine_new: NULL env");
    admit_error_free(err);
    err = NULL;
    admit_pair env_bad = {"A", 1, "\xc3", 1};
    admit_engine_config cfg3 = {.format = ADMIT_FORMAT_TOML, .env = &env_bad, .env_len = 1};
    ok(admit_engine_new("", 0, &cfg3, &engine, &err) == ADMIT_RESULT_INVALID_UTF8, "engine_new: env value not UTF-8");
    admit_error_free(err);
    err = NULL;
    const char json_policy[] = "{\"scopes\": []}";
    admit_engine_config cfg4 = {.format = ADMIT_FORMAT_JSON};
    ok(admit_engine_new(json_policy, sizeof json_policy - 1, &cfg4, &engine, &err) == ADMIT_RESULT_OK,
       "engine_new: a JSON policy");
    admit_engine_free(engine);
    engine = NULL;
    /* a {file = ...} reference without base_dir is refused, with one it is read */
    const char file_policy[] = "realm = { file = \"realm.txt\" }\n";
    ok(admit_engine_new(file_policy, sizeof file_policy - 1, NULL, &engine, &err) == ADMIT_RESULT_POLICY_ERROR,
       "engine_new: no base_dir, no file reads");
    admit_error_free(err);
    err = NULL;

    /* admit_decide with NULLs */
    admit_decision *d = admit_decide(NULL, NULL);
    ok(d && !admit_decision_allow(d) && admit_decision_status(d) == 500 &&
           streq(admit_decision_reason(d), "malformed_request"),
       "decide: NULL engine is the fallback deny");
    admit_decision_free(d);
    d = admit_decide(e, NULL);
    ok(d && !admit_decision_allow(d) && admit_decision_status(d) == 400 &&
           streq(admit_decision_reason(d), "malformed_request"),
       "decide: NULL request is malformed (the policy's 400)");
    admit_decision_free(d);
    admit_request req = {NULL, 3, "/api/v1/status", 14, NULL, 0, NULL, 0, 1790000000, 0};
    d = admit_decide(e, &req);
    ok(!admit_decision_allow(d) && streq(admit_decision_reason(d), "malformed_request"), "decide: NULL method");
    admit_decision_free(d);
    req.method = "\xff\xfe";
    req.method_len = 2;
    d = admit_decide(e, &req);
    ok(!admit_decision_allow(d) && streq(admit_decision_message(d), "method is not UTF-8"), "decide: method not UTF-8");
    admit_decision_free(d);
    req.method = "GET";
    req.headers = NULL;
    req.headers_len = 3;
    d = admit_decide(e, &req);
    ok(!admit_decision_allow(d) && streq(admit_decision_reason(d), "malformed_request"), "decide: NULL headers");
    admit_decision_free(d);
    admit_pair hnull = {NULL, 9, "demo-admin-key", 14};
    req.headers = &hnull;
    req.headers_len = 1;
    d = admit_decide(e, &req);
    ok(!admit_decision_allow(d) && streq(admit_decision_reason(d), "malformed_request"), "decide: NULL header name");
    admit_decision_free(d);
    admit_pair hbin = {"X-API-Key", 9, "demo-admin-key\0\xff", 16};
    req.headers = &hbin;
    d = admit_decide(e, &req);
    ok(!admit_decision_allow(d) && admit_decision_status(d) >= 400, "decide: a header with NUL and 0xff bytes is denied");
    admit_decision_free(d);
    req.peer = "\xff";
    req.peer_len = 1;
    d = admit_decide(e, &req);
    ok(!admit_decision_allow(d) && streq(admit_decision_reason(d), "malformed_request"), "decide: peer not UTF-8");
    admit_decision_free(d);

    /* lengths are honoured: no NUL terminator is read */
    const char buffer[] = "GETX/api/v1/statusXXXX X-API-Keydemo-analyst-keyZZZ";
    admit_pair hl = {buffer + 23, 9, buffer + 32, 16};
    admit_request lreq = {buffer, 3, buffer + 4, 14, &hl, 1, NULL, 0, 1790000000, 0};
    d = admit_decide(e, &lreq);
    ok(admit_decision_allow(d) && streq(admit_decision_principal_id(d), "carol"),
       "decide: strings are read by length, not to a NUL");
    admit_decision_free(d);

    /* many headers (past the inline array) */
    admit_pair many[40];
    for (int i = 0; i < 40; i++) many[i] = pair_of("X-Other", "x");
    many[39] = pair_of("X-API-Key", "demo-admin-key");
    admit_request mreq = {"GET", 3, "/api/v1/jobs", 12, many, 40, NULL, 0, 1790000000, 0};
    d = admit_decide(e, &mreq);
    ok(admit_decision_allow(d) && streq(admit_decision_principal_id(d), "alice"), "decide: 40 headers");
    admit_decision_free(d);

    /* an oversize header is a clear deny */
    size_t big = 200000;
    char *huge = malloc(big);
    memset(huge, 'a', big);
    admit_pair hh = {"X-API-Key", 9, huge, big};
    admit_request hreq = {"GET", 3, "/api/v1/jobs", 12, &hh, 1, NULL, 0, 1790000000, 0};
    d = admit_decide(e, &hreq);
    ok(!admit_decision_allow(d) && admit_decision_status(d) >= 400, "decide: a 200 KB header is denied");
    admit_decision_free(d);
    free(huge);

    /* accessors on NULL */
    admit_str n, v;
    ok(!admit_decision_allow(NULL) && admit_decision_status(NULL) == 500 && !admit_decision_reason(NULL).ptr &&
           !admit_decision_message(NULL).ptr && !admit_decision_body(NULL).ptr && !admit_decision_rule(NULL).ptr &&
           !admit_decision_dry_run(NULL) && admit_decision_header_count(NULL) == 0 &&
           admit_decision_header(NULL, 0, &n, &v) == ADMIT_RESULT_NULL_ARGUMENT && !n.ptr && !v.ptr &&
           !admit_decision_header_get(NULL, "Vary", 4).ptr && !admit_decision_principal_id(NULL).ptr &&
           !admit_decision_principal_kind(NULL).ptr && !admit_decision_principal_authenticator(NULL).ptr &&
           admit_decision_role_count(NULL) == 0 && !admit_decision_role(NULL, 0).ptr &&
           admit_decision_scope_count(NULL) == 0 && !admit_decision_scope(NULL, 0).ptr &&
           admit_decision_constraint_count(NULL) == 0 &&
           admit_decision_constraint(NULL, 0, NULL, NULL) == ADMIT_RESULT_NULL_ARGUMENT &&
           !admit_decision_constraint_get(NULL, "owner", 5).ptr,
       "decision accessors accept NULL");
    char *s = (char *)1;
    ok(admit_decision_to_json(NULL, &s, NULL) == ADMIT_RESULT_NULL_ARGUMENT && s == NULL, "to_json: NULL decision");
    s = (char *)1;
    ok(admit_decision_claims_json(NULL, &s, NULL) == ADMIT_RESULT_NULL_ARGUMENT && s == NULL, "claims: NULL decision");
    ok(admit_error_code(NULL) == ADMIT_RESULT_NULL_ARGUMENT && !admit_error_message(NULL).ptr &&
           admit_error_count(NULL) == 0 && !admit_error_place(NULL, 0).ptr && !admit_error_detail(NULL, 0).ptr &&
           admit_error_line(NULL, 0) == 0 && admit_error_column(NULL, 0) == 0,
       "error accessors accept NULL");
    admit_decision_free(NULL);
    admit_engine_free(NULL);
    admit_error_free(NULL);
    admit_string_free(NULL);
    ok(1, "the frees accept NULL");
    ok(admit_now() > 1700000000, "admit_now reads the clock");
    ok(strcmp(admit_version(), ADMIT_H_VERSION) == 0, "admit_version matches the header");

    /* a decision's accessors, FetchML */
    d = fetch(e, "GET", "/api/v1/jobs", "demo-researcher-key");
    ok(admit_decision_allow(d) && streq(admit_decision_principal_id(d), "bob") &&
           streq(admit_decision_constraint_get(d, "owner", 5), "bob") && admit_decision_constraint_count(d) == 1 &&
           streq(admit_decision_rule(d), "list-jobs") && streq(admit_decision_principal_kind(d), "api_key") &&
           admit_decision_role_count(d) >= 2 && admit_decision_scope_count(d) >= 3 && !admit_decision_body(d).ptr,
       "fetchml: bob lists his own jobs");
    ok(admit_decision_header(d, 99, &n, &v) == ADMIT_RESULT_INVALID_ARGUMENT && !n.ptr && !v.ptr,
       "decision: header index out of range");
    ok(!admit_decision_role(d, 99).ptr && !admit_decision_scope(d, 99).ptr, "decision: role/scope past the end");
    ok(admit_decision_constraint(d, 0, &n, &v) == ADMIT_RESULT_OK && streq(n, "owner") && streq(v, "bob"),
       "decision: constraint by index");
    s = (char *)1;
    ok(admit_decision_claims_json(d, &s, NULL) == ADMIT_RESULT_OK && s == NULL, "claims: none for an API key");
    admit_decision_free(d);
    d = fetch(e, "GET", "/api/v1/jobs", NULL);
    ok(!admit_decision_allow(d) && admit_decision_status(d) == 401 &&
           streq(admit_decision_reason(d), "missing_credentials") && admit_decision_body(d).ptr &&
           admit_decision_header_get(d, "www-authenticate", 16).ptr && !admit_decision_principal_id(d).ptr,
       "fetchml: no key is 401 with a challenge and a body");
    admit_decision_free(d);

    /* admit_decide_json with NULLs and bad JSON */
    char *out = (char *)1;
    size_t out_len = 0;
    const char good[] = "{\"method\":\"GET\",\"path\":\"/api/v1/status\",\"headers\":{\"X-API-Key\":\"demo-analyst-key\"}}";
    ok(admit_decide_json(NULL, good, sizeof good - 1, &out, &out_len) == ADMIT_RESULT_NULL_ARGUMENT && out &&
           strstr(out, "\"allow\":false") && strstr(out, "\"status\":500"),
       "decide_json: NULL engine gives the fallback deny");
    admit_string_free(out);
    ok(admit_decide_json(e, NULL, 5, &out, NULL) == ADMIT_RESULT_NULL_ARGUMENT && out && strstr(out, "\"allow\":false"),
       "decide_json: NULL request");
    admit_string_free(out);
    ok(admit_decide_json(e, "{", 1, &out, &out_len) == ADMIT_RESULT_INVALID_REQUEST && out &&
           strstr(out, "\"allow\":false") && strstr(out, "malformed_request") && strlen(out) == out_len,
       "decide_json: truncated JSON is an error and a deny");
    admit_string_free(out);
    const char unknown[] = "{\"method\":\"GET\",\"path\":\"/\",\"now\":1,\"nwo\":2}";
    ok(admit_decide_json(e, unknown, sizeof unknown - 1, &out, NULL) == ADMIT_RESULT_INVALID_REQUEST && out &&
           strstr(out, "\"allow\":false"),
       "decide_json: an unknown field is refused");
    admit_string_free(out);
    ok(admit_decide_json(e, "\xff\xfe", 2, &out, NULL) == ADMIT_RESULT_INVALID_REQUEST && out, "decide_json: not UTF-8");
    admit_string_free(out);
    ok(admit_decide_json(e, good, sizeof good - 1, &out, &out_len) == ADMIT_RESULT_OK && out &&
           strstr(out, "\"allow\":true") && strstr(out, "\"carol\""),
       "decide_json: a missing now is the clock");
    admit_string_free(out);
    ok(admit_decide_json(e, good, sizeof good - 1, NULL, NULL) == ADMIT_RESULT_OK, "decide_json: NULL decision_out");

    /* admit_engine_explain with NULLs and bad JSON: always an explanation whose decision
     * is a deny, never the request's text */
    ok(admit_engine_explain(NULL, good, sizeof good - 1, &out, &out_len) == ADMIT_RESULT_NULL_ARGUMENT && out &&
           strstr(out, "\"status\":500") && strstr(out, "\"trace\":null"),
       "explain: NULL engine: the fallback deny");
    admit_string_free(out);
    ok(admit_engine_explain(e, NULL, 5, &out, NULL) == ADMIT_RESULT_NULL_ARGUMENT && out &&
           strstr(out, "\"allow\":false") && strstr(out, "\"refused\":\"request JSON is NULL\""),
       "explain: NULL request: a refused target");
    admit_string_free(out);
    ok(admit_engine_explain(e, "{", 1, &out, &out_len) == ADMIT_RESULT_INVALID_REQUEST && out &&
           strstr(out, "\"reason\":\"malformed_request\"") && out_len == strlen(out),
       "explain: unreadable JSON is malformed_request");
    admit_string_free(out);
    ok(admit_engine_explain(e, good, sizeof good - 1, &out, &out_len) == ADMIT_RESULT_OK && out &&
           strstr(out, "\"trace\":{\"version\":1"),
       "explain: a trace");
    admit_string_free(out);
    ok(admit_engine_explain(e, good, sizeof good - 1, NULL, NULL) == ADMIT_RESULT_OK, "explain: NULL explanation_out");

    /* admit_engine_set_jwks with NULLs */
    size_t keys = 99;
    ok(admit_engine_set_jwks(NULL, "clerk", 5, "{}", 2, &keys, &err) == ADMIT_RESULT_NULL_ARGUMENT && keys == 0 &&
           err,
       "set_jwks: NULL engine");
    admit_error_free(err);
    err = NULL;
    ok(admit_engine_set_jwks(e, "clerk", 5, "{}", 2, NULL, &err) == ADMIT_RESULT_ENGINE_ERROR &&
           admit_error_message(err).ptr,
       "set_jwks: unknown authenticator");
    admit_error_free(err);
    err = NULL;
    ok(admit_engine_set_jwks(e, NULL, 5, NULL, 0, NULL, NULL) == ADMIT_RESULT_NULL_ARGUMENT, "set_jwks: NULL id");
    admit_engine_free(e);
}

/* ---- key rotation -------------------------------------------------------------------- */

#define CLERK_JWKS_URL "https://test-instance.clerk.accounts.dev/.well-known/jwks.json"

static json_t *clerk_env(void) {
    return json_pack("{ssssssss}", "SKILLMEAT_AUTH_ENABLED", "true", "CLERK_ISSUER",
                     "https://test-instance.clerk.accounts.dev", "CLERK_AUDIENCE", "skillmeat-api", "CLERK_JWKS_URL",
                     CLERK_JWKS_URL);
}

/* SkillMeat with Clerk on, and the key set in `jwks_file` handed over as a host that
 * fetched CLERK_JWKS_URL would. NULL when it does not load. */
static admit_engine *clerk_engine(const char *jwks_file) {
    json_t *env = clerk_env();
    admit_engine *e = NULL;
    admit_error *err = NULL;
    engine_for("examples/policies/skillmeat.toml", env, &e, &err);
    admit_error_free(err);
    json_decref(env);
    char *p = path_join(root, jwks_file);
    size_t len = 0;
    char *jwks = read_file(p, &len);
    free(p);
    if (e && admit_engine_set_jwks(e, "clerk", 5, jwks, len, NULL, NULL) != ADMIT_RESULT_OK) {
        admit_engine_free(e);
        e = NULL;
    }
    free(jwks);
    return e;
}

static char *bearer(const char *token_name) {
    const char *t = json_string_value(json_object_get(tokens, token_name));
    size_t n = strlen(t ? t : "") + 8;
    char *h = malloc(n);
    snprintf(h, n, "Bearer %s", t ? t : "");
    return h;
}

static admit_decision *clerk_decide(const admit_engine *e, const char *auth) {
    admit_pair h = pair_of("Authorization", auth);
    admit_request req = {"POST", 4, "/api/v1/artifacts", 17, &h, 1, NULL, 0, 1790000000, 0};
    return admit_decide(e, &req);
}

static void test_set_jwks(void) {
    /* Without a set, a jwks_url authenticator takes no token; its URL is listed. */
    json_t *env = clerk_env();
    admit_engine *e = NULL;
    admit_error *err = NULL;
    ok(engine_for("examples/policies/skillmeat.toml", env, &e, &err) == ADMIT_RESULT_OK, "skillmeat with Clerk loads");
    admit_error_free(err);
    err = NULL;
    char *auth = bearer("clerk_org_admin");
    admit_decision *d0 = clerk_decide(e, auth);
    ok(admit_decision_reason_code(d0) == ADMIT_REASON_UNKNOWN_KEY, "a jwks_url authenticator takes no token before set_jwks");
    admit_decision_free(d0);
    free(auth);
    admit_str id = {0}, url = {0};
    ok(admit_engine_jwks_url_count(e) == 1 && admit_engine_jwks_url(e, 0, &id, &url) == ADMIT_RESULT_OK &&
           streq(id, "clerk") && streq(url, CLERK_JWKS_URL),
       "jwks_url 0 is clerk's CLERK_JWKS_URL");
    ok(admit_engine_jwks_url(e, 1, &id, &url) == ADMIT_RESULT_INVALID_ARGUMENT && !id.ptr && !url.ptr,
       "jwks_url: an index past the end");
    ok(admit_engine_jwks_url(NULL, 0, &id, NULL) == ADMIT_RESULT_NULL_ARGUMENT && !id.ptr &&
           admit_engine_jwks_url_count(NULL) == 0 && admit_engine_keys_file_count(e) == 0,
       "jwks_url: NULL engine; no keys file in skillmeat");
    admit_engine_free(e);
    json_decref(env);
    e = clerk_engine("tests/fixtures/jwks.json");
    ok(e != NULL, "skillmeat with Clerk and its set");
    auth = bearer("clerk_rotated_kid");
    admit_decision *d = clerk_decide(e, auth);
    ok(!admit_decision_allow(d) && streq(admit_decision_reason(d), "unknown_key") &&
           admit_decision_reason_code(d) == ADMIT_REASON_UNKNOWN_KEY,
       "before rotation, the new kid is unknown_key (ADMIT_REASON_UNKNOWN_KEY)");
    admit_decision_free(d);
    char *p = path_join(root, "tests/fixtures/jwks-rotated.json");
    size_t len = 0;
    char *rotated = read_file(p, &len);
    free(p);
    size_t keys = 0;
    ok(admit_engine_set_jwks(e, "clerk", 5, rotated, len, &keys, &err) == ADMIT_RESULT_OK && keys >= 1 && !err,
       "set_jwks loads the rotated key set");
    d = clerk_decide(e, auth);
    ok(admit_decision_allow(d) && streq(admit_decision_principal_id(d), "user_2abc"),
       "after rotation, the new kid is accepted");
    char *claims = NULL;
    ok(admit_decision_claims_json(d, &claims, NULL) == ADMIT_RESULT_OK && claims && strstr(claims, "user_2abc"),
       "a JWT principal has claims");
    admit_string_free(claims);
    admit_decision_free(d);
    ok(admit_engine_set_jwks(e, "clerk", 5, "{\"keys\":[]}", 11, &keys, &err) == ADMIT_RESULT_ENGINE_ERROR && err,
       "set_jwks: an empty key set is refused");
    admit_error_free(err);
    d = clerk_decide(e, auth);
    ok(admit_decision_allow(d), "a refused key set leaves the old one in place");
    admit_decision_free(d);
    free(rotated);
    free(auth);
    admit_engine_free(e);
}

/* ---- keys files ---------------------------------------------------------------------- */

static int has_text(admit_str s, const char *needle);

static char *read_rel(const char *rel, size_t *len) {
    char *p = path_join(root, rel);
    char *t = read_file(p, len);
    free(p);
    return t;
}

static void test_set_keys(void) {
    admit_engine *e = fetchml();
    admit_str id = {0}, path = {0};
    ok(admit_engine_keys_file_count(e) == 1 && admit_engine_keys_file(e, 0, &id, &path) == ADMIT_RESULT_OK &&
           streq(id, "fetchml-keys") && streq(path, "fetchml-keys.toml") && admit_engine_jwks_url_count(e) == 0,
       "keys_file 0 is fetchml-keys.toml, as the policy names it");
    ok(admit_engine_keys_file(e, 1, &id, &path) == ADMIT_RESULT_INVALID_ARGUMENT && !id.ptr && !path.ptr &&
           admit_engine_keys_file(NULL, 0, NULL, NULL) == ADMIT_RESULT_NULL_ARGUMENT,
       "keys_file: an index past the end, a NULL engine");

    admit_decision *d = fetch(e, "GET", "/api/v1/jobs", "demo-researcher-key");
    ok(admit_decision_allow(d), "before: bob's key lists his jobs");
    admit_decision_free(d);
    size_t len = 0, keys = 0;
    char *rotated = read_rel("tests/fixtures/fetchml-keys-rotated.toml", &len);
    admit_error *err = NULL;
    ok(admit_engine_set_keys(e, "fetchml-keys", 12, rotated, len, &keys, &err) == ADMIT_RESULT_OK && keys >= 3 && !err,
       "set_keys takes the file where bob is revoked and frank added (%zu keys)", keys);
    d = fetch(e, "GET", "/api/v1/jobs", "demo-researcher-key");
    ok(!admit_decision_allow(d) && admit_decision_reason_code(d) == ADMIT_REASON_REVOKED,
       "after: the next decision refuses bob's key as revoked");
    admit_decision_free(d);
    d = fetch(e, "GET", "/api/v1/jobs", "demo-frank-key");
    ok(admit_decision_allow(d) && streq(admit_decision_principal_id(d), "frank"), "after: frank's new key passes");
    admit_decision_free(d);

    /* A bad file is refused whole, and the error quotes none of its values. */
    static const char *const bad[] = {
        "[[keys]]\nid = \"x\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000secret\"\n",
        "[[keys]]\nid = \"x\"\nsha256 = \"ac5bb3526d3be432ba19fb1fc0712d350c160bd2169cd24401c9fcaeaac2d860\"\nroles = "
        "[\"no-such-role\"]\n",
        "{\"keys\": [",
        "[[keys]]\nid = 5\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        keys = 99;
        admit_result r = admit_engine_set_keys(e, "fetchml-keys", 12, bad[i], strlen(bad[i]), &keys, &err);
        admit_str m = admit_error_message(err);
        ok(r == ADMIT_RESULT_ENGINE_ERROR && keys == 0 && m.ptr && !strstr(m.ptr, "secret") && strstr(m.ptr, "old keys"),
           "set_keys refuses bad file %zu: %.*s", i, (int)m.len, m.ptr ? m.ptr : "");
        admit_error_free(err);
        err = NULL;
    }
    d = fetch(e, "GET", "/api/v1/jobs", "demo-frank-key");
    ok(admit_decision_allow(d), "a refused file keeps the keys in force (frank)");
    admit_decision_free(d);
    d = fetch(e, "GET", "/api/v1/jobs", "demo-researcher-key");
    ok(admit_decision_reason_code(d) == ADMIT_REASON_REVOKED, "a refused file keeps the keys in force (bob revoked)");
    admit_decision_free(d);

    /* NULL, not UTF-8, too large, the wrong authenticator: clear errors, nothing changed. */
    ok(admit_engine_set_keys(NULL, "fetchml-keys", 12, rotated, len, NULL, &err) == ADMIT_RESULT_NULL_ARGUMENT &&
           admit_error_code(err) == ADMIT_RESULT_NULL_ARGUMENT,
       "set_keys: NULL engine");
    admit_error_free(err);
    ok(admit_engine_set_keys(e, NULL, 3, rotated, len, NULL, &err) == ADMIT_RESULT_NULL_ARGUMENT &&
           has_text(admit_error_message(err), "authenticator is NULL"),
       "set_keys: NULL authenticator with a length");
    admit_error_free(err);
    ok(admit_engine_set_keys(e, "fetchml-keys", 12, NULL, 10, NULL, &err) == ADMIT_RESULT_NULL_ARGUMENT &&
           has_text(admit_error_message(err), "keys_file is NULL"),
       "set_keys: NULL file with a length");
    admit_error_free(err);
    ok(admit_engine_set_keys(e, "fetchml-keys", 12, "\xff\xfe", 2, NULL, &err) == ADMIT_RESULT_INVALID_UTF8 &&
           has_text(admit_error_message(err), "keys_file is not UTF-8"),
       "set_keys: a file that is not UTF-8");
    admit_error_free(err);
    /* An empty file (more likely cut short while written than meant to hold no key) is
     * refused and the keys stay; a file that says `keys = []` empties the table. */
    d = fetch(e, "GET", "/api/v1/jobs", "demo-frank-key");
    int frank_before = admit_decision_allow(d);
    admit_decision_free(d);
    ok(admit_engine_set_keys(e, "fetchml-keys", 12, NULL, 0, NULL, &err) == ADMIT_RESULT_ENGINE_ERROR &&
           has_text(admit_error_message(err), "keys"),
       "set_keys: NULL with length 0 is an empty file: refused");
    admit_error_free(err);
    err = NULL;
    d = fetch(e, "GET", "/api/v1/jobs", "demo-frank-key");
    ok(admit_decision_allow(d) == frank_before, "an empty keys file leaves the keys as they were");
    admit_decision_free(d);
    ok(admit_engine_set_keys(e, "fetchml-keys", 12, "keys = []", 9, NULL, &err) == ADMIT_RESULT_OK,
       "set_keys: `keys = []` is a file with no key");
    admit_error_free(err);
    err = NULL;
    d = fetch(e, "GET", "/api/v1/jobs", "demo-frank-key");
    ok(!admit_decision_allow(d), "a keys file with no key leaves no key");
    admit_decision_free(d);
    size_t huge_len = 17u << 20;
    char *huge = malloc(huge_len);
    memset(huge, '#', huge_len);
    ok(admit_engine_set_keys(e, "fetchml-keys", 12, huge, huge_len, NULL, &err) == ADMIT_RESULT_ENGINE_ERROR &&
           has_text(admit_error_message(err), "at most"),
       "set_keys: a 17 MB file is refused");
    admit_error_free(err);
    free(huge);
    ok(admit_engine_set_keys(e, "nope", 4, rotated, len, NULL, &err) == ADMIT_RESULT_ENGINE_ERROR &&
           has_text(admit_error_message(err), "nope"),
       "set_keys: an unknown authenticator");
    admit_error_free(err);
    admit_engine *clerk = clerk_engine("tests/fixtures/jwks.json");
    ok(admit_engine_set_keys(clerk, "clerk", 5, rotated, len, NULL, &err) == ADMIT_RESULT_ENGINE_ERROR &&
           has_text(admit_error_message(err), "not an api_key"),
       "set_keys: a jwt authenticator has no keys file");
    admit_error_free(err);
    admit_engine_free(clerk);
    ok(admit_engine_set_keys(e, "fetchml-keys", 12, rotated, len, NULL, NULL) == ADMIT_RESULT_OK,
       "set_keys without out-pointers");
    free(rotated);
    admit_engine_free(e);

    /* Without a base_dir, a policy with a keys file does not load. */
    size_t plen = 0;
    char *policy = read_rel("examples/policies/fetchml.toml", &plen);
    admit_engine *none = NULL;
    ok(admit_engine_new(policy, plen, NULL, &none, &err) == ADMIT_RESULT_POLICY_ERROR && !none &&
           has_text(admit_error_message(err), "base_dir"),
       "fetchml.toml without base_dir: its keys file cannot be read");
    admit_error_free(err);
    free(policy);
}

/* ---- the fetch rules ----------------------------------------------------------------- */

static void test_fetch_rules(void) {
    admit_error *err = NULL;
    ok(ADMIT_FETCH_TIMEOUT_SECS == 5 && ADMIT_FETCH_MAX_BYTES == 1048576 && ADMIT_FETCH_UNKNOWN_KEY_INTERVAL_SECS == 30,
       "the fetch constants");
    ok(admit_fetch_check_url(CLERK_JWKS_URL, strlen(CLERK_JWKS_URL), &err) == ADMIT_RESULT_OK && !err,
       "check_url: https");
    ok(admit_fetch_check_url("http://127.0.0.1:9/j", 20, NULL) == ADMIT_RESULT_OK, "check_url: http to loopback");
    const char *leak = "https://user:secret-token@issuer.example/";
    ok(admit_fetch_check_url(leak, strlen(leak), &err) == ADMIT_RESULT_INVALID_ARGUMENT &&
           !has_text(admit_error_message(err), "secret-token"),
       "check_url: user info refused, not quoted");
    admit_error_free(err);
    ok(admit_fetch_check_url("http://10.0.0.1/j", 17, &err) == ADMIT_RESULT_INVALID_ARGUMENT &&
           has_text(admit_error_message(err), "https"),
       "check_url: plain http elsewhere refused");
    admit_error_free(err);
    ok(admit_fetch_check_url(NULL, 5, NULL) == ADMIT_RESULT_NULL_ARGUMENT, "check_url: NULL");
    ok(admit_fetch_refresh_after("max-age=1000", 12) == 900 && admit_fetch_refresh_after(NULL, 0) == 270 &&
           admit_fetch_refresh_after("no-store", 8) == 60,
       "refresh_after follows Cache-Control");
    ok(admit_fetch_retry_after(1) == 1 && admit_fetch_retry_after(3) == 4 && admit_fetch_retry_after(100) == 300,
       "retry_after doubles to 300 s");
}

/* ---- threads ------------------------------------------------------------------------- */

typedef struct {
    const admit_engine *fetchml;
    const admit_engine *clerk;
    const char *jwks;
    size_t jwks_len;
    int iterations;
    int index;
    int errors;
} worker_t;

static void *decide_worker(void *arg) {
    worker_t *w = arg;
    static const char *keys[] = {"demo-admin-key", "demo-researcher-key", "demo-analyst-key", "demo-revoked-key", NULL};
    static const char *ids[] = {"alice", "bob", "carol", NULL, NULL};
    static const int allowed[] = {1, 1, 0, 0, 0};
    char *auth = bearer("clerk_rotated_kid");
    for (int i = 0; i < w->iterations; i++) {
        int k = (i + w->index) % 5;
        admit_decision *d = fetch(w->fetchml, "POST", "/api/v1/jobs", keys[k]);
        if (admit_decision_allow(d) != allowed[k]) w->errors++;
        if (ids[k] && !streq(admit_decision_principal_id(d), ids[k])) w->errors++;
        admit_decision_free(d);
        char *out = NULL;
        const char j[] = "{\"method\":\"GET\",\"path\":\"/api/v1/status\",\"headers\":[[\"X-API-Key\",\"demo-analyst-key\"]],"
                         "\"now\":1790000000}";
        if (admit_decide_json(w->fetchml, j, sizeof j - 1, &out, NULL) != ADMIT_RESULT_OK || !strstr(out, "\"allow\":true"))
            w->errors++;
        admit_string_free(out);
        d = clerk_decide(w->clerk, auth);
        if (!admit_decision_allow(d)) w->errors++;
        admit_decision_free(d);
    }
    free(auth);
    return NULL;
}

static void *rotate_worker(void *arg) {
    worker_t *w = arg;
    for (int i = 0; i < w->iterations; i++) {
        admit_error *err = NULL;
        if (admit_engine_set_jwks(w->clerk, "clerk", 5, w->jwks, w->jwks_len, NULL, &err) != ADMIT_RESULT_OK) w->errors++;
        admit_error_free(err);
    }
    return NULL;
}

static void test_threads(int iterations) {
    enum { N = 6 };
    admit_engine *f = fetchml();
    admit_engine *clerk = clerk_engine("tests/fixtures/jwks-rotated.json");
    char *p = path_join(root, "tests/fixtures/jwks-rotated.json");
    size_t len = 0;
    char *jwks = read_file(p, &len);
    free(p);
    pthread_t t[N + 1];
    worker_t w[N + 1];
    pthread_attr_t small; /* musl's default stack */
    pthread_attr_init(&small);
    pthread_attr_setstacksize(&small, 128 * 1024);
    for (int i = 0; i <= N; i++) {
        worker_t x = {f, clerk, jwks, len, iterations, i, 0};
        w[i] = x;
        pthread_create(&t[i], &small, i == N ? rotate_worker : decide_worker, &w[i]);
    }
    pthread_attr_destroy(&small);
    int errors = 0;
    for (int i = 0; i <= N; i++) {
        pthread_join(t[i], NULL);
        errors += w[i].errors;
    }
    ok(errors == 0, "%d threads (128 KB stacks) x %d iterations on one engine, one rotating its key set: %d wrong", N,
       iterations, errors);
    free(jwks);
    admit_engine_free(clerk);
    admit_engine_free(f);
}

/* ---- the request's flags: a `now` of 0, a decoded path ------------------------------ */

static int has_text(admit_str s, const char *needle) {
    if (!s.ptr) return 0;
    char *t = strndup(s.ptr, s.len);
    int found = t && strstr(t, needle) != NULL;
    free(t);
    return found;
}

static void test_now(void) {
    admit_engine *e = fetchml();
    admit_pair erin = pair_of("X-API-Key", "demo-expired-key");
    /* what a host gets when it forgets `now`: erin's key expired on 2025-01-01 */
    admit_request r = {0};
    r.method = "GET", r.method_len = 3, r.path = "/api/v1/status", r.path_len = 14;
    r.headers = &erin, r.headers_len = 1;
    admit_decision *d = admit_decide(e, &r);
    ok(!admit_decision_allow(d) && admit_decision_status(d) == 400 &&
           admit_decision_reason_code(d) == ADMIT_REASON_MALFORMED_REQUEST &&
           has_text(admit_decision_message(d), "now is 0 or negative") && !admit_decision_principal_id(d).ptr,
       "now: a zeroed now is malformed_request (400), not a decision in 1970");
    admit_decision_free(d);
    r.now = -1;
    d = admit_decide(e, &r);
    ok(!admit_decision_allow(d) && admit_decision_status(d) == 400 &&
           admit_decision_reason_code(d) == ADMIT_REASON_MALFORMED_REQUEST,
       "now: a negative now is malformed_request");
    admit_decision_free(d);
    r.now = 0;
    r.flags = ADMIT_REQUEST_ALLOW_NONPOSITIVE_NOW;
    d = admit_decide(e, &r);
    ok(admit_decision_allow(d) && streq(admit_decision_principal_id(d), "erin"),
       "now: ADMIT_REQUEST_ALLOW_NONPOSITIVE_NOW takes 0 as 1970, when erin's key had not expired");
    admit_decision_free(d);
    r.flags = 0;
    r.now = admit_now();
    d = admit_decide(e, &r);
    ok(!admit_decision_allow(d) && admit_decision_status(d) == 401 &&
           admit_decision_reason_code(d) == ADMIT_REASON_EXPIRED,
       "now: with admit_now() erin's key is expired (401)");
    admit_decision_free(d);
    r.flags = 1u << 31;
    d = admit_decide(e, &r);
    ok(!admit_decision_allow(d) && admit_decision_status(d) == 400 &&
           has_text(admit_decision_message(d), "flags"),
       "flags: an unknown bit is malformed_request");
    admit_decision_free(d);
    /* the JSON contract keeps its `now`: given, it is taken as it is (documented) */
    const char j[] = "{\"method\":\"GET\",\"path\":\"/api/v1/status\",\"headers\":[[\"X-API-Key\",\"demo-expired-key\"]],"
                     "\"now\":0}";
    char *out = NULL;
    ok(admit_decide_json(e, j, sizeof j - 1, &out, NULL) == ADMIT_RESULT_OK && out && strstr(out, "\"allow\":true"),
       "decide_json: an explicit now of 0 is taken as given (the JSON contract's time)");
    admit_string_free(out);
    admit_engine_free(e);
}

typedef struct {
    const char *path; /* as a router saw it, percent-decoded */
    size_t len;       /* 0: strlen */
    const char *key;
    uint32_t flags;
    int status;        /* the decision's status (200 when allowed) */
    const char *rule;  /* when allowed */
    const char *owner; /* the owner constraint when allowed, NULL for none */
} path_case;

static admit_decision *decide_path(const admit_engine *e, const path_case *c) {
    admit_pair h = pair_of("X-API-Key", c->key);
    admit_request r = {"GET", 3, c->path, c->len ? c->len : strlen(c->path), &h, 1, "10.0.0.1", 8, 1790000000, c->flags};
    return admit_decide(e, &r);
}

static void test_decoded_path(void) {
    admit_engine *e = fetchml();
    const uint32_t D = ADMIT_REQUEST_PATH_DECODED;
    static const char bob[] = "demo-researcher-key", alice[] = "demo-admin-key";
    const path_case cases[] = {
        {"/api/v1/jobs/bob/7", 0, bob, D, 200, "read-job", "bob"},
        {"/api/v1/jobs/bob/7", 0, bob, 0, 200, "read-job", "bob"},
        /* a decoded `?` is part of the segment the router matched, not a query */
        {"/api/v1/status?x", 0, bob, 0, 200, "status", NULL},
        {"/api/v1/status?x", 0, bob, D, 403, NULL, NULL},
        /* the router saw the owner `%62ob`, not bob: decoding it again would be bob */
        {"/api/v1/jobs/%62ob/7", 0, bob, D, 403, NULL, NULL},
        {"/api/v1/jobs/%62ob/7", 0, alice, D, 200, "read-job", NULL},
        {"/api/v1/jobs/%62ob/7", 0, bob, 0, 200, "read-job", "bob"}, /* what the flag prevents */
        {"/api/v1/jobs/bob/7%2F..", 0, bob, D, 200, "read-job", "bob"}, /* job `7%2F..`, one segment */
        {"/api/v1/jobs/bob/7#x", 0, bob, D, 200, "read-job", "bob"},
        {"/api/v1/jobs/b\xc3\xa9/7", 0, alice, D, 200, "read-job", NULL},
        {"/api/v1/jobs/b\xc3\xa9/7", 0, bob, D, 403, NULL, NULL},
        /* refused, as the raw forms are */
        {"/api/v1/jobs/bob\\7", 0, bob, D, 400, NULL, NULL},
        {"/api/v1/status\0/x", 17, bob, D, 400, NULL, NULL},
        {"/api/v1/jobs/alice/1/../../bob/7", 0, bob, D, 400, NULL, NULL},
        {"/api/v1/jobs/./bob/7", 0, bob, D, 400, NULL, NULL},
        {"/api/v1/jobs//bob/7", 0, bob, D, 400, NULL, NULL},
        {"/api/v1/jobs/bob/7/", 0, bob, D, 400, NULL, NULL},
        {"/api/v1/jobs/\xc0\xaf/7", 0, alice, D, 400, NULL, NULL}, /* not UTF-8 */
        {"/api/v1/jobs/a\x01/7", 0, alice, D, 400, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const path_case *c = &cases[i];
        admit_decision *d = decide_path(e, c);
        admit_str owner = admit_decision_constraint_get(d, "owner", 5);
        int good = admit_decision_status(d) == c->status && admit_decision_allow(d) == (c->status == 200);
        if (good && c->status == 200)
            good = streq(admit_decision_rule(d), c->rule) && (c->owner ? streq(owner, c->owner) : !owner.ptr);
        if (good && c->status == 400) good = admit_decision_reason_code(d) == ADMIT_REASON_MALFORMED_REQUEST;
        admit_str rule = admit_decision_rule(d);
        ok(good, "decoded path #%zu (%s, flags %u): want %d %s owner %s, got %u %.*s owner %.*s", i, c->path,
           c->flags, c->status, c->rule ? c->rule : "-", c->owner ? c->owner : "-", admit_decision_status(d),
           (int)rule.len, rule.ptr ? rule.ptr : "", (int)owner.len, owner.ptr ? owner.ptr : "");

        /* the same decision through the JSON contract, with admit_target_from_decoded */
        if (!(c->flags & D)) {
            admit_decision_free(d);
            continue;
        }
        char *target = NULL;
        size_t target_len = 0;
        admit_result tr = admit_target_from_decoded(c->path, c->len ? c->len : strlen(c->path), &target, &target_len);
        if (tr == ADMIT_RESULT_OK) {
            json_t *req = json_pack("{s:s, s:s%, s:[[s,s]], s:s, s:I}", "method", "GET", "path", target, target_len,
                                    "headers", "X-API-Key", c->key, "peer", "10.0.0.1", "now", (json_int_t)1790000000);
            char *rj = json_dumps(req, JSON_COMPACT), *out = NULL, *dj = NULL;
            admit_decide_json(e, rj, strlen(rj), &out, NULL);
            admit_decision_to_json(d, &dj, NULL);
            json_t *a = out ? json_loads(out, 0, NULL) : NULL, *b = dj ? json_loads(dj, 0, NULL) : NULL;
            ok(a && b && json_equal(a, b), "decoded path #%zu: the flag and admit_target_from_decoded agree", i);
            json_decref(a);
            json_decref(b);
            admit_string_free(out);
            admit_string_free(dj);
            free(rj);
            json_decref(req);
        } else {
            ok(c->status == 400 && tr == ADMIT_RESULT_INVALID_UTF8,
               "decoded path #%zu: admit_target_from_decoded refuses only text that is not UTF-8", i);
        }
        admit_string_free(target);
        admit_decision_free(d);
    }

    char *t = (char *)1;
    size_t n = 99;
    const char in[] = "/a?b#c%d \xc3\xa9/\\;x";
    ok(admit_target_from_decoded(in, sizeof in - 1, &t, &n) == ADMIT_RESULT_OK && t &&
           !strcmp(t, "/a%3Fb%23c%25d%20%C3%A9/%5C;x") && n == strlen(t),
       "target_from_decoded: %%, ?, #, space, non-ASCII and \\ are encoded; / and ; stay");
    admit_string_free(t);
    ok(admit_target_from_decoded("/x\0y", 4, &t, &n) == ADMIT_RESULT_OK && t && !strcmp(t, "/x%00y") && n == 6,
       "target_from_decoded: a NUL is read by length and encoded");
    admit_string_free(t);
    ok(admit_target_from_decoded("/api/v1/jobs", 12, &t, NULL) == ADMIT_RESULT_OK && t && !strcmp(t, "/api/v1/jobs"),
       "target_from_decoded: a plain path is unchanged");
    admit_string_free(t);
    t = (char *)1;
    ok(admit_target_from_decoded(NULL, 3, &t, &n) == ADMIT_RESULT_NULL_ARGUMENT && !t && n == 0,
       "target_from_decoded: NULL with a length");
    t = (char *)1;
    ok(admit_target_from_decoded("\xff", 1, &t, &n) == ADMIT_RESULT_INVALID_UTF8 && !t,
       "target_from_decoded: not UTF-8");
    ok(admit_target_from_decoded("/", 1, NULL, &n) == ADMIT_RESULT_NULL_ARGUMENT && n == 0,
       "target_from_decoded: NULL target_out");
    admit_engine_free(e);
}

/* ---- a NULL peer --------------------------------------------------------------------- */

static void test_peer(void) {
    admit_engine *e = fetchml();
    admit_pair h = pair_of("X-API-Key", "demo-admin-key");
    admit_request r = {"GET", 3, "/api/v1/jobs", 12, &h, 1, NULL, 9, 1790000000, 0};
    admit_decision *d = admit_decide(e, &r);
    ok(admit_decision_allow(d) && streq(admit_decision_principal_id(d), "alice"),
       "peer: NULL (with a stray length) is an unknown peer, not a malformed request");
    admit_decision_free(d);
    admit_engine_free(e);

    json_t *env = json_pack("{ss}", "ARTIFACT_MINER_EMAIL", "dev@example.com");
    admit_error *err = NULL;
    ok(engine_for("examples/policies/artifact-miner.toml", env, &e, &err) == ADMIT_RESULT_OK, "artifact-miner loads");
    admit_error_free(err);
    admit_pair host = pair_of("Host", "127.0.0.1:8000");
    admit_request local = {"GET", 3, "/questions", 10, &host, 1, "127.0.0.1", 9, 1790000000, 0};
    d = admit_decide(e, &local);
    ok(admit_decision_allow(d), "peer: 127.0.0.1 is local");
    admit_decision_free(d);
    const char *peers[] = {NULL, NULL, ""};
    const size_t lens[] = {0, 9, 0};
    for (int i = 0; i < 3; i++) {
        local.peer = peers[i];
        local.peer_len = lens[i];
        d = admit_decide(e, &local);
        ok(!admit_decision_allow(d) && admit_decision_status(d) == 403 &&
               admit_decision_reason_code(d) == ADMIT_REASON_NOT_LOCAL,
           "peer: %s (length %zu) is not local: 403 not_local", peers[i] ? "\"\"" : "NULL", lens[i]);
        admit_decision_free(d);
    }
    admit_engine_free(e);
    json_decref(env);
}

/* ---- reason codes and versions ------------------------------------------------------- */

static void test_codes_and_version(void) {
    ok(admit_decision_reason_code(NULL) == ADMIT_REASON_MALFORMED_REQUEST, "reason_code: NULL is malformed_request");
    admit_decision *d = admit_decide(NULL, NULL);
    ok(admit_decision_reason_code(d) == ADMIT_REASON_MALFORMED_REQUEST && reason_code_agrees(d),
       "reason_code: the fallback decision");
    admit_decision_free(d);
    ok(strcmp(admit_version(), ADMIT_H_VERSION) == 0, "admit_version matches the header's ADMIT_H_VERSION");
    ok(admit_version_number() == ADMIT_VERSION_NUMBER, "admit_version_number matches ADMIT_VERSION_NUMBER");
    char v[64];
    snprintf(v, sizeof v, "%d.%d.%d", ADMIT_VERSION_MAJOR, ADMIT_VERSION_MINOR, ADMIT_VERSION_PATCH);
    ok(strcmp(v, ADMIT_H_VERSION) == 0 &&
           ADMIT_VERSION_NUMBER == ADMIT_VERSION_MAJOR * 1000000 + ADMIT_VERSION_MINOR * 1000 + ADMIT_VERSION_PATCH,
       "ADMIT_VERSION_MAJOR/MINOR/PATCH spell ADMIT_H_VERSION (%s) and ADMIT_VERSION_NUMBER", v);
}

/* ---- stacks -------------------------------------------------------------------------- */

enum { SMALL_STACK = 128 * 1024, DEPTH = 100000 };

typedef struct {
    int (*fn)(void *);
    void *arg;
} task_t;

static void *run_task(void *p) {
    task_t *t = p;
    return (void *)(intptr_t)t->fn(t->arg);
}

/* Runs fn(arg) on a new thread with a stack of `size` bytes; its result, or -1. */
static int on_stack(size_t size, int (*fn)(void *), void *arg) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    if (pthread_attr_setstacksize(&a, size) != 0) return -1;
    task_t t = {fn, arg};
    pthread_t th;
    void *r = NULL;
    int made = pthread_create(&th, &a, run_task, &t);
    pthread_attr_destroy(&a);
    if (made != 0) return -1;
    pthread_join(th, &r);
    return (int)(intptr_t)r;
}

/* Runs fn(arg) on a `size` stack in a child process: 1 when it returned true, 0 when it
 * returned false or died (*signal_out: the signal, or 0). */
static int in_child(size_t size, int (*fn)(void *), void *arg, int *signal_out) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(on_stack(size, fn, arg) == 1 ? 0 : 1);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return 0;
    if (signal_out) *signal_out = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* open^depth middle close^depth, between prefix and suffix. */
static char *nested(const char *prefix, const char *open, const char *middle, const char *close, const char *suffix,
                    size_t depth) {
    buf_t b = {0};
    buf_add(&b, prefix, strlen(prefix));
    for (size_t i = 0; i < depth; i++) buf_add(&b, open, strlen(open));
    buf_add(&b, middle, strlen(middle));
    for (size_t i = 0; i < depth; i++) buf_add(&b, close, strlen(close));
    buf_add(&b, suffix, strlen(suffix));
    return b.s;
}

typedef struct {
    const char *what;
    char *text;
    uint32_t format; /* a policy's; UINT32_MAX: a request for admit_decide_json */
} deep_t;

/* FetchML, for the deep requests: built once when measuring; in a test child (NULL
 * here) each call builds and frees its own, so that nothing of admit's is alive when the
 * child exits (valgrind checks the child's leaks too). */
static admit_engine *deep_engine;

static int deep_call(void *p) {
    deep_t *x = p;
    if (x->format == UINT32_MAX) {
        admit_engine *e = deep_engine ? deep_engine : fetchml();
        char *out = NULL;
        admit_result r = admit_decide_json(e, x->text, strlen(x->text), &out, NULL);
        int good = r == ADMIT_RESULT_INVALID_REQUEST && out && strstr(out, "\"allow\":false") &&
                   strstr(out, "malformed_request");
        admit_string_free(out);
        if (e != deep_engine) admit_engine_free(e);
        return good;
    }
    admit_engine_config config = {x->format, NULL, 0, NULL, 0};
    admit_engine *e = NULL;
    admit_error *err = NULL;
    admit_result r = admit_engine_new(x->text, strlen(x->text), &config, &e, &err);
    int good = r == ADMIT_RESULT_POLICY_ERROR && !e && admit_error_message(err).ptr;
    admit_error_free(err);
    admit_engine_free(e);
    return good;
}

static deep_t *deep_inputs(size_t *n) {
    static const uint32_t REQ = UINT32_MAX;
    deep_t list[] = {
        {"a request of 100000 [", nested("", "[", "", "", "", DEPTH), REQ},
        {"a request of 100000 nested arrays", nested("", "[", "", "]", "", DEPTH), REQ},
        {"a request whose headers nest 100000 objects",
         nested("{\"method\":\"GET\",\"path\":\"/\",\"now\":1790000000,\"headers\":", "{\"a\":", "1", "}", "}", DEPTH),
         REQ},
        {"a TOML policy of 100000 nested arrays", nested("scopes = ", "[", "", "]", "\n", DEPTH), ADMIT_FORMAT_TOML},
        {"a TOML policy of 100000 [ unclosed", nested("scopes = ", "[", "", "", "\n", DEPTH), ADMIT_FORMAT_TOML},
        {"a TOML policy of 100000 nested inline tables", nested("realm = ", "{ a = ", "1", " }", "\n", DEPTH),
         ADMIT_FORMAT_TOML},
        {"a TOML policy with a 100000-part dotted key", nested("a", ".a", "", "", " = 1\n", DEPTH), ADMIT_FORMAT_TOML},
        {"a TOML policy with a 100000-part table header", nested("[a", ".a", "", "", "]\n", DEPTH), ADMIT_FORMAT_TOML},
        {"a JSON policy of 100000 nested arrays", nested("", "[", "", "]", "", DEPTH), ADMIT_FORMAT_JSON},
        {"a JSON policy of 100000 nested objects", nested("{\"realm\":", "{\"a\":", "1", "}", "}", DEPTH),
         ADMIT_FORMAT_JSON},
    };
    *n = sizeof list / sizeof list[0];
    deep_t *out = malloc(sizeof list);
    memcpy(out, list, sizeof list);
    return out;
}

static void test_deep_nesting(void) {
    size_t n = 0;
    deep_t *list = deep_inputs(&n);
    for (size_t i = 0; i < n; i++) {
        int sig = 0;
        int good = in_child(SMALL_STACK, deep_call, &list[i], &sig);
        ok(good, "128 KB stack: %s is an error, not a crash%s%s", list[i].what, sig ? ": killed by " : "",
           sig ? strsignal(sig) : "");
        free(list[i].text);
    }
    free(list);
}

/* ---- delegated authenticators: the host's check (admit_engine_set_check) ------------- */

static const char *DELEGATED_POLICY =
    "scopes = [\"notes:read\", \"notes:write\", \"admin\"]\n"
    "[roles.reader]\nscopes = [\"notes:read\"]\n"
    "[roles.writer]\nscopes = [\"notes:write\"]\nincludes = [\"reader\"]\n"
    "[[authenticators]]\ntype = \"delegated\"\nid = \"sessions\"\n"
    "sources = [{ cookie = \"sid\" }, { header = \"Authorization\", prefix = \"Session \" }]\n"
    "[[authenticators]]\ntype = \"api_key\"\nid = \"keys\"\n"
    "keys = [{ id = \"ci\", sha256 = \"5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5\","
    " roles = [\"reader\"] }]\n"
    "[[authenticators]]\ntype = \"anonymous\"\nid = \"guest\"\nprincipal = \"guest\"\n"
    "[[routes]]\nmethods = [\"GET\"]\npath = \"/notes/{owner}/{id}\"\nrequire = [\"notes:read\"]\n"
    "owner = { param = \"owner\", unless = [\"admin\"] }\nauthenticators = [\"sessions\"]\n"
    "[[routes]]\nmethods = [\"POST\"]\npath = \"/notes\"\nrequire = [\"notes:write\"]\nauthenticators = [\"sessions\"]\n"
    "[[routes]]\nmethods = [\"GET\"]\npath = \"/ci\"\nrequire = [\"notes:read\"]\nauthenticators = [\"keys\"]\n"
    "[[routes]]\nmethods = [\"GET\"]\npath = \"/feed\"\n";

enum {
    CHECK_TABLE,        /* the session table below */
    CHECK_NOTHING,      /* sets nothing */
    CHECK_NULL_ID,      /* a NULL id with a length */
    CHECK_BAD_UTF8,     /* a role that is not UTF-8 */
    CHECK_TWICE,        /* two principals */
    CHECK_BAD_REASON,   /* a refusal with a reason a check may not give */
    CHECK_LATE_REFUSAL, /* a principal, then a refusal */
    CHECK_ALL_REVOKED,  /* every session revoked */
    CHECK_REENTER,      /* decides another request on the same engine, then the table */
};

typedef struct {
    int mode;
    int calls;                /* atomic: the threads test shares it */
    admit_result codes[4];    /* what the setters returned, in order */
    int ncodes;
    char authenticator[32];
    char credential[64];
    int nul_terminated;
    const admit_engine *engine; /* for CHECK_REENTER */
    int reentered_ok;
} sessions_t;

static int view_is(admit_str s, const char *want) {
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static void record(sessions_t *s, admit_result code) {
    if (s->ncodes < 4) s->codes[s->ncodes++] = code;
}

static void principal(admit_check_result *r, const char *id, const char *role, const char *scope1, const char *scope2) {
    admit_check_result_set_principal(r, id, strlen(id));
    if (role) admit_check_result_add_role(r, role, strlen(role));
    if (scope1) admit_check_result_add_scope(r, scope1, strlen(scope1));
    if (scope2) admit_check_result_add_scope(r, scope2, strlen(scope2));
}

/* The application's check: a session table, or one of the misbehaviours above. */
static void sessions_check(void *user_data, admit_str authenticator, admit_str credential, admit_check_result *r) {
    sessions_t *s = user_data;
    __atomic_add_fetch(&s->calls, 1, __ATOMIC_RELAXED);
    if (s->mode != CHECK_TABLE) { /* the threads test reads nothing else; keep it race-free */
        snprintf(s->authenticator, sizeof s->authenticator, "%.*s", (int)authenticator.len, authenticator.ptr);
        snprintf(s->credential, sizeof s->credential, "%.*s", (int)credential.len, credential.ptr);
        s->nul_terminated = credential.ptr[credential.len] == '\0' && authenticator.ptr[authenticator.len] == '\0';
    }
    switch (s->mode) {
    case CHECK_NOTHING:
        return;
    case CHECK_NULL_ID:
        record(s, admit_check_result_set_principal(r, NULL, 5));
        record(s, admit_check_result_add_role(r, "writer", 6));
        return;
    case CHECK_BAD_UTF8:
        record(s, admit_check_result_set_principal(r, "alice", 5));
        record(s, admit_check_result_add_role(r, "\xff", 1));
        return;
    case CHECK_TWICE:
        record(s, admit_check_result_set_principal(r, "alice", 5));
        record(s, admit_check_result_add_role(r, "writer", 6));
        record(s, admit_check_result_set_principal(r, "root", 4));
        return;
    case CHECK_BAD_REASON:
        record(s, admit_check_result_refuse(r, ADMIT_REASON_OK));
        record(s, admit_check_result_set_principal(r, "alice", 5));
        return;
    case CHECK_LATE_REFUSAL:
        principal(r, "alice", "writer", NULL, NULL);
        record(s, admit_check_result_refuse(r, ADMIT_REASON_REVOKED));
        return;
    case CHECK_ALL_REVOKED:
        admit_check_result_refuse(r, ADMIT_REASON_REVOKED);
        return;
    case CHECK_REENTER: {
        admit_request q = {"GET", 3, "/feed", 5, NULL, 0, NULL, 0, 1790000000, 0};
        admit_decision *d = admit_decide(s->engine, &q);
        s->reentered_ok = admit_decision_allow(d) && streq(admit_decision_principal_id(d), "guest");
        admit_decision_free(d);
        break;
    }
    default:
        break;
    }
    if (view_is(credential, "s-alice")) principal(r, "alice", "writer", NULL, NULL);
    else if (view_is(credential, "s-bob")) principal(r, "bob", "reader", "not-declared", NULL);
    else if (view_is(credential, "s-root")) principal(r, "root", NULL, "admin", "notes:read");
    else if (view_is(credential, "s-typo")) principal(r, "carol", "wirter", NULL, NULL);
    else if (view_is(credential, "s-old")) admit_check_result_refuse(r, ADMIT_REASON_EXPIRED);
    else if (view_is(credential, "s-gone")) admit_check_result_refuse(r, ADMIT_REASON_REVOKED);
    else admit_check_result_refuse(r, ADMIT_REASON_INVALID_CREDENTIALS);
}

static admit_engine *delegated_engine(void) {
    admit_engine *e = NULL;
    admit_error *err = NULL;
    admit_result r = admit_engine_new(DELEGATED_POLICY, strlen(DELEGATED_POLICY), NULL, &e, &err);
    ok(r == ADMIT_RESULT_OK && e, "the delegated policy loads");
    admit_error_free(err);
    return e;
}

/* Decides `method path` with a `sid` cookie (NULL: none) and one more header (NULL: none). */
static admit_decision *session_decide(const admit_engine *e, const char *method, const char *path, const char *sid,
                                      const char *name, const char *value) {
    char cookie[96];
    snprintf(cookie, sizeof cookie, "theme=dark; sid=%s", sid ? sid : "");
    admit_pair h[2];
    size_t n = 0;
    if (sid) h[n++] = pair_of("Cookie", cookie);
    if (name) h[n++] = pair_of(name, value);
    admit_request req = {method, strlen(method), path, strlen(path), n ? h : NULL, n, NULL, 0, 1790000000, 0};
    return admit_decide(e, &req);
}

static int json_has(admit_decision *d, const char *needle) {
    char *json = NULL;
    admit_decision_to_json(d, &json, NULL);
    int found = json && strstr(json, needle) != NULL;
    admit_string_free(json);
    return found;
}

static void test_delegated(void) {
    admit_engine *e = delegated_engine();
    sessions_t s = {0};
    s.engine = e;
    admit_error *err = NULL;

    /* No check registered: a credential is refused, never an allow. */
    admit_decision *d = session_decide(e, "GET", "/notes/alice/1", "s-alice", NULL, NULL);
    ok(!admit_decision_allow(d) && admit_decision_status(d) == 401 &&
           admit_decision_reason_code(d) == ADMIT_REASON_INVALID_CREDENTIALS,
       "delegated: no check registered: refused (401 invalid_credentials)");
    admit_decision_free(d);

    /* Registering: only for a delegated authenticator. */
    ok(admit_engine_set_check(NULL, "sessions", 8, sessions_check, &s, &err) == ADMIT_RESULT_NULL_ARGUMENT && err,
       "delegated: set_check on a NULL engine");
    admit_error_free(err);
    err = NULL;
    ok(admit_engine_set_check(e, "keys", 4, sessions_check, &s, &err) == ADMIT_RESULT_ENGINE_ERROR && err &&
           has_text(admit_error_message(err), "not a delegated one"),
       "delegated: set_check on an api_key authenticator is an engine error");
    admit_error_free(err);
    err = NULL;
    ok(admit_engine_set_check(e, "\xff", 1, sessions_check, &s, &err) == ADMIT_RESULT_INVALID_UTF8,
       "delegated: set_check with a non-UTF-8 id");
    admit_error_free(err);
    err = NULL;
    ok(admit_engine_set_check(e, "sesions", 7, sessions_check, &s, &err) == ADMIT_RESULT_OK && !err,
       "delegated: set_check for an id no enabled authenticator has is kept (a disabled one never asks)");
    ok(admit_engine_set_check(e, "sessions", 8, sessions_check, &s, &err) == ADMIT_RESULT_OK && !err,
       "delegated: set_check");

    /* The principal, its roles and the owner rule. */
    d = session_decide(e, "GET", "/notes/alice/1", "s-alice", NULL, NULL);
    ok(admit_decision_allow(d) && streq(admit_decision_principal_id(d), "alice") &&
           streq(admit_decision_principal_authenticator(d), "sessions") &&
           streq(admit_decision_principal_kind(d), "delegated") && admit_decision_role_count(d) == 2 &&
           streq(admit_decision_role(d, 0), "writer") && streq(admit_decision_role(d, 1), "reader") &&
           streq(admit_decision_constraint_get(d, "owner", 5), "alice"),
       "delegated: alice's session: allowed as alice (writer, reader), owner alice");
    admit_decision_free(d);
    ok(s.calls == 1, "delegated: one call for one decision (%d)", s.calls);
    s.mode = CHECK_REENTER; /* records what it was given, and decides /feed inside the call */
    d = session_decide(e, "GET", "/notes/bob/1", "s-alice", NULL, NULL);
    ok(!admit_decision_allow(d) && admit_decision_reason_code(d) == ADMIT_REASON_INSUFFICIENT_SCOPE,
       "delegated: the owner rule applies to the host's principal");
    admit_decision_free(d);
    ok(!strcmp(s.authenticator, "sessions") && !strcmp(s.credential, "s-alice") && s.nul_terminated,
       "delegated: the callback gets the authenticator and the credential, NUL-terminated");
    ok(s.reentered_ok, "delegated: the callback may decide on the same engine");
    s.mode = CHECK_TABLE;
    d = session_decide(e, "GET", "/notes/bob/1", "s-bob", NULL, NULL);
    ok(admit_decision_allow(d) && admit_decision_scope_count(d) == 1 && streq(admit_decision_scope(d, 0), "notes:read"),
       "delegated: an undeclared scope does not count");
    admit_decision_free(d);
    d = session_decide(e, "GET", "/notes/bob/1", NULL, "Authorization", "Session s-root");
    ok(admit_decision_allow(d) && streq(admit_decision_principal_id(d), "root") &&
           admit_decision_constraint_count(d) == 0,
       "delegated: a declared direct scope lifts the owner limit (prefixed header source)");
    admit_decision_free(d);

    /* Refusals keep their reason and never fall through to the anonymous principal. */
    struct { const char *sid; admit_reason reason; } refused[] = {
        {"s-old", ADMIT_REASON_EXPIRED},
        {"s-gone", ADMIT_REASON_REVOKED},
        {"nope", ADMIT_REASON_INVALID_CREDENTIALS},
        {"s-typo", ADMIT_REASON_INVALID_CREDENTIALS}, /* a role the policy does not define */
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        d = session_decide(e, "GET", "/feed", refused[i].sid, NULL, NULL);
        ok(!admit_decision_allow(d) && admit_decision_status(d) == 401 &&
               admit_decision_reason_code(d) == refused[i].reason && !admit_decision_principal_id(d).ptr &&
               !json_has(d, refused[i].sid),
           "delegated: %s refused with its reason, no principal, the credential nowhere in the decision",
           refused[i].sid);
        admit_decision_free(d);
    }

    /* Where the check is never asked. */
    int before = s.calls;
    d = session_decide(e, "GET", "/feed", NULL, NULL, NULL);
    ok(admit_decision_allow(d) && streq(admit_decision_principal_id(d), "guest"), "delegated: no credential: guest");
    admit_decision_free(d);
    d = session_decide(e, "GET", "/ci", "s-alice", "X-API-Key", "12345");
    ok(admit_decision_allow(d) && streq(admit_decision_principal_id(d), "ci"),
       "delegated: a route for other authenticators decides with them");
    admit_decision_free(d);
    d = session_decide(e, "POST", "/notes", "s-alice", NULL, NULL);
    ok(!admit_decision_allow(d) && admit_decision_reason_code(d) == ADMIT_REASON_ORIGIN_NOT_ALLOWED,
       "delegated: a cookie session on POST without a same-origin signal is refused");
    admit_decision_free(d);
    d = session_decide(e, "POST", "/notes", "s-alice", "Sec-Fetch-Site", "cross-site");
    ok(!admit_decision_allow(d) && admit_decision_reason_code(d) == ADMIT_REASON_ORIGIN_NOT_ALLOWED,
       "delegated: ... and with Sec-Fetch-Site: cross-site");
    admit_decision_free(d);
    ok(s.calls == before, "delegated: none of these called the check (%d calls)", s.calls - before);
    d = session_decide(e, "POST", "/notes", "s-alice", "Sec-Fetch-Site", "same-origin");
    ok(admit_decision_allow(d) && streq(admit_decision_principal_id(d), "alice"),
       "delegated: a cookie session on POST with Sec-Fetch-Site: same-origin");
    admit_decision_free(d);

    /* No verdict is kept between requests. */
    before = s.calls;
    d = session_decide(e, "GET", "/notes/alice/1", "s-alice", NULL, NULL);
    ok(admit_decision_allow(d), "delegated: alice before the revocation");
    admit_decision_free(d);
    s.mode = CHECK_ALL_REVOKED;
    d = session_decide(e, "GET", "/notes/alice/1", "s-alice", NULL, NULL);
    ok(!admit_decision_allow(d) && admit_decision_reason_code(d) == ADMIT_REASON_REVOKED,
       "delegated: the next request asks again and is refused");
    admit_decision_free(d);
    ok(s.calls == before + 2, "delegated: two requests, two calls");

    /* A callback that misbehaves: a refusal, never an allow. */
    struct { int mode; int ncodes; admit_result codes[3]; admit_reason reason; const char *what; } bad[] = {
        {CHECK_NOTHING, 0, {0}, ADMIT_REASON_INVALID_CREDENTIALS, "sets nothing"},
        {CHECK_NULL_ID, 2, {ADMIT_RESULT_NULL_ARGUMENT, ADMIT_RESULT_OK}, ADMIT_REASON_INVALID_CREDENTIALS,
         "a NULL id"},
        {CHECK_BAD_UTF8, 2, {ADMIT_RESULT_OK, ADMIT_RESULT_INVALID_UTF8}, ADMIT_REASON_INVALID_CREDENTIALS,
         "a non-UTF-8 role"},
        {CHECK_TWICE, 3, {ADMIT_RESULT_OK, ADMIT_RESULT_OK, ADMIT_RESULT_INVALID_ARGUMENT},
         ADMIT_REASON_INVALID_CREDENTIALS, "two principals"},
        {CHECK_BAD_REASON, 2, {ADMIT_RESULT_INVALID_ARGUMENT, ADMIT_RESULT_OK}, ADMIT_REASON_INVALID_CREDENTIALS,
         "a refusal with ADMIT_REASON_OK"},
        {CHECK_LATE_REFUSAL, 1, {ADMIT_RESULT_OK}, ADMIT_REASON_REVOKED, "a principal, then a refusal"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s.mode = bad[i].mode;
        s.ncodes = 0;
        d = session_decide(e, "GET", "/notes/alice/1", "s-alice", NULL, NULL);
        int codes_ok = s.ncodes == bad[i].ncodes;
        for (int k = 0; codes_ok && k < s.ncodes; k++) codes_ok = s.codes[k] == bad[i].codes[k];
        ok(!admit_decision_allow(d) && admit_decision_status(d) == 401 &&
               admit_decision_reason_code(d) == bad[i].reason && codes_ok,
           "delegated: a callback that gives %s: refused, setters answer as documented", bad[i].what);
        admit_decision_free(d);
    }
    ok(admit_check_result_set_principal(NULL, "a", 1) == ADMIT_RESULT_NULL_ARGUMENT &&
           admit_check_result_add_role(NULL, "a", 1) == ADMIT_RESULT_NULL_ARGUMENT &&
           admit_check_result_add_scope(NULL, "a", 1) == ADMIT_RESULT_NULL_ARGUMENT &&
           admit_check_result_refuse(NULL, ADMIT_REASON_EXPIRED) == ADMIT_RESULT_NULL_ARGUMENT,
       "delegated: the setters take a NULL result");

    /* The JSON contract goes through the check too. */
    s.mode = CHECK_TABLE;
    const char *json = "{\"method\":\"GET\",\"path\":\"/notes/alice/1\",\"headers\":[[\"Cookie\",\"sid=s-alice\"]],"
                       "\"now\":1790000000}";
    char *out = NULL;
    ok(admit_decide_json(e, json, strlen(json), &out, NULL) == ADMIT_RESULT_OK && out &&
           strstr(out, "\"allow\":true") && strstr(out, "\"kind\":\"delegated\""),
       "delegated: admit_decide_json asks the check");
    admit_string_free(out);

    /* Removing the check: refused again. */
    before = s.calls;
    ok(admit_engine_set_check(e, "sessions", 8, NULL, NULL, NULL) == ADMIT_RESULT_OK, "delegated: check removed");
    d = session_decide(e, "GET", "/notes/alice/1", "s-alice", NULL, NULL);
    ok(!admit_decision_allow(d) && s.calls == before, "delegated: without the check, refused and not called");
    admit_decision_free(d);
    admit_engine_free(e);
}

typedef struct {
    const admit_engine *engine;
    int iterations;
    int index;
    int wrong;
} delegated_worker_t;

static void *delegated_worker(void *arg) {
    delegated_worker_t *w = arg;
    for (int i = 0; i < w->iterations; i++) {
        int bob = (i + w->index) % 2;
        admit_decision *d = session_decide(w->engine, "GET", bob ? "/notes/bob/1" : "/notes/alice/1",
                                           bob ? "s-bob" : "s-alice", NULL, NULL);
        if (!admit_decision_allow(d) || !streq(admit_decision_principal_id(d), bob ? "bob" : "alice")) w->wrong++;
        admit_decision_free(d);
    }
    return NULL;
}

/* Threads deciding at once: the callback runs on each, and each gets its own principal. */
static void test_delegated_threads(int iterations) {
    enum { N = 4 };
    admit_engine *e = delegated_engine();
    sessions_t s = {0};
    s.engine = e;
    admit_engine_set_check(e, "sessions", 8, sessions_check, &s, NULL);
    pthread_t t[N];
    delegated_worker_t w[N];
    pthread_attr_t small;
    pthread_attr_init(&small);
    pthread_attr_setstacksize(&small, 128 * 1024);
    for (int i = 0; i < N; i++) {
        delegated_worker_t x = {e, iterations, i, 0};
        w[i] = x;
        pthread_create(&t[i], &small, delegated_worker, &w[i]);
    }
    pthread_attr_destroy(&small);
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        wrong += w[i].wrong;
    }
    ok(wrong == 0 && s.calls == N * iterations, "delegated: %d threads x %d decisions with the check: %d wrong, %d calls",
       N, iterations, wrong, s.calls);
    admit_engine_free(e);
}

/* The ordinary tests, on a 128 KB stack: every vector's policy and decision (JWTs with
 * RSA, EC, EdDSA and HMAC keys among them), the NULL and malformed arguments, flags,
 * key rotation. */
static int ordinary_tests(void *unused) {
    (void)unused;
    run_vectors();
    test_null_and_malformed();
    test_now();
    test_decoded_path();
    test_peer();
    test_codes_and_version();
    test_set_jwks();
    test_set_keys();
    test_fetch_rules();
    test_delegated();
    return 1;
}

/* ---- measuring the stack (test_admit ROOT --stack) ----------------------------------- */

/* Bytes of a painted stack `fn` wrote: run on a 4 MB stack filled with a pattern. */
static size_t painted(int (*fn)(void *), void *arg) {
    const size_t size = 4u << 20;
    unsigned char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mem == MAP_FAILED) return 0;
    memset(mem, 0xA5, size);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, mem, size);
    task_t t = {fn, arg};
    pthread_t th;
    if (pthread_create(&th, &a, run_task, &t) == 0) pthread_join(th, NULL);
    pthread_attr_destroy(&a);
    size_t i = 0;
    while (i < size && mem[i] == 0xA5) i++;
    munmap(mem, size);
    return size - i;
}

/* The smallest pthread stack size (4 KB steps) on which fn(arg) returns true. */
static size_t smallest(int (*fn)(void *), void *arg) {
    size_t lo = 16 * 1024, hi = 1024 * 1024; /* PTHREAD_STACK_MIN; 1 MB */
    if (in_child(lo, fn, arg, NULL)) return lo;
    if (!in_child(hi, fn, arg, NULL)) return 0;
    while (hi - lo > 4096) {
        size_t mid = (lo + hi) / 2 / 4096 * 4096;
        if (in_child(mid, fn, arg, NULL))
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

static int idle(void *unused) {
    (void)unused;
    return 1;
}

/* Every vector's policy, prepared on the main thread. */
typedef struct {
    char *text;
    size_t len;
    admit_engine_config config;
    admit_pair *env;
    char *path;
} policy_t;

typedef struct {
    policy_t *policies;
    size_t n_policies;
    admit_engine **engines; /* one per case */
    c_request *requests;
    char **request_json;
    size_t n_cases;
    admit_engine *clerk;
    char *jwks;
    size_t jwks_len;
} corpus_t;

static void corpus_add_vector(corpus_t *c, const char *dir, const char *file) {
    char *path = path_join(dir, file);
    json_t *doc = json_load_file(path, JSON_ALLOW_NUL, NULL);
    free(path);
    if (!doc || !expand_value(doc) || json_object_get(doc, "expect_load_error")) {
        json_decref(doc);
        return;
    }
    policy_t p = {0};
    p.path = path_join(root, json_string_value(json_object_get(doc, "policy")));
    p.text = read_file(p.path, &p.len);
    json_t *env = json_object_get(doc, "env");
    size_t n = json_is_object(env) ? json_object_size(env) : 0, i = 0;
    p.env = calloc(n + 1, sizeof(admit_pair));
    const char *k;
    json_t *v;
    if (json_is_object(env)) json_object_foreach(env, k, v) {
            admit_pair pr = {strdup(k), strlen(k), strndup(json_string_value(v), json_string_length(v)),
                             json_string_length(v)};
            p.env[i++] = pr;
        }
    char *slash = strrchr(p.path, '/');
    size_t plen = strlen(p.path);
    admit_engine_config config = {
        (plen > 5 && !strcmp(p.path + plen - 5, ".json")) ? ADMIT_FORMAT_JSON : ADMIT_FORMAT_TOML, p.env, n, p.path,
        slash ? (size_t)(slash - p.path) : 0};
    p.config = config;
    admit_engine *engine = NULL;
    admit_error *err = NULL;
    if (!p.text || admit_engine_new(p.text, p.len, &p.config, &engine, &err) != ADMIT_RESULT_OK) {
        admit_error_free(err);
        json_decref(doc);
        return;
    }
    hand_over(engine, doc, file);
    c->policies = realloc(c->policies, (c->n_policies + 1) * sizeof *c->policies);
    c->policies[c->n_policies++] = p;
    json_t *cs;
    json_array_foreach(json_object_get(doc, "cases"), i, cs) {
        json_t *req = json_deep_copy(json_object_get(cs, "request"));
        c->engines = realloc(c->engines, (c->n_cases + 1) * sizeof *c->engines);
        c->requests = realloc(c->requests, (c->n_cases + 1) * sizeof *c->requests);
        c->request_json = realloc(c->request_json, (c->n_cases + 1) * sizeof *c->request_json);
        c->engines[c->n_cases] = engine;
        c->requests[c->n_cases] = request_of(req); /* points into req, which stays */
        c->request_json[c->n_cases] = json_dumps(req, JSON_COMPACT);
        c->n_cases++;
    }
    /* `doc` and the copied requests stay alive until the process exits */
}

static int all_engine_new(void *p) {
    corpus_t *c = p;
    for (size_t i = 0; i < c->n_policies; i++) {
        admit_engine *e = NULL;
        admit_error *err = NULL;
        if (admit_engine_new(c->policies[i].text, c->policies[i].len, &c->policies[i].config, &e, &err) !=
            ADMIT_RESULT_OK)
            return 0;
        admit_engine_free(e);
    }
    return 1;
}

static int all_decide(void *p) {
    corpus_t *c = p;
    for (size_t i = 0; i < c->n_cases; i++) {
        admit_decision *d = admit_decide(c->engines[i], &c->requests[i].req);
        char *j = NULL;
        admit_decision_to_json(d, &j, NULL);
        admit_string_free(j);
        admit_decision_free(d);
    }
    return 1;
}

static int all_decide_json(void *p) {
    corpus_t *c = p;
    for (size_t i = 0; i < c->n_cases; i++) {
        char *out = NULL;
        admit_decide_json(c->engines[i], c->request_json[i], strlen(c->request_json[i]), &out, NULL);
        admit_string_free(out);
    }
    return 1;
}

static int jwt_decide(void *p) {
    corpus_t *c = p;
    char *auth = bearer("clerk_rotated_kid");
    admit_decision *d = clerk_decide(c->clerk, auth);
    int good = admit_decision_allow(d);
    admit_decision_free(d);
    free(auth);
    return good;
}

static int set_jwks(void *p) {
    corpus_t *c = p;
    return admit_engine_set_jwks(c->clerk, "clerk", 5, c->jwks, c->jwks_len, NULL, NULL) == ADMIT_RESULT_OK;
}

static char *stack_keys_text;
static size_t stack_keys_len;

static int set_keys(void *p) {
    (void)p;
    return admit_engine_set_keys(deep_engine, "fetchml-keys", 12, stack_keys_text, stack_keys_len, NULL, NULL) ==
           ADMIT_RESULT_OK;
}

static int measure_stacks(void) {
    corpus_t c = {0};
    char *dir = path_join(root, "tests/vectors");
    DIR *dp = opendir(dir);
    struct dirent *e;
    while (dp && (e = readdir(dp)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".json")) corpus_add_vector(&c, dir, e->d_name);
    }
    if (dp) closedir(dp);
    free(dir);
    c.clerk = clerk_engine("tests/fixtures/jwks-rotated.json");
    char *jp = path_join(root, "tests/fixtures/jwks-rotated.json");
    c.jwks = read_file(jp, &c.jwks_len);
    free(jp);
    deep_engine = fetchml();
    stack_keys_text = read_rel("tests/fixtures/fetchml-keys-rotated.toml", &stack_keys_len);

    struct {
        const char *what;
        int (*fn)(void *);
        void *arg;
    } probes[64] = {
        {"a thread that does nothing (subtracted below)", idle, NULL},
        {"admit_engine_new, every vector's policy", all_engine_new, &c},
        {"admit_decide (+ to_json), every vector's request", all_decide, &c},
        {"admit_decide_json, every vector's request", all_decide_json, &c},
        {"admit_decide, a Clerk RS256 JWT", jwt_decide, &c},
        {"admit_engine_set_jwks", set_jwks, &c},
        {"admit_engine_set_keys, FetchML's rotated keys file", set_keys, NULL},
    };
    size_t n = 7, nd = 0;
    deep_t *deep = deep_inputs(&nd);
    for (size_t i = 0; i < nd && n < 64; i++, n++) {
        probes[n].what = deep[i].what;
        probes[n].fn = deep_call;
        probes[n].arg = &deep[i];
    }
    printf("%-60s %10s %12s\n", "entry point (release build)", "used", "min pthread");
    size_t base = 0;
    int worst_ok = 1;
    for (size_t i = 0; i < n; i++) {
        size_t used = painted(probes[i].fn, probes[i].arg);
        size_t min = smallest(probes[i].fn, probes[i].arg);
        if (i == 0) base = used;
        size_t net = i == 0 ? used : (used > base ? used - base : 0);
        printf("%-60s %7.1f KB %s%6zu KB%s\n", probes[i].what, (double)net / 1024, min == 16 * 1024 ? "<=" : "  ",
               min / 1024, min == 0 ? " (fails even on 1 MB)" : "");
        if (min == 0 || min > SMALL_STACK / 2) worst_ok = 0;
    }
    for (size_t i = 0; i < nd; i++) free(deep[i].text);
    free(deep);
    admit_engine_free(deep_engine);
    free(stack_keys_text);
    printf("used: bytes written on a painted stack beyond an idle thread; min pthread: the smallest\n"
           "pthread_attr_setstacksize (4 KB steps from PTHREAD_STACK_MIN, 16 KB; guard page and TLS\n"
           "included) on which it succeeds, found by bisection, each try in a child process\n");
    printf("%s\n", worst_ok ? "every entry point fits in 64 KB (half of musl's 128 KB: the rest is the host's)"
                            : "SOME ENTRY POINT NEEDS MORE THAN 64 KB");
    return worst_ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s REPO_ROOT [THREAD_ITERATIONS | --stack]\n", argv[0]);
        return 2;
    }
    root = argv[1];
    int measure = argc > 2 && !strcmp(argv[2], "--stack");
    int iterations = argc > 2 && !measure ? atoi(argv[2]) : 500;
    char *tp = path_join(root, "tests/fixtures/tokens.json");
    json_error_t jerr;
    tokens = json_load_file(tp, 0, &jerr);
    free(tp);
    if (!tokens) {
        fprintf(stderr, "cannot read tokens.json: %s\n", jerr.text);
        return 2;
    }
    if (measure) {
        int r = measure_stacks();
        json_decref(tokens);
        return r;
    }
    ok(on_stack(SMALL_STACK, ordinary_tests, NULL) == 1, "the ordinary tests ran on a 128 KB stack");
    test_deep_nesting();
    test_threads(iterations);
    test_delegated_threads(iterations);
    json_decref(tokens);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
