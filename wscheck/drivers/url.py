"""The network driver: a real WebSocket client against a ``ws://`` or ``wss://`` URL.

The handshake is httpx-ws's request through httpx; frames are wsproto's; the read loop is
this module's own. Why not ``httpx_ws.AsyncWebSocketSession``: see docs/network-driver.md.
A connection after its handshake is :mod:`._netconn`'s. Library internals it relies on live
in :mod:`._wire` (transport, frames) and :mod:`._neterrors` (what each network failure means).
"""

from __future__ import annotations

import base64
import http.cookiejar
import os
import ssl
import time

import anyio
import httpx

from wscheck.core.defaults import DEFAULT_QUIET_WINDOW, DEFAULT_TIMEOUT
from wscheck.core.events import Accepted, Event, Refused, Silence, TransportError
from wscheck.drivers._netconn import UrlConnection
from wscheck.drivers._neterrors import MUTE_AFTER, MuteWatch, handshake_failure, time_lost
from wscheck.drivers.base import MAX_MESSAGE_SIZE, Pairs, ReplyTimes, query_string
from wscheck.drivers.handshake import (
    cookie_header,
    handshake_problem,
    page_origin,
    parse_target_url,
)

__all__ = ["MUTE_AFTER", "UrlConnection", "UrlDriver", "handshake_problem", "parse_target_url"]

#: The opening handshake, from TCP connect to the last header of the ``101``, must end within
#: this many times the driver's timeout (httpx's own timeouts are per read, so a server that
#: drips its headers a byte at a time would otherwise hold the run forever).
HANDSHAKE_FACTOR = 3.0

# MAX_MESSAGE_SIZE (drivers.base): a frame header announcing more fails the connection with
# 1009 before any of its payload is kept.


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keeps httpx's cookie jar empty: each conversation sends only its own cookies."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


