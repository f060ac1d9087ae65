"""Dapr's bindings quickstart for the Python SDK (dapr/quickstarts, bindings/python/sdk: a Flask
app with DaprClient, a cron input and a PostgreSQL output), run as its own process with only
its import lines changed, against the local PostgreSQL. The files and what was changed are in
quickstart/SOURCES.md."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

from conftest import default_sigint, psql

HERE = Path(__file__).resolve().parent / "quickstart"
APP_PORT = "6121"  # the app's Flask server (it still serves, as it would beside a sidecar)
WAIT = 90.0


def lay_out(root: Path, database: str) -> Path:
    """The quickstart's tree: bindings/python/sdk/batch/app.py reads ../../../orders.json and
    `dapr run -f .` gives it ../../../components. Returns the app's folder."""
    bindings = root / "bindings"
    batch = bindings / "python" / "sdk" / "batch"
    components = bindings / "components"
    batch.mkdir(parents=True)
    components.mkdir()
    shutil.copy(HERE / "app.py", batch / "app.py")
    shutil.copy(HERE / "orders.json", bindings / "orders.json")
    shutil.copy(HERE / "binding-cron.yaml", components / "binding-cron.yaml")
    postgres = (HERE / "binding-postgres.yaml").read_text()
    assert "dbname=orders " in postgres
    (components / "binding-postgres.yaml").write_text(
        postgres.replace("dbname=orders ", f"dbname={database} ")
    )
    return batch


def test_python_sdk_bindings_quickstart_writes_the_orders(tmp_path: Path, pg_database: str) -> None:
    # The database as the quickstart's db/orders.sql makes it (its `\c orders;` names ours).
    sql = (HERE / "orders.sql").read_text().replace("\\c orders;", "")
    psql(sql, db=pg_database)
    orders = json.loads((HERE / "orders.json").read_text())["orders"]
    expected = sorted((o["orderid"], o["customer"], o["price"]) for o in orders)

    batch = lay_out(tmp_path, pg_database)
    env = dict(os.environ)
    env.update(
        DAPR_RESOURCES_PATH=str(batch.parent.parent.parent / "components"),
        APP_PORT=APP_PORT,
        APP_ID="batch-sdk",  # as the quickstart's dapr.yaml names it; `dapr run` exports it
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        app = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=batch,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=default_sigint,  # Ctrl-C reaches Flask's server even under CI's runner
        )
        try:
            rows: List[str] = []
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and app.poll() is None:
                rows = psql("select orderid, customer, price from orders order by ctid", db=pg_database)
                if len(rows) >= 2 * len(orders):  # two batches: the cron fires again
                    break
                time.sleep(0.5)
            assert app.poll() is None, f"the app exited:\n{log.read_text()}"
            assert len(rows) >= 2 * len(orders), f"rows: {rows}\n{log.read_text()}"
        finally:
            if app.poll() is None:
                app.send_signal(signal.SIGINT)  # Ctrl-C: Flask's server returns, bindery stops
            try:
                code = app.wait(60)
            except subprocess.TimeoutExpired:
                app.kill()
                raise
    output = log.read_text()
    assert code == 0, output

    # Every batch inserted the three orders, in order; the last one may have been cut short.
    got = [(int(r.split("|")[0]), r.split("|")[1], float(r.split("|")[2])) for r in rows]
    for start in range(0, len(got) - len(got) % len(orders), len(orders)):
        assert sorted(got[start : start + len(orders)]) == expected, got
    assert output.count("Processing batch..") >= 2, output
    assert "Finished processing batch" in output
    assert "insert into orders (orderid, customer, price) values (1, 'John Smith', 100.32)" in output
