"""Dapr's own Python samples for bindings, run as their own processes with only their import
lines changed, against the local Kafka-protocol broker (127.0.0.1:9092): the python-sdk's
invoke-binding example (an `App` receiver and a `DaprClient` publisher; sdk_example/) and the
docs' how-to input and output samples (docs_howto/). Each test makes its own topic and
consumer group and writes them into the components."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

from conftest import default_sigint
from test_kafka import create_topic, unique

HERE = Path(__file__).resolve().parent
WAIT = 120.0  # joining the consumer group takes seconds; the machine may be loaded


def own_topic(text: str, topic: str, group: str) -> str:
    assert "value: sample" in text and "value: group1" in text
    return text.replace("value: sample", f"value: {topic}").replace("value: group1", f"value: {group}")


class Proc:
    """A sample run as `python <script>` from `cwd`, its output (stdout and stderr) in a file."""

    def __init__(self, script: Path, cwd: Path, env: Dict[str, str], log: Path) -> None:
        self.log = log
        self._out = open(log, "wb")
        self.p = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=self._out,
            stderr=subprocess.STDOUT,
            preexec_fn=default_sigint,  # stopped with Ctrl-C's SIGINT, also under CI's runner
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            return self.p.wait(60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise AssertionError(f"{self.log.name} did not stop:\n{self.output()}")
        finally:
            self._out.close()


def wait_for(cond: Callable[[], bool], procs: List[Proc], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not cond():
        for p in procs:
            assert p.p.poll() is None, f"{p.log.name} exited:\n{p.output()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n" + "\n".join(
            f"--- {p.log.name}\n{p.output()}" for p in procs
        )
        time.sleep(0.3)


def test_python_sdk_invoke_binding_example(tmp_path: Path) -> None:
    topic, group = unique("sample"), unique("group1")
    create_topic(topic)
    example = tmp_path / "invoke-binding"
    shutil.copytree(HERE / "sdk_example", example)
    binding = example / "components" / "kafka-binding.yaml"
    binding.write_text(own_topic(binding.read_text(), topic, group))
    env = {"DAPR_RESOURCES_PATH": "./components"}  # as `--resources-path ./components`

    receiver = Proc(
        example / "invoke-input-binding.py", example, {**env, "APP_ID": "receiver"}, tmp_path / "receiver.log"
    )
    publisher = Proc(
        example / "invoke-output-binding.py", example, {**env, "APP_ID": "publisher"}, tmp_path / "publisher.log"
    )
    try:
        # The lines the example's README expects of each.
        expected = [f'{{"id": {n}, "message": "hello world"}}' for n in (1, 2, 3)]
        wait_for(lambda: all(line in receiver.output() for line in expected), [receiver, publisher], "ids 1-3")
    finally:
        publisher.stop(signal.SIGTERM)  # it sends until it is killed
        code = receiver.stop()  # Ctrl-C: App.run returns after the event in hand
    assert code == 0, receiver.output()
    sent = publisher.output()
    for n in (1, 2, 3):
        assert f'Sending message id: {n}, message "hello world"' in sent, sent
    received = [l for l in receiver.output().splitlines() if l.startswith('{"id"')]
    ids = [int(re.search(r'"id": (\d+)', l).group(1)) for l in received]  # type: ignore[union-attr]
    assert ids == list(range(1, len(ids) + 1)), received  # each once, in order
    # The example's folder holds Dapr's pubsub and state store too: skipped, with a warning.
    assert 'component type "pubsub.redis" is not a binding' in receiver.output()


def test_docs_howto_input_and_output_samples(tmp_path: Path) -> None:
    topic, group = unique("sample"), unique("group1")
    create_topic(topic)
    procs = []
    for page, app_id in [("howto-triggers", "checkout-receiver"), ("howto-bindings", "checkout-sender")]:
        folder = tmp_path / page
        (folder / "components").mkdir(parents=True)
        shutil.copy(HERE / "docs_howto" / f"{page}.py", folder / "app.py")
        component = (HERE / "docs_howto" / f"{page}.yaml").read_text()
        (folder / "components" / "binding.yaml").write_text(own_topic(component, topic, group))
        procs.append(
            Proc(
                folder / "app.py",
                folder,
                {"DAPR_RESOURCES_PATH": "./components", "APP_ID": app_id},
                tmp_path / f"{page}.log",
            )
        )
    receiver, sender = procs

    def received() -> List[str]:
        return re.findall(r"Received Message : (\d+)", receiver.output())

    try:
        wait_for(lambda: len(received()) >= 3, procs, "three messages received")
    finally:
        sender.stop(signal.SIGTERM)
        code = receiver.stop()
    assert code == 0, receiver.output()
    sent = re.findall(r"Sending message: (\d+)", sender.output())
    got = received()
    # What was sent, in order, each once (the sender logs after the call returns, so it may
    # have been stopped between a send and its line).
    n = min(len(got), len(sent))
    assert n >= 3 and got[:n] == sent[:n], (got, sent)
