"""``python -m reference_app [--host HOST] [--port PORT]``: serve the reference app."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reference_app import DEFAULT_MAX_MESSAGE_SIZE, serve


def _port(text: str) -> int:
    """A TCP port a browser can be pointed at (1-65535; 0 would pick a random one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, got {port}")
    return port


def _size(text: str) -> int:
    """A positive number of bytes."""
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of bytes: {text!r}") from None
    if size < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte, got {size}")
    return size


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m reference_app",
        description="Serve the wscheck reference chat app (the protocol's known-good target).",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=8000,
                        help="TCP port to listen on (default: %(default)s)")
    parser.add_argument("--max-message-size", type=_size, default=DEFAULT_MAX_MESSAGE_SIZE,
                        metavar="BYTES",
                        help="larger messages get a close with 1009 (default: %(default)s)")
    args = parser.parse_args(argv)
    serve(args.host, args.port, max_message_size=args.max_message_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
