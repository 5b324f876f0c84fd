"""Defect: each cookie is split on every ``=`` (``name, value = chunk.split("=")[:2]``), so a
base64 value loses its ``=`` padding and anything after an ``=`` inside it."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def cookies(self, scope: Scope) -> dict[str, str]:
        cookies: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name.lower() != b"cookie":
                continue
            for chunk in value.decode("latin-1").split(";"):
                parts = chunk.strip().split("=")
                if len(parts) >= 2:
                    key, val = parts[:2]
                    cookies[key] = val.strip('"')
        return cookies


app = App()
