"""Python invoke overhead: a local storage `get` of a 32-byte file through bindery, from one
thread and from eight, beside a plain Python function call and an HTTP round trip on loopback
to a keep-alive HTTP/1.1 server in another process (the shape of a call to a Dapr sidecar).

Usage: python invoke.py <components-dir> <root-dir> <iterations>
Prints "<name> <nanoseconds per call>" lines, each the median of 5 rounds.
"""

import http.client
import os
import statistics
import subprocess
import sys
import threading
import time

import bindery

ROUNDS = 5


def per_call(fn, n):
    rounds = []
    for _ in range(ROUNDS):
        t = time.perf_counter_ns()
        fn(n)
        rounds.append((time.perf_counter_ns() - t) / n)
    return statistics.median(rounds)


def threaded(make_worker, n, threads=8):
    """ns per call when `threads` threads each make n // threads calls at once."""
    rounds = []
    each = n // threads
    for _ in range(ROUNDS):
        workers = [threading.Thread(target=make_worker(), args=(each,)) for _ in range(threads)]
        t = time.perf_counter_ns()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        rounds.append((time.perf_counter_ns() - t) / (each * threads))
    return statistics.median(rounds)


def main():
    components, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rt = bindery.Runtime(components, worker_threads=2)
    rt.invoke("files", "create", b"a small file of 32 bytes........", {"fileName": "small.txt"})
    md = {"fileName": "small.txt"}

    def plain(x):
        return x

    def call_plain(k):
        for _ in range(k):
            plain(md)

    def invoke(k):
        for _ in range(k):
            rt.invoke("files", "get", None, md)

    here = os.path.dirname(os.path.abspath(__file__))
    server = subprocess.Popen(
        [sys.executable, os.path.join(here, "server.py"), root], stdout=subprocess.PIPE, text=True
    )
    port = int(server.stdout.readline())

    def http_worker():
        conn = http.client.HTTPConnection("127.0.0.1", port)

        def run(k):
            for _ in range(k):
                conn.request("GET", "/small.txt")
                conn.getresponse().read()

        return run

    try:
        print(f"python_plain_call {per_call(call_plain, n * 10):.0f}")
        print(f"python_invoke_1t {per_call(invoke, n):.0f}")
        print(f"python_invoke_8t {threaded(lambda: invoke, n):.0f}")
        print(f"python_http_1t {per_call(http_worker(), max(n // 10, 100)):.0f}")
        print(f"python_http_8t {threaded(http_worker, max(n // 10, 800)):.0f}")
    finally:
        server.terminate()
        rt.stop()


if __name__ == "__main__":
    main()
