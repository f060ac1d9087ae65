"""Input bindings delivered to an ASGI app (FastAPI, Starlette, ...) in-process, as a Dapr
sidecar delivers them over HTTP, but without a socket and without a sidecar.

One line turns an app written for Dapr into one that runs its bindings itself::

    app = FastAPI()

    @app.post("/cleanup-cron")             # the route Dapr posts the binding's events to
    async def cleanup(request: Request): ...

    app = bindery.asgi.Bindings(app)       # then: uvicorn main:app

What Dapr does, bindery does here: at startup it sends `OPTIONS <route>` for each input
binding (`route` metadata, default `/<name>`); a 2xx or 405 answer means the app takes that
binding, anything else means it does not and the binding is not started. Each event is then a
`POST <route>` with the event's data as the body and its metadata as request headers (plus
`content-type: application/json`), called as `await app(scope, receive, send)` on the
server's event loop. A 2xx answer acks the event; any other status, or an exception, nacks it
(the binding redelivers where its system can; logged on the "bindery" logger).

The middleware starts bindery from the ASGI lifespan, which uvicorn, hypercorn and granian
send (uvicorn's `--lifespan off` turns it off, and then no binding starts). With several
server worker processes, each one runs its own bindings (a cron fires in each).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    List,
    MutableMapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)
from urllib.parse import unquote

from . import _shared
from ._errors import BindingError, HandlerFailedError, InvalidStateError
from ._runtime import Event, PathLike, Runtime

__all__ = ["Bindings", "attach", "probe", "ASGIApp", "Scope", "Message", "Receive", "Send"]

logger = logging.getLogger("bindery")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Headers bindery sets itself; event metadata of these names is not sent.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
#: How much of a failing answer's body goes into the nack's message.
_BODY_EXCERPT = 200


class _Answer:
    """What the app answered to one in-process request."""

    def __init__(self) -> None:
        self.status: Optional[int] = None
        self.body = bytearray()

    def excerpt(self) -> str:
        text = bytes(self.body[:_BODY_EXCERPT]).decode("utf-8", "replace")
        return text + ("..." if len(self.body) > _BODY_EXCERPT else "")


def _split_route(route: str) -> Tuple[str, bytes]:
    path, _, query = route.partition("?")
    if not path.startswith("/"):
        path = "/" + path
    return path, query.encode("latin-1", "replace")


def _header_pairs(metadata: Dict[str, str], content_length: int) -> List[Tuple[bytes, bytes]]:
    """The request headers of an event: its metadata (names lowercased, as ASGI wants them),
    `content-type: application/json` unless the metadata names a content type, the length."""
    headers: List[Tuple[bytes, bytes]] = [(b"host", b"127.0.0.1")]
    content_type = b"application/json"
    for key, value in metadata.items():
        name = key.strip().lower()
        if not name or name in _RESERVED_HEADERS or any(c in name for c in " \t\r\n:"):
            continue
        raw = value.replace("\r", " ").replace("\n", " ").encode("utf-8")
        if name == "content-type":
            content_type = raw
            continue
        headers.append((name.encode("latin-1", "replace"), raw))
    headers.append((b"content-type", content_type))
    headers.append((b"content-length", str(content_length).encode("ascii")))
    return headers


async def _request(
    app: ASGIApp,
    method: str,
    route: str,
    body: bytes,
    metadata: Dict[str, str],
    state: Optional[Dict[str, Any]],
) -> _Answer:
    """Call `app` with one HTTP request, in-process, and collect its answer."""
    path, query = _split_route(route)
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode("latin-1", "replace"),
        "query_string": query,
        "root_path": "",
        "headers": _header_pairs(metadata, len(body)),
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 80),
    }
    if state is not None:
        scope["state"] = dict(state)  # as servers do: a shallow copy of the lifespan state
    answer = _Answer()
    responded = asyncio.Event()
    body_sent = False

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, a client "disconnects" only once the response is complete, as a
        # real one would (Starlette's streaming responses listen for it meanwhile).
        await responded.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            answer.status = int(message["status"])
        elif kind == "http.response.body":
            answer.body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                responded.set()

    try:
        await app(scope, receive, send)
    finally:
        responded.set()
    return answer


async def probe(
    app: ASGIApp, route: str, *, state: Optional[Dict[str, Any]] = None
) -> Optional[int]:
    """Send Dapr's `OPTIONS <route>` subscription probe to `app` and return the status (None
    if it answered nothing). An exception from the app propagates."""
    answer = await _request(app, "OPTIONS", route, b"", {}, state)
    return answer.status


def _takes(status: Optional[int]) -> bool:
    """Dapr's rule: a 2xx or 405 answer to the probe means the app takes the binding."""
    return status is not None and (200 <= status < 300 or status == 405)


def _input_routes(runtime: Runtime) -> List[Tuple[str, str, bool]]:
    """Each input binding's name, route (`route` metadata, default `/<name>`) and whether it
    is delivered without the probe (as in Dapr: its `direction` says input)."""
    routes: List[Tuple[str, str, bool]] = []
    for info in runtime.bindings:
        if not info.get("input"):
            continue
        name = str(info["name"])
        route = str(info.get("route") or f"/{name}")
        direction = str(info.get("direction") or "")
        routes.append((name, route, "input" in [d.strip().lower() for d in direction.split(",")]))
    return routes


