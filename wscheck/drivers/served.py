"""An in-process ASGI app served by uvicorn on a loopback port, for the rfc6455 suite.

In-process the kit speaks ASGI messages to the app, so no WebSocket frame ever exists there;
what the rfc6455 suite judges is the framing layer, which belongs to the server. With
``--wscheck-app`` the kit therefore serves the app with uvicorn (its default WebSocket
implementation) on ``127.0.0.1`` and a free port, on the run's loop, for the length of the
run, and checks that server: the verdicts are uvicorn's framing with the app's echo.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from wscheck.drivers._appguard import ASGIApp
from wscheck.errors import TargetError

__all__ = ["served"]


@contextlib.asynccontextmanager
async def served(app: ASGIApp, timeout: float) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port for the block; yields its
    ``ws://127.0.0.1:PORT/`` URL. Start-up and shutdown are each bounded by ``timeout`` × 5."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The kit ran the app's lifespan already: uvicorn serves the connections only. No
    # log_config: uvicorn would apply its dictConfig to the user's pytest process.
    config = uvicorn.Config(app, lifespan="off", log_level="warning", ws="auto",
                            log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        deadline = asyncio.get_running_loop().time() + timeout * 5
        while not server.started:
            if task.done() or asyncio.get_running_loop().time() > deadline:
                raise TargetError(f"uvicorn did not start serving the app on 127.0.0.1:{port}"
                                  " for the rfc6455 suite")
            await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout * 5)
        except (asyncio.TimeoutError, Exception):
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        sock.close()
