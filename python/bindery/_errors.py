"""The exceptions bindery raises: one `BindingError` subclass per stable core error code."""

from __future__ import annotations

import builtins
from typing import Dict, Optional, Type


class BindingError(Exception):
    """Any error from bindery. `.code` is the stable numeric code shared with the C ABI and
    the Node addon; `.component` and `.operation` say where it happened; `.retryable` whether
    trying again later can help."""

    code: int = 9

    def __init__(
        self,
        message: str,
        *,
        component: Optional[str] = None,
        operation: Optional[str] = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.component = component
        self.operation = operation
        self.retryable = retryable


class InvalidConfigError(BindingError):
    """The component files are invalid; the message lists every problem with file and line."""

    code = 1


class NotFoundError(BindingError, LookupError):
    """No binding (or file, or secret) by that name; the message names the nearest ones."""

    code = 2


class UnsupportedOperationError(BindingError):
    """The binding has no such operation (the message lists them), or not in that direction."""

    code = 3


class InvalidArgumentError(BindingError, ValueError):
    """An argument is invalid."""

    code = 4


class TimeoutError(BindingError, builtins.TimeoutError):  # noqa: A001 - it is one
    """The operation did not finish in time."""

    code = 5


class CircuitOpenError(BindingError):
    """A circuit breaker is open; the call was not attempted."""

    code = 6


class UpstreamError(BindingError):
    """The external system failed or could not be reached."""

    code = 7


class ClosedError(BindingError):
    """The runtime is stopped."""

    code = 8


class InternalError(BindingError):
    """A bug inside bindery."""

    code = 9


class InvalidStateError(BindingError):
    """Not valid in the runtime's current state (e.g. registering a handler after start)."""

    code = 10


class HandlerFailedError(BindingError):
    """An application handler failed."""

    code = 11


class Reject(Exception):
    """Raise from a handler to reject the event: unlike any other exception (which nacks it, so
    that the binding redelivers it), the event is not delivered again. The binding dead-letters
    it where its system can (RabbitMQ rejects it without requeue, so the queue's dead-letter
    exchange gets it); Kafka commits past it and MQTT acknowledges it, logging it. For an event
    that can never succeed (it does not parse, it is not for this app). `reason` is logged."""

    def __init__(self, reason: str = "rejected by the handler") -> None:
        super().__init__(reason)
        self.reason = reason


ERRORS_BY_CODE: Dict[int, Type[BindingError]] = {
    cls.code: cls
    for cls in (
        InvalidConfigError,
        NotFoundError,
        UnsupportedOperationError,
        InvalidArgumentError,
        TimeoutError,
        CircuitOpenError,
        UpstreamError,
        ClosedError,
        InternalError,
        InvalidStateError,
        HandlerFailedError,
    )
}


def _from_native(
    code: int,
    message: str,
    component: Optional[str],
    operation: Optional[str],
    retryable: bool,
) -> BindingError:
    """Called by the native module to build the exception for a core error; a code this
    version does not know becomes an `InternalError` that keeps the code."""
    cls = ERRORS_BY_CODE.get(code, InternalError)
    err = cls(message, component=component, operation=operation, retryable=retryable)
    if cls is InternalError and code != InternalError.code:
        err.code = code
    return err
