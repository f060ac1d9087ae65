"""The bindery quickstart in Python: a cron input binding (`cleanup-cron`, every second) whose
handler writes a record through local storage (`records`), reads it back, and posts it to an
HTTP webhook (`monitoring-webhook`). The webhook is a tiny server this script starts itself on
127.0.0.1:18088, so nothing external is needed. It stops by itself after three ticks.

Run from the repository root: `python examples/python/seed.py` (or pass another components
folder as the first argument). Records go to `./quickstart-data`, as in the Rust and C examples.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bindery

TICKS = 3
COMPONENTS = Path(__file__).resolve().parent.parent / "components"


class Webhook(BaseHTTPRequestHandler):
    """The monitoring webhook the HTTP output binding points at."""

    calls = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Webhook.calls += 1
        print(f"  webhook received {body.decode()}", flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> int:
    components = sys.argv[1] if len(sys.argv) > 1 else str(COMPONENTS)

    webhook = ThreadingHTTPServer(("127.0.0.1", 18088), Webhook)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()

    rt = bindery.Runtime(components)  # every file is validated here
    ticks = 0
    lock = threading.Lock()
    done = threading.Event()

    @rt.input("cleanup-cron")
    def cleanup(event: bindery.Event) -> None:
        nonlocal ticks
        with lock:
            ticks += 1
            n = ticks
        if n > TICKS:
            return
        record = json.dumps(
            {
                "tick": n,
                "firedAt": event.metadata.get("readTimeUTC"),
                "timeZone": event.metadata.get("timeZone"),
            }
        )
        meta = {"fileName": f"py-tick-{n}.json"}
        rt.invoke("records", "create", record, meta)
        stored = rt.invoke("records", "get", metadata=meta)
        print(f"tick {n}: wrote {meta['fileName']}: {stored.text()}", flush=True)
        resp = rt.invoke("monitoring-webhook", "post", record)
        print(f"  webhook answered {resp.metadata['statusCode']} {resp.text()}", flush=True)
        if n == TICKS:
            done.set()

    with rt:  # start; stop (draining the handler in flight) on the way out
        finished = done.wait(timeout=30)

    # List the records with a fresh runtime, the way a second program would.
    lister = bindery.Runtime(components)
    listing = lister.invoke("records", "list").json()
    lister.stop()
    webhook.shutdown()
    webhook.server_close()

    mine = sorted(Path(p).name for p in listing if Path(p).name.startswith("py-tick-"))
    print(f"done: {min(ticks, TICKS)} ticks, {Webhook.calls} webhook calls, records stored: {mine}")
    if not finished or Webhook.calls < TICKS:
        print(f"error: expected {TICKS} ticks within 30 s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
