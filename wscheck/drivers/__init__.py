"""Drivers run conversations against a target and report what they observed.

``asgi`` calls an ASGI app in-process; ``url`` talks to a live server over the network. Both
hand out :class:`~wscheck.drivers.base.Connection` objects with the same small API, so no
check knows which one it is using.
"""

from wscheck.drivers.base import Connection, Driver, TargetUnreachable

__all__ = ["Connection", "Driver", "TargetUnreachable"]
