"""The Pythonic runtime over the native one: decorators, asyncio, context managers."""

from __future__ import annotations

import asyncio
import atexit
import collections.abc
import inspect
import json
import logging
import os
import signal
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    TypeVar,
    Union,
)

from . import _native
from ._errors import BindingError, InvalidArgumentError, Reject

logger = logging.getLogger("bindery")

PathLike = Union[str, "os.PathLike[str]"]
Data = Union[bytes, bytearray, memoryview, str, None, Any]
Handler = Callable[["Event"], Union[None, Awaitable[None]]]
H = TypeVar("H", bound=Handler)


def _to_bytes(data: Data) -> bytes:
    """bytes as they are, str as UTF-8, None as empty, anything else as JSON."""
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def _to_metadata(metadata: Optional[Mapping[str, Any]]) -> Dict[str, str]:
    if not metadata:
        return {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in metadata.items()}


@dataclass(frozen=True)
class Event:
    """An input event: `binding` (the component name), `data` (bytes) and `metadata`."""

    binding: str
    data: bytes
    metadata: Dict[str, str] = field(default_factory=dict)

    def text(self, encoding: str = "utf-8") -> str:
        """The data as text."""
        return self.data.decode(encoding)

    def json(self) -> Any:
        """The data parsed as JSON."""
        return json.loads(self.data)


@dataclass(frozen=True)
class Response:
    """The answer of an output binding: `data` (bytes) and `metadata`."""

    data: bytes
    metadata: Dict[str, str] = field(default_factory=dict)

    def text(self, encoding: str = "utf-8") -> str:
        """The data as text."""
        return self.data.decode(encoding)

    def json(self) -> Any:
        """The data parsed as JSON."""
        return json.loads(self.data)


