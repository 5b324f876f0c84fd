"""A plain echo endpoint on the ``websockets`` library's own asyncio server, for the rfc6455
suite: ``python -m tests.rfc6455.websockets_echo --port N`` (127.0.0.1 only)."""

from __future__ import annotations

import argparse
import asyncio

from websockets.asyncio.server import ServerConnection, serve


async def echo(connection: ServerConnection) -> None:
    async for message in connection:
        await connection.send(message)


async def main(port: int) -> None:
    # A 16 MiB limit, as uvicorn's default (the library's own default is 1 MiB).
    async with serve(echo, "127.0.0.1", port, max_size=16 * 1024 * 1024):
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
