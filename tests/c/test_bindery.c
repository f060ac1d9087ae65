/*
 * The C ABI, tested from C against the committed header and the built library:
 * cron events reach the callback, a non-zero return nacks, invoke succeeds and fails with the
 * right codes and messages, the async invoke's completion runs exactly once, a callback may
 * re-enter invoke and may be slow without blocking others, every misuse returns its code, an
 * invoke still in flight when the runtime is shut down or freed ends with CLOSED (an async one
 * through its completion, exactly once). Run under valgrind by tests/c/run.
 *
 * Usage: test_bindery <scratch-dir>
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- handlers ---- */

struct tick_state {
    bindery_runtime *rt;
    atomic_int seen;
    atomic_int written;
    atomic_int bad_event;
};

/* Acks every event but the second, which it nacks; writes each event through local storage
 * with a blocking invoke from inside the handler (re-entrancy). */
static int32_t on_tick(const bindery_event *ev, void *user) {
    struct tick_state *st = user;
    int n = atomic_fetch_add(&st->seen, 1) + 1;
    if (strcmp(ev->binding, "tick") != 0) atomic_store(&st->bad_event, 1);
    const char *zone = NULL;
    for (size_t i = 0; i < ev->metadata_len; i++) {
        if (strcmp(ev->metadata[i].key, "timeZone") == 0) zone = ev->metadata[i].value;
    }
    if (zone == NULL || ev->data_len != 0) atomic_store(&st->bad_event, 1);

    char file[64], body[64];
    snprintf(file, sizeof file, "tick-%d.txt", n);
    snprintf(body, sizeof body, "tick %d", n);
    bindery_kv md[] = {{"fileName", file}};
    bindery_response *resp = NULL;
    if (bindery_invoke(st->rt, "files", "create", (const uint8_t *)body, strlen(body), md, 1, &resp) == BINDERY_OK) {
        atomic_fetch_add(&st->written, 1);
        bindery_response_free(resp);
    }
    return n == 2 ? 1 : 0;
}

/* Held until main releases it (or 5 s pass), to show other calls go on meanwhile. */
static atomic_int slow_started, slow_release, slow_finished;
static int32_t on_slow(const bindery_event *ev, void *user) {
    (void)ev;
    (void)user;
    atomic_fetch_add(&slow_started, 1);
    for (int i = 0; i < 500 && !atomic_load(&slow_release); i++) sleep_ms(10);
    atomic_fetch_add(&slow_finished, 1);
    return 0;
}

/* ---- async completion ---- */

struct completion {
    atomic_int calls;
    int32_t code;
    char message[512];
    size_t data_len;
    char data[64];
};

static void on_done(int32_t code, const char *error_message, bindery_response *resp, void *user) {
    struct completion *c = user;
    c->code = code;
    if (error_message) snprintf(c->message, sizeof c->message, "%s", error_message);
    if (resp) {
        c->data_len = resp->data_len;
        memcpy(c->data, resp->data, resp->data_len < sizeof c->data ? resp->data_len : sizeof c->data - 1);
        bindery_response_free(resp);
    }
    atomic_fetch_add(&c->calls, 1);
}

/* A TCP server on 127.0.0.1 that takes connections (in its backlog) and never answers: an HTTP
 * call to it stays in flight. Returns the listening socket; its port goes to *port. */
