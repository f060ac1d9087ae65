"""The seed scenario through the C ABI from a second language: Python's ctypes, with no
bindery-specific glue. A cron input's callback writes through local storage with a blocking
invoke; a nacking return is counted; invoke errors come back with their codes; an async
invoke completes once.

Usage: python3 tests/ctypes/seed.py /path/to/libbindery.so
"""

import ctypes as C
import os
import sys
import tempfile
import threading
import time

lib = C.CDLL(sys.argv[1])


class KV(C.Structure):
    _fields_ = [("key", C.c_char_p), ("value", C.c_char_p)]


class Event(C.Structure):
    _fields_ = [
        ("binding", C.c_char_p),
        ("data", C.POINTER(C.c_uint8)),
        ("data_len", C.c_size_t),
        ("metadata", C.POINTER(KV)),
        ("metadata_len", C.c_size_t),
    ]


class Response(C.Structure):
    _fields_ = [
        ("data", C.POINTER(C.c_uint8)),
        ("data_len", C.c_size_t),
        ("metadata", C.POINTER(KV)),
        ("metadata_len", C.c_size_t),
    ]


class Stats(C.Structure):
    _fields_ = [
        ("size", C.c_size_t),
        ("delivered", C.c_uint64),
        ("acked", C.c_uint64),
        ("nacked", C.c_uint64),
        ("panicked", C.c_uint64),
        ("rejected", C.c_uint64),
    ]


EVENT_CB = C.CFUNCTYPE(C.c_int32, C.POINTER(Event), C.c_void_p)
INVOKE_CB = C.CFUNCTYPE(None, C.c_int32, C.c_char_p, C.POINTER(Response), C.c_void_p)
FREE_CB = C.CFUNCTYPE(None, C.c_void_p)

lib.bindery_abi_version.restype = C.c_uint32
lib.bindery_last_error_message.restype = C.c_char_p
lib.bindery_runtime_new.argtypes = [C.POINTER(C.c_char_p), C.c_size_t, C.c_void_p, C.POINTER(C.c_void_p)]
lib.bindery_on_event.argtypes = [C.c_void_p, C.c_char_p, EVENT_CB, C.c_void_p, FREE_CB]
lib.bindery_start.argtypes = [C.c_void_p]
lib.bindery_invoke.argtypes = [
    C.c_void_p, C.c_char_p, C.c_char_p, C.c_char_p, C.c_size_t, C.POINTER(KV), C.c_size_t,
    C.POINTER(C.POINTER(Response)),
]
lib.bindery_invoke_async.argtypes = [
    C.c_void_p, C.c_char_p, C.c_char_p, C.c_char_p, C.c_size_t, C.POINTER(KV), C.c_size_t,
    INVOKE_CB, C.c_void_p, FREE_CB,
]
lib.bindery_response_free.argtypes = [C.POINTER(Response)]
lib.bindery_get_input_stats.argtypes = [C.c_void_p, C.c_char_p, C.POINTER(Stats)]
lib.bindery_shutdown.argtypes = [C.c_void_p, C.c_uint32]
lib.bindery_runtime_free.argtypes = [C.c_void_p]

OK, NOT_FOUND, UNSUPPORTED, INVALID_ARGUMENT, CLOSED = 0, 2, 3, 4, 8


def last_error():
    return lib.bindery_last_error_message().decode()


def invoke(rt, name, op, data=b"", **metadata):
    kvs = (KV * len(metadata))(*[KV(k.encode(), v.encode()) for k, v in metadata.items()])
    out = C.POINTER(Response)()
    code = lib.bindery_invoke(rt, name.encode(), op.encode(), data, len(data), kvs, len(metadata), C.byref(out))
    if code != OK:
        return code, last_error(), None
    resp = out.contents
    body = C.string_at(resp.data, resp.data_len) if resp.data_len else b""
    lib.bindery_response_free(out)
    return code, "", body


