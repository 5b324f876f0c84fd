"""Defect: the reply is rendered with ``string.Template`` (``safe_substitute``, with the
user's name as a field), so ``$name`` or ``${x}`` in a message is replaced and ``$$`` becomes
``$``."""

from __future__ import annotations

from string import Template

from tests.implementations.raw_asgi import PREFIX, ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return Template(PREFIX + text).safe_substitute(name="guest", user="guest")


app = App()
