"""The asyncio client, as `dapr.aio.clients.DaprClient`:
`from bindery.dapr.aio import DaprClient` (or `bindery.dapr.aio.clients`)."""

from .._client import AsyncDaprClient as DaprClient
from .._types import BindingResponse

__all__ = ["DaprClient", "BindingResponse"]
