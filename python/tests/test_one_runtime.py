"""One runtime per process for each (resources path, app ID): the web bridges, DaprClient (sync
and asyncio) and App share it, so each output binding is opened once; and the app ID comes
from APP_ID / DAPR_APP_ID as `dapr run` gives it, so `scopes` work without code changes."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Dict, List

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

import bindery
import bindery.asgi
import bindery.wsgi
from bindery.dapr import App, DaprClient
from bindery.dapr.aio import DaprClient as AsyncDaprClient
from conftest import component, psql

APP_PORT = 6122


def wait_until(cond: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def backends(application_name: str) -> int:
    """Connections open to the local PostgreSQL under this application_name."""
    rows = psql(
        f"select count(*) from pg_stat_activity where application_name = '{application_name}'"
    )
    return int(rows[0])


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("APP_ID", "DAPR_APP_ID", "DAPR_RESOURCES_PATH"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_fastapi_app_with_bindings_and_dapr_client_opens_one_postgresql_pool(
    tmp_path: Path, pg_database: str, clean_env: pytest.MonkeyPatch
) -> None:
    psql("create table ticks (n serial primary key, fired text)", db=pg_database)
    marker = f"bindery-py-pool-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "db.yaml").write_text(
        component(
            "db",
            "bindings.postgresql",
            # One connection a pool at most: a pool with two calls in flight (a cron tick and
            # /count) would otherwise open a second one, which would look like a second pool.
            connectionString=(
                f"host=127.0.0.1 port=5432 user=postgres dbname={pg_database} "
                f"application_name={marker} pool_max_conns=1"
            ),
        )
    )
    (folder / "tick.yaml").write_text(
        component("tick", "bindings.cron", schedule="@every 100ms", direction="input")
    )
    clean_env.setenv("DAPR_RESOURCES_PATH", str(folder))  # where DaprClient() looks

    app = FastAPI()

    @app.post("/tick")
    def tick() -> Dict[str, bool]:  # a cron event, as Dapr posts it; the handler uses the SDK
        with DaprClient() as client:
            client.invoke_binding(
                "db", "exec", binding_metadata={"sql": "insert into ticks (fired) values ('cron')"}
            )
        return {"ok": True}

    @app.get("/count")
    async def count() -> List[List[int]]:  # Dapr's PostgreSQL query: rows as arrays
        async with AsyncDaprClient() as client:
            resp = await client.invoke_binding(
                "db", "query", binding_metadata={"sql": "select count(*) as n from ticks"}
            )
        return resp.json()

    wrapped = bindery.asgi.Bindings(app)  # resources: DAPR_RESOURCES_PATH, as DaprClient's
    server = uvicorn.Server(
        uvicorn.Config(wrapped, host="127.0.0.1", port=APP_PORT, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, "the server to start")
        wait_until(
            lambda: int(psql("select count(*) from ticks", db=pg_database)[0]) >= 3,
            "three cron events written through DaprClient",
        )
        answer = httpx.get(f"http://127.0.0.1:{APP_PORT}/count", timeout=30).json()
        assert answer[0][0] >= 3
        # The bridge initialised the output at startup and both clients used the same pool:
        # one connection, not two.
        assert backends(marker) == 1
        assert wrapped.runtime is DaprClient()._rt()
        stats = wrapped.runtime.stats("tick")
        assert stats is not None and stats["acked"] >= 3 and stats["nacked"] == 0, stats

        # The measurement sees a second pool when there is one: a runtime of its own.
        separate = bindery.Runtime(folder)
        try:
            separate.invoke("db", "query", metadata={"sql": "select 1"})
            assert backends(marker) == 2
        finally:
            separate.stop()
        wait_until(lambda: backends(marker) == 1, "the separate pool to close")
    finally:
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive()
    # The app's shutdown stopped the shared runtime and closed its pool.
    wait_until(lambda: backends(marker) == 0, "the pool to close at shutdown")


def scoped_components(folder: Path, data: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, scope in [("mine", "orders-app"), ("theirs", "other-app")]:
        (folder / f"{name}.yaml").write_text(
            component(name, "bindings.localstorage", rootPath=str(data / name))
            + f"scopes:\n- {scope}\n"
        )
    return folder


@pytest.mark.parametrize("variable", ["APP_ID", "DAPR_APP_ID"])
def test_app_id_from_the_environment_applies_scopes(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, variable: str
) -> None:
    folder = scoped_components(tmp_path / "components", tmp_path / "data")
    clean_env.setenv("DAPR_RESOURCES_PATH", str(folder))

    # Without an app ID, scopes are not applied: both load.
    with DaprClient() as client:
        client.invoke_binding("mine", "create", "a", {"fileName": "a.txt"})
        client.invoke_binding("theirs", "create", "a", {"fileName": "a.txt"})

    clean_env.setenv(variable, "orders-app")  # as `dapr run --app-id orders-app` exports it
    with DaprClient() as client:
        client.invoke_binding("mine", "create", "b", {"fileName": "b.txt"})
        with pytest.raises(bindery.NotFoundError):
            client.invoke_binding("theirs", "create", "b", {"fileName": "b.txt"})
    assert (tmp_path / "data" / "mine" / "b.txt").read_text() == "b"
    assert not (tmp_path / "data" / "theirs" / "b.txt").exists()

    async def use_async() -> None:
        async with AsyncDaprClient() as client:
            await client.invoke_binding("mine", "get", binding_metadata={"fileName": "b.txt"})
            with pytest.raises(bindery.NotFoundError):
                await client.invoke_binding("theirs", "get", binding_metadata={"fileName": "a.txt"})

    asyncio.run(use_async())

    # The bridges and App read it too; an app_id given in code wins.
    assert "theirs" not in [b["name"] for b in App().runtime.bindings]
    assert "theirs" not in [b["name"] for b in bindery.wsgi.Bindings(lambda e, s: []).runtime.bindings]
    assert "theirs" not in [b["name"] for b in bindery.asgi.Bindings(FastAPI()).runtime.bindings]
    other = DaprClient(app_id="other-app")
    other.invoke_binding("theirs", "create", "c", {"fileName": "c.txt"})
    with pytest.raises(bindery.NotFoundError):
        other.invoke_binding("mine", "create", "c", {"fileName": "c.txt"})


def test_clients_bridges_and_app_share_a_runtime_per_path_and_app_id(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    folder = scoped_components(tmp_path / "components", tmp_path / "data")
    other = scoped_components(tmp_path / "other", tmp_path / "data2")
    clean_env.setenv("DAPR_RESOURCES_PATH", str(folder))
    clean_env.setenv("APP_ID", "orders-app")

    sync = DaprClient()
    shared = sync._rt()
    assert AsyncDaprClient()._rt() is shared
    assert DaprClient(resources_path=str(folder), app_id="orders-app")._rt() is shared
    assert App().runtime is shared
    assert bindery.wsgi.Bindings(lambda e, s: []).runtime is shared
    assert bindery.asgi.Bindings(FastAPI()).runtime is shared
    # Another folder or another app ID is another runtime.
    assert DaprClient(resources_path=str(other))._rt() is not shared
    assert DaprClient(app_id="other-app")._rt() is not shared

    # A stopped runtime is replaced, and a client kept past it takes the new one.
    shared.stop()
    sync.invoke_binding("mine", "create", "x", {"fileName": "x.txt"})
    assert sync._rt() is not shared and sync._rt() is DaprClient()._rt()


def test_a_second_receiver_on_a_started_runtime_is_told_so(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "tick.yaml").write_text(component("tick", "bindings.cron", schedule="@every 1h"))
    clean_env.setenv("DAPR_RESOURCES_PATH", str(folder))
    app = App()
    with bindery.wsgi.Bindings(lambda environ, start_response: []) as bridge:
        assert bridge.runtime is app.runtime
        with pytest.raises(bindery.InvalidStateError, match="already started by another receiver"):
            app.binding("tick")(lambda request: None)
