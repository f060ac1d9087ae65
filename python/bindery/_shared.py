"""One runtime per process for each (resources path, app ID): the Dapr SDK stand-ins
(`bindery.dapr`), the web bridges (`bindery.asgi`, `bindery.wsgi`) and `bindery.dapr.App`
take their runtime from here, so that every output binding is opened once per process (one
PostgreSQL pool, one MQTT client id), as it is once per sidecar with Dapr.

Where the stand-ins look, when the app does not say:

- components: `DAPR_RESOURCES_PATH` (a folder or a file), else `./components`. `dapr run --resources-path` has no environment variable of its own.
- app ID: `APP_ID` (what `dapr run --app-id` exports to the app), else `DAPR_APP_ID`; none
  when neither is set. It decides which components' `scopes` take this app, and `{appID}`.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ._runtime import PathLike, Runtime

logger = logging.getLogger("bindery")

ResourcesPath = Union[PathLike, Sequence[PathLike], None]

_lock = threading.Lock()
_runtimes: Dict[Tuple[Tuple[str, ...], Optional[str]], Tuple[Runtime, Dict[str, Any]]] = {}
_pid = os.getpid()


def resources_paths(resources_path: ResourcesPath = None) -> List[str]:
    """The component folders: those given, else `DAPR_RESOURCES_PATH`, else `./components`."""
    if resources_path is None:
        return [os.environ.get("DAPR_RESOURCES_PATH") or "./components"]
    if isinstance(resources_path, (str, bytes, os.PathLike)):
        return [os.fsdecode(resources_path)]
    return [os.fsdecode(p) for p in resources_path]


def app_id(given: Optional[str] = None) -> Optional[str]:
    """The app ID: the one given, else `APP_ID` (set by `dapr run`), else `DAPR_APP_ID`."""
    if given:
        return given
    return os.environ.get("APP_ID") or os.environ.get("DAPR_APP_ID") or None


def runtime(
    resources_path: ResourcesPath = None, app_id_: Optional[str] = None, **options: Any
) -> Runtime:
    """The process's runtime for these components and app ID, made (and validated) on first
    use; a stopped one is replaced by a new one. `options` are `bindery.Runtime`'s and apply
    when the runtime is made: a runtime already there with other options is kept (with a
    warning), so give them where the runtime is made first (the bridge, before any client)."""
    global _pid
    paths = resources_paths(resources_path)
    who = app_id(app_id_)
    key = (tuple(os.path.abspath(p) for p in paths), who)
    with _lock:
        if _pid != os.getpid():
            # A forked child: the parent's runtimes have no threads here. Start afresh.
            _runtimes.clear()
            _pid = os.getpid()
        entry = _runtimes.get(key)
        if entry is not None and entry[0]._state != "stopped":
            rt, made_with = entry
            if options and options != made_with:
                logger.warning(
                    "bindery: the runtime for %s (app ID %r) already runs with options %r; "
                    "%r are not applied (give them where it is made first)",
                    ", ".join(paths),
                    who,
                    made_with,
                    options,
                )
            return rt
        rt = Runtime(paths, app_id=who, **options)
        _runtimes[key] = (rt, dict(options))
        return rt


def check_not_started(rt: Runtime, who: str) -> None:
    """Input handlers go on a runtime before it starts; a second receiver (a bridge or `App`)
    on a runtime another one started gets this error rather than a bare one."""
    if rt._state == "started":
        from ._errors import InvalidStateError

        raise InvalidStateError(
            f"{who}: the process's runtime for these components and app ID was already started "
            "by another receiver (a bridge or bindery.dapr.App); one receiver per process takes "
            "its input bindings"
        )


class Bridge:
    """What the web bridges (`bindery.asgi.Bindings`, `bindery.wsgi.Bindings`) share: the
    wrapped app, whose attributes stay reachable through the bridge, and the process's runtime
    for the bridge's components and app ID (made, and the files validated, when the bridge
    is)."""

    def __init__(self, app: Any, resources_path: ResourcesPath, runtime_options: Dict[str, Any]) -> None:
        self.app = app
        self.resources_path = resources_path
        self.runtime_options: Dict[str, Any] = dict(runtime_options)
        self.taken: List[str] = []
        self._runtime = self._new_runtime()  # validates now, so a bad file fails at import
        self._running = False

    def _new_runtime(self) -> Runtime:
        options = dict(self.runtime_options)
        app_id = options.pop("app_id", None)
        return runtime(self.resources_path, app_id, **options)

    @property
    def runtime(self) -> Runtime:
        """The `bindery.Runtime` of the current run (or of the next one, before it starts)."""
        return self._runtime

    def __getattr__(self, name: str) -> Any:
        # The wrapped app's attributes (`app.state`, `app.config`, ...) stay reachable.
        app = self.__dict__.get("app")
        if app is None:
            raise AttributeError(name)
        return getattr(app, name)
