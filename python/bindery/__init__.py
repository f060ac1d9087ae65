"""bindery: Dapr-compatible bindings inside your Python process.

    import bindery

    rt = bindery.Runtime("./components")   # Dapr component YAML, unchanged

    @rt.input("cleanup-cron")               # the component's metadata.name
    def cleanup(event):
        rt.invoke("monitoring-webhook", "post", data={"event": "swept"})

    rt.run()                                # or: with rt: ... / async with rt: ...
"""

from ._errors import (
    BindingError,
    CircuitOpenError,
    ClosedError,
    HandlerFailedError,
    InternalError,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidStateError,
    NotFoundError,
    Reject,
    TimeoutError,
    UnsupportedOperationError,
    UpstreamError,
)
from ._native import core_version as _core_version
from ._runtime import Event, InputStats, Response, Runtime

__version__ = _core_version()

__all__ = [
    "Runtime",
    "Event",
    "Response",
    "InputStats",
    "Reject",
    "BindingError",
    "InvalidConfigError",
    "NotFoundError",
    "UnsupportedOperationError",
    "InvalidArgumentError",
    "TimeoutError",
    "CircuitOpenError",
    "UpstreamError",
    "ClosedError",
    "InternalError",
    "InvalidStateError",
    "HandlerFailedError",
]
