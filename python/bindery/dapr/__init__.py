"""Stand-ins for the Dapr Python SDK's bindings API, without a sidecar. Code written for the
SDK runs with its import lines changed, one of two ways (both work)::

    from bindery.dapr import DaprClient          # was: from dapr.clients import DaprClient
    from bindery.dapr import App, BindingRequest # was: from dapr.ext.grpc import App, BindingRequest
    from bindery.dapr.aio import DaprClient      # was: from dapr.aio.clients import DaprClient

or the SDK's module paths with `bindery.` in front: `bindery.dapr.clients`,
`bindery.dapr.ext.grpc`, `bindery.dapr.aio.clients`.

    with DaprClient() as client:
        resp = client.invoke_binding("monitoring-webhook", "create", data=json.dumps(event))
        print(resp.binding_metadata["statusCode"], resp.text())

Components are read from `DAPR_RESOURCES_PATH`, else `./components`; the app ID (for
`scopes`) is `APP_ID` (as `dapr run` sets it), else `DAPR_APP_ID`, unless given. Every client,
`App` and web bridge (`bindery.asgi`, `bindery.wsgi`) of a process shares one runtime per
resources path and app ID, so each output binding is opened once.
"""

from ._app import App, Rule
from ._client import DaprClient
from ._types import BindingRequest, BindingResponse

__all__ = ["DaprClient", "BindingResponse", "App", "BindingRequest", "Rule"]
