"""Hypothesis strategies for the chat protocol: messages, credentials, conversations.

Public and composable, so users can write their own properties on the same generators::

    from hypothesis import given
    from wscheck.strategies import messages

    @given(messages())
    def test_my_app_echoes(message): ...

Generated text is weighted toward the edges where implementations break — the empty string,
whitespace, newlines, NUL and control characters, combining marks, right-to-left text, emoji,
near-misses of the bye word, and now and then a message of up to 64 KiB — while the plain
``st.text()`` branch keeps covering the rest of Unicode. Only text a WebSocket can carry is
generated: no lone surrogates.
"""

from __future__ import annotations

import string

from hypothesis import strategies as st

from wscheck.events import Action, ClientClose, Conversation, Drop, SendText
from wscheck.spec import AuthSpec, EchoSpec, Spec

__all__ = [
    "EDGE_MESSAGES",
    "LONG_CONVERSATION",
    "LONG_MESSAGE_BYTES",
    "auth_conversations",
    "bye_variants",
    "conversations",
    "cookie_values",
    "echo_conversations",
    "long_messages",
    "messages",
    "q_values",
    "tokens",
    "utf8_text",
]

#: Messages that have broken implementations before; drawn often, and shrunk toward.
EDGE_MESSAGES: tuple[str, ...] = (
    "", " ", "  ", "\t", "\n", "\r\n", "\r", " x", "x ", " x ", "a\nb", "a\r\nb", "x\n",
    "\x00", "a\x00b", "\x1b[0m", "\x7f", "\u0301", "e\u0301", "\u200b", "\ufeff",
    "\u202eabc", "مرحبا", "שלום", "你好", "🙂", "👍🏽", "👨‍👩‍👧", "🇫🇷", "𝔘", "{message}", "{}",
    "%s", "None", "null", "0", "-1",
)

# Everything a WebSocket text frame can carry: any code point but lone surrogates.
_ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


def bye_variants(word: str = "bye") -> st.SearchStrategy[str]:
    """Near-misses of the bye word, which a conforming server must echo like any message."""
    variants = {word.capitalize(), word.upper(), f" {word}", f"{word} ", f"{word}\n",
                f"\t{word}", f"{word}\r\n", f"good{word}", f"{word}{word}", f"{word}.",
                word[:-1], word.swapcase()}
    variants.discard(word)
    variants.discard("")
    return st.sampled_from(sorted(variants))


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
    text = unit * (size // width)
    for char in unit:
        if len((text + char).encode("utf-8")) > size:
            break
        text += char
    return text + "x" * (size - len(text.encode("utf-8")))


def long_messages(min_size: int = 48 * 1024,
                  max_size: int = LONG_MESSAGE_BYTES) -> st.SearchStrategy[str]:
    """Long messages of ``min_size`` to ``max_size`` bytes of UTF-8, built from a short
    generated unit (cheap to draw, and still varied). The default stops at 64 KiB, the
    largest message the protocol requires a server to take."""
    unit = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=8)
    return st.builds(utf8_text, unit, st.integers(min_size, max_size))


def messages(spec: Spec | None = None, *, bye_word: bool = False,
             long: bool = True) -> st.SearchStrategy[str]:
    """A text message, weighted toward edge cases; never the bye word unless ``bye_word``.

    ``spec`` supplies the bye word whose near-misses are mixed in (default: ``bye``). The
    branches are drawn about equally often: edge cases, near-misses of the bye word, edge
    pieces glued to other text, any text, and (1 in 10, when ``long``) a message of 64 KiB
    or more.
    """
    word = spec.echo.bye if spec is not None and spec.echo is not None else "bye"
    glued = st.lists(st.one_of(st.sampled_from(EDGE_MESSAGES), _ANY_TEXT),
                     min_size=2, max_size=4).map("".join)
    branches = [st.sampled_from(EDGE_MESSAGES)]
    if word:
        branches.append(bye_variants(word))
    branches += [glued, _ANY_TEXT, st.one_of(_ANY_TEXT, long_messages()) if long else _ANY_TEXT]
    strategy = st.one_of(*branches)
    if bye_word or word is None:
        return strategy
    return strategy.map(lambda m: m + " " if m == word else m)


