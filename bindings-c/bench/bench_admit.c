/*
 * Times the C interface per decision: admit_decide (+ reading allow, + admit_decision_free)
 * and admit_decide_json (+ admit_string_free), on the FetchML policy and the request
 * benches/examples/native_decide.rs times natively (run.sh passes it this request).
 * Best of 5 rounds. Not a test: run.sh reports.
 * Usage: bench_admit POLICY [ITERATIONS]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admit.h"

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s POLICY [ITERATIONS]\n", argv[0]);
        return 2;
    }
    long iterations = argc > 2 ? atol(argv[2]) : 200000;
    static char policy[1 << 20];
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    size_t len = fread(policy, 1, sizeof policy, f);
    fclose(f);
    admit_engine *e = NULL;
    if (admit_engine_new(policy, len, NULL, &e, NULL) != ADMIT_RESULT_OK) return 2;

    admit_pair h[] = {{"Host", 4, "127.0.0.1:8080", 14},
                      {"User-Agent", 10, "curl/8.0", 8},
                      {"Accept", 6, "*/*", 3},
                      {"X-API-Key", 9, "demo-researcher-key", 19}};
    admit_request req = {"GET", 3, "/api/v1/jobs", 12, h, 4, "127.0.0.1", 9, 1790000000, 0};
    const char json[] = "{\"method\":\"GET\",\"path\":\"/api/v1/jobs\",\"headers\":[[\"Host\",\"127.0.0.1:8080\"],"
                        "[\"User-Agent\",\"curl/8.0\"],[\"Accept\",\"*/*\"],[\"X-API-Key\",\"demo-researcher-key\"]],"
                        "\"peer\":\"127.0.0.1\",\"now\":1790000000}";
    admit_decision *check = admit_decide(e, &req);
    int allowed = admit_decision_allow(check);
    admit_decision_free(check);
    if (!allowed) return 1;

    double best_struct = 1e18, best_json = 1e18;
    volatile int sink = 0;
    for (int round = 0; round < 5; round++) {
        double t0 = now_ns();
        for (long i = 0; i < iterations; i++) {
            admit_decision *d = admit_decide(e, &req);
            sink += admit_decision_allow(d);
            admit_decision_free(d);
        }
        double t1 = now_ns();
        for (long i = 0; i < iterations; i++) {
            char *out = NULL;
            admit_decide_json(e, json, sizeof json - 1, &out, NULL);
            sink += out[10];
            admit_string_free(out);
        }
        double t2 = now_ns();
        if ((t1 - t0) / (double)iterations < best_struct) best_struct = (t1 - t0) / (double)iterations;
        if ((t2 - t1) / (double)iterations < best_json) best_json = (t2 - t1) / (double)iterations;
    }
    printf("C admit_decide: %.0f ns/decision\n", best_struct);
    printf("C admit_decide_json: %.0f ns/decision\n", best_json);
    admit_engine_free(e);
    return 0;
}
