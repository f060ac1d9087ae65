"""bindery.asgi: input events delivered to a real FastAPI app in-process, as a Dapr sidecar
would deliver them (OPTIONS probe, then a POST per event), and the lifespan middleware."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Dict, List, Optional

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

import bindery
import bindery.asgi
from bindery.asgi import Bindings, Message, Receive, Scope, Send, attach, probe

# Go's time.Time.String() of a UTC time, as Dapr's cron puts it in readTimeUTC.
READ_TIME_UTC = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC$")


def cron(
    name: str, every: str = "100ms", route: Optional[str] = None, direction: Optional[str] = None
) -> str:
    extra = ""
    if route is not None:
        extra += f'\n  - name: route\n    value: "{route}"'
    if direction is not None:
        extra += f'\n  - name: direction\n    value: "{direction}"'
    return f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: bindings.cron
  version: v1
  metadata:
  - name: schedule
    value: "@every {every}"{extra}
"""


def localstorage(name: str, root: Path) -> str:
    return f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: bindings.localstorage
  version: v1
  metadata:
  - name: rootPath
    value: "{root}"
"""


def write_components(folder: Path, *docs: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(docs):
        (folder / f"c{i}.yaml").write_text(doc)
    return folder


async def eventually(
    cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def wait_sync(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Lifespan:
    """Drives an ASGI app's lifespan the way a server does, message by message."""

    def __init__(self, app: Any, state: Optional[Dict[str, Any]] = None) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": {} if state is None else state,
        }
        self.task = asyncio.ensure_future(app(scope, self.inbox.get, self.outbox.put))

    async def send(self, kind: str) -> Message:
        await self.inbox.put({"type": kind})
        return await asyncio.wait_for(self.outbox.get(), 15)

    async def startup(self) -> Message:
        return await self.send("lifespan.startup")

    async def shutdown(self) -> Message:
        msg = await self.send("lifespan.shutdown")
        await asyncio.wait_for(self.task, 15)
        return msg

    async def abandon(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


# ---- attach: the probe and the POST per event ----


def test_cron_events_arrive_as_posts_with_metadata_as_headers(tmp_path: Path) -> None:
    folder = write_components(tmp_path / "components", cron("cleanup-cron"))
    app = FastAPI()
    got: List[Dict[str, Any]] = []

    @app.post("/cleanup-cron")
    async def cleanup(request: Request) -> Dict[str, bool]:
        got.append(
            {
                "method": request.method,
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": await request.body(),
                "loop": asyncio.get_running_loop(),
            }
        )
        return {"ok": True}

    async def main() -> None:
        rt = bindery.Runtime(folder)
        assert await attach(app, rt) == ["cleanup-cron"]
        async with rt:
            # Acked once the POST has answered, which is after the route appended to `got`.
            await eventually(
                lambda: (rt.stats("cleanup-cron") or {}).get("acked", 0) >= 2, what="two acked cron events"
            )
            stats = rt.stats("cleanup-cron")
        assert stats is not None and stats["acked"] >= 2 and stats["nacked"] == 0
        assert len(got) >= 2
        loop = asyncio.get_running_loop()
        for ev in got:
            assert ev["loop"] is loop  # handled on this (the server's) event loop
            assert ev["method"] == "POST" and ev["path"] == "/cleanup-cron"
            assert ev["body"] == b""  # cron events carry no data, as Dapr's
            h = ev["headers"]
            assert h["content-type"] == "application/json"
            assert h["timezone"]  # the metadata timeZone, as a header
            assert READ_TIME_UTC.match(h["readtimeutc"]), h["readtimeutc"]
        assert got[0]["headers"]["readtimeutc"] != got[1]["headers"]["readtimeutc"]

    asyncio.run(main())


def test_non_2xx_and_exceptions_nack_and_later_events_still_arrive(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bindery")
    folder = write_components(tmp_path / "components", cron("cleanup-cron"))
    app = FastAPI()
    calls: List[int] = []

    @app.post("/cleanup-cron")
    async def cleanup() -> Response:
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            return JSONResponse({"error": "database down"}, status_code=500)
        if len(calls) == 2:
            raise RuntimeError("handler blew up")
        return JSONResponse({"ok": True})

    async def main() -> None:
        rt = bindery.Runtime(folder)
        await attach(app, rt)
        async with rt:
            await eventually(
                lambda: (rt.stats("cleanup-cron") or {}).get("acked", 0) >= 1, what="an ack"
            )
            stats = rt.stats("cleanup-cron")
        assert stats is not None
        assert stats["nacked"] == 2, stats
        assert stats["acked"] >= 1
        assert len(calls) >= 3

    asyncio.run(main())
    failures = [r for r in caplog.records if r.name == "bindery" and r.levelno >= logging.ERROR]
    assert len(failures) == 2
    assert "status 500" in caplog.text and "database down" in caplog.text
    assert "handler blew up" in caplog.text


def test_binding_the_app_has_no_route_for_is_not_taken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bindery")
    folder = write_components(tmp_path / "components", cron("cleanup-cron"), cron("orphan-cron"))
    app = FastAPI()
    seen: List[str] = []

    @app.post("/cleanup-cron")
    async def cleanup() -> Dict[str, bool]:
        seen.append("cleanup-cron")
        return {"ok": True}

    async def main() -> None:
        assert await probe(app, "/orphan-cron") == 404
        assert await probe(app, "/cleanup-cron") == 405  # POST-only route: Dapr takes it
        rt = bindery.Runtime(folder)
        assert await attach(app, rt) == ["cleanup-cron"]
        async with rt:
            await eventually(lambda: len(seen) >= 1, what="an event")
            assert rt.stats("orphan-cron") is None  # never started
            assert rt._native.unhandled_inputs() == []  # declined, not unhandled
            assert rt.stats("cleanup-cron") is not None

    asyncio.run(main())
    assert any(
        r.levelno == logging.INFO and "orphan-cron" in r.getMessage() and "404" in r.getMessage()
        for r in caplog.records
    )
    assert "has no handler" not in caplog.text  # the app declined it: no "register one" hint


def test_direction_input_is_taken_without_a_probe_as_in_dapr(tmp_path: Path) -> None:
    # The seed's cleanup-cron says `direction: input`: Dapr then delivers without asking the
    # app, so an app with no route for it sees every event nacked (loud, not silent).
    folder = write_components(tmp_path / "components", cron("cleanup-cron", direction="input"))
    app = FastAPI()

    async def main() -> None:
        rt = bindery.Runtime(folder)
        assert await attach(app, rt) == ["cleanup-cron"]
        async with rt:
            await eventually(lambda: (rt.stats("cleanup-cron") or {}).get("nacked", 0) >= 2, what="nacks")
            assert rt.stats("cleanup-cron")["acked"] == 0

    asyncio.run(main())


@pytest.mark.parametrize(
    "status, taken",
    [(200, True), (204, True), (405, True), (404, False), (500, False), (301, False)],
)
def test_probe_answer_decides_as_dapr_does(tmp_path: Path, status: int, taken: bool) -> None:
    folder = write_components(tmp_path / "components", cron("ticks", every="1h"))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (
            scope["type"] == "http" and scope["method"] == "OPTIONS" and scope["path"] == "/ticks"
        )
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def main() -> None:
        rt = bindery.Runtime(folder)
        assert await attach(app, rt) == (["ticks"] if taken else [])

    asyncio.run(main())


def test_route_metadata_is_honoured(tmp_path: Path) -> None:
    folder = write_components(tmp_path / "components", cron("nightly", route="/custom"))
    app = FastAPI()
    hits: List[str] = []

    @app.post("/custom")
    async def custom(request: Request) -> Dict[str, bool]:
        hits.append(request.url.path)
        return {"ok": True}

    @app.post("/nightly")
    async def wrong() -> Response:
        hits.append("/nightly")
        return Response(status_code=500)

    async def main() -> None:
        rt = bindery.Runtime(folder)
        assert [b["route"] for b in rt.bindings if b["name"] == "nightly"] == ["/custom"]
        assert await attach(app, rt) == ["nightly"]
        async with rt:
            await eventually(lambda: len(hits) >= 2, what="two events")
            stats = rt.stats("nightly")
        assert set(hits) == {"/custom"}
        assert stats is not None and stats["nacked"] == 0

    asyncio.run(main())


# ---- the middleware ----


def test_lifespan_middleware_starts_after_app_startup_and_stops_before_app_shutdown(
    tmp_path: Path,
) -> None:
    folder = write_components(
        tmp_path / "components", cron("cleanup-cron"), localstorage("records", tmp_path / "data")
    )
    order: List[str] = []
    events: List[Dict[str, Any]] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Dict[str, Any]]:
        order.append("app startup")
        yield {"greeting": "hello"}
        # bindery has stopped by now: no event runs during the app's own shutdown.
        try:
            wrapped.runtime.invoke("records", "list")
            order.append("app shutdown: bindery still running")
        except bindery.ClosedError:
            order.append("app shutdown: bindery stopped")

    app = FastAPI(lifespan=lifespan)

    @app.post("/cleanup-cron")
    async def cleanup(request: Request) -> Dict[str, bool]:
        events.append({"greeting": request.state.greeting, "loop": asyncio.get_running_loop()})
        return {"ok": True}

    wrapped = Bindings(app, resources_path=folder)

    async def main() -> None:
        server = Lifespan(wrapped)
        assert (await server.startup())["type"] == "lifespan.startup.complete"
        assert order == ["app startup"]
        assert wrapped.taken == ["cleanup-cron"]
        await eventually(lambda: len(events) >= 2, what="two events")
        assert (await server.shutdown())["type"] == "lifespan.shutdown.complete"
        assert order == ["app startup", "app shutdown: bindery stopped"]
        n = len(events)
        await asyncio.sleep(0.35)
        assert len(events) == n  # no event after shutdown
        loop = asyncio.get_running_loop()
        assert all(e["greeting"] == "hello" and e["loop"] is loop for e in events)
        stats = wrapped.runtime.stats("cleanup-cron")
        assert stats is not None and stats["acked"] == n and stats["nacked"] == 0

    asyncio.run(main())


def test_shutdown_lets_the_event_in_flight_finish(tmp_path: Path) -> None:
    folder = write_components(tmp_path / "components", cron("cleanup-cron"))
    app = FastAPI()
    log: List[str] = []

    @app.post("/cleanup-cron")
    async def slow() -> Dict[str, bool]:
        log.append("begin")
        await asyncio.sleep(0.5)  # on the server's loop, while shutdown waits in a thread
        log.append("end")
        return {"ok": True}

    wrapped = Bindings(app, resources_path=folder, shutdown_timeout=5)

    async def main() -> None:
        server = Lifespan(wrapped)
        assert (await server.startup())["type"] == "lifespan.startup.complete"
        await eventually(lambda: log == ["begin"], what="an event in flight")
        assert (await server.shutdown())["type"] == "lifespan.shutdown.complete"
        assert log == ["begin", "end"]
        stats = wrapped.runtime.stats("cleanup-cron")
        assert stats is not None and stats["acked"] == 1  # the one in flight, acked

    asyncio.run(main())


def test_app_without_lifespan_support_still_gets_bindings(tmp_path: Path) -> None:
    folder = write_components(tmp_path / "components", cron("cleanup-cron"))
    posts: List[bytes] = []

    async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"unsupported scope {scope['type']}")
        if scope["path"] != "/cleanup-cron":
            status = 404
        elif scope["method"] == "OPTIONS":
            status = 204
        else:
            msg = await receive()
            posts.append(msg.get("body", b""))
            status = 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    wrapped = Bindings(raw_app, resources_path=folder)

    async def main() -> None:
        server = Lifespan(wrapped)
        assert (await server.startup())["type"] == "lifespan.startup.complete"
        await eventually(lambda: len(posts) >= 2, what="two events")
        assert (await server.shutdown())["type"] == "lifespan.shutdown.complete"
        stats = wrapped.runtime.stats("cleanup-cron")
        assert stats is not None and stats["acked"] >= 2

    asyncio.run(main())


