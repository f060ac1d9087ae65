"""Flask, with the Dapr bindings of the components folder delivered to its routes:

    from bindery.flask import Flask            # was: from flask import Flask

`bindery.flask.Flask` is `flask.Flask` with one change: `app.run(...)` starts bindery before
it serves and stops it when the server returns (Ctrl-C), as `bindery.wsgi.Bindings(app).run()`
does. Each input binding's events arrive as `POST /<name>` (or the component's `route`) with
the data as body and the metadata as headers, called in-process; a 2xx answer acks. For
servers that import the app instead (gunicorn, `flask run`), see `bindery.wsgi`.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import flask
from flask.helpers import get_debug_flag

from .wsgi import Bindings

__all__ = ["Flask", "Bindings"]


class Flask(flask.Flask):
    """`flask.Flask` whose `run()` runs the app's Dapr bindings in-process for as long as it
    serves. `bindings_options` (set before `run`) are `bindery.wsgi.Bindings`' arguments
    (`resources_path`, `app_id`, `concurrency`, ...)."""

    bindings_options: dict = {}

    def run(  # type: ignore[override]
        self,
        host: Optional[str] = None,
        port: Optional[int] = None,
        debug: Optional[bool] = None,
        load_dotenv: bool = True,
        **options: Any,
    ) -> None:
        if os.environ.get("FLASK_RUN_FROM_CLI") == "true":
            # Under `flask run`, Flask.run returns at once and the command serves the app.
            return super().run(host, port, debug, load_dotenv, **options)
        if debug is None and "FLASK_DEBUG" in os.environ:
            debug = get_debug_flag()
        reloads = options.get("use_reloader", self.debug if debug is None else debug)
        if reloads and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
            # The reloader's watching process serves nothing; its child runs the bindings.
            return super().run(host, port, debug, load_dotenv, **options)
        with Bindings(self, **self.bindings_options):
            super().run(host, port, debug, load_dotenv, **options)
