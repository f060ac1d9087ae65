/*
 * The bindery quickstart in plain C: the cleanup-cron input binding fires every second; its
 * callback writes a record through the `records` local storage output binding and reads it
 * back. After three ticks the program shuts down and exits.
 *
 *   make run            # against this repository's build
 *   make run USE_PKG_CONFIG=1   # against an installed bindery (ffi/install PREFIX)
 */
#define _POSIX_C_SOURCE 200809L
#include <bindery.h>

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TICKS 3

struct app {
    bindery_runtime *rt;
    atomic_int ticks;
};

static const char *meta(const bindery_event *ev, const char *key) {
    for (size_t i = 0; i < ev->metadata_len; i++)
        if (strcmp(ev->metadata[i].key, key) == 0) return ev->metadata[i].value;
    return "";
}

/* Runs on a bindery thread for each tick. Returning 0 acks; non-zero nacks. */
static int32_t on_tick(const bindery_event *ev, void *user_data) {
    struct app *app = user_data;
    int n = atomic_fetch_add(&app->ticks, 1) + 1;
    if (n > TICKS) return 0;

    char file[64], record[256];
    snprintf(file, sizeof file, "c-tick-%d.json", n);
    snprintf(record, sizeof record, "{\"tick\":%d,\"firedAt\":\"%s\",\"from\":\"c\"}", n, meta(ev, "readTimeUTC"));
    bindery_kv md[] = {{"fileName", file}};

    bindery_response *resp = NULL;
    if (bindery_invoke(app->rt, "records", "create", (const uint8_t *)record, strlen(record), md, 1, &resp) != BINDERY_OK) {
        fprintf(stderr, "create failed: %s\n", bindery_last_error_message());
        return 1;
    }
    bindery_response_free(resp);
    if (bindery_invoke(app->rt, "records", "get", NULL, 0, md, 1, &resp) != BINDERY_OK) {
        fprintf(stderr, "get failed: %s\n", bindery_last_error_message());
        return 1;
    }
    printf("tick %d: wrote %s: %.*s\n", n, file, (int)resp->data_len, (const char *)resp->data);
    fflush(stdout);
    bindery_response_free(resp);
    return 0;
}

int main(int argc, char **argv) {
    const char *components = argc > 1 ? argv[1] : "../components";
    if (bindery_abi_version() != BINDERY_ABI_VERSION) {
        fprintf(stderr, "libbindery ABI %u does not match bindery.h ABI %d\n", bindery_abi_version(), BINDERY_ABI_VERSION);
        return 1;
    }
    struct app app = {0};
    if (bindery_runtime_new(&components, 1, NULL, &app.rt) != BINDERY_OK) {
        fprintf(stderr, "%s\n", bindery_last_error_message());
        return 1;
    }
    if (bindery_on_event(app.rt, "cleanup-cron", on_tick, &app, NULL) != BINDERY_OK || bindery_start(app.rt) != BINDERY_OK) {
        fprintf(stderr, "%s\n", bindery_last_error_message());
        bindery_runtime_free(app.rt);
        return 1;
    }
    struct timespec step = {0, 50 * 1000000L};
    for (int waited = 0; atomic_load(&app.ticks) < TICKS && waited < 600; waited++) nanosleep(&step, NULL);

    int rc = bindery_shutdown(app.rt, 5000);
    if (rc != BINDERY_OK) fprintf(stderr, "shutdown: %s\n", bindery_last_error_message());
    bindery_runtime_free(app.rt);
    printf("done: %d ticks\n", atomic_load(&app.ticks) < TICKS ? atomic_load(&app.ticks) : TICKS);
    return atomic_load(&app.ticks) >= TICKS && rc == BINDERY_OK ? 0 : 1;
}