def _not_taken(runtime: Runtime, name: str, route: str, status: Optional[int]) -> None:
    logger.info(
        "app has not subscribed to binding %r: OPTIONS %s answered %s; it is not started",
        name,
        route,
        status if status is not None else "nothing",
    )
    try:
        runtime._native.decline(name)  # not started, and not warned about as unhandled
    except InvalidStateError:
        pass  # it has a handler of its own, which takes its events


def _probe_failed(name: str, route: str, e: BaseException) -> HandlerFailedError:
    """What `attach` raises when the app raised on the probe of input binding `name`."""
    return HandlerFailedError(
        f"the app raised on the probe OPTIONS {route} of input binding {name!r}: {e!r}",
        component=name,
    )


def _take(
    runtime: Runtime, name: str, route: str, status: Optional[int], handler: Callable[[], Any]
) -> bool:
    """After the probe of input binding `name` answered `status`: decline it when the app does
    not take it, else register `handler()` for it (unless it has a handler of its own).
    Whether the app's route delivers its events."""
    if not _takes(status):
        _not_taken(runtime, name, route, status)
        return False
    try:
        runtime.on(name, handler())
    except InvalidStateError as e:
        if "already registered" not in str(e):
            raise
        logger.info("input binding %r has a handler of its own; the app's route is not used", name)
        return False
    logger.debug("input binding %r delivers to POST %s", name, route)
    return True


def _verdict(answer: _Answer, name: str, route: str) -> None:
    """Dapr's: a 2xx answer acks the event; no answer or any other status nacks it (raises)."""
    if answer.status is None:
        raise HandlerFailedError(f"the app sent no response to POST {route}", component=name)
    if not 200 <= answer.status < 300:
        raise HandlerFailedError(
            f"the app answered POST {route} with status {answer.status}: {answer.excerpt()}",
            component=name,
        )


def _handler(
    app: ASGIApp, name: str, route: str, state: Optional[Dict[str, Any]]
) -> Callable[[Event], Awaitable[None]]:
    async def deliver(event: Event) -> None:
        try:
            answer = await _request(app, "POST", route, event.data, event.metadata, state)
        except Exception as e:
            raise HandlerFailedError(
                f"the app raised on POST {route}: {e!r}", component=name
            ) from e
        _verdict(answer, name, route)

    deliver.__name__ = deliver.__qualname__ = f"asgi_deliver[{name}]"
    return deliver


async def attach(
    app: ASGIApp, runtime: Runtime, *, state: Optional[Dict[str, Any]] = None
) -> List[str]:
    """Probe `app` for each input binding of `runtime` (not yet started) and register a handler
    that posts the binding's events to the app for each one it takes. Returns the names taken.

    Call it from the event loop the events should be handled on, then start the runtime there
    (`async with runtime:` or `await runtime.__aenter__()`). `state` is the lifespan state
    handed to each request as `scope["state"]` (a shallow copy), as servers do. Input bindings
    that already have a handler of their own are left to it.
    """
    taken: List[str] = []
    for name, route, direct in _input_routes(runtime):
        status: Optional[int] = 200 if direct else None
        try:
            if status is None:
                status = await probe(app, route, state=state)
        except Exception as e:
            raise _probe_failed(name, route, e) from e
        if _take(runtime, name, route, status, lambda: _handler(app, name, route, state)):
            taken.append(name)
    return taken


def _default_resources_path() -> str:
    return os.environ.get("DAPR_RESOURCES_PATH") or "./components"


