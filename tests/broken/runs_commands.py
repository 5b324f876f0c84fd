"""Defect: a message that starts with ``/`` is routed as a chat command (``/help`` gets the
list of commands, an unknown one an error) instead of being echoed."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp

COMMANDS = {"help": "commands: /help, /me"}


class App(ChatApp):
    def reply(self, text: str) -> str:
        if text.startswith("/") and text[1:].split():
            command = text[1:].split()[0]
            return COMMANDS.get(command, f"unknown command: {command}")
        return super().reply(text)


app = App()
