"""`dapr.ext.grpc.App` for input bindings, in-process: `@app.binding(name)` handlers get each
event as a `BindingRequest`, and `app.run()` delivers events until stopped."""

from __future__ import annotations

import inspect
import logging
import signal
import threading
from typing import Any, Callable, Dict, Optional, TypeVar

from .. import _shared
from .._runtime import Event
from ._types import BindingRequest

logger = logging.getLogger("bindery")

F = TypeVar("F", bound=Callable[..., Any])


class Rule:
    """`dapr.ext.grpc.Rule` (a pub/sub routing rule), so that imports of it work; bindery
    runs bindings only, so `App.subscribe` is not available."""

    def __init__(self, match: str, priority: int) -> None:
        self.match = match
        self.priority = priority


def _no_such(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"bindery.dapr.App runs input bindings only (@app.binding); {what} needs a Dapr sidecar"
    )


class App:
    """The Dapr SDK's gRPC `App` for input bindings, with no sidecar and no gRPC server::

        from bindery.dapr import App, BindingRequest   # was: from dapr.ext.grpc import ...

        app = App()

        @app.binding("kafkaBinding")
        def binding(request: BindingRequest):
            print(request.text())

        app.run(50051)

    A handler that returns acks the event; one that raises nacks it (the binding redelivers
    where its system can; the traceback goes to the "bindery" logger); `bindery.Reject`
    rejects it. `async def` handlers are awaited. `max_grpc_message_length` and the
    `grpc.server` keyword arguments are accepted and unused; `resources_path` and `app_id`
    say which components this app runs (default: `DAPR_RESOURCES_PATH` or `./components`,
    and `APP_ID` or `DAPR_APP_ID`). The app shares the process's runtime with
    `bindery.dapr.DaprClient`, so outputs its handlers call are opened once.
    """

    def __init__(
        self,
        max_grpc_message_length: Optional[int] = None,
        *,
        resources_path: Any = None,
        app_id: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        self._runtime = _shared.runtime(resources_path, app_id)  # validates the files now
        self._bindings: Dict[str, Callable[..., Any]] = {}
        self._stop = threading.Event()
        self._running = False

    @property
    def runtime(self) -> Any:
        """The `bindery.Runtime` the app runs on (for `stats(name)`, `invoke`, ...)."""
        return self._runtime

    def binding(self, name: str) -> Callable[[F], F]:
        """Decorator: handle the input binding `name` (its component's `metadata.name`).
        A name that is no input binding raises `bindery.NotFoundError` naming the nearest."""

        def decorator(func: F) -> F:
            if name in self._bindings:
                raise ValueError(f"{name} is already registered")
            _shared.check_not_started(self._runtime, "bindery.dapr.App")
            self._runtime.on(name, _deliver(name, func))
            self._bindings[name] = func
            return func

        return decorator

    def run(self, app_port: Optional[int] = None, listen_address: Optional[str] = None) -> None:
        """Start the bindings and deliver events until `stop()`, SIGINT or SIGTERM, then stop
        them (in-flight handlers finish first). `app_port` and `listen_address` are accepted
        and unused: no server listens, events come from bindery in-process."""
        rt = self._runtime
        previous: Dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():

            def on_signal(signum: int, frame: Any) -> None:
                self._stop.set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        self._running = True
        try:
            rt.start()
            logger.info(
                "bindery.dapr.App delivering input bindings: %s",
                ", ".join(self._bindings) or "none",
            )
            while not self._stop.wait(0.2):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._running = False
            rt.stop()

    def stop(self) -> None:
        """End `run()` (from a handler, another thread or a signal handler)."""
        self._stop.set()

    def register_health_check(self, health_check_callback: Callable[[], None]) -> None:
        """Accepted: with no sidecar nothing probes the app's health."""

    def add_external_service(self, servicer_callback: Any, external_servicer: Any) -> None:
        raise _no_such("serving other gRPC services")

    def method(self, name: str) -> Callable[[F], F]:
        raise _no_such("service invocation (@app.method)")

    def subscribe(self, pubsub_name: str, topic: str, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        raise _no_such("pub/sub (@app.subscribe)")

    def job_event(self, name: str) -> Callable[[F], F]:
        raise _no_such("jobs (@app.job_event)")


def _deliver(name: str, func: Callable[..., Any]) -> Callable[[Event], Any]:
    if inspect.iscoroutinefunction(func):

        async def deliver_async(event: Event) -> None:
            await func(BindingRequest(event.data, event.metadata))

        deliver_async.__name__ = deliver_async.__qualname__ = f"app_binding[{name}]"
        return deliver_async

    def deliver(event: Event) -> None:
        func(BindingRequest(event.data, event.metadata))

    deliver.__name__ = deliver.__qualname__ = f"app_binding[{name}]"
    return deliver
