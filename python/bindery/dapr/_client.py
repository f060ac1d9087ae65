"""`DaprClient.invoke_binding`, sync and asyncio, over the process's shared runtime."""

from __future__ import annotations

import warnings
from typing import Any, Dict, Optional, Union

from .. import _shared
from .._runtime import Runtime
from ._types import BindingResponse


class _Base:
    def __init__(
        self,
        address: Optional[str] = None,
        headers_callback: Any = None,
        interceptors: Any = None,
        http_timeout_seconds: Optional[int] = None,
        max_grpc_message_length: Optional[int] = None,
        retry_policy: Any = None,
        timeout: Optional[float] = None,
        *,
        app_id: Optional[str] = None,
        resources_path: Any = None,
    ) -> None:
        # The SDK's connection arguments have no use in-process; they are accepted so that
        # code passing them runs unchanged.
        self._resources_path = resources_path
        self._app_id = app_id
        self._runtime = _shared.runtime(resources_path, app_id)  # validates the files now

    def _rt(self) -> Runtime:
        # A bridge that stopped (an app's lifespan ended) stops the shared runtime; a client
        # kept past it takes the process's next one.
        if self._runtime._state == "stopped":
            self._runtime = _shared.runtime(self._resources_path, self._app_id)
        return self._runtime

    @staticmethod
    def _warn_metadata(metadata: Any) -> None:
        if metadata is not None:
            warnings.warn(
                "metadata argument is deprecated. Dapr already intercepts API token headers "
                "and this is not needed.",
                DeprecationWarning,
                stacklevel=3,
            )


class DaprClient(_Base):
    """Output bindings as the Dapr SDK's `dapr.clients.DaprClient.invoke_binding`, in-process.

    The SDK's arguments (`address`, `interceptors`, `max_grpc_message_length`, `retry_policy`,
    `timeout`, ...) are accepted and have no use here. `app_id` (else `APP_ID`, else
    `DAPR_APP_ID`) says which components' `scopes` take this app; `resources_path` overrides
    `DAPR_RESOURCES_PATH` and `./components`. Every client, bridge and `App` of a process
    shares one runtime per resources path and app ID, so opening a client per call is cheap
    and each output is opened once.
    """

    def invoke_binding(
        self,
        binding_name: str,
        operation: str,
        data: Union[bytes, str] = "",
        binding_metadata: Optional[Dict[str, str]] = None,
        metadata: Any = None,
    ) -> BindingResponse:
        """Invoke an output binding, as the Dapr SDK does. Errors are `bindery.BindingError`s."""
        self._warn_metadata(metadata)
        resp = self._rt().invoke(binding_name, operation, data, binding_metadata or {})
        return BindingResponse(resp.data, resp.metadata)

    def wait(self, timeout_s: float = 0) -> None:
        """The SDK waits for the sidecar here; in-process there is nothing to wait for."""

    def close(self) -> None:
        """The shared runtime stays up for the process's other users; it stops at exit."""

    def __enter__(self) -> "DaprClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncDaprClient(_Base):
    """`dapr.aio.clients.DaprClient` for output bindings, in-process: `async with`,
    `await client.invoke_binding(...)`, `await client.close()`. The arguments are those of
    `bindery.dapr.DaprClient`; the call runs on bindery's threads and the loop is free
    meanwhile."""

    async def invoke_binding(
        self,
        binding_name: str,
        operation: str,
        data: Union[bytes, str] = "",
        binding_metadata: Optional[Dict[str, str]] = None,
        metadata: Any = None,
    ) -> BindingResponse:
        """Invoke an output binding, as the Dapr SDK does. Errors are `bindery.BindingError`s."""
        self._warn_metadata(metadata)
        resp = await self._rt().invoke_async(binding_name, operation, data, binding_metadata or {})
        return BindingResponse(resp.data, resp.metadata)

    async def wait(self, timeout_s: float = 0) -> None:
        """The SDK waits for the sidecar here; in-process there is nothing to wait for."""

    async def close(self) -> None:
        """The shared runtime stays up for the process's other users; it stops at exit."""

    async def __aenter__(self) -> "AsyncDaprClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
