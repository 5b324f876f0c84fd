"""Defect: a message that parses as JSON is echoed as the parsed value dumped again
(``json.dumps(json.loads(text))``), so `` 5`` becomes ``5``, ``1e2`` ``100.0`` and
``{"a":1}`` ``{"a": 1}``."""

from __future__ import annotations

import contextlib
import json

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(text), ensure_ascii=False)
        return super().reply(text)


app = App()
