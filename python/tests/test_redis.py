"""The Redis output binding from Python, against the real Redis on 127.0.0.1:6379
(started by tests/servers/start)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import bindery


def redis_components(tmp_path: Path) -> Path:
    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "cache.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: cache\nspec:\n"
        "  type: bindings.redis\n  version: v1\n  metadata:\n"
        "  - name: redisHost\n    value: 127.0.0.1:6379\n"
    )
    return folder


def test_redis_create_get_increment_delete(tmp_path: Path) -> None:
    rt = bindery.Runtime(redis_components(tmp_path))
    key = f"bindery-py-{uuid.uuid4()}"
    counter = f"{key}-counter"
    try:
        rt.invoke("cache", "create", {"n": 1, "from": "python"}, {"key": key, "ttlInSeconds": 60})
        assert rt.invoke("cache", "get", metadata={"key": key}).json() == {"n": 1, "from": "python"}
        for _ in range(3):
            rt.invoke("cache", "increment", metadata={"key": counter})
        assert rt.invoke("cache", "get", metadata={"key": counter}).text() == "3"
        # get with delete=true is GETDEL: the value once, then nothing.
        assert rt.invoke("cache", "get", metadata={"key": key, "delete": "true"}).json()["n"] == 1
        assert rt.invoke("cache", "get", metadata={"key": key}).data == b""
        rt.invoke("cache", "delete", metadata={"key": counter})
        assert rt.invoke("cache", "get", metadata={"key": counter}).data == b""

        with pytest.raises(bindery.UnsupportedOperationError) as info:
            rt.invoke("cache", "list", metadata={"key": key})
        assert "its operations are: create, get, delete, increment" in str(info.value)
        with pytest.raises(bindery.InvalidArgumentError):
            rt.invoke("cache", "get")
    finally:
        rt.stop()