def main():
    assert lib.bindery_abi_version() == 2
    work = tempfile.mkdtemp()
    comps = os.path.join(work, "components")
    os.mkdir(comps)
    with open(os.path.join(comps, "cleanup-cron.yaml"), "w") as f:
        f.write(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: cleanup-cron\nspec:\n"
            "  type: bindings.cron\n  version: v1\n  metadata:\n  - name: schedule\n    value: \"@every 100ms\"\n"
            "  - name: direction\n    value: input\n"
        )
    with open(os.path.join(comps, "records.yaml"), "w") as f:
        f.write(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: records\nspec:\n"
            "  type: bindings.localstorage\n  version: v1\n  metadata:\n  - name: rootPath\n"
            f"    value: {os.path.join(work, 'records')}\n"
        )

    rt = C.c_void_p()
    paths = (C.c_char_p * 1)(comps.encode())
    assert lib.bindery_runtime_new(paths, 1, None, C.byref(rt)) == OK, last_error()

    ticks = []
    lock = threading.Lock()

    def on_tick(ev_ptr, _user):
        ev = ev_ptr.contents
        assert ev.binding == b"cleanup-cron"
        meta = {ev.metadata[i].key.decode(): ev.metadata[i].value.decode() for i in range(ev.metadata_len)}
        with lock:
            ticks.append(meta)
            n = len(ticks)
        code, err, _ = invoke(rt, "records", "create", f"tick {n}".encode(), fileName=f"py-tick-{n}.txt")
        if code != OK:
            print("create failed:", err, file=sys.stderr)
            return 1
        return 1 if n == 2 else 0  # the second tick is nacked

    callback = EVENT_CB(on_tick)  # kept alive until the runtime is freed
    freed = []
    finalizer = FREE_CB(lambda user: freed.append(user))  # called once, when bindery is done
    assert lib.bindery_on_event(rt, b"cleanup-crn", callback, None, FREE_CB()) == NOT_FOUND
    assert "cleanup-cron" in last_error(), last_error()
    assert lib.bindery_on_event(rt, b"cleanup-cron", callback, C.c_void_p(7), finalizer) == OK, last_error()
    assert lib.bindery_start(rt) == OK, last_error()

    deadline = time.time() + 10
    while len(ticks) < 4 and time.time() < deadline:
        time.sleep(0.02)
    assert len(ticks) >= 4, ticks
    assert all(t["timeZone"] == "Local" and t["readTimeUTC"].endswith("UTC") for t in ticks)

    stats = Stats(size=C.sizeof(Stats))
    while time.time() < deadline:  # the 4th handler may still be returning
        assert lib.bindery_get_input_stats(rt, b"cleanup-cron", C.byref(stats)) == OK
        if stats.acked >= 3:
            break
        time.sleep(0.02)
    assert stats.nacked == 1 and stats.acked >= 3, (stats.delivered, stats.acked, stats.nacked)

    code, _, body = invoke(rt, "records", "get", fileName="py-tick-1.txt")
    assert (code, body) == (OK, b"tick 1"), (code, body)
    assert invoke(rt, "records", "get", fileName="missing.txt")[0] == NOT_FOUND
    code, err, _ = invoke(rt, "records", "rename")
    assert code == UNSUPPORTED and "its operations are: create, get, list, delete" in err, err
    assert invoke(rt, "records", "get", fileName="../outside")[0] == INVALID_ARGUMENT

    done = []
    finished = threading.Event()

    def on_done(code, message, resp, _user):
        body = C.string_at(resp.contents.data, resp.contents.data_len) if resp else b""
        if resp:
            lib.bindery_response_free(resp)
        done.append((code, body))
        finished.set()

    completion = INVOKE_CB(on_done)
    kv = (KV * 1)(KV(b"fileName", b"py-tick-1.txt"))
    assert lib.bindery_invoke_async(rt, b"records", b"get", None, 0, kv, 1, completion, None, FREE_CB()) == OK
    assert finished.wait(5)
    time.sleep(0.1)
    assert done == [(OK, b"tick 1")], done

    assert lib.bindery_shutdown(rt, 5000) == OK, last_error()
    assert invoke(rt, "records", "list")[0] == CLOSED
    lib.bindery_runtime_free(rt)
    assert freed == [7], freed
    print(f"ctypes seed scenario: {len(ticks)} ticks, stats acked={stats.acked} nacked={stats.nacked}: ok")


if __name__ == "__main__":
    main()