class InputStats(Dict[str, int]):
    """The counters of an input binding, a dict: `delivered`, `acked`, `nacked`, `rejected`
    and `panicked`. As with `collections.Counter` (Python 3.10+), a counter missing from the
    other side of `==` counts as 0: `stats == {"delivered": 3, "acked": 3, "nacked": 0}` holds
    when nothing was rejected and no handler panicked."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, collections.abc.Mapping):
            return NotImplemented
        return all(self.get(k, 0) == other.get(k, 0) for k in set(self) | set(other))

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]


def _count(name: str, value: Any, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise InvalidArgumentError(f"{name} must be an integer from 1 to {most}, got {value!r}")
    return value


# Every runtime not yet stopped, for the exit hook.
_live: "weakref.WeakSet[Runtime]" = weakref.WeakSet()


@atexit.register
def _at_exit() -> None:
    """Stop the runtimes still running, then wait for every bindery thread to end before
    Python finalizes: a handler still running on one (past its `stop` deadline) would call into
    a finalizing interpreter when it returns, and a bindery thread cannot be made to exit
    there the way Python ends its own daemon threads; the process would abort."""
    for rt in list(_live):
        try:
            rt.stop()
        except Exception:
            logger.exception("stopping a bindery runtime at exit failed")
    rounds = 0
    try:
        while _native._wait_for_threads(0.1) > 0:
            rounds += 1
            if rounds == 10:
                logger.warning(
                    "bindery: waiting for handlers still running before Python exits "
                    "(Ctrl-C to exit at once)"
                )
    except KeyboardInterrupt:
        # Exit now, before finalizing: finalizing with a handler still running could abort.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(130)


def _settle(fut: "asyncio.Future[Response]", error: Optional[BaseException], result: Any) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        data, metadata = result
        fut.set_result(Response(data, metadata))


class Runtime:
    """Dapr bindings in this process.

    `resources_path` is a folder of Dapr component YAML files (or a list of them). Every file
    is validated here, before anything starts: a problem raises `InvalidConfigError` listing
    every problem with file, line and fix. Options: `app_id` (for `scopes`), `concurrency`
    (events of one input binding handled at once; default 1, in order), `queue_capacity`
    (events waiting per input binding, default 16), `worker_threads` (default 2, at most
    1024), `shutdown_timeout` (seconds `stop()` waits for handlers by default, 10). A count out
    of range raises `InvalidArgumentError` naming the range.
    """

    def __init__(
        self,
        resources_path: Union[PathLike, Sequence[PathLike]],
        *,
        app_id: Optional[str] = None,
        concurrency: int = 1,
        queue_capacity: int = 16,
        worker_threads: int = 2,
        shutdown_timeout: float = 10.0,
    ) -> None:
        if isinstance(resources_path, (str, bytes, os.PathLike)):
            paths = [os.fsdecode(resources_path)]
        else:
            paths = [os.fsdecode(p) for p in resources_path]
        concurrency = _count("concurrency", concurrency, _native.MAX_COUNT)
        queue_capacity = _count("queue_capacity", queue_capacity, _native.MAX_COUNT)
        worker_threads = _count("worker_threads", worker_threads, _native.MAX_WORKER_THREADS)
        self._native = _native.NativeRuntime(
            paths, app_id, concurrency, queue_capacity, worker_threads, shutdown_timeout
        )
        self._shutdown_timeout = shutdown_timeout
        self._has_async_handlers = False
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._own_loop_thread: Optional[threading.Thread] = None
        self._state = "created"
        self._lock = threading.Lock()
        _live.add(self)
        for warning in self._native.diagnostics():
            logger.warning("%s", warning)

    # ---- handlers ----

    def input(self, name: str) -> Callable[[H], H]:
        """Decorator: handle the events of the input binding `name` (its component name).

        The handler takes an `Event`; it may be `def` or `async def`. Returning acks the
        event; raising nacks it (the traceback is logged on the "bindery" logger) and the
        binding redelivers where its system can; raising `bindery.Reject(reason)` rejects it:
        it is not redelivered (dead-lettered where the system can). A name that is no input
        binding raises `NotFoundError` naming the nearest ones, right here.
        """

        def register(fn: H) -> H:
            self.on(name, fn)
            return fn

        return register

    def on(self, name: str, handler: Handler) -> None:
        """Register `handler` for the input binding `name` (the non-decorator form of `input`)."""
        is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)
        )
        if is_async:
            self._has_async_handlers = True
        self._native.on_event(name, self._dispatcher(handler, is_async))

    def _dispatcher(
        self, handler: Handler, is_async: bool
    ) -> Callable[[str, bytes, Dict[str, str]], Union[bool, str]]:
        # True acks, False nacks, a str rejects (the reason).
        def dispatch(binding: str, data: bytes, metadata: Dict[str, str]) -> Union[bool, str]:
            event = Event(binding, data, metadata)
            try:
                if is_async:
                    loop = self._loop
                    if loop is None or loop.is_closed():
                        raise RuntimeError("the event loop of async handlers is gone")
                    coro = handler(event)
                    # Waits with the GIL released; the coroutine runs on the loop.
                    asyncio.run_coroutine_threadsafe(coro, loop).result()  # type: ignore[arg-type]
                else:
                    result = handler(event)
                    if inspect.isawaitable(result):
                        if inspect.iscoroutine(result):
                            result.close()
                        raise TypeError(
                            f"the handler of {binding!r} returned an awaitable without being "
                            "async def; declare it async def so bindery awaits it"
                        )
            except Reject as r:
                logger.warning("handler for %r rejected the event: %s", binding, r.reason)
                return str(r.reason)
            except Exception:
                logger.exception("handler for %r failed; the event is nacked", binding)
                return False
            return True

        return dispatch

    # ---- lifecycle ----

    def start(self) -> None:
        """Initialise the outputs and start the inputs that have handlers. `async def`
        handlers run on the event loop running here, or on one bindery runs in a thread when
        none is running. Raises the error of a binding that cannot initialise."""
        with self._lock:
            if self._has_async_handlers and self._loop is None:
                try:
                    self._loop = asyncio.get_running_loop()
                except RuntimeError:
                    self._start_own_loop()
            self._native.start()
            self._state = "started"
        for name in self._native.unhandled_inputs():
            logger.warning(
                "input binding %r has no handler, so it is not started; decorate a function "
                "with @rt.input(%r), or set its direction metadata to \"output\"",
                name,
                name,
            )

    def _start_own_loop(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            # Stopped by `stop`: cancel the handlers still running, so that the bindery threads
            # waiting for them go on (their events are nacked).
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

        thread = threading.Thread(target=run, name="bindery-asyncio", daemon=True)
        thread.start()
        ready.wait()
        self._loop = loop
        self._own_loop_thread = thread

    def stop(self, timeout: Optional[float] = None) -> bool:
        """Stop the inputs, wait up to `timeout` seconds (default: the runtime's
        `shutdown_timeout`) for handlers in flight, then close the bindings; calls still in
        flight then raise `ClosedError`. Events queued but not handled are nacked. Returns True
        when every handler finished in time, False at the deadline: a handler still running
        then goes on in its thread, and Python waits for it at exit. Calling it again does
        nothing. Do not call it from a handler (it would wait for itself)."""
        with self._lock:
            if self._state == "stopped":
                return True
            previous, self._state = self._state, "stopped"
        timeout = self._shutdown_timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            drained = self._native.shutdown(timeout)
        except InvalidArgumentError:  # a bad timeout: nothing was done
            with self._lock:
                self._state = previous
            raise
        finally:
            if self._state == "stopped":
                _live.discard(self)
                self._native.close()
        if self._own_loop_thread is not None and self._loop is not None:
            # What is left of the deadline, if anything: the loop's thread ends by itself.
            left = min(float(timeout) - (time.monotonic() - started), 5.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._own_loop_thread.join(timeout=max(left, 0.0))
            self._own_loop_thread = None
        return drained

    def run(self) -> None:
        """Start, block until SIGINT or SIGTERM (from the main thread), then stop cleanly."""
        stop = threading.Event()
        previous = {}

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
        try:
            self.start()
            while not stop.wait(0.2):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def __enter__(self) -> "Runtime":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    async def __aenter__(self) -> "Runtime":
        if self._has_async_handlers and self._loop is None:
            self._loop = asyncio.get_running_loop()
        await asyncio.get_running_loop().run_in_executor(None, self.start)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        # Stopping waits for handlers, which may be coroutines on this very loop: wait in a thread.
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    # ---- outputs ----

    def invoke(
        self,
        name: str,
        operation: str,
        data: Data = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> Response:
        """Call the output binding `name` with `operation`. `data` may be bytes, str (sent as
        UTF-8) or any JSON-serialisable object (sent as JSON). Waits with the GIL released, so
        many threads may invoke at once. Raises a `BindingError` subclass on failure."""
        payload, md = self._native.invoke(name, operation, _to_bytes(data), _to_metadata(metadata))
        return Response(payload, md)

    async def invoke_async(
        self,
        name: str,
        operation: str,
        data: Data = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> Response:
        """`invoke` for asyncio: the call runs on bindery's threads and the loop is free meanwhile."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Response] = loop.create_future()

        def done(error: Optional[BindingError], result: Any) -> None:
            try:
                loop.call_soon_threadsafe(_settle, fut, error, result)
            except RuntimeError:
                pass  # the loop is closed; nobody waits any more

        self._native.invoke_async(name, operation, _to_bytes(data), _to_metadata(metadata), done)
        return await fut

    # ---- introspection ----

    @property
    def bindings(self) -> List[Dict[str, Any]]:
        """Every binding loaded: name, type, input, output, route, operations."""
        return self._native.bindings()

    def stats(self, name: str) -> Optional["InputStats"]:
        """Counters of a started input binding (an `InputStats`): delivered, acked, nacked
        (failed, to be redelivered), rejected (`Reject`: not redelivered), panicked (of the
        nacked, those whose handler panicked inside bindery)."""
        s = self._native.input_stats(name)
        if s is None:
            return None
        return InputStats(zip(("delivered", "acked", "nacked", "rejected", "panicked"), s))

    @property
    def diagnostics(self) -> List[str]:
        """Warnings found in the component files (unknown fields, skipped components)."""
        return self._native.diagnostics()