class UrlDriver:
    """Opens WebSocket connections to a live server at ``url``.

    ``timeout`` bounds every single wait (TCP connect, each read of the handshake, each
    receive, the closing handshake); ``handshake_timeout`` bounds the whole opening handshake
    from connect to the last response header (default: ``timeout`` × :data:`HANDSHAKE_FACTOR`);
    ``max_message_size`` is the largest message accepted (:data:`MAX_MESSAGE_SIZE`: a larger
    one is the server's fault, see :class:`._wire.Frames`); ``quiet_window`` is how long
    :meth:`UrlConnection.quiet` listens by default.
    ``verify`` is for ``wss://``: ``True`` checks certificates against certifi's bundle,
    ``False`` does not check, a path names a CA bundle (a self-signed test CA).
    """

    kind = "url"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        quiet_window: float = DEFAULT_QUIET_WINDOW,
        verify: bool | str = True,
        handshake_timeout: float | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
    ) -> None:
        self.target = url
        self.timeout = timeout
        self.handshake_timeout = (timeout * HANDSHAKE_FACTOR if handshake_timeout is None
                                  else handshake_timeout)
        self.max_message_size = max_message_size
        self.quiet_window = quiet_window
        self._base = parse_target_url(url)
        self._prefix = self._base.path.rstrip("/")
        self._verify: bool | ssl.SSLContext
        if isinstance(verify, str):
            if not os.path.isfile(verify):
                raise ValueError(f"the CA bundle {verify!r} does not exist: give a PEM file path")
            # A context rather than a path: httpx 0.28 deprecates verify=<str>.
            self._verify = ssl.create_default_context(cafile=verify)
        else:
            self._verify = verify
        self._client: httpx.AsyncClient | None = None
        self._open: set[UrlConnection] = set()
        self._mute = MuteWatch(url)
        #: The slowest reply of the run, for bounded replays (``base.REPLY_BOUND``).
        self.replies = ReplyTimes()
        #: Whether the target ever answered a handshake (with any status).
        self._answered = False

    def url_for(self, path: str, query: Pairs = ()) -> httpx.URL:
        """The URL a connection to ``path`` uses: prefix + path, query in the given order."""
        if not path.startswith("/"):
            raise ValueError(f"a connection path must start with '/', got {path!r}")
        url = self._base.copy_with(path=self._prefix + path)
        if query:
            url = url.copy_with(query=query_string(query, "+").encode("ascii"))
        return url

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                verify=self._verify,
                # An upgraded connection holds its pool slot for its whole life.
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
                # Proxies or netrc from the environment would change what the kit observes.
                trust_env=False,
            )
            client.cookies.jar.set_policy(_NoCookies())
            self._client = client
        return self._client

    async def connect(self, path: str, query: Pairs = (), cookies: Pairs = (), *,
                      origin: bool = False) -> UrlConnection:
        """Open a connection; see :meth:`wscheck.drivers.base.Driver.connect`. ``origin``
        adds the ``Origin`` of a page the target served (:func:`.page_origin`).

        Raises :class:`TargetStoppedAnswering` once the target has stopped answering (see
        :class:`.MuteWatch`), like ``TargetUnreachable`` when nothing listens."""
        self._mute.check()
        url = self.url_for(path, query)
        key = base64.b64encode(os.urandom(16))
        headers: list[tuple[bytes, bytes]] = [
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", key),
            (b"Sec-WebSocket-Version", b"13"),
        ]
        if origin:
            headers.append((b"Origin", page_origin(self._base).encode("ascii")))
        if cookies:
            headers.append((b"Cookie", cookie_header(cookies)))
        client = self._get_client()
        request = client.build_request("GET", url, headers=headers)
        response: httpx.Response | None = None
        for attempt in (1, 2):
            start = time.monotonic()
            try:
                # One deadline for the whole handshake: httpx's timeouts restart on every byte.
                with anyio.move_on_after(self.handshake_timeout):
                    response = await client.send(request, stream=True)
                break
            except httpx.TimeoutException as exc:
                # Held up past the deadline, the kit may have missed an answer that came:
                # ask once more (see time_lost).
                if attempt == 1 and time_lost(start, self.timeout, time.monotonic()):
                    continue
                failure = self._timed_out(exc)
            except httpx.TransportError as exc:
                failure = handshake_failure(exc, self.target, self.timeout)
            if isinstance(failure, Silence):
                self._mute.ran_out(start, f"a handshake answer ({self.timeout:g}s)")
            return self._connection(failure)
        if response is None:
            return self._connection(TransportError(
                f"the handshake did not complete within {self.handshake_timeout:g}s of "
                "connecting: the server sends its response too slowly or without end"))
        self._answered = True
        if response.status_code != 101:
            await response.aclose()
            return self._connection(Refused(status=response.status_code))
        problem = handshake_problem(response.headers, key)
        if problem is not None:
            await response.aclose()
            return self._connection(TransportError(problem))
        connection = self._connection(Accepted(), response)
        self._open.add(connection)
        return connection

    def _connection(self, handshake: Event,
                    response: httpx.Response | None = None) -> UrlConnection:
        """A connection whose opening handshake ended as ``handshake``; ``response`` is the
        ``101`` whose socket it takes over."""
        return UrlConnection(handshake, response, timeout=self.timeout,
                             quiet_window=self.quiet_window,
                             max_message_size=self.max_message_size, mute=self._mute,
                             forget=self._forget, replies=self.replies)

    def _timed_out(self, exc: httpx.TimeoutException) -> Event:
        """A handshake that timed out. A TCP connect that does so before the target ever
        answered means nothing answers there (the run stops at once); once it has answered,
        it is one more wait the target left unanswered, for the mute watch to count."""
        if isinstance(exc, httpx.ConnectTimeout) and self._answered:
            return Silence(self.timeout)
        return handshake_failure(exc, self.target, self.timeout)

    @property
    def stopped_answering(self) -> str | None:
        """Why the target counts as mute (see :class:`.MuteWatch`), or ``None``: the check
        during which it went mute is reported as the run's stop, whatever it concluded."""
        return self._mute.stopped

    def _forget(self, connection: UrlConnection) -> None:
        self._open.discard(connection)

    async def aclose(self) -> None:
        """Abort connections still open and close the HTTP client; the driver may be used
        again afterwards (a new client is made on the next connect)."""
        for connection in list(self._open):
            await connection._release()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
