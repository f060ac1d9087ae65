/*
 * The C ABI's contracts around its calls, tested from C: the error-name table is the core's
 * (every BINDERY_ERR_* code has its name); a user_data's finalizer is called exactly once when
 * bindery is done with it (a handler's when the runtime is freed, after its last call, also
 * when it never started; an async invoke's after its completion returned, also for a call
 * still in flight at free) and never when the call that took it failed (a second handler for
 * the same binding is refused, the first stays); bindery_input_stats fills what fits in the
 * caller's size and says how much it filled, and counts panicked handlers; an async invoke
 * whose binding panics still gets its completion, with INTERNAL and a message saying so; a
 * handler returning BINDERY_REJECT rejects the event (its verdict and count are "rejected").
 *
 * Needs the library built with the `testing` feature (bindings.bindery.test: `emit` delivers
 * an event and answers the handler's verdict; `panic` panics; an event with the metadata
 * `bindery.test.panic` panics where the C handler is called). Run, also under valgrind, by
 * tests/c/run.
 *
 * Usage: test_abi <scratch-dir>
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- a handler and its user_data ---- */

struct owner {
    const char *name;
    atomic_int calls;        /* handler calls */
    atomic_int finalized;    /* finalizer calls */
    atomic_int late;         /* handler calls after the finalizer */
    int calls_at_finalize;
};

static void finalize(void *user) {
    struct owner *o = user;
    o->calls_at_finalize = atomic_load(&o->calls);
    atomic_fetch_add(&o->finalized, 1);
}

/* Acks "ack", rejects "reject", nacks anything else. */
static int32_t on_event(const bindery_event *ev, void *user) {
    struct owner *o = user;
    if (atomic_load(&o->finalized)) atomic_fetch_add(&o->late, 1);
    atomic_fetch_add(&o->calls, 1);
    if (ev->data_len == 3 && memcmp(ev->data, "ack", 3) == 0) return BINDERY_ACK;
    if (ev->data_len == 6 && memcmp(ev->data, "reject", 6) == 0) return BINDERY_REJECT;
    return BINDERY_NACK;
}

/* ---- an async call and its user_data ---- */

struct call {
    atomic_int done;
    atomic_int finalized;
    int done_before_finalize;
    int32_t code;
    char message[512];
    char data[16];
};

static void on_done(int32_t code, const char *message, bindery_response *resp, void *user) {
    struct call *c = user;
    c->code = code;
    if (message) snprintf(c->message, sizeof c->message, "%s", message);
    if (resp) {
        size_t n = resp->data_len < sizeof c->data - 1 ? resp->data_len : sizeof c->data - 1;
        memcpy(c->data, resp->data, n);
        bindery_response_free(resp);
    }
    atomic_fetch_add(&c->done, 1);
}

static void finalize_call(void *user) {
    struct call *c = user;
    c->done_before_finalize = atomic_load(&c->done);
    atomic_fetch_add(&c->finalized, 1);
}

/* Deliver one event through the probe and check the handler's verdict ("ack", "nack" or
 * "reject"). */
