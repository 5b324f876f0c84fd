"""Turning what the user typed into something to test, and keeping it alive for a run.

``load_app("mypkg.main:app")`` and ``UrlDriver`` validation turn bad input into one-line
:class:`TargetError` messages. :class:`Runtime` owns an event loop in a background thread for
the whole run: the in-process app (and its lifespan state), the network client and every check
live there, so one app instance serves the whole suite and user fixtures can reach it from any
test, sync or async.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from wscheck.config.settings import Settings, speak_as
from wscheck.core.events import Accepted, Conversation, Silence, TransportError
from wscheck.drivers.asgi import ASGIApp, AsgiDriver, LifespanStartupFailed, lifespan
from wscheck.drivers.base import Connection, Driver, TargetUnreachable
from wscheck.drivers.raw import RawDriver
from wscheck.errors import TargetDown, TargetError
from wscheck.run.conversation import Observation, run_conversation
from wscheck.run.room import vacate

__all__ = ["Runtime", "Settings", "TargetDown", "TargetError", "load_app"]

T = TypeVar("T")


def load_app(ref: str) -> ASGIApp:
    """Import ``MODULE:ATTR`` (or ``MODULE:factory()``) and check it looks like an ASGI app.

    The current directory goes on ``sys.path`` first, as uvicorn does, so ``main:app`` works
    from the project's root without installing it.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise TargetError(
            f"the app must be given as MODULE:ATTR (e.g. mypkg.main:app), got {ref!r}")
    call = attr.endswith("()")
    attr = attr[:-2] if call else attr
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise TargetError(
                f"cannot import the app {ref!r}: no module named {exc.name!r} (run from the "
                "directory that contains it, or install it)"
            ) from None
        raise TargetError(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:
        raise TargetError(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(
                f"cannot find the app {ref!r}: module {module_name!r} has no attribute "
                f"{attr!r}"
            ) from None
    if call:
        if not callable(obj):
            raise TargetError(f"{ref!r}: {attr!r} is not callable, so it is not a factory")
        try:
            obj = obj()
        except Exception as exc:
            raise TargetError(f"calling the factory {ref!r} raised {type(exc).__name__}: "
                              f"{exc}") from None
    if inspect.isfunction(obj) and not inspect.iscoroutinefunction(obj):
        # What uvicorn would take for an ASGI 2 app, and what fails at the first await.
        kind = ("an async generator function" if inspect.isasyncgenfunction(obj)
                else "a plain (not async) function")
        raise TargetError(f"{ref!r} is {kind}, not an ASGI app: write it as "
                          "`async def app(scope, receive, send)`")
    if not _looks_like_asgi(obj):
        raise TargetError(
            f"{ref!r} is {type(obj).__name__!s}, not an ASGI app (an async callable taking "
            "scope, receive, send); for a factory write MODULE:create_app()")
    return obj  # type: ignore[no-any-return]


def _looks_like_asgi(obj: object) -> bool:
    if not callable(obj):
        return False
    if isinstance(obj, type):
        return False  # a class, not an app instance (ASGI 2 double-callables are not supported)
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return True  # cannot tell (a C callable): let the run judge it
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind is p.VAR_POSITIONAL for p in params)


def make_driver(settings: Settings, app: ASGIApp | None) -> Driver:
    if app is not None:
        return AsgiDriver(app, target=settings.target, timeout=settings.timeout,
                          quiet_window=settings.quiet_window,
                          max_message_size=settings.max_message_size)
    from wscheck.drivers.url import UrlDriver

    assert settings.url is not None
    return UrlDriver(settings.url, timeout=settings.timeout, quiet_window=settings.quiet_window,
                     verify=settings.ca_file or True,
                     max_message_size=settings.max_message_size)


class Runtime:
    """The run's event loop thread, driver and (in-process) app lifespan.

    Started lazily by the first check or fixture that needs it, stopped at the end of the run.
    """

    def __init__(self, settings: Settings, app: ASGIApp | None = None) -> None:
        self.settings = settings
        self._app = app
        self._stack = contextlib.ExitStack()
        self._portal: BlockingPortal | None = None
        self.driver: Driver | None = None
        #: The rfc6455 suite's raw client (``--wscheck-suite rfc6455`` or ``all``).
        self.raw: RawDriver | None = None
        self._down: str | None = None
        self._probed = False

    @property
    def portal(self) -> BlockingPortal:
        if self._portal is None:
            self._start()
        assert self._portal is not None
        return self._portal

    def _start(self) -> None:
        self._portal = self._stack.enter_context(start_blocking_portal("asyncio"))
        app = self._app
        if app is not None:
            try:
                app = self._stack.enter_context(
                    self._portal.wrap_async_context_manager(lifespan(app, self.settings.timeout
                                                                     * 5)))
            except LifespanStartupFailed as exc:
                self._down = str(exc)
            except Exception as exc:
                self._down = (f"the app's lifespan startup failed: {type(exc).__name__}: "
                              f"{exc}")
        self.driver = make_driver(self.settings, app)
        if self.settings.suite != "chat" and self._down is None:
            self._start_raw(app)

    def _start_raw(self, app: ASGIApp | None) -> None:
        """The rfc6455 suite's client: to the URL itself, or to the app served by uvicorn on
        a loopback port (in-process there are no frames to check: see
        :mod:`wscheck.drivers.served`)."""
        from wscheck.drivers.served import served

        settings = self.settings
        url = settings.url
        if app is not None:
            assert self._portal is not None
            try:
                url = self._stack.enter_context(
                    self._portal.wrap_async_context_manager(served(app, settings.timeout)))
            except Exception as exc:
                self._down = f"serving the app for the rfc6455 suite failed: {exc}"
                return
        assert url is not None
        self.raw = RawDriver(url, timeout=settings.timeout,
                             max_size=settings.max_message_size,
                             verify=settings.ca_file or True)
    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(*args)`` on the run's loop and wait for it."""
        return self.portal.call(fn, *args)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Start ``coro`` on the run's loop; returns a concurrent future (for async callers)."""
        async def runner() -> T:
            return await coro

        return self.portal.start_task_soon(runner)

    def ensure_up(self) -> None:
        """Probe the target once; raise :class:`TargetDown` (every time) if it does not answer.

        This is what makes a dead target fail the run once, quickly, instead of every check
        waiting out its own timeout in turn.
        """
        portal = self.portal
        if not self._probed and self._down is None:
            self._probed = True
            self._down = portal.call(self._probe)
        if self._down is not None:
            raise TargetDown(self._down)

    async def _probe(self) -> str | None:
        if self.settings.suite != "chat":
            down = await self._probe_echo()
            if down is not None or self.settings.suite == "rfc6455":
                return down
        driver, spec = self.driver, self.settings.spec
        assert driver is not None
        query: tuple[tuple[str, str], ...] = ()
        if spec.echo is not None:
            path = spec.echo.url_path()
            message = "wscheck probe" if spec.echo.bye != "wscheck probe" else "probe"
        elif spec.auth is not None:
            path, query, message = spec.auth.url_path(), ((spec.auth.token, "probe"),), "probe"
        else:
            return None
        where = f"{self.settings.target} ({path})"
        try:
            conn = await driver.connect(path, query)
        except TargetUnreachable as exc:
            return speak_as(str(exc), self.settings.interface)
        try:
            if isinstance(conn.handshake, Silence):
                return (f"{where} never answered the WebSocket handshake within "
                        f"{driver.timeout:g}s")
            if isinstance(conn.handshake, TransportError):
                # Not a WebSocket server we can talk to (TLS, reset, broken handshake): no
                # check could say more, and a clipped transcript per check would say less.
                hint = (" (a private or self-signed certificate: trust its CA with "
                        f"{self.settings.flag('ca_file')})"
                        if "TLS" in conn.handshake.problem else "")
                return f"{where}: {conn.handshake.problem}{hint}"
            if conn.handshake != Accepted():
                return None  # it answers; the checks will say what is wrong
            # Two messages: an app that answers each message one message late answers the
            # second. It is up, and the checks say which lines it breaks; only a target that
            # answers neither stops the run.
            for _ in range(2):
                await conn.send_text(message)
                if not isinstance(await conn.receive(), Silence):
                    return None
            return (f"{where} accepted the connection but answered nothing within "
                    f"{driver.timeout:g}s")
        finally:
            await conn.close()

    async def _probe_echo(self) -> str | None:
        """The rfc6455 suite's precondition, said once: the URL is an echo endpoint, or (when
        it is not and the spec has an echo endpoint) the URL with the spec's echo path is the
        chat protocol's echo endpoint, whose replies the suite then reads through the spec."""
        assert self.raw is not None
        try:
            down = await self._answers_probe(self.raw, b"wscheck probe")
            echo = self.settings.spec.echo
            if down is None or echo is None:
                return down
            chat = self.raw.at(self.raw.url.rstrip("/") + echo.url_path(), "chat")
            reply = echo.render_reply("wscheck probe").encode("utf-8")
            if await self._answers_probe(chat, reply) is None:
                self.raw = chat
                return None
            return down
        except TargetUnreachable as exc:
            return speak_as(str(exc), self.settings.interface)

    @staticmethod
    async def _answers_probe(raw: RawDriver, reply: bytes) -> str | None:
        """None when the endpoint answers the text ``wscheck probe`` with ``reply``; else why
        not, in one line."""
        from wscheck.core.frames import TEXT, Frame, describe

        conn = await raw.open()
        if isinstance(conn, str):
            return f"{raw.url}: {conn}"
        try:
            await conn.send(Frame(TEXT, b"wscheck probe"))
            got = await conn.message()
            if got == (TEXT, reply):
                return None
            shown = (f"{got[1][:60]!r}" if isinstance(got, tuple)
                     else describe(got, from_client=False) if isinstance(got, Frame)
                     else str(got))
            return (f"{raw.url} does not echo: the text 'wscheck probe' was answered with "
                    f"{shown}; the rfc6455 suite needs an echo endpoint (docs/rfc6455.md)")
        finally:
            await conn.aclose()

    async def run(self, conversation: Conversation) -> Observation:
        assert self.driver is not None
        return await run_conversation(self.driver, self.settings.spec, conversation)

    async def connect(self, path: str, query: Sequence[tuple[str, str]] = (),
                      cookies: Sequence[tuple[str, str]] = (), *,
                      origin: bool = False) -> Connection:
        assert self.driver is not None
        return await self.driver.connect(path, query, cookies, origin=origin)

    def close(self) -> None:
        """Stop everything: driver, lifespan shutdown, the loop thread.

        A driver that fails to close is a bug in the kit: it propagates (after the loop and
        the lifespan are stopped anyway) rather than disappear, and it never touches a
        verdict, which was given before.
        """
        try:
            if self._portal is not None and self.driver is not None:
                self._portal.call(vacate, self.driver)
                self._portal.call(self.driver.aclose)
        finally:
            self._portal = None
            self._stack.close()