static int silent_server(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        perror("silent server");
        exit(2);
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

/* A blocking invoke of the silent server from another thread: its code when it returns. */
struct blocked_call {
    bindery_runtime *rt;
    atomic_int returned;
    int32_t code;
};

static void *invoke_silent(void *arg) {
    struct blocked_call *b = arg;
    bindery_response *resp = NULL;
    b->code = bindery_invoke(b->rt, "silent", "get", NULL, 0, NULL, 0, &resp);
    bindery_response_free(resp);
    atomic_store(&b->returned, 1);
    return NULL;
}

/* ---- threads ---- */

struct worker {
    bindery_runtime *rt;
    int id;
    int ok;
};

static void *invoke_many(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < 20; i++) {
        char file[64], body[64];
        snprintf(file, sizeof file, "thread-%d-%d.txt", w->id, i);
        snprintf(body, sizeof body, "%d/%d", w->id, i);
        bindery_kv md[] = {{"fileName", file}};
        bindery_response *resp = NULL;
        if (bindery_invoke(w->rt, "files", "create", (const uint8_t *)body, strlen(body), md, 1, &resp) != BINDERY_OK) continue;
        bindery_response_free(resp);
        resp = NULL;
        if (bindery_invoke(w->rt, "files", "get", NULL, 0, md, 1, &resp) == BINDERY_OK) {
            if (resp->data_len == strlen(body) && memcmp(resp->data, body, resp->data_len) == 0) w->ok++;
            bindery_response_free(resp);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <scratch-dir>\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    char comps[4096], root[4096];
    snprintf(comps, sizeof comps, "%s/components", dir);
    snprintf(root, sizeof root, "%s/files", dir);
    mkdir(comps, 0755);

    char storage[8192];
    snprintf(storage, sizeof storage,
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: files\nspec:\n"
             "  type: bindings.localstorage\n  version: v1\n  metadata:\n  - name: rootPath\n    value: %s\n",
             root);
    write_file(comps, "files.yaml", storage);
    write_file(comps, "tick.yaml",
               "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: tick\nspec:\n"
               "  type: bindings.cron\n  version: v1\n  metadata:\n  - name: schedule\n    value: \"@every 100ms\"\n"
               "  - name: direction\n    value: input\n");
    write_file(comps, "slow.yaml",
               "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: slow\nspec:\n"
               "  type: bindings.cron\n  version: v1\n  metadata:\n  - name: schedule\n    value: \"@every 50ms\"\n");

    CHECK(bindery_abi_version() == BINDERY_ABI_VERSION, "abi version %u", bindery_abi_version());
    CHECK(strcmp(bindery_error_name(BINDERY_ERR_NOT_FOUND), "not_found") == 0, "name");
    CHECK(strcmp(bindery_error_name(12345), "internal") == 0, "unknown code");
    CHECK(strcmp(bindery_error_name(BINDERY_OK), "ok") == 0, "ok");

    /* ---- misuse before a runtime exists ---- */
    bindery_runtime *rt = NULL;
    const char *paths[] = {comps};
    CHECK_CODE(bindery_runtime_new(NULL, 1, NULL, &rt), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_runtime_new(paths, 0, NULL, &rt), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_runtime_new(paths, 1, NULL, NULL), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bindery_last_error_message(), "out is NULL") != NULL, "%s", bindery_last_error_message());
    const char *null_path[] = {NULL};
    CHECK_CODE(bindery_runtime_new(null_path, 1, NULL, &rt), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bindery_last_error_message(), "resources_paths[0] is NULL") != NULL, "%s", bindery_last_error_message());
    const char *bad_utf8[] = {"/tmp/\xff\xfe"};
    CHECK_CODE(bindery_runtime_new(bad_utf8, 1, NULL, &rt), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bindery_last_error_message(), "not valid UTF-8") != NULL, "%s", bindery_last_error_message());
    CHECK(rt == NULL, "out untouched on failure");

    /* ---- invalid components: every problem in the message ---- */
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/bad", dir);
    mkdir(bad, 0755);
    write_file(bad, "cron.yaml",
               "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: nightly\nspec:\n"
               "  type: bindings.cron\n  version: v1\n  metadata:\n  - name: schedule\n    value: \"3 * * *\"\n");
    write_file(bad, "hook.yaml",
               "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: hook\nspec:\n"
               "  type: bindings.htp\n  version: v1\n");
    const char *bad_paths[] = {bad};
    CHECK_CODE(bindery_runtime_new(bad_paths, 1, NULL, &rt), BINDERY_ERR_INVALID_CONFIG);
    CHECK(bindery_last_error_code() == BINDERY_ERR_INVALID_CONFIG, "last code");
    CHECK(strstr(bindery_last_error_message(), "2 problems in the component files") != NULL, "%s", bindery_last_error_message());
    CHECK(strstr(bindery_last_error_message(), "cron.yaml:9:5") != NULL, "%s", bindery_last_error_message());
    CHECK(strstr(bindery_last_error_message(), "has 4 fields; it needs 6") != NULL, "%s", bindery_last_error_message());
    CHECK(strstr(bindery_last_error_message(), "did you mean \"bindings.http\"?") != NULL, "%s", bindery_last_error_message());

    /* ---- options ---- */
    bindery_options *opts = bindery_options_new();
    CHECK_CODE(bindery_options_set_concurrency(opts, 0, 4), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_options_set_concurrency(NULL, 1, 4), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_options_set_app_id(opts, NULL), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_options_set_app_id(opts, "c-tests"), BINDERY_OK);
    CHECK_CODE(bindery_options_set_concurrency(opts, 1, 8), BINDERY_OK);
    /* worker threads: 1 to BINDERY_MAX_WORKER_THREADS; UINT32_MAX used to abort, and a count
     * the system cannot give used to hang bindery_runtime_new */
    CHECK(BINDERY_MAX_WORKER_THREADS == 1024, "max %u", BINDERY_MAX_WORKER_THREADS);
    CHECK_CODE(bindery_options_set_worker_threads(opts, UINT32_MAX), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bindery_last_error_message(), "worker_threads must be from 1 to 1024, got 4294967295") != NULL, "%s",
          bindery_last_error_message());
    CHECK_CODE(bindery_options_set_worker_threads(opts, BINDERY_MAX_WORKER_THREADS + 1), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_options_set_worker_threads(opts, 0), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bindery_last_error_message(), "worker_threads must be from 1 to 1024, got 0") != NULL, "%s",
          bindery_last_error_message());
    CHECK_CODE(bindery_options_set_worker_threads(opts, BINDERY_MAX_WORKER_THREADS), BINDERY_OK);
    CHECK_CODE(bindery_options_set_worker_threads(opts, 2), BINDERY_OK);
    CHECK_CODE(bindery_runtime_new(paths, 1, opts, &rt), BINDERY_OK);
    bindery_options_free(opts);
    bindery_options_free(NULL);
    CHECK(strcmp(bindery_last_error_message(), "") == 0, "cleared after success");
    if (rt == NULL) return 1;

    /* ---- handler registration ---- */
    struct tick_state st = {.rt = rt};
    CHECK_CODE(bindery_on_event(NULL, "tick", on_tick, &st, NULL), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_on_event(rt, NULL, on_tick, &st, NULL), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_on_event(rt, "tick", NULL, &st, NULL), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_on_event(rt, "\xc3\x28", on_tick, &st, NULL), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_on_event(rt, "tik", on_tick, &st, NULL), BINDERY_ERR_NOT_FOUND);
    CHECK(strstr(bindery_last_error_message(), "the input bindings are (nearest first): tick, slow") != NULL, "%s",
          bindery_last_error_message());
    CHECK_CODE(bindery_on_event(rt, "files", on_tick, &st, NULL), BINDERY_ERR_NOT_FOUND);
    CHECK_CODE(bindery_on_event(rt, "tick", on_tick, &st, NULL), BINDERY_OK);
    CHECK_CODE(bindery_on_event(rt, "tick", on_tick, &st, NULL), BINDERY_ERR_INVALID_STATE);
    CHECK_CODE(bindery_on_event(rt, "slow", on_slow, NULL, NULL), BINDERY_OK);

    bindery_input_stats stats = {.size = sizeof stats};
    CHECK_CODE(bindery_get_input_stats(rt, "tick", &stats), BINDERY_ERR_NOT_FOUND); /* not started yet */

    CHECK_CODE(bindery_start(NULL), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_start(rt), BINDERY_OK);
    CHECK_CODE(bindery_start(rt), BINDERY_ERR_INVALID_STATE);
    CHECK_CODE(bindery_on_event(rt, "tick", on_tick, &st, NULL), BINDERY_ERR_INVALID_STATE);

    /* ---- cron events reach the callback; the nack of the second is counted ---- */
    CHECK(wait_for(&st.seen, 4, 5000), "4 ticks, saw %d", atomic_load(&st.seen));
    CHECK(!atomic_load(&st.bad_event), "events carry binding, empty data and timeZone");
    CHECK(wait_for(&st.written, 4, 5000), "re-entrant invoke wrote %d", atomic_load(&st.written));
    for (int i = 0; i < 500; i++) { /* the 4th handler may still be returning */
        CHECK_CODE(bindery_get_input_stats(rt, "tick", &stats), BINDERY_OK);
        if (stats.acked >= 3) break;
        sleep_ms(10);
    }
    CHECK(stats.nacked == 1, "nacked %llu", (unsigned long long)stats.nacked);
    CHECK(stats.acked >= 3, "acked %llu", (unsigned long long)stats.acked);
    CHECK_CODE(bindery_get_input_stats(rt, "tick", NULL), BINDERY_ERR_INVALID_ARGUMENT);

    /* ---- a handler held in its callback does not block invoke from here ---- */
    CHECK(wait_for(&slow_started, 1, 5000), "slow handler started");
    bindery_response *resp = NULL;
    CHECK_CODE(bindery_invoke(rt, "files", "list", NULL, 0, NULL, 0, &resp), BINDERY_OK);
    CHECK(atomic_load(&slow_finished) == 0, "invoke returned while the handler was still held");
    atomic_store(&slow_release, 1);
    CHECK(wait_for(&slow_finished, 1, 5000), "the held handler finished once released");
    CHECK(resp != NULL && resp->data_len > 2 && resp->data[0] == '[', "list answers a JSON array");
    bindery_response_free(resp);

    /* ---- invoke: success with data and metadata ---- */
    const char *payload = "hello\0binary"; /* 12 bytes with a NUL inside */
    bindery_kv md[] = {{"fileName", "c/hello.bin"}};
    resp = NULL;
    CHECK_CODE(bindery_invoke(rt, "files", "create", (const uint8_t *)payload, 12, md, 1, &resp), BINDERY_OK);
    CHECK(resp && resp->data_len == strlen("{\"fileName\":\"c/hello.bin\"}") &&
              memcmp(resp->data, "{\"fileName\":\"c/hello.bin\"}", resp->data_len) == 0,
          "create answers the file name");
    bindery_response_free(resp);
    resp = NULL;
    CHECK_CODE(bindery_invoke(rt, "files", "get", NULL, 0, md, 1, &resp), BINDERY_OK);
    CHECK(resp && resp->data_len == 12 && memcmp(resp->data, payload, 12) == 0, "get answers the bytes");
    bindery_response_free(resp);

    /* ---- invoke: failures with their codes and messages ---- */
    resp = (bindery_response *)0x1;
    CHECK_CODE(bindery_invoke(rt, "fils", "get", NULL, 0, md, 1, &resp), BINDERY_ERR_NOT_FOUND);
    CHECK(resp == NULL, "out is NULL after a failure");
    CHECK(strstr(bindery_last_error_message(), "no output binding named \"fils\"; the output bindings are (nearest first): files") != NULL,
          "%s", bindery_last_error_message());
    CHECK_CODE(bindery_invoke(rt, "files", "read", NULL, 0, md, 1, &resp), BINDERY_ERR_UNSUPPORTED_OPERATION);
    CHECK(strstr(bindery_last_error_message(), "its operations are: create, get, list, delete") != NULL, "%s",
          bindery_last_error_message());
    CHECK_CODE(bindery_invoke(rt, "tick", "delete", NULL, 0, NULL, 0, &resp), BINDERY_ERR_UNSUPPORTED_OPERATION);
    bindery_kv missing[] = {{"fileName", "nope.txt"}};
    CHECK_CODE(bindery_invoke(rt, "files", "get", NULL, 0, missing, 1, &resp), BINDERY_ERR_NOT_FOUND);
    CHECK(strstr(bindery_last_error_message(), "file not found") != NULL, "%s", bindery_last_error_message());
    bindery_kv escape[] = {{"fileName", "../../etc/passwd"}};
    CHECK_CODE(bindery_invoke(rt, "files", "get", NULL, 0, escape, 1, &resp), BINDERY_ERR_INVALID_ARGUMENT);

    /* ---- invoke: misuse ---- */
    CHECK_CODE(bindery_invoke(NULL, "files", "get", NULL, 0, md, 1, &resp), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_invoke(rt, NULL, "get", NULL, 0, md, 1, &resp), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_invoke(rt, "files", NULL, NULL, 0, md, 1, &resp), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_invoke(rt, "files", "get", NULL, 0, md, 1, NULL), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_invoke(rt, "files", "create", NULL, 5, md, 1, &resp), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bindery_last_error_message(), "data is NULL but its length is 5") != NULL, "%s", bindery_last_error_message());
    CHECK_CODE(bindery_invoke(rt, "files", "get", NULL, 0, NULL, 2, &resp), BINDERY_ERR_INVALID_ARGUMENT);
    bindery_kv null_key[] = {{NULL, "x"}};
    CHECK_CODE(bindery_invoke(rt, "files", "get", NULL, 0, null_key, 1, &resp), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bindery_last_error_message(), "metadata[0].key is NULL") != NULL, "%s", bindery_last_error_message());
    bindery_kv bad_value[] = {{"fileName", "caf\xe9.txt"}};
    CHECK_CODE(bindery_invoke(rt, "files", "get", NULL, 0, bad_value, 1, &resp), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bindery_last_error_message(), "metadata[0].value is not valid UTF-8") != NULL, "%s", bindery_last_error_message());
    CHECK_CODE(bindery_invoke(rt, "fi\xffles", "get", NULL, 0, md, 1, &resp), BINDERY_ERR_INVALID_ARGUMENT);
    bindery_response_free(NULL);

    /* ---- async invoke: completion exactly once, success and failure ---- */
    enum { N_ASYNC = 16 };
    struct completion done[N_ASYNC];
    memset(done, 0, sizeof done);
    for (int i = 0; i < N_ASYNC; i++) {
        CHECK_CODE(bindery_invoke_async(rt, "files", "get", NULL, 0, md, 1, on_done, &done[i], NULL), BINDERY_OK);
    }
    struct completion fail = {0};
    CHECK_CODE(bindery_invoke_async(rt, "files", "rename", NULL, 0, NULL, 0, on_done, &fail, NULL), BINDERY_OK);
    struct completion never = {0};
    CHECK_CODE(bindery_invoke_async(rt, "files", "get", NULL, 0, md, 1, NULL, &never, NULL), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_invoke_async(rt, NULL, "get", NULL, 0, md, 1, on_done, &never, NULL), BINDERY_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < N_ASYNC; i++) CHECK(wait_for(&done[i].calls, 1, 5000), "completion %d ran", i);
    CHECK(wait_for(&fail.calls, 1, 5000), "failed completion ran");
    sleep_ms(200); /* a second call would show up by now */
    for (int i = 0; i < N_ASYNC; i++) {
        CHECK(atomic_load(&done[i].calls) == 1, "completion %d ran %d times", i, atomic_load(&done[i].calls));
        CHECK(done[i].code == BINDERY_OK && done[i].data_len == 12 && memcmp(done[i].data, payload, 12) == 0,
              "completion %d: code %d", i, done[i].code);
    }
    CHECK(atomic_load(&fail.calls) == 1, "failed completion ran %d times", atomic_load(&fail.calls));
    CHECK(fail.code == BINDERY_ERR_UNSUPPORTED_OPERATION, "code %d", fail.code);
    CHECK(strstr(fail.message, "has no operation \"rename\"") != NULL, "%s", fail.message);
    CHECK(atomic_load(&never.calls) == 0, "no completion after a refused call");

    /* ---- many threads at once ---- */
    enum { N_THREADS = 8 };
    pthread_t threads[N_THREADS];
    struct worker workers[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        workers[i] = (struct worker){.rt = rt, .id = i, .ok = 0};
        pthread_create(&threads[i], NULL, invoke_many, &workers[i]);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(workers[i].ok == 20, "thread %d: %d of 20 round trips", i, workers[i].ok);
    }

    /* ---- shutdown, then everything is closed ---- */
    CHECK_CODE(bindery_shutdown(NULL, 1000), BINDERY_ERR_INVALID_ARGUMENT);
    CHECK_CODE(bindery_shutdown(rt, 5000), BINDERY_OK);
    CHECK_CODE(bindery_shutdown(rt, 5000), BINDERY_OK);
    int seen_at_shutdown = atomic_load(&st.seen);
    sleep_ms(300);
    CHECK(atomic_load(&st.seen) == seen_at_shutdown, "no event after shutdown");
    CHECK_CODE(bindery_invoke(rt, "files", "get", NULL, 0, md, 1, &resp), BINDERY_ERR_CLOSED);
    struct completion closed = {0};
    CHECK_CODE(bindery_invoke_async(rt, "files", "get", NULL, 0, md, 1, on_done, &closed, NULL), BINDERY_OK);
    CHECK(wait_for(&closed.calls, 1, 5000), "completion after shutdown ran");
    CHECK(closed.code == BINDERY_ERR_CLOSED, "code %d", closed.code);

    bindery_runtime_free(rt);
    bindery_runtime_free(NULL);

    /* ---- invokes in flight when the runtime is shut down or freed end with CLOSED ---- */
    int port = 0;
    int silent_fd = silent_server(&port);
    char silent_dir[4096], silent[1024];
    snprintf(silent_dir, sizeof silent_dir, "%s/silent", dir);
    mkdir(silent_dir, 0755);
    snprintf(silent, sizeof silent,
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: silent\nspec:\n"
             "  type: bindings.http\n  version: v1\n  metadata:\n  - name: url\n    value: http://127.0.0.1:%d\n",
             port);
    write_file(silent_dir, "silent.yaml", silent);
    const char *silent_paths[] = {silent_dir};

    /* shut down: the async call's completion and a blocked invoke on another thread */
    bindery_runtime *rt2 = NULL;
    CHECK_CODE(bindery_runtime_new(silent_paths, 1, NULL, &rt2), BINDERY_OK);
    if (rt2 == NULL) return 1;
    struct completion at_shutdown = {0};
    CHECK_CODE(bindery_invoke_async(rt2, "silent", "get", NULL, 0, NULL, 0, on_done, &at_shutdown, NULL), BINDERY_OK);
    struct blocked_call blocked = {.rt = rt2};
    pthread_t blocked_thread;
    pthread_create(&blocked_thread, NULL, invoke_silent, &blocked);
    sleep_ms(300);
    CHECK(atomic_load(&at_shutdown.calls) == 0, "the call to the silent server is in flight");
    CHECK(atomic_load(&blocked.returned) == 0, "the blocking call to the silent server is in flight");
    CHECK_CODE(bindery_shutdown(rt2, 1000), BINDERY_OK);
    CHECK(wait_for(&at_shutdown.calls, 1, 5000), "the completion ran after shutdown");
    CHECK(at_shutdown.code == BINDERY_ERR_CLOSED, "code %d (%s): %s", at_shutdown.code,
          bindery_error_name(at_shutdown.code), at_shutdown.message);
    CHECK(strstr(at_shutdown.message, "shut down before the call finished") != NULL, "%s", at_shutdown.message);
    CHECK(wait_for(&blocked.returned, 1, 5000), "the blocking invoke returned after shutdown");
    if (atomic_load(&blocked.returned)) pthread_join(blocked_thread, NULL);
    CHECK(blocked.code == BINDERY_ERR_CLOSED, "blocking invoke: code %d (%s)", blocked.code,
          bindery_error_name(blocked.code));
    bindery_runtime_free(rt2);
    CHECK(atomic_load(&at_shutdown.calls) == 1, "completion ran %d times", atomic_load(&at_shutdown.calls));

    /* freed without a shutdown: every completion has run, once, when free returns */
    bindery_runtime *rt3 = NULL;
    CHECK_CODE(bindery_runtime_new(silent_paths, 1, NULL, &rt3), BINDERY_OK);
    if (rt3 == NULL) return 1;
    enum { N_FREED = 4 };
    struct completion at_free[N_FREED];
    memset(at_free, 0, sizeof at_free);
    for (int i = 0; i < N_FREED; i++) {
        CHECK_CODE(bindery_invoke_async(rt3, "silent", "get", NULL, 0, NULL, 0, on_done, &at_free[i], NULL), BINDERY_OK);
    }
    sleep_ms(300);
    CHECK(atomic_load(&at_free[0].calls) == 0, "the calls to the silent server are in flight");
    bindery_runtime_free(rt3);
    for (int i = 0; i < N_FREED; i++) {
        CHECK(atomic_load(&at_free[i].calls) == 1, "completion %d had run %d times when free returned", i,
              atomic_load(&at_free[i].calls));
        CHECK(at_free[i].code == BINDERY_ERR_CLOSED, "completion %d: code %d (%s): %s", i, at_free[i].code,
              bindery_error_name(at_free[i].code), at_free[i].message);
    }
    sleep_ms(200); /* a second call would show up by now */
    for (int i = 0; i < N_FREED; i++) {
        CHECK(atomic_load(&at_free[i].calls) == 1, "completion %d ran %d times", i, atomic_load(&at_free[i].calls));
    }
    close(silent_fd);

    printf("%d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
