/*
 * Delivery through the C ABI against the real RabbitMQ on 127.0.0.1:5672 (tests/servers/start
 * rabbitmq): a runtime stopped with a short deadline in the middle of a run of slow events
 * has acked every event its handler returned 0 for, as each returned, and its handler got no
 * event after the one in hand; so the next runtime gets only the rest. And a handler's
 * BINDERY_REJECT is not redelivered: in a queue whose rejects are dead-lettered (a policy set
 * with rabbitmqctl, as an operator would), the rejected messages land in the dead-letter queue,
 * while a nack beside them is delivered again. Run by tests/c/run.
 *
 * Usage: test_delivery <scratch-dir>
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MESSAGES 60

/* What one runtime's handler saw: message numbers in the order handled. */
struct seen {
    atomic_int count;
    int order[4 * MESSAGES];
};

static int number(const bindery_event *ev) {
    char text[16] = {0};
    if (ev->data_len < 2 || ev->data_len >= sizeof text || ev->data[0] != 'm') return -1;
    memcpy(text, ev->data, ev->data_len);
    return atoi(text + 1);
}

/* m0 takes long enough for the rest to arrive meanwhile (so that they come as one run), m20
 * (in hand at the stop) longer than the stop's deadline, the others 10 ms. */
/* m20's handler holds it until the test lets it go (or 10 s pass), so that m20 is in hand
 * when the runtime is stopped however slowly this machine runs. */
static atomic_int release_m20;
static int32_t on_slow(const bindery_event *ev, void *user) {
    struct seen *s = user;
    int n = number(ev);
    if (n == 20) {
        for (int waited = 0; !atomic_load(&release_m20) && waited < 10000; waited += 10) sleep_ms(10);
    } else {
        sleep_ms(n == 0 ? 300 : 10);
    }
    int i = atomic_load(&s->count);
    if (i < 4 * MESSAGES) s->order[i] = n;
    atomic_fetch_add(&s->count, 1);
    return 0;
}

/* Rejects m3 and m7, nacks m5 the first time, acks the rest. */
static atomic_int m5_seen;
static int32_t on_judge(const bindery_event *ev, void *user) {
    struct seen *s = user;
    int n = number(ev);
    int i = atomic_fetch_add(&s->count, 1);
    if (i < 4 * MESSAGES) s->order[i] = n;
    if (n == 3 || n == 7) return BINDERY_REJECT;
    if (n == 5 && atomic_fetch_add(&m5_seen, 1) == 0) return BINDERY_NACK;
    return BINDERY_ACK;
}

static int count_of(struct seen *s, int n) {
    int c = 0, total = atomic_load(&s->count);
    for (int i = 0; i < total && i < 4 * MESSAGES; i++) c += s->order[i] == n;
    return c;
}

/* Run rabbitmqctl, trying again for up to 30 s (another test may be restarting the broker). */
static void rabbitmqctl(const char *args) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rabbitmqctl -q %s >/dev/null 2>&1", args);
    for (int attempt = 0; attempt < 30; attempt++) {
        if (system(cmd) == 0) return;
        sleep_ms(1000);
    }
    fprintf(stderr, "FAIL: %s\n", cmd);
    exit(1);
}

