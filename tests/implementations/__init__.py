"""Correct implementations of the chat protocol, each a module exposing ``app``.

Each is written a different way (framework, ASGI messages, refusal form, timing) so that the
kit is shown to judge the protocol, not one implementation's habits. They all pass every
check in-process, except ``close_before_accept``, which fails only the SHOULD-level
``auth.missing-observable`` by design.
"""
