"""Fixtures: component folders written per test, and a real local HTTP server."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import pytest


def default_sigint() -> None:
    """`preexec_fn` for a child the test stops with SIGINT, as Ctrl-C in a terminal would: a
    process started in the background (CI's runner, `cmd &`) inherits SIGINT ignored, and Python
    then installs no KeyboardInterrupt handler."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def component(name: str, type_: str, **metadata: str) -> str:
    items = "".join(f"  - name: {k}\n    value: \"{v}\"\n" for k, v in metadata.items())
    return (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n"
        f"  name: {name}\nspec:\n  type: {type_}\n  version: v1\n  metadata:\n{items}"
    )


@pytest.fixture
def components(tmp_path: Path) -> Callable[..., Path]:
    """components(cron_schedule=..., http_url=...) writes a folder with a `tick` cron input
    (when a schedule is given), a `files` local storage output and (when a URL is given) a
    `hook` HTTP output, and returns the folder."""

    def write(cron_schedule: str = "", http_url: str = "", **extra_http: str) -> Path:
        folder = tmp_path / "components"
        folder.mkdir(exist_ok=True)
        (folder / "files.yaml").write_text(
            component("files", "bindings.localstorage", rootPath=str(tmp_path / "files"))
        )
        if cron_schedule:
            (folder / "tick.yaml").write_text(
                component("tick", "bindings.cron", schedule=cron_schedule, direction="input")
            )
        if http_url:
            (folder / "hook.yaml").write_text(component("hook", "bindings.http", url=http_url, **extra_http))
        return folder

    return write


class Recorder(http.server.BaseHTTPRequestHandler):
    requests: List[Dict[str, object]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        Recorder.requests.append(
            {"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        )
        if self.path.startswith("/slow"):
            time.sleep(0.5)
        if self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
        else:
            code = 200
        payload = json.dumps({"method": self.command, "path": self.path, "body": body.decode("utf-8", "replace")}).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("x-served-by", "recorder")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that answers JSON describing each request."""
    Recorder.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that takes connections (in its backlog) and never answers:
    an HTTP call to it stays in flight."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


# ---- the local PostgreSQL (127.0.0.1:5432, trust auth, user postgres), through psql ----

PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}


def psql(sql: str, db: str = "test") -> List[str]:
    """Run `sql` with psql against the local PostgreSQL; the rows, one line each (`|` between
    columns). A failure raises with psql's message."""
    import subprocess

    out = subprocess.run(
        ["psql", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", db,
         "-v", "ON_ERROR_STOP=1", "-X", "-q", "-At", "-c", sql],
        capture_output=True, text=True, timeout=60,
    )
    if out.returncode != 0:
        raise RuntimeError(f"psql failed ({out.returncode}): {out.stderr.strip()}")
    return [line for line in out.stdout.splitlines() if line]


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A new, empty database of the local PostgreSQL, dropped afterwards (its connections
    ended first). Each test gets its own name, so tests elsewhere never meet it."""
    import uuid

    name = f"bindery_py_{uuid.uuid4().hex[:12]}"
    psql(f'create database "{name}"')
    try:
        yield name
    finally:
        psql(f"select pg_terminate_backend(pid) from pg_stat_activity where datname = '{name}'")
        psql(f'drop database if exists "{name}"')
