"""Conformance under load on Locust: ``wscheck load``, and a user class for plain ``locust``.

Locust does the scheduling, ramp-up, distribution across processes and machines, and the
statistics; wscheck supplies the users (conversations from :mod:`wscheck.generation.strategies`)
and the verdicts (:func:`wscheck.model.echo.expected`, through
:func:`wscheck.run.conversation.run_conversation`).
Importing this package does not import Locust (which monkey-patches the standard library);
:mod:`wscheck.load.user` does. See ``docs/load.md``.
"""

from __future__ import annotations

from wscheck.load.cli import main

__all__ = ["main"]
