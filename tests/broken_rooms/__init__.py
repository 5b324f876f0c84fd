"""Broadcast rooms with one defect each, for the ``[broadcast]`` checks.

Each module is the room of :mod:`tests.broken_rooms.room` (a chat in the shape of FastAPI's
tutorial003, written for these tests: a list of connections, a personal reply, a broadcast to
everyone, a leave notice to the others) with one method changed. They are checked against
``examples/fastapi_docs_chat.toml``; ``tests/test_broken_rooms.py`` holds the table of which
check each must fail, and ``docs/kill-matrix.md`` shows it.
"""
