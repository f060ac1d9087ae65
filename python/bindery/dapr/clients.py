"""`dapr.clients` with `bindery.` in front: `from bindery.dapr.clients import DaprClient`."""

from ._client import DaprClient
from ._types import BindingRequest, BindingResponse

__all__ = ["DaprClient", "BindingRequest", "BindingResponse"]
