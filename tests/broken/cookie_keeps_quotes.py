"""Defect: a cookie value in double quotes keeps its quotes (the parser splits on ``;`` and
``=`` but never unquotes), which standard cookie parsing removes."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def cookies(self, scope: Scope) -> dict[str, str]:
        cookies: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name.lower() != b"cookie":
                continue
            for chunk in value.decode("latin-1").split(";"):
                key, sep, val = chunk.partition("=")
                if sep:
                    cookies[key.strip()] = val.strip()
        return cookies


app = App()
