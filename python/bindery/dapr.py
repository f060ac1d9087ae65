"""A stand-in for the Dapr Python SDK's `DaprClient`, for output bindings, without a sidecar.

Code written for the SDK runs with the import changed::

    # from dapr.clients import DaprClient
    from bindery.dapr import DaprClient

    with DaprClient() as client:
        resp = client.invoke_binding("monitoring-webhook", "create", data=json.dumps(event))
        print(resp.binding_metadata["statusCode"], resp.text())

Components are read from `DAPR_RESOURCES_PATH` or `./components`. All clients of one process
share one runtime per resources path, so opening a client per request is cheap.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from typing import Any, Dict, Optional, Union

from ._runtime import Runtime

__all__ = ["DaprClient", "BindingResponse"]

_shared: Dict[str, Runtime] = {}
_shared_lock = threading.Lock()


def _runtime_for(path: str) -> Runtime:
    key = os.path.abspath(path)
    with _shared_lock:
        rt = _shared.get(key)
        if rt is None:
            rt = Runtime(path)
            _shared[key] = rt
        return rt


@atexit.register
def _close_shared() -> None:
    with _shared_lock:
        runtimes = list(_shared.values())
        _shared.clear()
    for rt in runtimes:
        rt.stop(timeout=5)


class BindingResponse:
    """The answer of `invoke_binding`, shaped as the Dapr SDK's."""

    def __init__(self, data: bytes, binding_metadata: Dict[str, str]) -> None:
        self._data = data
        self._metadata = binding_metadata

    @property
    def data(self) -> bytes:
        """The response data."""
        return self._data

    def text(self) -> str:
        """The response data as UTF-8 text."""
        return self._data.decode("utf-8")

    def json(self) -> Any:
        """The response data parsed as JSON."""
        return json.loads(self._data)

    @property
    def binding_metadata(self) -> Dict[str, str]:
        """The response metadata of the binding (e.g. statusCode and headers for HTTP)."""
        return self._metadata

    @property
    def headers(self) -> Dict[str, str]:
        """The Dapr SDK's response headers; in-process there are none."""
        return {}


class DaprClient:
    """Output bindings as the Dapr SDK's `DaprClient.invoke_binding`, in-process.

    The SDK's connection arguments (address, interceptors, timeouts) are accepted and have no
    use here. `resources_path` overrides `DAPR_RESOURCES_PATH` and `./components`.
    """

    def __init__(
        self,
        address: Optional[str] = None,
        headers_callback: Any = None,
        interceptors: Any = None,
        http_timeout_seconds: Optional[int] = None,
        max_grpc_message_length: Optional[int] = None,
        *,
        resources_path: Optional[str] = None,
    ) -> None:
        path = resources_path or os.environ.get("DAPR_RESOURCES_PATH") or "./components"
        self._runtime = _runtime_for(path)

    def invoke_binding(
        self,
        binding_name: str,
        operation: str,
        data: Union[bytes, str] = "",
        binding_metadata: Optional[Dict[str, str]] = None,
        metadata: Any = None,
    ) -> BindingResponse:
        """Invoke an output binding, as the Dapr SDK does. Errors are `bindery.BindingError`s."""
        resp = self._runtime.invoke(binding_name, operation, data, binding_metadata or {})
        return BindingResponse(resp.data, resp.metadata)

    def wait(self, timeout_s: float = 0) -> None:
        """The SDK waits for the sidecar here; in-process there is nothing to wait for."""

    def close(self) -> None:
        """The shared runtime stays up for the process's other clients; it stops at exit."""

    def __enter__(self) -> "DaprClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
