"""`dapr.aio.clients` with `bindery.` in front: `from bindery.dapr.aio.clients import DaprClient`."""

from .._client import AsyncDaprClient as DaprClient
from .._types import BindingResponse

__all__ = ["DaprClient", "BindingResponse"]