def test_app_startup_failure_is_passed_on_and_bindery_stays_down(tmp_path: Path) -> None:
    folder = write_components(tmp_path / "components", cron("cleanup-cron"))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield  # pragma: no cover

    app = FastAPI(lifespan=lifespan)

    @app.post("/cleanup-cron")
    async def cleanup() -> None:
        raise AssertionError("no event may arrive")

    wrapped = Bindings(app, resources_path=folder)

    async def main() -> None:
        server = Lifespan(wrapped)
        answer = await server.startup()
        assert answer["type"] == "lifespan.startup.failed"
        assert "no database" in answer.get("message", "")
        await asyncio.sleep(0.3)
        assert wrapped.runtime.stats("cleanup-cron") is None
        await server.abandon()  # a server exits here without a shutdown message

    asyncio.run(main())


def test_bindery_failing_to_start_fails_startup_and_undoes_the_apps(tmp_path: Path) -> None:
    folder = write_components(tmp_path / "components", cron("cleanup-cron"))
    order: List[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        order.append("app startup")
        yield
        order.append("app shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.options("/cleanup-cron")
    async def broken_probe() -> None:
        raise RuntimeError("OPTIONS is broken")

    wrapped = Bindings(app, resources_path=folder)

    async def main() -> None:
        server = Lifespan(wrapped)
        answer = await server.startup()
        assert answer["type"] == "lifespan.startup.failed"
        assert "OPTIONS /cleanup-cron" in answer["message"]
        assert order == ["app startup", "app shutdown"]
        await server.abandon()

    asyncio.run(main())


def test_the_apps_own_routes_still_work_through_the_middleware(tmp_path: Path) -> None:
    folder = write_components(tmp_path / "components", cron("cleanup-cron"))
    app = FastAPI()

    @app.get("/hello/{name}")
    async def hello(name: str, request: Request) -> Dict[str, str]:
        return {"hello": name, "agent": request.headers.get("user-agent", "")}

    @app.post("/cleanup-cron")
    async def cleanup(request: Request) -> Dict[str, Any]:
        return {"posted": (await request.body()).decode()}

    wrapped = Bindings(app, resources_path=folder)
    assert wrapped.routes is app.routes  # the wrapped app's attributes stay reachable

    async def main() -> None:
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            r = await client.get("/hello/world", headers={"user-agent": "pytest"})
            assert r.status_code == 200 and r.json() == {"hello": "world", "agent": "pytest"}
            r = await client.post("/cleanup-cron", content=b"manual")
            assert r.status_code == 200 and r.json() == {"posted": "manual"}
            r = await client.get("/nowhere")
            assert r.status_code == 404

    asyncio.run(main())


def test_one_line_under_a_real_uvicorn_server(tmp_path: Path) -> None:
    uvicorn = pytest.importorskip("uvicorn")
    folder = write_components(tmp_path / "components", cron("cleanup-cron"))
    app = FastAPI()
    ticks: List[str] = []

    @app.get("/health")
    async def health() -> Dict[str, int]:
        return {"ticks": len(ticks)}

    @app.post("/cleanup-cron")
    async def cleanup(request: Request) -> Dict[str, bool]:
        ticks.append(request.headers["readtimeutc"])
        return {"ok": True}

    app = Bindings(app, resources_path=folder)  # type: ignore[assignment]  # the one line
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_sync(lambda: server.started, what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        wait_sync(lambda: len(ticks) >= 2, what="two events")
        r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert r.status_code == 200 and r.json()["ticks"] >= 2
    finally:
        server.should_exit = True
        thread.join(15)
    assert not thread.is_alive()
    stats = app.runtime.stats("cleanup-cron")  # type: ignore[attr-defined]
    assert stats is not None and stats["acked"] >= 2 and stats["nacked"] == 0
    n = len(ticks)
    time.sleep(0.3)
    assert len(ticks) == n


def test_a_second_lifespan_gets_a_fresh_runtime(tmp_path: Path) -> None:
    folder = write_components(tmp_path / "components", cron("cleanup-cron"))
    app = FastAPI()
    count: List[int] = []

    @app.post("/cleanup-cron")
    async def cleanup() -> None:
        count.append(1)

    wrapped = Bindings(app, resources_path=folder)

    async def run_once() -> None:
        server = Lifespan(wrapped)
        assert (await server.startup())["type"] == "lifespan.startup.complete"
        n = len(count)
        await eventually(lambda: len(count) >= n + 1, what="an event")
        assert (await server.shutdown())["type"] == "lifespan.shutdown.complete"

    asyncio.run(run_once())
    first = wrapped.runtime
    asyncio.run(run_once())
    assert wrapped.runtime is not first


def test_resources_path_defaults_to_env_then_components(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = FastAPI()
    from_env = write_components(tmp_path / "elsewhere", cron("from-env"))
    write_components(tmp_path / "components", cron("from-cwd"))
    monkeypatch.setenv("DAPR_RESOURCES_PATH", str(from_env))
    assert [b["name"] for b in Bindings(app).runtime.bindings] == ["from-env"]
    monkeypatch.delenv("DAPR_RESOURCES_PATH")
    monkeypatch.chdir(tmp_path)
    assert [b["name"] for b in Bindings(app).runtime.bindings] == ["from-cwd"]


def test_invalid_components_fail_when_wrapping(tmp_path: Path) -> None:
    folder = write_components(tmp_path / "components", cron("bad", every="soon"))
    with pytest.raises(bindery.InvalidConfigError) as err:
        Bindings(FastAPI(), resources_path=folder)
    assert err.value.code == 1 and "bad" in str(err.value)
