"""The base of the broken apps whose defect is in state that builds up over a process
(``tests/broken/leaks_slot_after_n.py`` and its neighbours): the raw ASGI implementation,
plus a lifespan whose startup creates that state afresh.

So each run of the suite (one lifespan, in-process or served) starts from zero, as a freshly
started server does, and the counts at which the defect shows do not depend on what an earlier
run in the same test process did.
"""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Receive, Scope, Send


class ProcessApp(ChatApp):
    """A :class:`ChatApp` with process-wide state, reset by :meth:`start` at startup."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        """Create the process-wide state (called at every lifespan startup)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await super().__call__(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
