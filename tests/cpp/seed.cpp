// The seed scenario through the C ABI from C++: bindery.h included as is (extern "C"), the
// handles held by RAII wrappers, a cron handler that writes through local storage, invoke
// errors checked by code, an async invoke completed once.
//
// Usage: seed <components-dir>   (the folder must hold `cleanup-cron` and `records`)
#include "bindery.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

struct RuntimeDeleter {
    void operator()(bindery_runtime *rt) const { bindery_runtime_free(rt); }
};
struct ResponseDeleter {
    void operator()(bindery_response *r) const { bindery_response_free(r); }
};
using RuntimePtr = std::unique_ptr<bindery_runtime, RuntimeDeleter>;
using ResponsePtr = std::unique_ptr<bindery_response, ResponseDeleter>;

struct BinderyError : std::runtime_error {
    int code;
    BinderyError(int c) : std::runtime_error(bindery_last_error_message()), code(c) {}
};

void check(int code) {
    if (code != BINDERY_OK) throw BinderyError(code);
}

std::string invoke(bindery_runtime *rt, const char *name, const char *op, const std::string &data,
                   const std::string &file) {
    bindery_kv md[] = {{"fileName", file.c_str()}};
    bindery_response *raw = nullptr;
    check(bindery_invoke(rt, name, op, reinterpret_cast<const uint8_t *>(data.data()), data.size(), md,
                         file.empty() ? 0 : 1, &raw));
    ResponsePtr resp(raw);
    return std::string(reinterpret_cast<const char *>(resp->data), resp->data_len);
}

struct App {
    bindery_runtime *rt = nullptr;
    std::atomic<int> ticks{0};
};

int fail(const char *what) {
    std::fprintf(stderr, "FAIL: %s\n", what);
    return 1;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) return fail("usage: seed <components-dir>");
    const char *paths[] = {argv[1]};
    bindery_runtime *raw = nullptr;
    check(bindery_runtime_new(paths, 1, nullptr, &raw));
    RuntimePtr rt(raw);

    App app;
    app.rt = rt.get();
    auto on_tick = [](const bindery_event *ev, void *user) -> int32_t {
        auto *app = static_cast<App *>(user);
        int n = ++app->ticks;
        try {
            std::string file = "cpp-tick-" + std::to_string(n) + ".txt";
            invoke(app->rt, "records", "create", "tick " + std::to_string(n) + " from " + ev->binding, file);
            return 0;
        } catch (const BinderyError &) {
            return 1;
        }
    };
    check(bindery_on_event(rt.get(), "cleanup-cron", on_tick, &app, nullptr));
    check(bindery_start(rt.get()));
    for (int i = 0; i < 300 && app.ticks < 2; i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (app.ticks < 2) return fail("two ticks within 6 s");

    if (invoke(rt.get(), "records", "get", "", "cpp-tick-1.txt") != "tick 1 from cleanup-cron") return fail("get");
    try {
        invoke(rt.get(), "records", "rename", "", "");
        return fail("rename should fail");
    } catch (const BinderyError &e) {
        if (e.code != BINDERY_ERR_UNSUPPORTED_OPERATION) return fail("rename code");
        if (std::strstr(e.what(), "its operations are") == nullptr) return fail("rename message");
    }

    struct Done {
        std::atomic<int> calls{0};
        int code = -1;
    } done;
    auto on_done = [](int32_t code, const char *, bindery_response *resp, void *user) {
        auto *d = static_cast<Done *>(user);
        ResponsePtr owned(resp);
        d->code = code;
        ++d->calls;
    };
    check(bindery_invoke_async(rt.get(), "nope", "get", nullptr, 0, nullptr, 0, on_done, &done, nullptr));
    for (int i = 0; i < 250 && done.calls == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (done.calls != 1 || done.code != BINDERY_ERR_NOT_FOUND) return fail("async completion once with NOT_FOUND");

    check(bindery_shutdown(rt.get(), 5000));
    std::printf("c++ seed scenario: %d ticks: ok\n", app.ticks.load());
    return 0;
}
