"""Defect: variation selectors (U+FE00-U+FE0F, U+E0100-U+E01EF) are dropped from the echo,
as a text cleaner does, so ``❤️`` comes back as ``❤``."""

from __future__ import annotations

from tests.implementations.raw_asgi import PREFIX, ChatApp


def _selector(c: str) -> bool:
    return "\ufe00" <= c <= "\ufe0f" or "\U000e0100" <= c <= "\U000e01ef"


class App(ChatApp):
    def reply(self, text: str) -> str:
        return PREFIX + "".join(c for c in text if not _selector(c))


app = App()
