"""wscheck: a conformance test kit for a small WebSocket chat protocol.

PYTEST_DONT_REWRITE: the kit's asserts are internal invariants, not test assertions. The
marker also keeps pytest from warning, when ``wscheck run`` starts it, that this package
(imported by the command itself) is "already imported so cannot be rewritten".
"""

from wscheck._version import __version__
from wscheck.core.events import (
    Accepted,
    AppCrashed,
    AppExited,
    AppLogged,
    Binary,
    ClientClose,
    Closed,
    Conversation,
    Drop,
    Flooded,
    ProtocolViolation,
    Refused,
    SendBytes,
    SendText,
    Silence,
    Text,
    TransportError,
)
from wscheck.core.spec import AuthSpec, EchoSpec, Spec, SpecError, load_spec
from wscheck.model.echo import expected

__all__ = [
    "Accepted",
    "AppCrashed",
    "AppExited",
    "AppLogged",
    "AuthSpec",
    "Binary",
    "ClientClose",
    "Closed",
    "Conversation",
    "Drop",
    "EchoSpec",
    "Flooded",
    "ProtocolViolation",
    "Refused",
    "SendBytes",
    "SendText",
    "Silence",
    "Spec",
    "SpecError",
    "Text",
    "TransportError",
    "__version__",
    "expected",
    "load_spec",
]
