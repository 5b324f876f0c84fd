"""Defect: code points unassigned in the server's Unicode version (category ``Cn``, such as
U+0378) are dropped from the echo, although a later Unicode version may assign them."""

from __future__ import annotations

import unicodedata

from tests.implementations.raw_asgi import PREFIX, ChatApp


def _noncharacter(c: str) -> bool:
    point = ord(c)
    return 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE


class App(ChatApp):
    def reply(self, text: str) -> str:
        # Noncharacters are Cn too; they are another defect's (replaces_noncharacters).
        return PREFIX + "".join(c for c in text
                                if unicodedata.category(c) != "Cn" or _noncharacter(c))


app = App()