# RFC 6265 cookie-octet: what a Cookie header can carry without quoting.
_COOKIE_OCTETS = "".join(
    c for c in map(chr, range(0x21, 0x7F)) if c not in '",;\\'
)


def cookie_values(*, allow_empty: bool = True) -> st.SearchStrategy[str]:
    """Cookie values within RFC 6265's cookie-octet set; the empty value sometimes."""
    return st.text(st.sampled_from(_COOKIE_OCTETS), min_size=0 if allow_empty else 1,
                   max_size=24)


def tokens(*, allow_empty: bool = True) -> st.SearchStrategy[str]:
    """Query-parameter tokens: any text (it is percent-encoded on the way), empty sometimes."""
    simple = st.text(st.sampled_from(string.ascii_letters + string.digits + "-_.~"),
                     min_size=1, max_size=16)
    return st.one_of(simple, st.just("") if allow_empty else simple,
                     st.text(st.characters(exclude_categories=["Cs"]),
                             min_size=0 if allow_empty else 1, max_size=16))


def _no_digit(s: str) -> bool:
    return not any(c.isdigit() for c in s)


def q_values(*, invalid: bool = True) -> st.SearchStrategy[str]:
    """Values for ``q`` whose outcome the protocol fixes: canonical integers and, when
    ``invalid``, strings with no digit at all (which must be refused). Spellings the brief
    leaves to the implementation (``05``, ``+5``, ``5.0``) are never generated."""
    canonical = st.integers(min_value=-(10**20), max_value=10**20).map(str)
    if not invalid:
        return canonical
    no_digit = st.text(st.characters(exclude_categories=["Cs", "Nd", "No", "Nl"]),
                       min_size=1, max_size=8).filter(_no_digit)
    return st.one_of(canonical, no_digit)


@st.composite
def echo_conversations(draw: st.DrawFn, spec: Spec, *, max_messages: int = 8,
                       long: bool = True) -> Conversation:
    """A conversation on the echo endpoint: messages, lock-step or pipelined, ending with the
    bye word (when the spec has one), a client close, a drop, or simply stopping."""
    echo = spec.echo
    assert echo is not None, "the spec has no echo endpoint"
    actions: list[Action] = [SendText(m) for m in draw(
        st.lists(messages(spec, long=long), max_size=max_messages))]
    if draw(st.integers(0, 9)) == 0:
        # Now and then a long conversation: a per-connection quota of a few dozen messages
        # passes every short one (protocol /ws 2: there is no quota).
        filler = draw(st.integers(LONG_CONVERSATION // 2, LONG_CONVERSATION))
        actions += [SendText(f"long conversation {i}") for i in range(filler)]
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
    return Conversation(echo.url_path(), tuple(actions), pipelined=draw(st.booleans()))


@st.composite
def auth_conversations(draw: st.DrawFn, spec: Spec, *, max_messages: int = 4) -> Conversation:
    """A conversation on the credentials endpoint with any combination of cookie, token and
    ``q`` (each present, empty or absent), and a few messages (the bye word among them)."""
    auth: AuthSpec | None = spec.auth
    assert auth is not None, "the spec has no credentials endpoint"
    query: list[tuple[str, str]] = []
    cookies: list[tuple[str, str]] = []
    if draw(st.booleans()):
        query.append((auth.token, draw(tokens())))
    if draw(st.booleans()):
        cookies.append((auth.cookie, draw(cookie_values())))
    if draw(st.booleans()):
        query.append((auth.q, draw(q_values())))
    echo: EchoSpec | None = spec.echo
    pool = messages(spec, long=False, bye_word=True)
    if echo is not None and echo.bye:
        pool = st.one_of(pool, st.just(echo.bye))
    texts = draw(st.lists(pool, min_size=1, max_size=max_messages))
    query = draw(st.permutations(query))
    return Conversation(auth.url_path(), tuple(SendText(t) for t in texts), tuple(query),
                        tuple(cookies), pipelined=draw(st.booleans()))


def conversations(spec: Spec) -> st.SearchStrategy[Conversation]:
    """Whole conversations on any endpoint the spec has."""
    options = []
    if spec.echo is not None:
        options.append(echo_conversations(spec))
    if spec.auth is not None:
        options.append(auth_conversations(spec))
    if not options:
        raise ValueError("the spec has no endpoint to talk to")
    return st.one_of(*options)

