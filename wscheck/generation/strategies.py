"""Hypothesis strategies for the chat protocol: messages, credentials, conversations.

Public and composable, so users can write their own properties on the same generators::

    from hypothesis import given
    from wscheck.generation.strategies import messages

    @given(messages())
    def test_my_app_echoes(message): ...

Drawn toward the edges where implementations break; what they draw: docs/internals.md.
"""

from __future__ import annotations

import base64
import functools
import string
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from hypothesis import strategies as st

from wscheck.core.api import ApiMessage
from wscheck.core.events import Action, ClientClose, Conversation, Drop, SendText, SpacesAs
from wscheck.core.spec import AuthSpec, EchoSpec, Spec
from wscheck.generation.catalogue import SYNTAX_LIKE

__all__ = [
    "EDGE_MESSAGES",
    "GENERAL_CATEGORIES",
    "LONG_CONVERSATION",
    "LONG_CREDENTIAL",
    "LONG_MESSAGE_BYTES",
    "MANGLED_CHARACTERS",
    "api_payloads",
    "auth_conversations",
    "bye_near_misses",
    "bye_variants",
    "conversations",
    "cookie_values",
    "echo_conversations",
    "long_messages",
    "lookalike_names",
    "messages",
    "q_values",
    "syntax_like_texts",
    "tokens",
    "unicode_texts",
    "utf8_text",
]

P = ParamSpec("P")
T = TypeVar("T")


def _reused(build: Callable[P, T]) -> Callable[P, T]:
    """Build a strategy once per distinct arguments and hand out the same object after.

    Strategies are immutable, and the composite conversations draw from these builders on
    every example: built afresh each time, Hypothesis validated every new strategy object
    at its first draw (its emptiness, its recursion, the character tables of its
    alphabets), which cost more than drawing the example itself (benchmarks/strategies.py).
    """
    return functools.lru_cache(maxsize=256)(build)  # type: ignore[return-value]


#: Messages that have broken implementations before; drawn often, and shrunk toward.
EDGE_MESSAGES: tuple[str, ...] = (
    "", " ", "  ", "\t", "\n", "\r\n", "\r", " x", "x ", " x ", "a\nb", "a\r\nb", "x\n",
    "\x00", "a\x00b", "\x1b[0m", "\x7f", "\u0301", "e\u0301", "\u200b", "\ufeff",
    "\u202eabc", "مرحبا", "שלום", "你好", "🙂", "👍🏽", "👨‍👩‍👧", "🇫🇷", "𝔘", "{message}", "{}",
    "%s", "None", "null", "0", "-1",
)

# Everything a WebSocket text frame can carry: any code point but lone surrogates.
_ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)

#: Every Unicode general category a text frame can carry (all but ``Cs``, lone surrogates).
GENERAL_CATEGORIES: tuple[str, ...] = (
    "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
    "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Co", "Cn",
)

#: Characters that implementations mangle (split lines on, strip, normalise, drop, escape),
#: drawn as often as all the categories together.
MANGLED_CHARACTERS: tuple[str, ...] = (
    "\x00", "\t", "\n", "\r", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\xa0", "\xad",
    "\u2028", "\u2029", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060",
    "\u202e", "\u2066", "\ufeff", "\ufe0e", "\ufe0f", "\U000e0100", "\U000e0001",
    "\u0301", "\u20dd", "\u3000", "\u1680", "\u00b5", "\u212b", "\ufb01", "\uff41",
    "\ufffd", "\ufffe", "\uffff", "\U0010ffff", "\ue000", "\U0001f3fd", "\u0130", "\u0131",
    "\u00df", "\u03a3", "\u2126",
)


@_reused
def _edge_characters() -> st.SearchStrategy[str]:
    """One character: half the time one that implementations mangle, otherwise one from a
    general category drawn uniformly, so every category (rare ones such as ``Zl``, ``Zp``,
    ``Me``, ``Co``, ``Cn`` included) comes up as often as the common ones."""
    # One strategy per category, built here once (not one per draw inside the flatmap).
    of_category = {category: st.characters(categories=[category])  # type: ignore[list-item]
                   for category in GENERAL_CATEGORIES}
    by_category = st.sampled_from(GENERAL_CATEGORIES).flatmap(of_category.__getitem__)
    return st.one_of(st.sampled_from(MANGLED_CHARACTERS), by_category)