static void emit(bindery_runtime *rt, const char *data, const bindery_kv *md, size_t md_len, const char *want) {
    bindery_response *resp = NULL;
    CHECK_CODE(bindery_invoke(rt, "probe", "emit", (const uint8_t *)data, strlen(data), md, md_len, &resp), BINDERY_OK);
    if (resp) {
        CHECK(resp->data_len == strlen(want) && memcmp(resp->data, want, resp->data_len) == 0, "%s: verdict %.*s, want %s",
              data, (int)resp->data_len, (const char *)resp->data, want);
        bindery_response_free(resp);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <scratch-dir>\n", argv[0]);
        return 2;
    }
    char comps[4096];
    snprintf(comps, sizeof comps, "%s/abi-components", argv[1]);
    mkdir(comps, 0755);
    write_file(comps, "probe.yaml",
               "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: probe\nspec:\n"
               "  type: bindings.bindery.test\n  version: v1\n");
    write_file(comps, "idle.yaml",
               "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: idle\nspec:\n"
               "  type: bindings.bindery.test\n  version: v1\n");
    const char *paths[] = {comps};

    /* ---- the error names are the core's, one per code ---- */
    static const struct {
        int32_t code;
        const char *name;
    } names[] = {
        {BINDERY_OK, "ok"},
        {BINDERY_ERR_INVALID_CONFIG, "invalid_config"},
        {BINDERY_ERR_NOT_FOUND, "not_found"},
        {BINDERY_ERR_UNSUPPORTED_OPERATION, "unsupported_operation"},
        {BINDERY_ERR_INVALID_ARGUMENT, "invalid_argument"},
        {BINDERY_ERR_TIMEOUT, "timeout"},
        {BINDERY_ERR_CIRCUIT_OPEN, "circuit_open"},
        {BINDERY_ERR_UPSTREAM, "upstream"},
        {BINDERY_ERR_CLOSED, "closed"},
        {BINDERY_ERR_INTERNAL, "internal"},
        {BINDERY_ERR_INVALID_STATE, "invalid_state"},
        {BINDERY_ERR_HANDLER_FAILED, "handler_failed"},
    };
    size_t n_names = sizeof names / sizeof names[0];
    for (size_t i = 0; i < n_names; i++) {
        CHECK(names[i].code == (int32_t)i, "codes run 0..%zu: %s is %d", n_names - 1, names[i].name, names[i].code);
        CHECK(strcmp(bindery_error_name(names[i].code), names[i].name) == 0, "code %d: %s, want %s", names[i].code,
              bindery_error_name(names[i].code), names[i].name);
    }
    CHECK(strcmp(bindery_error_name((int32_t)n_names), "internal") == 0, "the code after the last: %s",
          bindery_error_name((int32_t)n_names));
    CHECK(strcmp(bindery_error_name(-1), "internal") == 0, "-1: %s", bindery_error_name(-1));

    /* ---- a handler's finalizer: once, at free, after its last call; not for refused ones ---- */
    bindery_runtime *rt = NULL;
    CHECK_CODE(bindery_runtime_new(paths, 1, NULL, &rt), BINDERY_OK);
    if (rt == NULL) return 1;
    struct owner first = {.name = "first"}, second = {.name = "second"}, stray = {.name = "stray"};
    CHECK_CODE(bindery_on_event(rt, "probe", on_event, &first, finalize), BINDERY_OK);
    /* Replacing the handler is refused; the first one stays, and the refused user_data is
     * still the caller's: its finalizer is never called. */
    CHECK_CODE(bindery_on_event(rt, "probe", on_event, &second, finalize), BINDERY_ERR_INVALID_STATE);
    CHECK_CODE(bindery_on_event(rt, "prob", on_event, &stray, finalize), BINDERY_ERR_NOT_FOUND);
    CHECK_CODE(bindery_on_event(rt, "probe", NULL, &stray, finalize), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK(atomic_load(&second.finalized) == 0 && atomic_load(&stray.finalized) == 0,
          "a refused registration's finalizer was called");

    /* input stats before start: not found, whatever the size */
    bindery_input_stats stats = {.size = sizeof stats};
    CHECK_CODE(bindery_get_input_stats(rt, "probe", &stats), BINDERY_ERR_NOT_FOUND);
    CHECK_CODE(bindery_start(rt), BINDERY_OK);

    /* an ack, a nack, a panic where the handler is called (counted nacked and panicked), a
     * reject (any value but BINDERY_ACK and BINDERY_REJECT nacks: 7 too) */
    emit(rt, "ack", NULL, 0, "ack");
    emit(rt, "no", NULL, 0, "nack");
    bindery_kv boom[] = {{"bindery.test.panic", "in the handler"}};
    emit(rt, "ack", boom, 1, "nack");
    emit(rt, "reject", NULL, 0, "reject");
    emit(rt, "ack", NULL, 0, "ack");
    CHECK(atomic_load(&first.calls) == 4, "the first handler got %d events, want 4 (the panic never reached it)",
          atomic_load(&first.calls));
    CHECK(atomic_load(&second.calls) == 0, "the refused handler got %d events", atomic_load(&second.calls));
    CHECK(atomic_load(&first.finalized) == 0, "finalized while registered");

    /* ---- bindery_input_stats: what fits in the caller's size ---- */
    memset(&stats, 0xAB, sizeof stats);
    stats.size = sizeof stats;
    CHECK_CODE(bindery_get_input_stats(rt, "probe", &stats), BINDERY_OK);
    CHECK(stats.size == sizeof stats, "filled %zu of %zu", stats.size, sizeof stats);
    CHECK(stats.delivered == 5 && stats.acked == 2 && stats.nacked == 2 && stats.panicked == 1 && stats.rejected == 1,
          "delivered %llu acked %llu nacked %llu panicked %llu rejected %llu", (unsigned long long)stats.delivered,
          (unsigned long long)stats.acked, (unsigned long long)stats.nacked, (unsigned long long)stats.panicked,
          (unsigned long long)stats.rejected);

    /* a caller whose struct ends before `panicked` (an older header) gets the fields before it */
    memset(&stats, 0xAB, sizeof stats);
    stats.size = offsetof(bindery_input_stats, panicked);
    CHECK_CODE(bindery_get_input_stats(rt, "probe", &stats), BINDERY_OK);
    CHECK(stats.size == offsetof(bindery_input_stats, panicked), "filled %zu", stats.size);
    CHECK(stats.delivered == 5 && stats.acked == 2 && stats.nacked == 2, "the fields that fit are filled");
    CHECK(stats.panicked == 0xABABABABABABABABull && stats.rejected == 0xABABABABABABABABull,
          "written past the caller's size");
    memset(&stats, 0xAB, sizeof stats);
    stats.size = offsetof(bindery_input_stats, rejected);
    CHECK_CODE(bindery_get_input_stats(rt, "probe", &stats), BINDERY_OK);
    CHECK(stats.size == offsetof(bindery_input_stats, rejected) && stats.panicked == 1 &&
              stats.rejected == 0xABABABABABABABABull,
          "a struct ending before `rejected`: filled %zu", stats.size);

    /* a field cut by the size is left alone; the size field alone is a valid call */
    memset(&stats, 0xAB, sizeof stats);
    stats.size = offsetof(bindery_input_stats, acked) + 4;
    CHECK_CODE(bindery_get_input_stats(rt, "probe", &stats), BINDERY_OK);
    CHECK(stats.size == offsetof(bindery_input_stats, acked), "filled %zu, want %zu", stats.size,
          offsetof(bindery_input_stats, acked));
    CHECK(stats.delivered == 5 && stats.acked == 0xABABABABABABABABull, "only whole fields are filled");
    memset(&stats, 0xAB, sizeof stats);
    stats.size = sizeof stats.size;
    CHECK_CODE(bindery_get_input_stats(rt, "probe", &stats), BINDERY_OK);
    CHECK(stats.size == sizeof stats.size && stats.delivered == 0xABABABABABABABABull, "nothing but the size");

    /* a caller with a larger struct (a newer header) learns how much this library filled */
    struct {
        bindery_input_stats stats;
        uint64_t later[2];
    } newer;
    memset(&newer, 0xAB, sizeof newer);
    newer.stats.size = sizeof newer;
    CHECK_CODE(bindery_get_input_stats(rt, "probe", &newer.stats), BINDERY_OK);
    CHECK(newer.stats.size == sizeof(bindery_input_stats), "filled %zu, want %zu", newer.stats.size,
          sizeof(bindery_input_stats));
    CHECK(newer.stats.rejected == 1 && newer.later[0] == 0xABABABABABABABABull &&
              newer.later[1] == 0xABABABABABABABABull,
          "nothing written past what this library knows");

    /* a size too small for the size field itself is refused */
    stats.size = 0;
    CHECK_CODE(bindery_get_input_stats(rt, "probe", &stats), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bindery_last_error_message(), "sizeof(bindery_input_stats)") != NULL, "%s", bindery_last_error_message());
    CHECK_CODE(bindery_get_input_stats(rt, "probe", NULL), BINDERY_ERR_INVALID_ARGUMENT);

    /* ---- a binding that panics: INTERNAL, saying so, blocking and async ---- */
    bindery_response *resp = (bindery_response *)0x1;
    CHECK_CODE(bindery_invoke(rt, "probe", "panic", NULL, 0, NULL, 0, &resp), BINDERY_ERR_INTERNAL);
    CHECK(resp == NULL, "no response after a panic");
    CHECK(strstr(bindery_last_error_message(), "panicked: bindings.bindery.test was asked to panic") != NULL, "%s",
          bindery_last_error_message());
    static struct call panicking, answered, unowned, refused;
    CHECK_CODE(bindery_invoke_async(rt, "probe", "panic", NULL, 0, NULL, 0, on_done, &panicking, finalize_call), BINDERY_OK);
    CHECK(wait_for(&panicking.finalized, 1, 5000), "the panicking call was finalized");
    CHECK(atomic_load(&panicking.done) == 1 && panicking.done_before_finalize == 1,
          "done ran %d times, %d before the finalizer", atomic_load(&panicking.done), panicking.done_before_finalize);
    CHECK(panicking.code == BINDERY_ERR_INTERNAL, "code %d (%s)", panicking.code, bindery_error_name(panicking.code));
    CHECK(strstr(panicking.message, "panicked") != NULL, "%s", panicking.message);

    /* ---- an async call's finalizer: once, after done; none for a refused call or NULL ---- */
    CHECK_CODE(bindery_invoke_async(rt, "probe", "emit", (const uint8_t *)"ack", 3, NULL, 0, on_done, &answered, finalize_call),
               BINDERY_OK);
    CHECK_CODE(bindery_invoke_async(rt, "probe", "emit", (const uint8_t *)"ack", 3, NULL, 0, on_done, &unowned, NULL), BINDERY_OK);
    CHECK_CODE(bindery_invoke_async(rt, NULL, "emit", NULL, 0, NULL, 0, on_done, &refused, finalize_call),
               BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_invoke_async(rt, "probe", "emit", NULL, 0, NULL, 0, NULL, &refused, finalize_call),
               BINDERY_ERR_INVALID_ARGUMENT);
    CHECK(wait_for(&answered.finalized, 1, 5000), "the answered call was finalized");
    CHECK(wait_for(&unowned.done, 1, 5000), "the call without a finalizer completed");
    CHECK(answered.code == BINDERY_OK && strcmp(answered.data, "ack") == 0, "code %d data %s", answered.code, answered.data);
    CHECK(answered.done_before_finalize == 1, "finalized before done");

    /* a call still in flight at free (`idle` has no handler, so its event is never answered) */
    static struct call in_flight;
    CHECK_CODE(bindery_invoke_async(rt, "idle", "emit", (const uint8_t *)"x", 1, NULL, 0, on_done, &in_flight, finalize_call),
               BINDERY_OK);
    sleep_ms(100);
    CHECK(atomic_load(&in_flight.done) == 0, "the call to the idle probe is in flight");

    bindery_runtime_free(rt);
    CHECK(atomic_load(&first.finalized) == 1, "the handler's finalizer ran %d times by free", atomic_load(&first.finalized));
    CHECK(first.calls_at_finalize == 6 && atomic_load(&first.late) == 0, "finalized after %d calls, %d calls after it",
          first.calls_at_finalize, atomic_load(&first.late));
    CHECK(atomic_load(&in_flight.done) == 1 && atomic_load(&in_flight.finalized) == 1 && in_flight.done_before_finalize == 1,
          "in flight at free: done %d, finalized %d", atomic_load(&in_flight.done), atomic_load(&in_flight.finalized));
    CHECK(in_flight.code == BINDERY_ERR_CLOSED, "in flight at free: code %d (%s)", in_flight.code,
          bindery_error_name(in_flight.code));
    sleep_ms(200); /* a second call would show up by now */
    CHECK(atomic_load(&first.finalized) == 1 && atomic_load(&second.finalized) == 0 && atomic_load(&stray.finalized) == 0,
          "finalizers: first %d, second %d, stray %d", atomic_load(&first.finalized), atomic_load(&second.finalized),
          atomic_load(&stray.finalized));
    CHECK(atomic_load(&panicking.finalized) == 1 && atomic_load(&answered.finalized) == 1 &&
              atomic_load(&refused.finalized) == 0 && atomic_load(&refused.done) == 0,
          "async finalizers: %d %d, refused %d", atomic_load(&panicking.finalized), atomic_load(&answered.finalized),
          atomic_load(&refused.finalized));

    /* ---- a handler of a runtime never started is finalized by free ---- */
    struct owner unstarted = {.name = "unstarted"};
    CHECK_CODE(bindery_runtime_new(paths, 1, NULL, &rt), BINDERY_OK);
    if (rt == NULL) return 1;
    CHECK_CODE(bindery_on_event(rt, "probe", on_event, &unstarted, finalize), BINDERY_OK);
    CHECK(atomic_load(&unstarted.finalized) == 0, "finalized before free");
    bindery_runtime_free(rt);
    CHECK(atomic_load(&unstarted.finalized) == 1, "finalized %d times by free", atomic_load(&unstarted.finalized));

    /* ---- and one shut down, then freed: finalized once, by free at the latest ---- */
    struct owner stopped = {.name = "stopped"};
    CHECK_CODE(bindery_runtime_new(paths, 1, NULL, &rt), BINDERY_OK);
    if (rt == NULL) return 1;
    CHECK_CODE(bindery_on_event(rt, "probe", on_event, &stopped, finalize), BINDERY_OK);
    CHECK_CODE(bindery_start(rt), BINDERY_OK);
    emit(rt, "ack", NULL, 0, "ack");
    CHECK_CODE(bindery_shutdown(rt, 5000), BINDERY_OK);
    bindery_runtime_free(rt);
    CHECK(atomic_load(&stopped.finalized) == 1 && stopped.calls_at_finalize == 1, "finalized %d times, after %d calls",
          atomic_load(&stopped.finalized), stopped.calls_at_finalize);

    printf("   abi: %d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
