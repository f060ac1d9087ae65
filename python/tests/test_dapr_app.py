"""bindery.dapr.App (the SDK's `dapr.ext.grpc.App` for input bindings), the asyncio DaprClient
and the SDK's request and response shapes, in-process."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Callable, List

import pytest

import bindery
from bindery.dapr import App, BindingRequest, BindingResponse, DaprClient, Rule
from bindery.dapr.aio import DaprClient as AsyncDaprClient
from conftest import component


def wait_until(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def folder_with_cron(tmp_path: Path) -> Path:
    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "tick.yaml").write_text(component("tick", "bindings.cron", schedule="@every 100ms"))
    (folder / "files.yaml").write_text(
        component("files", "bindings.localstorage", rootPath=str(tmp_path / "files"))
    )
    return folder


def test_app_delivers_binding_requests_and_a_raise_nacks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(max_grpc_message_length=1024, resources_path=folder_with_cron(tmp_path))
    got: List[BindingRequest] = []

    @app.binding("tick")
    def tick(request: BindingRequest) -> None:
        got.append(request)
        if len(got) == 1:
            raise RuntimeError("first one fails")
        # A handler may call outputs through the SDK's client: the same runtime.
        with DaprClient(resources_path=tmp_path / "components") as d:
            d.invoke_binding("files", "create", request.text() or "tick", {"fileName": f"t{len(got)}"})
        if len(got) == 3:
            app.stop()

    assert tick is not None  # the decorator hands the function back
    assert DaprClient(resources_path=tmp_path / "components")._rt() is app.runtime
    runner = threading.Thread(target=app.run, args=(50051,))
    with caplog.at_level(logging.ERROR, logger="bindery"):
        runner.start()
        runner.join(60)
    assert not runner.is_alive()
    assert len(got) >= 3
    first = got[0]
    assert first.data == b"" and first.text() == ""
    assert set(first.binding_metadata) >= {"readTimeUTC", "timeZone"}
    assert first.metadata == {} and first.get_metadata() == ()
    assert "first one fails" in caplog.text
    stats = app.runtime.stats("tick")
    assert stats is not None and stats["nacked"] == 1 and stats["acked"] >= 2, stats
    assert sorted(p.name for p in (tmp_path / "files").iterdir())[:2] == ["t2", "t3"]
    with pytest.raises(bindery.ClosedError):  # run() stopped the runtime on its way out
        app.runtime.invoke("files", "list")


def test_async_handlers_and_mistakes(tmp_path: Path) -> None:
    app = App(resources_path=folder_with_cron(tmp_path))
    seen = threading.Event()

    @app.binding("tick")
    async def tick(request: BindingRequest) -> None:
        await asyncio.sleep(0)
        seen.set()
        app.stop()

    with pytest.raises(ValueError):
        app.binding("tick")(lambda r: None)  # as the SDK: registered twice
    with pytest.raises(bindery.NotFoundError) as e:
        app.binding("tik")(lambda r: None)
    assert "tick" in str(e.value)
    for register in (
        lambda: app.subscribe("pubsub", "orders"),
        lambda: app.method("start"),
        lambda: app.job_event("job"),
    ):
        with pytest.raises(NotImplementedError, match="bindings only"):
            register()
    assert Rule("event.type == 'x'", 1).priority == 1
    app.register_health_check(lambda: None)

    runner = threading.Thread(target=app.run)
    runner.start()
    assert seen.wait(30)
    runner.join(30)
    assert not runner.is_alive()


def test_response_and_request_shapes() -> None:
    resp = BindingResponse(b'{"a": 1}', {"statusCode": "200"})
    assert resp.data == b'{"a": 1}' and resp.text() == '{"a": 1}' and resp.json() == {"a": 1}
    assert resp.binding_metadata == {"statusCode": "200"}
    assert resp.headers == {} and resp.get_headers() == () and resp.get_headers(as_dict=True) == {}
    assert BindingResponse("text").data == b"text"
    req = BindingRequest("hello", {"k": "v"})
    assert req.data == b"hello" and req.text() == "hello" and req.binding_metadata == {"k": "v"}
    req.metadata = (("user-agent", "x"), ("user-agent", "y"))
    assert req.metadata == {"user-agent": ["x", "y"]}
    with pytest.raises(ValueError):
        req.metadata = {"not": "a tuple"}  # type: ignore[assignment]


def test_async_client_as_the_sdk_uses_it(tmp_path: Path) -> None:
    folder = folder_with_cron(tmp_path)

    async def main() -> None:
        # The SDK's arguments are accepted and unused.
        async with AsyncDaprClient(
            address="127.0.0.1:50001",
            interceptors=[],
            max_grpc_message_length=4 << 20,
            retry_policy=object(),
            timeout=5,
            resources_path=str(folder),
        ) as d:
            await d.wait(1)
            created = await d.invoke_binding(
                binding_name="files", operation="create", data=b"\x00raw", binding_metadata={"fileName": "r"}
            )
            assert isinstance(created, BindingResponse)
            assert created.json() == {"fileName": "r"} and created.get_headers() == ()
            got = await asyncio.gather(
                *(d.invoke_binding("files", "get", binding_metadata={"fileName": "r"}) for _ in range(5))
            )
            assert [g.data for g in got] == [b"\x00raw"] * 5
            with pytest.warns(DeprecationWarning):
                await d.invoke_binding("files", "list", metadata=(("k", "v"),))
            with pytest.raises(bindery.UnsupportedOperationError):
                await d.invoke_binding("files", "post")
        await d.close()

    asyncio.run(main())
    sync = DaprClient(retry_policy=object(), timeout=3, app_id=None, resources_path=str(folder))
    assert sync.invoke_binding("files", "get", binding_metadata={"fileName": "r"}).data == b"\x00raw"