def _fullwidth(word: str) -> str:
    """``word`` with each printable ASCII character in its fullwidth form (``ｂｙｅ``), which
    NFKC folds back to ASCII."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in word)


def _styled(word: str) -> str:
    """``word`` with ASCII letters in mathematical bold (``𝐛𝐲𝐞``), also folded by NFKC."""
    out = []
    for c in word:
        if "a" <= c <= "z":
            out.append(chr(0x1D41A + ord(c) - ord("a")))
        elif "A" <= c <= "Z":
            out.append(chr(0x1D400 + ord(c) - ord("A")))
        else:
            out.append(c)
    return "".join(out)


@_reused
def unicode_texts(max_size: int = 12) -> st.SearchStrategy[str]:
    """Short texts whose characters come from every Unicode general category (rare ones as
    often as common ones) and, half the time, from the characters implementations mangle:
    line and paragraph separators, variation selectors, invisible and private-use
    characters, noncharacters (see :data:`MANGLED_CHARACTERS`)."""
    return st.lists(st.one_of(_edge_characters(), st.sampled_from("a z")),
                    min_size=1, max_size=max_size).map("".join)


def _near_miss_families(word: str) -> list[list[str]]:
    """Near-misses of ``word`` by kind: case, whitespace, other words, controls and invisible
    characters, compatibility variants. Each kind is drawn equally often by
    :func:`bye_variants`, however many members it has."""
    families = [
        [word.capitalize(), word.upper(), word.swapcase()],
        [f" {word}", f"{word} ", f"{word}\n", f"\t{word}", f"{word}\r\n"],
        [f"good{word}", f"{word}{word}", f"{word}.", f"{word}!", word[:-1]],
        [f"{word}\x00", f"\x00{word}", f"{word}\x7f", f"{word}\x1b", f"{word}\x07",
         f"{word}\u200b", f"\u200b{word}", f"\ufeff{word}", f"{word}\ufe0f",
         f"{word}\u00a0", f"{word}\u2028", f"{word}\u0085"],
        [_fullwidth(word), _styled(word), word.replace("fi", "\ufb01")],
    ]
    kept = [list(dict.fromkeys(v for v in family if v and v != word)) for family in families]
    return [family for family in kept if family]


def bye_near_misses(word: str = "bye") -> list[str]:
    """Near-misses of the bye word, in a fixed order, which a conforming server must echo
    like any message (protocol ``/ws`` 4: anything but exactly the word is ordinary).

    Beyond case and surrounding whitespace they include what servers that "clean" input
    before comparing get wrong: control and invisible characters appended or prepended
    (NUL, DEL, ESC, zero-width space, BOM, a variation selector) and compatibility variants
    that NFKC folds back to the word (fullwidth, mathematical bold, a ligature)."""
    return list(dict.fromkeys(v for family in _near_miss_families(word) for v in family))


@_reused
def bye_variants(word: str = "bye") -> st.SearchStrategy[str]:
    """Near-misses of the bye word, which a conforming server must echo like any message
    (:func:`bye_near_misses`, each kind drawn equally often), and now and then the word with
    a character drawn from any Unicode category glued to one end."""
    glued = st.tuples(_edge_characters(), st.booleans()).map(
        lambda pair: pair[0] + word if pair[1] else word + pair[0])
    return st.one_of(*(st.sampled_from(family) for family in _near_miss_families(word)),
                     glued).filter(lambda v: v != word)


#: The most messages a generated conversation holds (now and then): past the per-connection
#: quotas of a few dozen messages that shorter conversations never reach.
LONG_CONVERSATION = 120

#: The longest message a server must take: 64 KiB, counted as 65,536 bytes of UTF-8
#: (protocol ``/ws`` 2). A larger one may be refused with 1009, so the kit never sends one.
LONG_MESSAGE_BYTES = 64 * 1024


def utf8_text(unit: str, size: int) -> str:
    """``unit`` repeated to exactly ``size`` bytes of UTF-8, ASCII filling the bytes that a
    last multi-byte character would not fit in (a message of any script, measured in bytes,
    as servers measure it)."""
    if not unit:
        raise ValueError("the unit of a long text must not be empty")
    width = len(unit.encode("utf-8"))
    left = size % width  # bytes after the whole units: counted per character, not re-encoded
    tail = ""
    for char in unit:
        char_width = len(char.encode("utf-8"))
        if char_width > left:
            break
        tail += char
        left -= char_width
    return unit * (size // width) + tail + "x" * left


@_reused
def long_messages(min_size: int = 48 * 1024,
                  max_size: int = LONG_MESSAGE_BYTES) -> st.SearchStrategy[str]:
    """Long messages of ``min_size`` to ``max_size`` bytes of UTF-8, built from a short
    generated unit (cheap to draw, and still varied). The default stops at 64 KiB, the
    largest message the protocol requires a server to take."""
    unit = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=8)
    return st.builds(utf8_text, unit, st.integers(min_size, max_size))


@_reused
def syntax_like_texts() -> st.SearchStrategy[str]:
    """Text that looks like syntax (a template, an escape, a command, JSON, markup, a query,
    a number): a text of the mangling catalogue (:data:`~wscheck.generation.catalogue.
    SYNTAX_LIKE`) alone half the time, otherwise a few of them glued to plain words, so that
    every operator of the catalogue is met on purpose, not by the luck of a Unicode draw."""
    piece = st.sampled_from(SYNTAX_LIKE)
    glued = st.lists(st.one_of(piece, st.sampled_from(("a", " ", "x y", "\n"))),
                     min_size=2, max_size=4).map("".join)
    return st.one_of(piece, glued)


@_reused
def messages(spec: Spec | None = None, *, bye_word: bool = False,
             long: bool = True) -> st.SearchStrategy[str]:
    """A text message, weighted toward edge cases; never the bye word unless ``bye_word``.

    ``spec`` supplies the bye word whose near-misses are mixed in (default: ``bye``). The
    branches are drawn about equally often: edge cases, near-misses of the bye word, edge
    pieces glued to other text, text from every Unicode general category
    (:func:`unicode_texts`), and any text or (1 in 10, when ``long``) a message of 64 KiB
    or more. The edge pieces include text that looks like syntax (:func:`syntax_like_texts`).
    """
    word = spec.echo.bye if spec is not None and spec.echo is not None else "bye"
    # Text that looks like syntax is glued in as often as the edge cases: a branch of its
    # own would move the others' place in the one_of, which changed what a counterexample
    # shrinks to.
    glued = st.lists(st.one_of(st.sampled_from(EDGE_MESSAGES), _ANY_TEXT, syntax_like_texts()),
                     min_size=2, max_size=4).map("".join)
    branches = [st.sampled_from(EDGE_MESSAGES)]
    if word:
        branches.append(bye_variants(word))
    branches += [glued, unicode_texts(),
                 st.one_of(_ANY_TEXT, long_messages()) if long else _ANY_TEXT]
    strategy = st.one_of(*branches)
    if bye_word or word is None:
        return strategy
    return strategy.map(lambda m: m + " " if m == word else m)


# RFC 6265 cookie-octet: what a Cookie header can carry without quoting.
_COOKIE_OCTETS = "".join(
    c for c in map(chr, range(0x21, 0x7F)) if c not in '",;\\'
)


# What a nameless cookie may hold: cookie-octets but `=` (it would give it a name).
_NAMELESS_OCTETS = _COOKIE_OCTETS.replace("=", "")


#: The longest credential generated (now and then): far past the column widths a truncating
#: server passes every short credential with (protocol ``/item/ws``: values of any length).
LONG_CREDENTIAL = 400

# Pieces of text that already look escaped: a server that decodes a token twice, or decodes
# a cookie at all, changes them.
_ESCAPES = ("%20", "%25", "%2F", "%2B", "%41", "%", "+", "%%", "%zz", "%e4%bd%a0")


def _long(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A short unit of ``alphabet`` repeated to a length up to :data:`LONG_CREDENTIAL`."""
    unit = st.text(alphabet, min_size=1, max_size=8)
    return st.builds(lambda u, n: (u * n)[:n], unit, st.integers(25, LONG_CREDENTIAL))


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@_reused
def cookie_values(*, allow_empty: bool = True) -> st.SearchStrategy[str]:
    """Cookie values from RFC 6265's grammar (``*cookie-octet``, or the same in double
    quotes, which standard parsing removes): the empty value sometimes, base64 with its
    ``=`` padding (what session middlewares set), now and then a long one or one full of
    percent escapes (which a cookie never decodes)."""
    octet = st.sampled_from(_COOKIE_OCTETS)
    short = st.text(octet, min_size=0 if allow_empty else 1, max_size=24)
    escaped = st.lists(st.one_of(octet, st.sampled_from(_ESCAPES)), min_size=1,
                       max_size=6).map("".join)
    padded = st.binary(min_size=1, max_size=16).map(_base64)
    bare = st.one_of(short, escaped, padded, _long(octet))
    # A quoted value is never empty inside: `""` unquotes to the empty string, which a
    # cookie-or-token rule treats as absent, a case auth.empty-credential keeps to itself.
    quoted = st.one_of(st.text(octet, min_size=1, max_size=24), padded).map(
        lambda v: f'"{v}"')
    return st.one_of(bare, quoted)


