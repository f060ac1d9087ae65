"""`dapr.ext.grpc` with `bindery.` in front: `from bindery.dapr.ext.grpc import App, BindingRequest`."""

from .._app import App, Rule
from .._types import BindingRequest

__all__ = ["App", "BindingRequest", "Rule"]
