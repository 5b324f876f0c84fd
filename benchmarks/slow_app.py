"""The reference app, slowed down: every message it sends waits ``WSCHECK_SLOW_REPLY``
seconds first (default 0.3), as if each reply needed a database call. A correct app, so
every check must pass; what it measures is how the suite's time grows with the app's.

Serve it with ``uvicorn slow_app:app`` from ``benchmarks/`` or check it in-process with
``wscheck run --app slow_app:app``; ``benchmarks/suite.py --slow-app`` does both.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from reference_app import app as reference

Message = MutableMapping[str, Any]

#: Seconds every reply waits before it is sent.
DELAY = float(os.environ.get("WSCHECK_SLOW_REPLY", "0.3"))


async def app(scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Message]],
              send: Callable[[Message], Awaitable[None]]) -> None:
    async def slow_send(message: Message) -> None:
        if message.get("type") == "websocket.send":
            await asyncio.sleep(DELAY)
        await send(message)

    await reference(scope, receive, slow_send if scope["type"] == "websocket" else send)