class _InnerLifespan:
    """The wrapped app's lifespan, run as a task we talk to message by message."""

    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        self._inbox: "asyncio.Queue[Message]" = asyncio.Queue()
        self._outbox: "asyncio.Queue[Message]" = asyncio.Queue()
        self.spoke = False  # sent at least one message: it does support lifespan
        self.reported_failure = False  # sent a *.failed message, which the server logs
        self.task: "asyncio.Task[None]" = asyncio.ensure_future(
            app(scope, self._inbox.get, self._send)
        )

    async def _send(self, message: Message) -> None:
        self.spoke = True
        if str(message.get("type", "")).endswith(".failed"):
            self.reported_failure = True
        await self._outbox.put(message)

    async def ask(self, message: Message) -> Optional[Message]:
        """Pass `message` to the app; its answer, or None when it ended without one."""
        await self._inbox.put(message)
        getter = asyncio.ensure_future(self._outbox.get())
        await asyncio.wait({getter, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        if not self._outbox.empty():
            return self._outbox.get_nowait()
        return None

    def error(self) -> Optional[BaseException]:
        if not self.task.done() or self.task.cancelled():
            return None
        return self.task.exception()

    async def close(self) -> None:
        if not self.task.done():
            self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        except Exception:
            if self.spoke and not self.reported_failure:
                logger.exception("the app's lifespan raised")
            # else: no lifespan support (logged at startup), or a failure the server logged


class Bindings(_shared.Bridge):
    """ASGI middleware that runs the Dapr input and output bindings of `resources_path` for
    the wrapped app, with no sidecar: ``app = bindery.asgi.Bindings(app)``.

    `resources_path` (a folder of Dapr component YAML, or a list of them) defaults to the
    environment variable `DAPR_RESOURCES_PATH`, else `./components`; `runtime_options` are
    `bindery.Runtime`'s (`app_id`, default `APP_ID` or `DAPR_APP_ID`; `concurrency`,
    `queue_capacity`, `worker_threads`, `shutdown_timeout`). The files are validated here: a
    problem raises `bindery.InvalidConfigError` listing every one. The runtime is the
    process's one for these components and app ID, shared with `bindery.dapr.DaprClient`, so
    each output binding is opened once (make the bridge before the first client, so that its
    options apply).

    On `lifespan.startup` the app's own startup runs first, then each input binding is
    probed (see `attach`) and bindery starts; events are handled on the server's event loop.
    On `lifespan.shutdown` bindery stops first (inputs stop, in-flight events finish, outputs
    close), then the app's own shutdown runs. An app without lifespan support still gets its
    bindings started and stopped. Every other scope goes straight to the app.

    `runtime` is the `bindery.Runtime` of the current (or next) run: use it for
    `runtime.stats(name)`, or to invoke output bindings (`await runtime.invoke_async(...)`)
    while the server runs. `taken` lists the input bindings the app took at the last startup.
    """

    def __init__(
        self,
        app: ASGIApp,
        resources_path: Union[PathLike, Sequence[PathLike], None] = None,
        **runtime_options: Any,
    ) -> None:
        super().__init__(
            app,
            resources_path if resources_path is not None else _default_resources_path(),
            runtime_options,
        )
        self._runtime_pid = os.getpid()
        self._runtime_used = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # ---- bindery's own start and stop ----

    async def _start(self, state: Optional[Dict[str, Any]]) -> None:
        # A runtime runs once, and its threads do not survive a fork (gunicorn --preload):
        # a second lifespan, or one in a forked worker, gets a fresh one.
        if self._runtime_used or self._runtime_pid != os.getpid():
            self._runtime = self._new_runtime()
            self._runtime_pid = os.getpid()
        self._runtime_used = True
        rt = self._runtime
        try:
            self.taken = await attach(self.app, rt, state=state)
            # Starts in a thread; `async def` handlers are bound to this loop, the server's.
            await rt.__aenter__()
        except BaseException:
            # Undo a partial start (outputs initialised before one failed); stopping an
            # unstarted runtime just closes it.
            await rt.__aexit__(None, None, None)
            raise
        self._running = True
        logger.info(
            "bindery started; input bindings delivered to the app: %s",
            ", ".join(self.taken) if self.taken else "none",
        )

    async def _stop(self) -> None:
        if not self._running:
            return
        self._running = False
        # Stops in a thread, so handlers in flight on this loop can finish meanwhile.
        await self._runtime.__aexit__(None, None, None)
        logger.info("bindery stopped")

    # ---- the lifespan protocol ----

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state")
        inner = _InnerLifespan(self.app, scope)
        inner_alive = True  # the app still runs its lifespan
        try:
            while True:
                message = await receive()
                kind = message.get("type")
                if kind == "lifespan.startup":
                    answer = await inner.ask(message) if inner_alive else None
                    if answer is None:
                        inner_alive = False
                        self._log_no_lifespan(inner)
                    elif answer.get("type") != "lifespan.startup.complete":
                        await send(answer)  # the app's startup failed: bindery stays down
                        continue
                    try:
                        await self._start(state)
                    except Exception as e:
                        logger.error("bindery could not start: %s", e)
                        await self._stop()
                        if inner_alive:  # let the app undo its own startup
                            inner_alive = False
                            await inner.ask({"type": "lifespan.shutdown"})
                        await send({"type": "lifespan.startup.failed", "message": _describe(e)})
                        continue
                    await send({"type": "lifespan.startup.complete"})
                elif kind == "lifespan.shutdown":
                    failure: Optional[str] = None
                    try:
                        await self._stop()
                    except Exception as e:
                        logger.error("bindery did not stop cleanly: %s", e)
                        failure = _describe(e)
                    answer = await inner.ask(message) if inner_alive else None
                    if answer is not None and answer.get("type") != "lifespan.shutdown.complete":
                        await send(answer)
                    elif failure is not None:
                        await send({"type": "lifespan.shutdown.failed", "message": failure})
                    else:
                        await send({"type": "lifespan.shutdown.complete"})
                    return
                else:
                    return
        finally:
            await self._stop()
            await inner.close()

    def _log_no_lifespan(self, inner: _InnerLifespan) -> None:
        error = inner.error()
        if inner.spoke:
            logger.warning("the app ended its lifespan without answering; bindery starts anyway")
        else:
            logger.debug(
                "the app does not support lifespan%s; bindery starts and stops by itself",
                f" ({error!r})" if error is not None else "",
            )


def _describe(e: BaseException) -> str:
    if isinstance(e, BindingError):
        return f"bindery: {e.message}"
    return f"bindery: {e!r}"
