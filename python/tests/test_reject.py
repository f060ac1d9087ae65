"""`bindery.Reject`: a handler that raises it rejects the event, which is not delivered again
(beside a nack, which is), and is counted as rejected. Against the real RabbitMQ on
127.0.0.1:5672 (started by tests/servers/start), in a queue whose rejects a policy dead-letters,
as an operator would set it up: the rejected messages land in the dead-letter queue."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Dict, List

import bindery

from conftest import component


def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl, trying again for up to 30 s (another test may be restarting the broker)."""
    for _ in range(30):
        if subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True).returncode == 0:
            return
        time.sleep(1)
    raise AssertionError(f"rabbitmqctl {args} kept failing")


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_reject_from_a_handler_is_counted_apart_from_nacks(components: Callable[..., Path]) -> None:
    seen: List[int] = []
    lock = threading.Lock()
    rt = bindery.Runtime(components(cron_schedule="@every 50ms"))

    @rt.input("tick")
    def tick(event: bindery.Event) -> None:
        with lock:
            seen.append(1)
            n = len(seen)
        if n == 1:
            raise bindery.Reject("the first tick is not welcome")
        if n == 2:
            raise ValueError("the second one fails")

    with rt:
        wait_until(lambda: (rt.stats("tick") or {}).get("acked", 0) >= 1, "an ack")
        stats = rt.stats("tick")
    assert stats is not None
    assert stats["rejected"] == 1 and stats["nacked"] == 1 and stats["panicked"] == 0, stats
    assert issubclass(bindery.Reject, Exception) and not issubclass(bindery.Reject, bindery.BindingError)
    assert bindery.Reject("why").reason == "why"


def test_input_stats_compare_as_counters() -> None:
    """A counter missing from the other side of == counts as 0, as in collections.Counter:
    code that compares the first three counters keeps working."""
    quiet = bindery.InputStats(delivered=3, acked=3, nacked=0, rejected=0, panicked=0)
    assert quiet == {"delivered": 3, "acked": 3, "nacked": 0}
    assert {"delivered": 3, "acked": 3, "nacked": 0} == quiet
    assert quiet["rejected"] == 0 and "rejected" in quiet
    one_rejected = bindery.InputStats(delivered=3, acked=2, nacked=0, rejected=1, panicked=0)
    assert one_rejected != {"delivered": 3, "acked": 2, "nacked": 0}
    assert one_rejected == {"delivered": 3, "acked": 2, "nacked": 0, "rejected": 1}


def test_an_async_handler_rejects_too(components: Callable[..., Path]) -> None:
    rt = bindery.Runtime(components(cron_schedule="@every 50ms"))

    @rt.input("tick")
    async def tick(event: bindery.Event) -> None:
        await asyncio.sleep(0)
        raise bindery.Reject()

    with rt:
        wait_until(lambda: (rt.stats("tick") or {}).get("rejected", 0) >= 2, "two rejects")
        stats = rt.stats("tick")
    assert stats is not None and stats["acked"] == 0 and stats["nacked"] == 0, stats


def test_a_rejected_message_is_dead_lettered_and_a_nacked_one_comes_again(tmp_path: Path) -> None:
    queue = f"bindery-py-reject-{uuid.uuid4().hex}"
    dead = f"{queue}-dead"
    rabbitmqctl(
        "set_policy", queue, f"^{queue}$",
        f'{{"dead-letter-exchange":"","dead-letter-routing-key":"{dead}"}}', "--apply-to", "queues",
    )
    folder = tmp_path / "components"
    folder.mkdir()
    common = dict(host="amqp://guest:guest@127.0.0.1:5672", durable="false", deleteWhenUnused="true")
    (folder / "jobs.yaml").write_text(
        component("jobs", "bindings.rabbitmq", queueName=queue, backOffDuration="50ms",
                  backOffMaxRetries="1", **common)
    )
    (folder / "dead.yaml").write_text(
        component("dead", "bindings.rabbitmq", queueName=dead, direction="input", **common)
    )
    handled: List[str] = []
    dead_letters: List[str] = []
    failed: Dict[str, bool] = {}
    try:
        rt = bindery.Runtime(folder)

        @rt.input("jobs")
        def jobs(event: bindery.Event) -> None:
            text = event.text()
            handled.append(text)
            if text in ("m3", "m7"):
                raise bindery.Reject(f"{text} is not welcome")
            if text == "m5" and not failed.get(text):
                failed[text] = True
                raise RuntimeError("m5 fails once")

        @rt.input("dead")
        def dead_letter(event: bindery.Event) -> None:
            dead_letters.append(event.text())

        with rt:
            for i in range(10):
                rt.invoke("jobs", "create", f"m{i}")
            wait_until(lambda: len(handled) >= 11 and len(dead_letters) >= 2, "every message and two dead letters")
            time.sleep(0.5)  # a redelivered reject would show up by now
            jobs_stats, dead_stats = rt.stats("jobs"), rt.stats("dead")
    finally:
        rabbitmqctl("clear_policy", queue)
    assert sorted(handled) == sorted([f"m{i}" for i in range(10)] + ["m5"]), handled
    assert sorted(dead_letters) == ["m3", "m7"], dead_letters
    assert jobs_stats is not None and dead_stats is not None
    assert (jobs_stats["delivered"], jobs_stats["acked"], jobs_stats["nacked"], jobs_stats["rejected"]) == (11, 8, 1, 2)
    assert dead_stats["acked"] == 2
