"""Every default value of a setting, once: read by the settings table (its help texts and
:class:`wscheck.config.settings.Settings`) and by the lower layers that need a default of
their own (a check's :class:`wscheck.run.registry.Context`, the load client)."""

from __future__ import annotations

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_EXAMPLES_ASGI",
    "DEFAULT_EXAMPLES_URL",
    "DEFAULT_IDLE_WATCH",
    "DEFAULT_QUIET_WINDOW",
    "DEFAULT_RUN_TIME",
    "DEFAULT_TIMEOUT",
    "DEFAULT_USERS",
]

#: Seconds any single wait may take.
DEFAULT_TIMEOUT = 2.0
#: Seconds a connection listens for anything unexpected before it counts as quiet.
DEFAULT_QUIET_WINDOW = 0.2
#: Seconds the time probes watch an idle connection or pause (echo.idle, bye.after-pause).
DEFAULT_IDLE_WATCH = 2.0
#: Generated examples per property check, in-process and over the network.
DEFAULT_EXAMPLES_ASGI = 100
DEFAULT_EXAMPLES_URL = 25
#: Conversations of one check run at once: enough to overlap the quiet windows of a check's
#: conversations, few enough for any server that serves concurrent clients at all.
DEFAULT_CONCURRENCY = 8

#: ``wscheck load``: simulated users, and seconds the load runs.
DEFAULT_USERS = 10
DEFAULT_RUN_TIME = 10.0