def lookalike_names(name: str) -> list[str]:
    """Other names that *end* in ``name``, as real sites have them next to a credential:
    ``csrftoken``, ``access_token``, ``oldsession``, ``django_session``. A parser that
    matches a name by suffix or substring takes one of them for the credential."""
    return [f"csrf{name}", f"access_{name}", f"old{name}", f"django_{name}"]


@_reused
def tokens(*, allow_empty: bool = True) -> st.SearchStrategy[str]:
    """Query-parameter tokens: any text (it is percent-encoded on the way), empty sometimes,
    text that already looks escaped (``%25``, ``+``: decoded once it stays as it is), and now
    and then a long one."""
    safe = st.sampled_from(string.ascii_letters + string.digits + "-_.~")
    simple = st.text(safe, min_size=1, max_size=16)
    escaped = st.lists(st.one_of(safe, st.sampled_from((*_ESCAPES, " ", "&", "=", ";"))),
                       min_size=1, max_size=6).map("".join)
    # Surrounding spaces, which decoding keeps (spelled + or %20 by auth_conversations).
    spaced = st.tuples(st.sampled_from((" ", "  ")), simple, st.sampled_from(("", " "))).map(
        "".join)
    return st.one_of(simple, st.just("") if allow_empty else simple,
                     st.text(st.characters(exclude_categories=["Cs"]),
                             min_size=0 if allow_empty else 1, max_size=16),
                     escaped, spaced, syntax_like_texts(),
                     _long(st.characters(exclude_categories=["Cs"])))


