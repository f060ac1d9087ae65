"""The secret-leak test through the Python package: the fixture of tests/leak (every binding
type, passwords and URLs from a secret store; one set failing validation, one failing to
connect) driven by a child process at every BINDERY_LOG level (constructor, start with a
handler, invoke), whose whole stdout and stderr must hold no secret in any form."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LEAK = Path(__file__).resolve().parents[2] / "tests" / "leak"
sys.path.insert(0, str(LEAK))
import check  # noqa: E402  (tests/leak/check.py: the forms a secret may leak in)

LEVELS = ["error", "warn", "info", "debug", "trace"]

CHILD = r"""
import sys, time
import bindery

def attempt(what, fn):
    try:
        print(what, "->", fn(), flush=True)
    except Exception as e:
        print(what, "->", type(e).__name__, e, getattr(e, "component", None), flush=True)

attempt("Runtime(invalid)", lambda: bindery.Runtime(["store.yaml", "invalid"]))

OUTPUTS = [("http", "post", {}), ("redis", "get", {"key": "leak"}), ("redis-closed", "get", {"key": "leak"}),
           ("postgresql", "query", {"sql": "select 1"}), ("mysql", "query", {"sql": "select 1"}),
           ("rabbitmq", "create", {}), ("mqtt", "create", {}), ("mqtt-closed", "create", {}),
           ("kafka", "create", {}), ("kafka-brokers", "create", {})]
INPUTS = ["cron", "rabbitmq", "mqtt", "mqtt-closed", "kafka", "kafka-brokers"]

def invoke(file, op, md):
    rt = bindery.Runtime(["store.yaml", f"unreachable/{file}.yaml"])
    try:
        return rt.invoke(f"leak-{file}", op, b"leak", md)
    finally:
        rt.stop(2)

def start(file):
    rt = bindery.Runtime(["store.yaml", f"unreachable/{file}.yaml"])
    rt.on(f"leak-{file}", lambda event: True)
    try:
        rt.start()
        time.sleep(1)
        return rt.bindings
    finally:
        rt.stop(2)

for file, op, md in OUTPUTS:
    attempt(f"invoke {file}", lambda: invoke(file, op, md))
for file in INPUTS:
    attempt(f"start {file}", lambda: start(file))
print("done", flush=True)
"""


@pytest.mark.parametrize("level", LEVELS)
def test_no_secret_leaks_through_python(level: str) -> None:
    env = dict(os.environ, BINDERY_LOG=level)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=LEAK, env=env, capture_output=True, text=True, timeout=300
    )
    out = proc.stdout + proc.stderr
    # The runs did what they are for: secrets resolved, validation refused, servers refused.
    assert "done" in proc.stdout, out
    assert "Runtime(invalid) -> InvalidConfigError" in out, out
    assert "secretKeyRef" not in out, out
    for component in sorted((LEAK / "invalid").glob("*.yaml")):
        assert f'error in component "leak-{component.stem}"' in out, out
    assert "Access denied" in out, out
    assert "ACCESS_REFUSED" in out or "refused" in out, out
    if level == "trace":
        assert "lapin" in out, "BINDERY_LOG=trace printed no library log:\n" + out
    secrets = json.loads((LEAK / "secrets.json").read_text())
    hits = check.scan(secrets, {f"python BINDERY_LOG={level}": out})
    assert not hits, "\n".join(hits)
