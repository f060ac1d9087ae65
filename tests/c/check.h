/*
 * What the C tests share: CHECK (count a check, report a failure with file and line and go on),
 * CHECK_CODE (a call's bindery code, named), MUST (a call that must succeed, else stop), and
 * waiting helpers. Each test file includes it once.
 */
#ifndef BINDERY_TEST_CHECK_H
#define BINDERY_TEST_CHECK_H

#include "bindery.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int failures = 0;
static int checks = 0;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        checks++;                                                           \
        if (!(cond)) {                                                      \
            failures++;                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
        }                                                                   \
    } while (0)

#define CHECK_CODE(expr, want)                                                       \
    do {                                                                             \
        int32_t got_ = (expr);                                                       \
        CHECK(got_ == (want), "got %d (%s), want %d (%s): %s", got_,                 \
              bindery_error_name(got_), (want), bindery_error_name(want),            \
              bindery_last_error_message());                                         \
    } while (0)

#define MUST(expr)                                                                   \
    do {                                                                             \
        int32_t got_ = (expr);                                                       \
        if (got_ != BINDERY_OK) {                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: %s: %s\n", __FILE__, __LINE__, #expr,   \
                    bindery_error_name(got_), bindery_last_error_message());         \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

static inline void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait until *counter reaches want, for at most ms milliseconds. */
static inline int wait_for(atomic_int *counter, int want, long ms) {
    for (long waited = 0; waited < ms; waited += 5) {
        if (atomic_load(counter) >= want) return 1;
        sleep_ms(5);
    }
    return atomic_load(counter) >= want;
}

/* Write text to the file name in dir; a failure stops the test. */
static inline void write_file(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

#endif
