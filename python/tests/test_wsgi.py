"""bindery.wsgi and bindery.flask: input events delivered to a Flask app's routes in-process,
as a Dapr sidecar would deliver them (OPTIONS probe, then a POST per event)."""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import flask
import pytest

import bindery
import bindery.flask
import bindery.wsgi
from bindery.dapr import DaprClient

READ_TIME_UTC = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC$")


def wait_until(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def cron(name: str, every: str = "100ms", **extra: str) -> str:
    items = "".join(f'  - name: {k}\n    value: "{v}"\n' for k, v in extra.items())
    return (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n"
        f"  name: {name}\nspec:\n  type: bindings.cron\n  version: v1\n  metadata:\n"
        f'  - name: schedule\n    value: "@every {every}"\n{items}'
    )


def write(folder: Path, **docs: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (folder / f"{name}.yaml").write_text(doc)
    return folder


def test_flask_routes_get_events_with_metadata_as_headers_and_the_probe_decides(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write(
        tmp_path / "components",
        a=cron("cleanup-cron"),
        b=cron("routed", route="/jobs/nightly?src=cron"),
        c=cron("unwanted"),  # no route in the app: the probe answers 404, not started
        files=(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: files\nspec:\n"
            f'  type: bindings.localstorage\n  version: v1\n  metadata:\n  - name: rootPath\n    value: "{tmp_path / "files"}"\n'
        ),
    )
    app = flask.Flask(__name__)
    got: List[Dict[str, Any]] = []
    routed: List[str] = []

    @app.route("/cleanup-cron", methods=["POST"])
    def cleanup() -> Any:
        got.append(
            {
                "method": flask.request.method,
                "headers": dict(flask.request.headers),
                "body": flask.request.get_data(),
                "thread": threading.current_thread().name,
            }
        )
        # Calls outputs through the SDK's client: the bridge's runtime.
        with DaprClient(resources_path=folder) as d:
            d.invoke_binding("files", "create", "x", {"fileName": f"{len(got)}.txt"})
        return "ok"

    @app.route("/jobs/nightly", methods=["POST"])
    def nightly() -> Any:
        routed.append(flask.request.args["src"])
        return "", 204

    caplog.set_level(logging.INFO, logger="bindery")
    bindings = bindery.wsgi.Bindings(app, resources_path=folder)
    assert bindings.url_map is app.url_map  # the app's attributes stay reachable
    with bindings:
        assert sorted(bindings.taken) == ["cleanup-cron", "routed"]
        wait_until(lambda: len(got) >= 2 and len(routed) >= 2, "events on both routes")
        assert bindings.runtime is DaprClient(resources_path=folder)._rt()
    assert "app has not subscribed to binding 'unwanted'" in caplog.text
    assert "has no handler" not in caplog.text  # the app declined it: no "register one" hint
    h = got[0]["headers"]
    assert got[0]["method"] == "POST" and got[0]["body"] == b""
    assert h["Content-Type"] == "application/json" and h["Content-Length"] == "0"
    assert READ_TIME_UTC.match(h["Readtimeutc"]), h
    assert h["Timezone"]
    assert routed[0] == "cron"
    assert (tmp_path / "files" / "1.txt").read_text() == "x"
    stats = bindings.runtime.stats("cleanup-cron")
    assert stats is not None and stats["nacked"] == 0 and stats["acked"] >= 2


def test_non_2xx_and_exceptions_nack(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = write(tmp_path / "components", a=cron("tick", direction="input"))
    app = flask.Flask(__name__)
    calls: List[int] = []

    @app.post("/tick")
    def tick() -> Any:
        calls.append(1)
        if len(calls) == 1:
            return {"error": "database down"}, 503
        if len(calls) == 2:
            raise RuntimeError("handler blew up")  # Flask answers 500
        if len(calls) == 3:
            raise SystemExit("the quickstart's way out")  # ends this request only
        return "ok"

    with caplog.at_level(logging.ERROR, logger="bindery"):
        with bindery.wsgi.Bindings(app, resources_path=folder) as b:
            wait_until(lambda: (b.runtime.stats("tick") or {}).get("acked", 0) >= 1, "an ack")
            stats = b.runtime.stats("tick")
    assert stats is not None and stats["nacked"] == 3, stats
    assert "status 503" in caplog.text and "database down" in caplog.text
    assert "status 500" in caplog.text
    assert "the quickstart's way out" in caplog.text


def test_flask_subclass_run_starts_and_stops_the_bindings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write(tmp_path / "components", a=cron("tick", direction="input"))
    monkeypatch.setenv("DAPR_RESOURCES_PATH", str(folder))
    app = bindery.flask.Flask(__name__)
    assert isinstance(app, flask.Flask)
    ticks: List[str] = []
    during: List[Any] = []

    @app.post("/tick")
    def tick() -> Any:
        ticks.append(flask.request.headers["readTimeUTC"])
        return "ok"

    def serve(self: Any, *args: Any, **kwargs: Any) -> None:  # Flask's server, stood in for
        during.append((args, kwargs))
        wait_until(lambda: len(ticks) >= 2, "two ticks while serving")

    monkeypatch.setattr(flask.Flask, "run", serve)
    app.run(port="6123")
    assert during == [((None, "6123", None, True), {})]
    count = len(ticks)
    time.sleep(0.3)
    assert len(ticks) == count  # stopped when the server returned
    # Under `flask run` or the reloader's watching process, it starts nothing.
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    app.run()
    monkeypatch.delenv("FLASK_RUN_FROM_CLI")
    app.run(debug=True)
    assert len(ticks) == count and len(during) == 3


def test_a_bad_folder_fails_at_construction(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad", a=cron("tick").replace("bindings.cron", "bindings.corn"))
    with pytest.raises(bindery.InvalidConfigError) as e:
        bindery.wsgi.Bindings(flask.Flask(__name__), resources_path=bad)
    assert "bindings.cron" in str(e.value)
