"""A WebSocket API read from an AsyncAPI document, as frozen data.

:mod:`wscheck.core.asyncapi_in` builds it; :mod:`wscheck.model.api` judges messages against
it. The document describes the *server*: an operation it ``receive``s with a ``reply`` is a
request/reply exchange, one it ``send``s without a request is a message it may send on its
own. Schemas are kept as canonical JSON texts (every ``$ref`` inlined), so that the spec
stays hashable and its digest stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ApiEndpoint", "ApiMessage", "ApiOperation", "ApiSpec"]


@dataclass(frozen=True)
class ApiMessage:
    """One message of a channel: its payload schema and where its correlation id is."""

    channel: str
    name: str
    #: The payload's JSON Schema as canonical JSON (``"{}"``: any payload).
    schema: str
    #: The payload is a string schema: the message is sent as that text, not as JSON.
    text: bool = False
    #: JSON pointer tokens of the correlation id inside the payload, or ``()`` for none.
    correlation: tuple[str, ...] = ()
    #: Example payloads from the document, as canonical JSON.
    examples: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How failures name it: ``channel/message``."""
        return f"{self.channel}/{self.name}"


@dataclass(frozen=True)
class ApiEndpoint:
    """One WebSocket endpoint: the channels at one address, with what the kit connects with."""

    path: str
    channels: tuple[str, ...]
    query: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ApiOperation:
    """An operation of the server, on one endpoint (an index into :attr:`ApiSpec.endpoints`)."""

    id: str
    action: Literal["send", "receive"]
    channel: str
    endpoint: int
    messages: tuple[ApiMessage, ...]
    #: The reply's messages for a request/reply ``receive``; ``None`` when there is no reply.
    replies: tuple[ApiMessage, ...] | None = None


@dataclass(frozen=True)
class ApiSpec:
    """The WebSocket part of an AsyncAPI document."""

    title: str
    endpoints: tuple[ApiEndpoint, ...]
    operations: tuple[ApiOperation, ...]
    #: Every message of every WebSocket channel, to recognise one sent where it does not belong.
    messages: tuple[ApiMessage, ...]

    def requests(self) -> tuple[ApiOperation, ...]:
        """The request/reply operations (the server receives, then replies)."""
        return tuple(o for o in self.operations
                     if o.action == "receive" and o.replies is not None)

    def sends(self, endpoint: int) -> tuple[ApiOperation, ...]:
        """The server's own messages on ``endpoint``: its ``send`` operations."""
        return tuple(o for o in self.operations if o.action == "send" and o.endpoint == endpoint)
