"""Broken apps the kit must catch: each is the raw ASGI implementation
(``tests.implementations.raw_asgi``) with exactly one defect, introduced by overriding one
seam, and each module exposes ``app``. ``tests/test_broken_apps.py`` says which checks each
must fail — exactly those, no more, no fewer.
"""
