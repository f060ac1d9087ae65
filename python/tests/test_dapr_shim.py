"""bindery.dapr.DaprClient: code written for the Dapr Python SDK's `invoke_binding` runs
unchanged but for the import, against real local storage and a real local HTTP server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import bindery
from bindery.dapr import DaprClient  # was: from dapr.clients import DaprClient


class Echo(BaseHTTPRequestHandler):
    """Answers every request with what it received, as JSON; /fail answers 503."""

    received: List[Dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8"),
        }
        self.received.append(seen)
        status = 503 if self.path.startswith("/hook/fail") else 200
        out = json.dumps(seen).encode() if status == 200 else b"try again later"
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
        self.send_header("X-Echo", "yes")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    Echo.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def write_components(folder: Path, data_root: Path, base_url: str = "http://127.0.0.1:9") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "records.yaml").write_text(f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: records
spec:
  type: bindings.localstorage
  version: v1
  metadata:
  - name: rootPath
    value: "{data_root}"
""")
    (folder / "webhook.yaml").write_text(f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: monitoring-webhook
spec:
  type: bindings.http
  version: v1
  metadata:
  - name: url
    value: "{base_url}/hook"
  - name: responseTimeout
    value: "5s"
""")
    return folder


def test_localstorage_through_dapr_resources_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_components(tmp_path / "resources", tmp_path / "data")
    monkeypatch.setenv("DAPR_RESOURCES_PATH", str(folder))
    record = {"id": 7, "status": "swept"}

    # Dapr SDK code, unchanged:
    with DaprClient() as client:
        client.wait(5)
        resp = client.invoke_binding(
            binding_name="records",
            operation="create",
            data=json.dumps(record),
            binding_metadata={"fileName": "r-7.json"},
        )
        assert resp.json() == {"fileName": "r-7.json"}
        resp = client.invoke_binding(
            binding_name="records", operation="get", binding_metadata={"fileName": "r-7.json"}
        )
        assert resp.data == json.dumps(record).encode()
        assert resp.text() == json.dumps(record)
        assert resp.json() == record
        assert resp.headers == {}
        # positional arguments and bytes data, as the SDK's signature allows
        client.invoke_binding("records", "create", b"\x00\x01raw", {"fileName": "raw.bin"})
        listing = client.invoke_binding("records", "list").json()
        assert sorted(Path(p).name for p in listing) == ["r-7.json", "raw.bin"]
        client.invoke_binding("records", "delete", binding_metadata={"fileName": "raw.bin"})

    assert (tmp_path / "data" / "r-7.json").read_text() == json.dumps(record)
    assert not (tmp_path / "data" / "raw.bin").exists()


def test_http_binding_through_dot_components(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, echo_server: str
) -> None:
    write_components(tmp_path / "components", tmp_path / "data", echo_server)
    monkeypatch.delenv("DAPR_RESOURCES_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    event = {"event": "swept", "count": 3}

    with DaprClient() as client:
        resp = client.invoke_binding(
            binding_name="monitoring-webhook",
            operation="create",
            data=json.dumps(event),
            binding_metadata={"path": "/events", "X-Token": "s3cret"},
        )
    assert resp.binding_metadata["statusCode"] == "200"
    assert resp.binding_metadata["X-Echo"] == "yes"
    assert resp.binding_metadata["Content-Type"] == "application/json"
    seen = resp.json()
    assert seen == json.loads(resp.text()) == json.loads(resp.data)
    assert seen["method"] == "POST"  # create is a POST
    assert seen["path"] == "/hook/events"
    assert json.loads(seen["body"]) == event
    assert seen["headers"]["x-token"] == "s3cret"  # capitalised metadata goes as a header
    assert "path" not in seen["headers"]

    resp = DaprClient().invoke_binding("monitoring-webhook", "get")
    assert resp.binding_metadata["statusCode"] == "200"
    assert resp.json()["method"] == "GET" and resp.json()["body"] == ""
    assert len(Echo.received) == 2


def test_errors_are_binding_errors_with_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, echo_server: str
) -> None:
    folder = write_components(tmp_path / "components", tmp_path / "data", echo_server)
    monkeypatch.setenv("DAPR_RESOURCES_PATH", str(folder))

    with DaprClient() as client:
        with pytest.raises(bindery.NotFoundError) as e:
            client.invoke_binding("record", "create", data="x")
        assert isinstance(e.value, bindery.BindingError) and isinstance(e.value, LookupError)
        assert e.value.code == 2 and "records" in str(e.value)  # names the nearest one

        with pytest.raises(bindery.UnsupportedOperationError) as unsupported:
            client.invoke_binding("records", "post", data="x")
        err = unsupported.value
        assert err.code == 3 and err.component == "records" and err.operation == "post"

        with pytest.raises(bindery.NotFoundError) as e:
            client.invoke_binding("records", "get", binding_metadata={"fileName": "missing.json"})
        assert e.value.code == 2

        with pytest.raises(bindery.UpstreamError) as upstream:
            client.invoke_binding(
                "monitoring-webhook", "post", data="{}", binding_metadata={"path": "/fail"}
            )
        assert upstream.value.code == 7 and upstream.value.retryable
        assert "503" in str(upstream.value)

        # errorIfNot2XX=false, per request: the answer comes back instead of an error
        resp = client.invoke_binding(
            "monitoring-webhook",
            "post",
            data="{}",
            binding_metadata={"path": "/fail", "errorIfNot2XX": "false"},
        )
        assert resp.binding_metadata["statusCode"] == "503"
        assert resp.text() == "try again later"


def test_unreachable_server_and_bad_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_components(tmp_path / "components", tmp_path / "data")  # port 9: nobody
    with pytest.raises(bindery.BindingError) as e:
        DaprClient(resources_path=str(folder)).invoke_binding(
            "monitoring-webhook", "post", data="{}"
        )
    assert e.value.code == bindery.UpstreamError.code

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "hook.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: hook\n"
        "spec:\n  type: bindings.htp\n  version: v1\n"
    )
    monkeypatch.setenv("DAPR_RESOURCES_PATH", str(bad))
    with pytest.raises(bindery.InvalidConfigError) as e:
        DaprClient()
    assert e.value.code == 1 and "bindings.http" in str(e.value)  # the nearest known type