def _decoy_names(name: str) -> list[str]:
    """Names that differ from ``name`` only in case (other parameters or cookies)."""
    return sorted({name.upper(), name.capitalize(), name.swapcase()} - {name})


def _no_digit(s: str) -> bool:
    return not any(c.isdigit() for c in s)


@_reused
def q_values(*, invalid: bool = True) -> st.SearchStrategy[str]:
    """Values for ``q`` whose outcome the protocol fixes: canonical integers of any sign and
    magnitude (up to 301 digits) and, when ``invalid``, strings with no digit at all (which
    must be refused). Spellings the brief leaves to the implementation (``05``, ``+5``,
    ``5.0``) are never generated."""
    small = st.integers(min_value=-(10**20), max_value=10**20)
    # Any magnitude: a length guard on q passes every q of machine-integer size.
    huge = st.builds(lambda n, negative: -n if negative else n,
                     st.integers(10**20, 10**300), st.booleans())
    canonical = st.one_of(small, huge).map(str)
    if not invalid:
        return canonical
    no_digit = st.text(st.characters(exclude_categories=["Cs", "Nd", "No", "Nl"]),
                       min_size=1, max_size=8).filter(_no_digit)
    return st.one_of(canonical, no_digit)


def _origin(draw: st.DrawFn, origin: bool | None) -> bool:
    """Whether the handshake carries the ``Origin`` header a browser sends: drawn when
    ``origin`` is None (shrinking toward a handshake without one), otherwise as given. Every
    browser sends one and the protocol serves clients with or without it (``/ws`` 1), so a
    server that refuses either kind fails a generated conversation too."""
    return draw(st.booleans()) if origin is None else origin


