"""Correct implementations of the chat protocol, each a module exposing ``app``.

Each is written a different way (framework, ASGI messages, refusal form, timing) so that the
kit is shown to judge the protocol, not one implementation's habits. They all pass every
check in-process, except ``close_before_accept``, which fails only the SHOULD-level
``auth.missing-observable`` by design.

Two frameworks are left out. Sanic: in ASGI mode its WebSocket ``close()`` does nothing, so
no close code (1000 after the bye word, 1008, 1003) can be sent but through a private member,
and it requires uvloop. BlackSheep: it passes in-process and over uvicorn, but it requires
httptools, which uvicorn's ``http="auto"`` then uses for every network test of the kit, and
some of those fail under it.
"""
