/*
 * The C side of the invoke-overhead benchmark: the same local storage `get` of a small file
 * as benches/src/main.rs, through bindery_invoke (blocking) from a plain C thread.
 * Usage: invoke <components-dir> <iterations>; prints "c_invoke <ns per call>" (median of 5).
 */
#define _POSIX_C_SOURCE 200809L
#include <bindery.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUNDS 5

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *paths[] = {argv[1]};
    long n = argc > 2 ? atol(argv[2]) : 20000;
    bindery_runtime *rt = NULL;
    if (bindery_runtime_new(paths, 1, NULL, &rt) != BINDERY_OK) {
        fprintf(stderr, "%s\n", bindery_last_error_message());
        return 1;
    }
    bindery_kv md[] = {{"fileName", "small.txt"}};
    bindery_response *resp = NULL;
    const char *body = "a small file of 32 bytes........";
    if (bindery_invoke(rt, "files", "create", (const uint8_t *)body, 32, md, 1, &resp) != BINDERY_OK) {
        fprintf(stderr, "%s\n", bindery_last_error_message());
        return 1;
    }
    bindery_response_free(resp);
    double rounds[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t = now_ns();
        for (long i = 0; i < n; i++) {
            if (bindery_invoke(rt, "files", "get", NULL, 0, md, 1, &resp) != BINDERY_OK) return 1;
            bindery_response_free(resp);
        }
        rounds[r] = (now_ns() - t) / n;
    }
    qsort(rounds, ROUNDS, sizeof rounds[0], cmp);
    printf("c_invoke %.0f\n", rounds[ROUNDS / 2]);
    bindery_runtime_free(rt);
    return 0;
}