static int32_t on_fast(const bindery_event *ev, void *user) {
    struct seen *s = user;
    int i = atomic_load(&s->count);
    if (i < 4 * MESSAGES) s->order[i] = number(ev);
    atomic_fetch_add(&s->count, 1);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <scratch-dir>\n", argv[0]);
        return 2;
    }
    char comps[4096], path[4200], yaml[2048];
    snprintf(comps, sizeof comps, "%s/delivery-components", argv[1]);
    mkdir(comps, 0755);
    /* A queue of its own; its messages expire after a minute, so nothing lingers. */
    snprintf(yaml, sizeof yaml,
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: jobs\nspec:\n"
             "  type: bindings.rabbitmq\n  version: v1\n  metadata:\n"
             "  - name: host\n    value: amqp://guest:guest@127.0.0.1:5672\n"
             "  - name: queueName\n    value: bindery-c-delivery-%ld-%ld\n"
             "  - name: durable\n    value: \"false\"\n"
             "  - name: ttlInSeconds\n    value: \"60\"\n",
             (long)getpid(), (long)time(NULL));
    snprintf(path, sizeof path, "%s/jobs.yaml", comps);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 2;
    }
    fputs(yaml, f);
    fclose(f);
    const char *paths[] = {comps};

    /* m0..m59 wait in the queue. */
    bindery_runtime *rt = NULL;
    MUST(bindery_runtime_new(paths, 1, NULL, &rt));
    MUST(bindery_start(rt));
    for (int i = 0; i < MESSAGES; i++) {
        char body[16];
        snprintf(body, sizeof body, "m%d", i);
        bindery_response *resp = NULL;
        MUST(bindery_invoke(rt, "jobs", "create", (const uint8_t *)body, strlen(body), NULL, 0, &resp));
        bindery_response_free(resp);
    }
    MUST(bindery_shutdown(rt, 5000));
    bindery_runtime_free(rt);

    /* A slow handler, stopped with a 50 ms deadline once m0..m19 are handled, m20 in hand. */
    static struct seen first, second;
    MUST(bindery_runtime_new(paths, 1, NULL, &rt));
    MUST(bindery_on_event(rt, "jobs", on_slow, &first, NULL));
    MUST(bindery_start(rt));
    CHECK(wait_for(&first.count, 20, 30000), "20 handled before the stop: %d", atomic_load(&first.count));
    int before_stop = atomic_load(&first.count);
    int32_t code = bindery_shutdown(rt, 50);
    CHECK(code == BINDERY_ERR_TIMEOUT, "m20 was still in hand at the deadline: %s", bindery_error_name(code));
    atomic_store(&release_m20, 1);
    sleep_ms(1300); /* m20's handler returns; nothing comes after it */
    CHECK(atomic_load(&first.count) <= before_stop + 1, "%d handled after the stop",
          atomic_load(&first.count) - before_stop);
    bindery_runtime_free(rt);

    /* The next runtime gets m20..m59, and none of what was handled before the stop. */
    MUST(bindery_runtime_new(paths, 1, NULL, &rt));
    MUST(bindery_on_event(rt, "jobs", on_fast, &second, NULL));
    MUST(bindery_start(rt));
    CHECK(wait_for(&second.count, MESSAGES - before_stop, 30000), "the rest arrived: %d",
          atomic_load(&second.count));
    sleep_ms(300);
    MUST(bindery_shutdown(rt, 5000));
    bindery_runtime_free(rt);

    int n = atomic_load(&second.count);
    CHECK(n > 0 && second.order[0] == before_stop, "the next runtime starts at m%d, not m%d",
          before_stop, n > 0 ? second.order[0] : -1);
    for (int i = 0; i < n && i < 4 * MESSAGES; i++) {
        CHECK(second.order[i] >= before_stop, "m%d was handled before the stop and again after it",
              second.order[i]);
    }
    CHECK(n == MESSAGES - before_stop, "%d handled by the next runtime, want %d", n, MESSAGES - before_stop);

    /* ---- BINDERY_REJECT: dead-lettered, not redelivered; a nack beside it is ---- */
    char queue[128], dead[160], policy[1024];
    snprintf(queue, sizeof queue, "bindery-c-reject-%ld-%ld", (long)getpid(), (long)time(NULL));
    snprintf(dead, sizeof dead, "%s-dead", queue);
    snprintf(policy, sizeof policy,
             "set_policy %s '^%s$' '{\"dead-letter-exchange\":\"\",\"dead-letter-routing-key\":\"%s\"}' "
             "--apply-to queues",
             queue, queue, dead);
    rabbitmqctl(policy);
    char rcomps[4096];
    snprintf(rcomps, sizeof rcomps, "%s/reject-components", argv[1]);
    mkdir(rcomps, 0755);
    snprintf(yaml, sizeof yaml,
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: jobs\nspec:\n"
             "  type: bindings.rabbitmq\n  version: v1\n  metadata:\n"
             "  - name: host\n    value: amqp://guest:guest@127.0.0.1:5672\n"
             "  - name: queueName\n    value: %s\n"
             "  - name: durable\n    value: \"false\"\n"
             "  - name: deleteWhenUnused\n    value: \"true\"\n"
             "  - name: backOffDuration\n    value: 50ms\n"
             "  - name: backOffMaxRetries\n    value: \"1\"\n"
             "---\n"
             "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: dead\nspec:\n"
             "  type: bindings.rabbitmq\n  version: v1\n  metadata:\n"
             "  - name: host\n    value: amqp://guest:guest@127.0.0.1:5672\n"
             "  - name: queueName\n    value: %s\n"
             "  - name: durable\n    value: \"false\"\n"
             "  - name: deleteWhenUnused\n    value: \"true\"\n"
             "  - name: direction\n    value: input\n",
             queue, dead);
    snprintf(path, sizeof path, "%s/jobs.yaml", rcomps);
    f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 2;
    }
    fputs(yaml, f);
    fclose(f);
    const char *rpaths[] = {rcomps};
    static struct seen judged, dead_letters;
    MUST(bindery_runtime_new(rpaths, 1, NULL, &rt));
    MUST(bindery_on_event(rt, "jobs", on_judge, &judged, NULL));
    MUST(bindery_on_event(rt, "dead", on_fast, &dead_letters, NULL));
    MUST(bindery_start(rt));
    for (int i = 0; i < 10; i++) {
        char body[16];
        snprintf(body, sizeof body, "m%d", i);
        bindery_response *resp = NULL;
        MUST(bindery_invoke(rt, "jobs", "create", (const uint8_t *)body, strlen(body), NULL, 0, &resp));
        bindery_response_free(resp);
    }
    CHECK(wait_for(&judged.count, 11, 30000), "m0..m9 and m5 again: %d", atomic_load(&judged.count));
    CHECK(wait_for(&dead_letters.count, 2, 30000), "two dead letters: %d", atomic_load(&dead_letters.count));
    sleep_ms(500); /* a redelivered reject would show up by now */
    bindery_input_stats jobs = {.size = sizeof jobs}, dl = {.size = sizeof dl};
    MUST(bindery_get_input_stats(rt, "jobs", &jobs));
    MUST(bindery_get_input_stats(rt, "dead", &dl));
    MUST(bindery_shutdown(rt, 5000));
    bindery_runtime_free(rt);
    snprintf(policy, sizeof policy, "clear_policy %s", queue);
    rabbitmqctl(policy);
    for (int i = 0; i < 10; i++) {
        CHECK(count_of(&judged, i) == (i == 5 ? 2 : 1), "m%d handled %d times", i, count_of(&judged, i));
    }
    int d0 = dead_letters.order[0], d1 = dead_letters.order[1];
    CHECK(atomic_load(&dead_letters.count) == 2 && ((d0 == 3 && d1 == 7) || (d0 == 7 && d1 == 3)),
          "the dead letters are m3 and m7: %d of them, m%d m%d", atomic_load(&dead_letters.count), d0, d1);
    CHECK(jobs.delivered == 11 && jobs.acked == 8 && jobs.nacked == 1 && jobs.rejected == 2,
          "jobs: delivered %llu acked %llu nacked %llu rejected %llu", (unsigned long long)jobs.delivered,
          (unsigned long long)jobs.acked, (unsigned long long)jobs.nacked, (unsigned long long)jobs.rejected);
    CHECK(dl.acked == 2 && dl.rejected == 0, "dead: acked %llu", (unsigned long long)dl.acked);

    if (failures) {
        fprintf(stderr, "%d delivery checks failed\n", failures);
        return 1;
    }
    printf("   delivery: a stop mid-run kept the %d events handled before it; 2 rejects dead-lettered\n",
           before_stop);
    return 0;
}
