"""A FastAPI app written for a Dapr sidecar, running its bindings in-process instead.

As with Dapr, the `cleanup-cron` input binding arrives as `POST /cleanup-cron` (event metadata
as headers) and the handler calls the `records` output binding through the Dapr SDK's
`DaprClient` (here bindery's stand-in: only the import differs). The one line that replaces
the sidecar is `app = bindery.asgi.Bindings(app, ...)` at the end.

Run from the repository root:

    python examples/python/fastapi_app.py         # serves ~3.5 s on 127.0.0.1:18089, then exits
    uvicorn fastapi_app:app --app-dir examples/python   # the usual way; Ctrl-C to stop

Records go to `./quickstart-data`, as in the other examples.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import uvicorn
from fastapi import FastAPI, Request

import bindery.asgi
from bindery.dapr import DaprClient  # was: from dapr.clients import DaprClient

COMPONENTS = Path(__file__).resolve().parent.parent / "components"
# Where DaprClient() looks for components, as the Dapr CLI's --resources-path would say.
os.environ.setdefault("DAPR_RESOURCES_PATH", str(COMPONENTS))

app = FastAPI()
_tick = itertools.count(1)
stored: List[str] = []


# A plain `def`: FastAPI runs it in a worker thread, so the blocking DaprClient call does not
# hold up the server's event loop (the same advice holds with a real sidecar).
@app.post("/cleanup-cron")
def cleanup_cron(request: Request) -> Dict[str, Any]:
    n = next(_tick)
    record = {
        "tick": n,
        "firedAt": request.headers.get("readTimeUTC"),
        "timeZone": request.headers.get("timeZone"),
    }
    with DaprClient() as client:
        resp = client.invoke_binding(
            binding_name="records",
            operation="create",
            data=json.dumps(record),
            binding_metadata={"fileName": f"fastapi-tick-{n}.json"},
        )
    stored.append(resp.json()["fileName"])
    print(f"tick {n}: stored {stored[-1]}: {json.dumps(record)}", flush=True)
    return {"stored": stored[-1]}


@app.get("/records")
def list_records() -> List[str]:
    """An ordinary route: it goes through the middleware untouched."""
    with DaprClient() as client:
        paths = client.invoke_binding("records", "list").json()
    return sorted(Path(p).name for p in paths if Path(p).name.startswith("fastapi-tick-"))


app = bindery.asgi.Bindings(app, resources_path=COMPONENTS)  # type: ignore[assignment]


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s: %(message)s")
    port = int(os.environ.get("PORT", "18089"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info"))

    def stop_soon() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        time.sleep(3.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/records", timeout=5) as r:
            print(f"GET /records: {r.read().decode()}", flush=True)
        server.should_exit = True

    threading.Thread(target=stop_soon, daemon=True).start()
    server.run()
    print(f"done: {len(stored)} ticks handled")
    return 0 if server.started and len(stored) >= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
