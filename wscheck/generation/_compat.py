"""The few places where the kit leans on Hypothesis beyond its documented API.

Kept in one module so that a Hypothesis upgrade that changes them touches this file alone:
the example-database key of a property, a silenced reporter, modules imported up front
(:data:`LAZY_MODULES`), the local constants held still (:func:`steady_constants`) and left
out of a draw that must depend on its seed alone (:func:`without_local_constants`), and the
characters UTF-8 encodes known without a scan (:func:`known_utf8`).
Why each is needed: docs/internals.md.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter

__all__ = ["LAZY_MODULES", "Flaky", "forced_seed", "known_utf8", "set_database_key",
           "silenced", "steady_constants", "unsteady_constants", "without_local_constants"]

#: Imported by Hypothesis on first need: its optimiser halfway through a property's examples,
#: ``flatmap``'s strategy at its first draw. A name a Hypothesis upgrade drops is skipped.
LAZY_MODULES = ("hypothesis.internal.conjecture.optimiser",
                "hypothesis.strategies._internal.flatmapped")

for _name in LAZY_MODULES:
    with contextlib.suppress(ImportError):
        importlib.import_module(_name)


def set_database_key(test: Callable[..., Any], key: bytes) -> None:
    """Give a ``@given`` test its own key in the example database (and derandomized seed)."""
    test._hypothesis_internal_add_digest = key  # type: ignore[attr-defined]


def forced_seed() -> object | None:
    """The seed ``pytest --hypothesis-seed`` forced on every test, or None: a run given a seed
    must draw the same examples every time, so the kit may not pick a fresh one then."""
    import hypothesis.core

    return getattr(hypothesis.core, "global_force_seed", None)


def _silent(value: object) -> None:
    """A reporter that drops what it is given."""


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Run Hypothesis with its reporter silenced."""
    with with_reporter(_silent):
        yield


_steady_lock = threading.Lock()
#: What the kit has put in Hypothesis's place while its checks run: (module, name) -> the
#: original, put back by :func:`unsteady_constants`.
_replaced: dict[tuple[Any, str], Any] = {}

#: Every code point UTF-8 encodes (all but the surrogates), each decoding back to itself.
UTF8_INTERVALS = ((0, 0xD7FF), (0xE000, 0x10FFFF))


def _replace(module_name: str, name: str, replacement: Callable[[Any], Any]) -> None:
    """Put ``replacement(original)`` in place of Hypothesis's ``module_name.name`` until
    :func:`unsteady_constants`. Idempotent and thread-safe; a Hypothesis without it is left
    as it is."""
    with _steady_lock:
        try:
            module = importlib.import_module(module_name)
            original = getattr(module, name)
        except (ImportError, AttributeError):
            return
        if (module, name) not in _replaced:
            setattr(module, name, replacement(original))
            _replaced[module, name] = original


def known_utf8() -> None:
    """From now on Hypothesis learns which characters UTF-8 encodes from
    :data:`UTF8_INTERVALS`, where it would encode all 1,114,112 code points to find out
    (1-3 s, cached only in the ``.hypothesis/`` of the directory it runs in, so paid on
    every first run there: a fresh CI checkout always). ``codec="utf-8"`` (the room
    property's texts, every string hypothesis-jsonschema draws) then costs nothing; other
    codecs are Hypothesis's as before. Undone by :func:`unsteady_constants`."""
    try:
        from hypothesis.internal.intervalsets import IntervalSet
    except ImportError:
        return
    known = (IntervalSet(UTF8_INTERVALS), IntervalSet(()))

    def answering(scan: Callable[[str], Any]) -> Callable[[str], Any]:
        return lambda codec_name: known if codec_name == "utf-8" else scan(codec_name)

    _replace("hypothesis.internal.charmap", "intervals_from_codec", answering)


def steady_constants() -> None:
    """From now on, the local constants are those Hypothesis finds at its next draw, and stay
    so (docs/internals.md says why); :func:`unsteady_constants` gives Hypothesis its own
    function back. Found at that draw, in the thread Hypothesis draws in, not here: on a
    first run, reading every local module's source takes a fifth of a second, which the
    kit's loop (where this is called) must not spend. Also :func:`known_utf8`."""
    known_utf8()

    def held_still(original: Callable[[], Any]) -> Callable[[], Any]:
        held: list[Any] = []

        def constants() -> Any:
            with _steady_lock:
                if not held:
                    held.append(original())
                return held[0]

        return constants

    _replace("hypothesis.internal.conjecture.providers", "_get_local_constants", held_still)


def unsteady_constants() -> None:
    """Undo :func:`steady_constants` and :func:`known_utf8` (the kit's checks are over: other
    tests of the session see Hypothesis as it is)."""
    with _steady_lock:
        for (module, name), original in _replaced.items():
            setattr(module, name, original)
        _replaced.clear()


@contextlib.contextmanager
def without_local_constants() -> Iterator[None]:
    """Draw with Hypothesis's own constants only, none read from local modules: what a seed
    draws then depends on the seed and the strategies, not on the kit's source or on which
    modules happen to be imported (nor on whether the kit is installed editable). For the
    whole process while it lasts; a Hypothesis without the function is left as it is."""
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
        original = providers._get_local_constants
        empty = Constants()
        cache = providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):
        yield
        return
    with _steady_lock:
        cache.clear()  # the permitted constants of each kind, found with the local ones
        providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        with _steady_lock:
            providers._get_local_constants = original
            cache.clear()


def _many_more(self: Any) -> bool:
    """``many.more()`` as Hypothesis had it before ``many`` became a context manager and an
    iterator: whether to draw one more element. hypothesis-jsonschema (0.23, its latest) still
    calls it for object schemas; this drives the new protocol the way a ``with``/``for`` pair
    would, closing the collection when it says stop."""
    iterator = self.__dict__.get("_wscheck_iterator")
    if iterator is None:
        self.__enter__()
        iterator = self._wscheck_iterator = iter(self)
    try:
        next(iterator)
    except StopIteration:
        self.__exit__(None, None, None)
        return False
    return True


def patch_many_more() -> None:
    """Give Hypothesis's ``many`` its old ``more()`` when it lacks one (see :func:`_many_more`),
    so that payloads can be drawn from JSON Schemas by hypothesis-jsonschema."""
    from hypothesis.internal.conjecture import utils

    if not hasattr(utils.many, "more"):
        utils.many.more = _many_more  # type: ignore[attr-defined]
