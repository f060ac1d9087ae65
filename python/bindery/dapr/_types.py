"""The Dapr Python SDK's binding request and response shapes (`dapr.clients.grpc._request`
and `_response`), as in-process values."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Tuple, Union

from .._runtime import _to_bytes as _runtime_to_bytes

MetadataTuple = Tuple[Tuple[str, Union[bytes, str]], ...]
MetadataDict = Dict[str, list]


def _to_bytes(data: Union[bytes, str]) -> bytes:
    # The SDK takes bytes or str only (the runtime's own conversion also takes JSON values).
    if not isinstance(data, (bytes, bytearray, memoryview, str)):
        raise ValueError(f"invalid data type {type(data)}")
    return _runtime_to_bytes(data)


def _to_dict(pairs: MetadataTuple) -> MetadataDict:
    # The SDK's tuple_to_dict: each key maps to the list of its values.
    d: MetadataDict = {}
    for k, v in pairs:
        d.setdefault(k, []).append(v)
    return d


class BindingResponse:
    """The answer of `invoke_binding`, shaped as the Dapr SDK's: `data` (bytes), `text()`,
    `json()`, `binding_metadata`, and `headers` / `get_headers()` (the sidecar's gRPC response
    headers; in-process there are none)."""

    def __init__(
        self,
        data: Union[bytes, str],
        binding_metadata: Optional[Dict[str, str]] = None,
        headers: MetadataTuple = (),
    ) -> None:
        self._data = _to_bytes(data)
        self._metadata: Dict[str, str] = dict(binding_metadata or {})
        self._headers = headers

    @property
    def data(self) -> bytes:
        """The response data."""
        return self._data

    @data.setter
    def data(self, val: Union[bytes, str]) -> None:
        self._data = _to_bytes(val)

    def text(self) -> str:
        """The response data as UTF-8 text."""
        return self._data.decode("utf-8")

    def json(self) -> Any:
        """The response data parsed as JSON."""
        return json.loads(self._data.decode("utf-8"))

    @property
    def binding_metadata(self) -> Dict[str, str]:
        """The binding's response metadata (e.g. statusCode and headers for HTTP)."""
        return self._metadata

    @property
    def headers(self) -> MetadataDict:
        """The sidecar's response headers as a dict of lists: empty in-process."""
        return _to_dict(self._headers)

    @headers.setter
    def headers(self, val: MetadataTuple) -> None:
        self._headers = val

    def get_headers(self, as_dict: bool = False) -> Union[MetadataDict, MetadataTuple]:
        """The response headers, as a dict of lists (`as_dict=True`) or a tuple of pairs."""
        return _to_dict(self._headers) if as_dict else self._headers

    def __repr__(self) -> str:
        return f"BindingResponse(data={self._data!r}, binding_metadata={self._metadata!r})"


class BindingRequest:
    """An input binding's event as `dapr.ext.grpc` hands it to an `@app.binding` handler:
    `data` (bytes), `text()`, `binding_metadata` (the event's metadata: Kafka's `__key`,
    cron's `readTimeUTC`, ...) and `metadata` (the gRPC call's headers as a dict of lists:
    in-process there are none)."""

    def __init__(
        self, data: Union[str, bytes], binding_metadata: Optional[Dict[str, str]] = None
    ) -> None:
        self._data = _to_bytes(data)
        self._binding_metadata: Dict[str, str] = dict(binding_metadata or {})
        self._metadata: MetadataTuple = ()

    @property
    def data(self) -> bytes:
        """The event data."""
        return self._data

    @data.setter
    def data(self, val: Union[str, bytes]) -> None:
        self._data = _to_bytes(val)

    def text(self) -> str:
        """The event data as UTF-8 text."""
        return self._data.decode("utf-8")

    @property
    def binding_metadata(self) -> Dict[str, str]:
        """The event's metadata."""
        return self._binding_metadata

    @property
    def metadata(self) -> MetadataDict:
        """The call's headers (a dict of lists); empty in-process."""
        return _to_dict(self._metadata)

    @metadata.setter
    def metadata(self, val: MetadataTuple) -> None:
        if not isinstance(val, tuple):
            raise ValueError("val is not tuple")
        self._metadata = val

    def get_metadata(self, as_dict: bool = False) -> Union[MetadataDict, MetadataTuple]:
        """The call's headers, as a dict of lists (`as_dict=True`) or a tuple of pairs."""
        return _to_dict(self._metadata) if as_dict else self._metadata

    def __repr__(self) -> str:
        return f"BindingRequest(data={self._data!r}, binding_metadata={self._binding_metadata!r})"
