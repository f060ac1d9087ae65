"""Input bindings delivered to a WSGI app (Flask, Django, Bottle, ...) in-process, as a Dapr
sidecar delivers them over HTTP, but without a socket and without a sidecar.

For a Flask app that calls `app.run()` itself, change one import line::

    from bindery.flask import Flask            # was: from flask import Flask

and `app.run()` starts the bindings before it serves and stops them when it returns (Ctrl-C).
For any other WSGI app, or a server that imports the app (gunicorn, `flask run`)::

    application = bindery.wsgi.Bindings(app).start()    # or: bindery.wsgi.run(app, port=5000)

What Dapr does, bindery does here: for each input binding (`route` metadata, default
`/<name>`) it sends `OPTIONS <route>`, unless the binding's `direction` says `input`; a 2xx or
405 answer means the app takes the binding, anything else that it does not (the binding is
not started). Each event is then a `POST <route>` with the event's data as the body and its
metadata as request headers (plus `Content-Type: application/json`), a direct call of the WSGI
app on one of bindery's threads (several at once with `concurrency` above 1). A 2xx answer
acks the event; any other status, or an exception, nacks it (the binding redelivers where its
system can; logged on the "bindery" logger).

The runtime is the process's one for the components and app ID (`DAPR_RESOURCES_PATH` or
`./components`; `APP_ID` or `DAPR_APP_ID`), shared with `bindery.dapr.DaprClient`, so each
output binding is opened once. Start it in the process that serves: a runtime's threads do not
survive a fork (gunicorn `--preload`: start it in a `post_fork` hook).
"""

from __future__ import annotations

import io
import logging
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union
from urllib.parse import unquote

from . import _shared
from ._errors import HandlerFailedError
from ._runtime import Event, PathLike, Runtime
from .asgi import (
    _Answer,
    _header_pairs,
    _input_routes,
    _probe_failed,
    _split_route,
    _take,
    _verdict,
)

__all__ = ["Bindings", "attach", "probe", "run", "WSGIApp"]

logger = logging.getLogger("bindery")

WSGIApp = Callable[[Dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _environ(method: str, route: str, body: bytes, metadata: Dict[str, str]) -> Dict[str, Any]:
    path, query = _split_route(route)
    environ: Dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        # WSGI's native strings: the bytes of the path as latin-1 (PEP 3333).
        "PATH_INFO": unquote(path, encoding="latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in _header_pairs(metadata, len(body)):
        key = name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        text = value.decode("latin-1")
        if key in environ and key.startswith("HTTP_"):
            environ[key] += "," + text  # as servers join repeated headers
        else:
            environ[key] = text
    return environ


def _request(
    app: WSGIApp, method: str, route: str, body: bytes, metadata: Dict[str, str]
) -> _Answer:
    """Call `app` with one HTTP request, in-process, and collect its answer."""
    answer = _Answer()

    def start_response(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and answer.status is not None:
            raise exc_info[1].with_traceback(exc_info[2])
        answer.status = int(str(status).split(None, 1)[0])
        return answer.body.extend

    result = app(_environ(method, route, body, metadata), start_response)
    try:
        for chunk in result:
            answer.body.extend(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return answer


def probe(app: WSGIApp, route: str) -> Optional[int]:
    """Send Dapr's `OPTIONS <route>` probe to `app` and return the status (None if it answered
    nothing). An exception from the app propagates."""
    return _request(app, "OPTIONS", route, b"", {}).status


def _handler(app: WSGIApp, name: str, route: str) -> Callable[[Event], None]:
    def deliver(event: Event) -> None:
        try:
            answer = _request(app, "POST", route, event.data, event.metadata)
        except BaseException as e:  # noqa: B036 - a SystemExit in a view ends the request only
            raise HandlerFailedError(
                f"the app raised on POST {route}: {e!r}", component=name
            ) from e
        _verdict(answer, name, route)

    deliver.__name__ = deliver.__qualname__ = f"wsgi_deliver[{name}]"
    return deliver


def attach(app: WSGIApp, runtime: Runtime) -> List[str]:
    """Probe `app` for each input binding of `runtime` (not yet started) and register a handler
    that posts the binding's events to the app for each one it takes. Returns the names taken.
    Input bindings that already have a handler of their own are left to it."""
    taken: List[str] = []
    for name, route, direct in _input_routes(runtime):
        try:
            status = 200 if direct else probe(app, route)
        except Exception as e:
            raise _probe_failed(name, route, e) from e
        if _take(runtime, name, route, status, lambda: _handler(app, name, route)):
            taken.append(name)
    return taken


class Bindings(_shared.Bridge):
    """WSGI middleware that runs the Dapr input and output bindings of `resources_path` for
    the wrapped app, with no sidecar: ``application = bindery.wsgi.Bindings(app).start()``.

    `resources_path` (a folder of Dapr component YAML, or a list of them) defaults to
    `DAPR_RESOURCES_PATH`, else `./components`; `runtime_options` are `bindery.Runtime`'s
    (`app_id`, default `APP_ID` or `DAPR_APP_ID`; `concurrency`, `queue_capacity`,
    `worker_threads`, `shutdown_timeout`). The files are validated here: a problem raises
    `bindery.InvalidConfigError` listing every one.

    `start()` probes each input route (see `attach`) and starts bindery; `stop()` stops it
    (inputs stop, in-flight events finish, outputs close); `with Bindings(app):` does both;
    `run(*args, **kwargs)` starts, calls the app's own `run` (Flask's server) and stops when
    it returns. Requests go straight to the app; the app's attributes stay reachable.
    """

    def __init__(
        self,
        app: WSGIApp,
        resources_path: Union[PathLike, Sequence[PathLike], None] = None,
        **runtime_options: Any,
    ) -> None:
        super().__init__(app, resources_path, runtime_options)

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.app(environ, start_response)

    def start(self) -> "Bindings":
        """Probe the app's input routes and start bindery. Returns the middleware."""
        if self._running:
            return self
        if self._runtime._state != "created":
            self._runtime = self._new_runtime()
        rt = self._runtime
        _shared.check_not_started(rt, "bindery.wsgi.Bindings")
        try:
            self.taken = attach(self.app, rt)
            rt.start()
        except BaseException:
            rt.stop()
            raise
        self._running = True
        logger.info(
            "bindery started; input bindings delivered to the app: %s",
            ", ".join(self.taken) if self.taken else "none",
        )
        return self

    def stop(self, timeout: Optional[float] = None) -> bool:
        """Stop bindery: inputs stop, handlers in flight finish (up to `timeout` seconds,
        default the runtime's `shutdown_timeout`), outputs close. True when all finished."""
        if not self._running:
            return True
        self._running = False
        drained = self._runtime.stop(timeout)
        logger.info("bindery stopped")
        return drained

    def __enter__(self) -> "Bindings":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Start bindery, run the app's own server (`app.run(*args, **kwargs)`, e.g. Flask's)
        until it returns, then stop bindery."""
        with self:
            return self.app.run(*args, **kwargs)  # type: ignore[attr-defined]


def run(app: WSGIApp, *args: Any, **kwargs: Any) -> Any:
    """`Bindings(app).run(*args, **kwargs)`: the bindings, then the app's own `run`."""
    return Bindings(app).run(*args, **kwargs)
