"""Redis `create` (SET of a 100-byte value, a distinct key per call) from Python against the
Redis on 127.0.0.1:6379: bindery beside redis-py, at concurrency 1 and 32.

- 1 thread: `rt.invoke("cache", "create", ...)` in a loop; baseline `redis.Redis.set` in a loop.
- 32 threads: each thread calls `rt.invoke` (blocking, GIL released while it waits), all
  sharing one runtime (one multiplexed connection); baseline: 32 threads sharing one
  `redis.Redis` (its connection pool opens a connection per thread).
- 32 asyncio tasks: `await rt.invoke_async(...)`; baseline `redis.asyncio.Redis.set`
  (a pooled connection per task).

Usage: python redis_set.py <components-dir> <calls per round>
Prints "<name> <value>" lines: p50 and p99 latency in µs and throughput in calls/s, each the
median of 5 rounds (a round is <calls> calls split over the workers, after a warm-up).
"""

import asyncio
import statistics
import sys
import threading
import time
import uuid

import redis
import redis.asyncio

import bindery

ROUNDS = 5
CONCURRENCY = 32
VALUE = b"v" * 100
PREFIX = f"bindery-bench-{uuid.uuid4().hex[:12]}"


def summary(latencies_ns, wall_ns):
    """p50 and p99 in µs, and calls per second."""
    latencies_ns.sort()
    n = len(latencies_ns)
    p50 = latencies_ns[n // 2] / 1000
    p99 = latencies_ns[min(n - 1, (n * 99) // 100)] / 1000
    return p50, p99, n / (wall_ns / 1e9)


def median_of(rounds):
    return tuple(statistics.median(r[i] for r in rounds) for i in range(3))


class Keys:
    """Distinct keys across every call of the benchmark."""

    def __init__(self, tag):
        self.tag = tag
        self.round = 0

    def next_round(self):
        self.round += 1
        return f"{PREFIX}:{self.tag}:{self.round}"


def threaded(set_fn, keys, n, threads):
    """Each of `threads` threads makes n // threads calls of set_fn(key, value)."""
    each = n // threads

    def one_round(each):
        base = keys.next_round()
        lat = [[] for _ in range(threads)]

        def work(t):
            out = lat[t]
            for i in range(each):
                key = f"{base}:{t}:{i}"
                s = time.perf_counter_ns()
                set_fn(key, VALUE)
                out.append(time.perf_counter_ns() - s)

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        start = time.perf_counter_ns()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter_ns() - start
        return summary([x for part in lat for x in part], wall)

    one_round(max(each // 10, 10))  # warm-up: connections opened, code paths hot
    return median_of([one_round(each) for _ in range(ROUNDS)])


def single(set_fn, keys, n):
    def one_round(n):
        base = keys.next_round()
        lat = []
        start = time.perf_counter_ns()
        for i in range(n):
            key = f"{base}:{i}"
            s = time.perf_counter_ns()
            set_fn(key, VALUE)
            lat.append(time.perf_counter_ns() - s)
        return summary(lat, time.perf_counter_ns() - start)

    one_round(max(n // 10, 10))
    return median_of([one_round(n) for _ in range(ROUNDS)])


async def tasks(set_coro, keys, n, concurrency):
    """`concurrency` asyncio tasks, each awaiting n // concurrency calls one after another."""
    each = n // concurrency

    async def one_round(each):
        base = keys.next_round()
        lat = [[] for _ in range(concurrency)]

        async def work(t):
            out = lat[t]
            for i in range(each):
                key = f"{base}:{t}:{i}"
                s = time.perf_counter_ns()
                await set_coro(key, VALUE)
                out.append(time.perf_counter_ns() - s)

        start = time.perf_counter_ns()
        await asyncio.gather(*(work(t) for t in range(concurrency)))
        wall = time.perf_counter_ns() - start
        return summary([x for part in lat for x in part], wall)

    await one_round(max(each // 10, 10))
    return median_of([await one_round(each) for _ in range(ROUNDS)])


def emit(name, figures):
    p50, p99, rate = figures
    print(f"{name}_p50 {p50:.1f}")
    print(f"{name}_p99 {p99:.1f}")
    print(f"{name}_rate {rate:.0f}", flush=True)


def main():
    components, n = sys.argv[1], int(sys.argv[2])
    rt = bindery.Runtime(components, worker_threads=2)
    rt.start()
    client = redis.Redis(host="127.0.0.1", port=6379)

    def bindery_set(key, value):
        rt.invoke("cache", "create", value, {"key": key})

    def redis_set(key, value):
        client.set(key, value)

    async def bindery_set_async(key, value):
        await rt.invoke_async("cache", "create", value, {"key": key})

    async def run_async():
        aclient = redis.asyncio.Redis(host="127.0.0.1", port=6379)

        async def redis_set_async(key, value):
            await aclient.set(key, value)

        try:
            emit("py_redis_bindery_async32", await tasks(bindery_set_async, Keys("ba"), n, CONCURRENCY))
            emit("py_redis_redispy_async32", await tasks(redis_set_async, Keys("ra"), n, CONCURRENCY))
        finally:
            await aclient.aclose()

    try:
        # A check that both really write the value.
        bindery_set(f"{PREFIX}:check", VALUE)
        assert client.get(f"{PREFIX}:check") == VALUE, "bindery's create did not SET the value"
        emit("py_redis_bindery_1t", single(bindery_set, Keys("b1"), n))
        emit("py_redis_redispy_1t", single(redis_set, Keys("r1"), n))
        emit("py_redis_bindery_32t", threaded(bindery_set, Keys("b32"), n, CONCURRENCY))
        emit("py_redis_redispy_32t", threaded(redis_set, Keys("r32"), n, CONCURRENCY))
        asyncio.run(run_async())
    finally:
        rt.stop()
        # Leave Redis as it was: every key this run wrote shares PREFIX.
        batch = []
        for key in client.scan_iter(match=f"{PREFIX}:*", count=10_000):
            batch.append(key)
            if len(batch) >= 10_000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
        client.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main()
