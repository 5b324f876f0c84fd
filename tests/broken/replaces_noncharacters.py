"""Defect: noncharacters (U+FDD0-U+FDEF and the last two code points of every plane, such as
U+FFFE, U+FFFF, U+10FFFF) come back as U+FFFD, as a strict UTF-8 re-encoder does."""

from __future__ import annotations

from tests.implementations.raw_asgi import PREFIX, ChatApp


def _noncharacter(c: str) -> bool:
    point = ord(c)
    return 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE


class App(ChatApp):
    def reply(self, text: str) -> str:
        return PREFIX + "".join("\ufffd" if _noncharacter(c) else c for c in text)


app = App()