@st.composite
def echo_conversations(draw: st.DrawFn, spec: Spec, *, max_messages: int = 8,
                       long: bool = True, origin: bool | None = None) -> Conversation:
    """A conversation on the echo endpoint: messages, lock-step or pipelined, ending with the
    bye word (when the spec has one), a client close, a drop, or simply stopping; with the
    ``Origin`` header a browser sends about half the time (``origin`` None), always (True)
    or never (False)."""
    echo = spec.echo
    assert echo is not None, "the spec has no echo endpoint"
    actions: list[Action] = [SendText(m) for m in draw(
        st.lists(messages(spec, long=long), max_size=max_messages))]
    ending = draw(st.sampled_from(["none", "bye", "close", "drop"] if echo.bye else
                                  ["none", "close", "drop"]))
    if ending == "bye":
        assert echo.bye is not None
        actions.insert(draw(st.integers(0, len(actions))), SendText(echo.bye))
        if draw(st.booleans()):
            actions.append(SendText("after bye"))
    elif ending == "close":
        actions.append(ClientClose())
    elif ending == "drop":
        actions.append(Drop())
    pipelined = draw(st.booleans())
    if draw(st.integers(0, 9)) == 9:
        # Now and then a long conversation: a per-connection quota of a few dozen messages
        # passes every short one (protocol /ws 2: there is no quota). Drawn after the
        # messages and put first, so that shrinking the draw toward 0 drops the filler from a
        # counterexample that does not need it, without disturbing the draws before it.
        filler = draw(st.integers(LONG_CONVERSATION // 2, LONG_CONVERSATION))
        actions[:0] = [SendText(f"long conversation {i}") for i in range(filler)]
    # The Origin header last of all: drawn before the filler it kept the shrinker from
    # dropping the filler (a bye-only-first defect then shrank to 60 filler messages and the
    # bye, not to one message and the bye).
    browser = _origin(draw, origin)
    return Conversation(echo.url_path(), tuple(actions), pipelined=pipelined, origin=browser)


@st.composite
def auth_conversations(draw: st.DrawFn, spec: Spec, *, max_messages: int = 4,
                       origin: bool | None = None) -> Conversation:
    """A conversation on the credentials endpoint with any combination of cookie, token and
    ``q`` (each present, empty or absent), and a few messages (the bye word among them);
    with the ``Origin`` header a browser sends about half the time (``origin`` None), always
    (True) or never (False): browsers reach this endpoint too."""
    auth: AuthSpec | None = spec.auth
    assert auth is not None, "the spec has no credentials endpoint"
    query: list[tuple[str, str]] = []
    cookies: list[tuple[str, str]] = []
    if draw(st.booleans()):
        token = draw(tokens())
        if " " in token:
            # Spell its spaces either way, whatever the driver's own way (+ or %20).
            token = SpacesAs(token, draw(st.sampled_from(["+", "%20"])))
        query.append((auth.token, token))
    if draw(st.booleans()):
        cookies.append((auth.cookie, draw(cookie_values())))
    if draw(st.booleans()):
        query.append((auth.q, draw(q_values())))
    if draw(st.integers(0, 3)) == 3:
        # Decoys: other cookies and parameters, names that differ only in case and names
        # that end in a credential's name, which the server ignores (protocol /item/ws:
        # names are case-sensitive, other cookies and parameters may be present); a
        # parameter without `=` and a nameless cookie, as browsers send them.
        names = {auth.token, auth.q, auth.cookie}
        # Sorted: a set's order follows the string hash, which differs from process to
        # process, and the same seed must draw the same values in every one.
        query += [(n, draw(tokens())) for n in
                  sorted(draw(st.sets(st.sampled_from(["other", *_decoy_names(auth.token),
                                                       *_decoy_names(auth.q),
                                                       *lookalike_names(auth.token)]),
                                      max_size=3)))
                  if n not in names]
        if draw(st.booleans()):
            query.append(("debug", SpacesAs("", "bare")))
        cookies += [(n, draw(cookie_values())) for n in
                    sorted(draw(st.sets(st.sampled_from(["theme",
                                                         *_decoy_names(auth.cookie),
                                                         *lookalike_names(auth.cookie)]),
                                        max_size=3)))
                    if n not in names]
        if draw(st.booleans()):
            # Never a credential's name: whether a nameless `session` counts is no line of
            # the protocol.
            cookies.append(("", draw(st.text(st.sampled_from(_NAMELESS_OCTETS), min_size=1,
                                             max_size=12).filter(lambda v: v not in names))))
        cookies = draw(st.permutations(cookies))
    echo: EchoSpec | None = spec.echo
    pool = messages(spec, long=False, bye_word=True)
    if echo is not None and echo.bye:
        pool = st.one_of(pool, st.just(echo.bye))
    texts = draw(st.lists(pool, min_size=1, max_size=max_messages))
    query = draw(st.permutations(query))
    pipelined = draw(st.booleans())
    return Conversation(auth.url_path(), tuple(SendText(t) for t in texts), tuple(query),
                        tuple(cookies), pipelined=pipelined, origin=_origin(draw, origin))


def conversations(spec: Spec, *, origin: bool | None = None) -> st.SearchStrategy[Conversation]:
    """Whole conversations on any endpoint the spec has (``origin`` as in
    :func:`echo_conversations`)."""
    options = []
    if spec.echo is not None:
        options.append(echo_conversations(spec, origin=origin))
    if spec.auth is not None:
        options.append(auth_conversations(spec, origin=origin))
    if not options:
        raise ValueError("the spec has no endpoint to talk to")
    return st.one_of(*options)



@functools.lru_cache(maxsize=256)
def api_payloads(message: ApiMessage) -> st.SearchStrategy[str]:
    """Texts of ``message``: payloads drawn from its JSON Schema by hypothesis-jsonschema, as
    JSON (or as the text itself for a string schema)."""
    import json

    from hypothesis_jsonschema import from_schema

    from wscheck.generation._compat import patch_many_more

    patch_many_more()
    schema = json.loads(message.schema)
    values = from_schema(schema)
    if message.text:
        return values.map(lambda v: v if isinstance(v, str) else json.dumps(v))
    return values.map(lambda v: json.dumps(v, ensure_ascii=False))
