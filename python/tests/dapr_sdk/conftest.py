"""bindery's stand-in for the python-sdk's integration fixture (tests/integration/conftest.py):
`dapr_env.start_sidecar(app_id=...)` starts no `dapr run`. It does what `dapr run
--app-id ID --resources-path resources/` gives the app (APP_ID and the components), from a
working folder of its own as `dapr run`'s cwd, and returns bindery's DaprClient. The copied
tests' `BINDING_ROOT` (their folder's `.binding-data`, where the relative `rootPath` lands
when `dapr run` runs there) is pointed at that working folder, so nothing is written into the
source tree. `async def` tests run on a new event loop each, as pytest-asyncio's auto mode
(the python-sdk's setting) runs them."""

from __future__ import annotations

import asyncio
import inspect
import shutil
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

from bindery.dapr import DaprClient

RESOURCES_DIR = Path(__file__).resolve().parent / "resources"


class DaprTestEnvironment:
    """The shape of the python-sdk's DaprTestEnvironment, with no sidecar."""

    def __init__(self, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.workdir = workdir
        self.monkeypatch = monkeypatch
        self.clients: List[DaprClient] = []

    def start_sidecar(
        self, app_id: str, *, resources: Optional[Path] = None, **_ports: Any
    ) -> DaprClient:
        resources = resources or RESOURCES_DIR
        copy = self.workdir / "resources"
        shutil.copytree(resources, copy, dirs_exist_ok=True)
        # What `dapr run` gives the app: its ID and (here) the components folder.
        self.monkeypatch.setenv("APP_ID", app_id)
        self.monkeypatch.setenv("DAPR_RESOURCES_PATH", str(copy))
        client = DaprClient()
        self.clients.append(client)
        return client

    def cleanup(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()


@pytest.fixture(scope="module")
def dapr_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaprTestEnvironment]:
    workdir = tmp_path_factory.mktemp("dapr-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)  # `dapr run`'s cwd: the component's ./.binding-data is here
        mp.setattr(request.module, "BINDING_ROOT", workdir / ".binding-data", raising=False)
        env = DaprTestEnvironment(workdir, mp)
        try:
            yield env
        finally:
            env.cleanup()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Optional[bool]:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**args))
    return True
