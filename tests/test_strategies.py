"""The strategies reach what they promise: every near-miss of the bye word is not the word,
long conversations, long, escaped and decoyed credentials, huge ``q`` and every Unicode
general category come up in a modest number of draws, and whatever is drawn is something
the model predicts (no value the protocol leaves open)."""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from wscheck.core.events import Conversation, SendText, SpacesAs
from wscheck.core.spec import Spec
from wscheck.generation.catalogue import FAMILIES, OPERATORS, SYNTAX_LIKE, Operator, exposes
from wscheck.generation.strategies import (
    GENERAL_CATEGORIES,
    LONG_CONVERSATION,
    LONG_CREDENTIAL,
    auth_conversations,
    bye_near_misses,
    bye_variants,
    conversations,
    cookie_values,
    echo_conversations,
    messages,
    q_values,
    syntax_like_texts,
    tokens,
    unicode_texts,
)
from wscheck.model.echo import expected

SPEC = Spec()
#: Draws allowed to find a rare value: generous, and still a fraction of a second each. Only
#: generation: that such a value comes up is the question, not its smallest form (shrinking
#: a whole conversation costs seconds). Derandomized: whether a value comes up within the
#: budget must not depend on the run (a random search missed a rare one now and then).
BUDGET = settings(max_examples=5000, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate], derandomize=True)


def reaches(strategy: st.SearchStrategy[object], condition: Callable[[object], bool]) -> None:
    """``strategy`` draws a value with ``condition`` within the budget (``find`` raises
    ``NoSuchExample`` otherwise)."""
    find(strategy, condition, settings=BUDGET)


def reaches_each(strategy: st.SearchStrategy[object],
                 conditions: dict[str, Callable[[object], bool]]) -> None:
    """One search in which ``strategy`` draws, for every condition, a value that meets it,
    within the same budget as :func:`reaches` (one pass for many values: a search each cost
    half a second apiece); the assertion names the conditions no draw met."""
    met: set[str] = set()

    def all_met(value: object) -> bool:
        met.update(name for name, condition in conditions.items()
                   if name not in met and condition(value))
        return len(met) == len(conditions)

    with contextlib.suppress(NoSuchExample):
        find(strategy, all_met, settings=BUDGET)
    assert met == set(conditions), f"never drawn: {sorted(set(conditions) - met)}"


@pytest.mark.parametrize("word", ["bye", "quit", "fin", "Exit"])
def test_near_misses_are_never_the_word(word: str) -> None:
    misses = bye_near_misses(word)
    assert word not in misses and "" not in misses
    assert len(misses) == len(set(misses))


def test_near_misses_go_beyond_case_and_whitespace() -> None:
    misses = bye_near_misses("bye")
    for variant in ("bye\x00", "bye\u200b", "\ufeffbye", "bye\x7f", "ｂｙｅ", "𝐛𝐲𝐞"):
        assert variant in misses
    folded = [m for m in misses if unicodedata.normalize("NFKC", m) == "bye"]
    assert len(folded) >= 2, "no compatibility variant that NFKC folds back to the word"


@settings(max_examples=300, deadline=None)
@given(bye_variants("bye"))
def test_generated_near_misses_are_never_the_word(variant: str) -> None:
    assert variant != "bye"
    variant.encode("utf-8")


def test_generated_near_misses_glue_characters_of_any_category() -> None:
    reaches(bye_variants("bye"), lambda v: isinstance(v, str) and v not in
            bye_near_misses("bye"))


def test_long_conversations_come_up() -> None:
    reaches(echo_conversations(SPEC), lambda c: isinstance(c, Conversation)
            and len(c.actions) > LONG_CONVERSATION // 2)


def test_long_and_escaped_credentials_come_up() -> None:
    reaches(tokens(), lambda t: isinstance(t, str) and len(t) > 24)
    reaches(cookie_values(), lambda c: isinstance(c, str) and len(c) > 24)
    reaches(tokens(), lambda t: isinstance(t, str) and "%25" in t and "+" in t)
    reaches(cookie_values(), lambda c: isinstance(c, str) and "%2" in c)


@settings(max_examples=300, deadline=None)
@given(tokens(), cookie_values())
def test_credentials_stay_within_bounds(token: str, cookie: str) -> None:
    assert len(token) <= LONG_CREDENTIAL and len(cookie) <= LONG_CREDENTIAL
    # RFC 6265's cookie-value: cookie-octets, or the same in double quotes.
    inner = cookie[1:-1] if len(cookie) >= 2 and cookie[0] == cookie[-1] == '"' else cookie
    assert not set(inner) & set('",;\\ ')  # what a Cookie header cannot carry


def _decoyed(c: object) -> bool:
    if not isinstance(c, Conversation):
        return False
    names = {n for n, _ in c.query} | {n for n, _ in c.cookies}
    return bool(names & {"TOKEN", "Token", "SESSION", "Session", "theme", "other"})


def test_decoys_come_up() -> None:
    reaches(auth_conversations(SPEC), _decoyed)


@pytest.mark.parametrize("spelling", ["+", "%20"])
def test_both_space_spellings_come_up(spelling: str) -> None:
    reaches(auth_conversations(SPEC), lambda c: isinstance(c, Conversation)
            and any(isinstance(v, SpacesAs) and v.spelling == spelling for _, v in c.query))


@settings(max_examples=300, deadline=None)
@given(auth_conversations(SPEC))
def test_decoys_never_take_a_real_name(conversation: Conversation) -> None:
    expected(SPEC, conversation)  # never UnspecifiedBehaviour
    assert [n for n, _ in conversation.cookies].count("session") <= 1
    assert [n for n, _ in conversation.query].count("token") <= 1


def test_q_of_any_magnitude_and_sign_comes_up() -> None:
    reaches(q_values(), lambda q: isinstance(q, str) and q.startswith("-") and len(q) > 31)
    reaches(q_values(), lambda q: isinstance(q, str) and q.isdigit() and len(q) > 100)


@pytest.mark.parametrize("category", GENERAL_CATEGORIES)
def test_every_general_category_comes_up(category: str) -> None:
    reaches(unicode_texts(), lambda t: isinstance(t, str)
            and any(unicodedata.category(c) == category for c in t))


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\ufe0f", "\x85"])
def test_mangled_characters_reach_the_messages(char: str) -> None:
    reaches(messages(long=False), lambda m: isinstance(m, str) and char in m)


def test_pipelined_messages_after_bye_come_up() -> None:
    def after_bye(c: object) -> bool:
        if not isinstance(c, Conversation) or not c.pipelined:
            return False
        texts = [a.text for a in c.actions if isinstance(a, SendText)]
        return "bye" in texts[:-1]
    reaches(echo_conversations(SPEC), after_bye)


@pytest.mark.parametrize("strategy", [echo_conversations(SPEC), auth_conversations(SPEC)],
                         ids=["echo", "auth"])
def test_conversations_with_and_without_the_origin_header_come_up(
        strategy: st.SearchStrategy[Conversation]) -> None:
    """Browsers send an Origin header and other clients none: generated conversations are
    of both kinds, so a server refusing either fails a property too."""
    reaches(strategy, lambda c: isinstance(c, Conversation) and c.origin)
    reaches(strategy, lambda c: isinstance(c, Conversation) and not c.origin)


@settings(max_examples=50, deadline=None)
@given(echo_conversations(SPEC, origin=True, long=False), auth_conversations(SPEC, origin=False),
       conversations(SPEC, origin=True))
def test_the_origin_can_be_fixed_either_way(browser: Conversation, plain: Conversation,
                                            either: Conversation) -> None:
    """A caller whose client cannot send the header (or must) fixes it."""
    assert browser.origin and not plain.origin and either.origin


# --- the mangling catalogue --------------------------------------------------------------


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda op: op.name)
def test_every_mangling_operator_is_exposed_by_the_corpus(operator: Operator) -> None:
    """The fixed checks send the whole corpus: each mistake of the catalogue changes (or
    chokes on) one of its texts, so none can pass echo.syntax-like."""
    assert any(exposes(operator, text) for text in SYNTAX_LIKE), operator.name


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda op: op.name)
def test_an_operator_leaves_plain_text_alone(operator: Operator) -> None:
    """A mistake of the catalogue is one that a plain message never shows (or the other
    checks would have caught it already): it is about text that looks like syntax."""
    assert not exposes(operator, "hello there"), operator.name


def test_every_family_has_operators() -> None:
    assert set(FAMILIES) == {op.family for op in OPERATORS}
    assert len(FAMILIES) >= 8


def _containing(text: str) -> Callable[[object], bool]:
    return lambda m: isinstance(m, str) and text in m


def _exposing(operator: Operator) -> Callable[[object], bool]:
    return lambda m: isinstance(m, str) and exposes(operator, m)


def test_syntax_like_texts_reach_the_messages() -> None:
    reaches_each(messages(SPEC), {text: _containing(text) for text in SYNTAX_LIKE})


def test_the_generated_messages_expose_every_operator() -> None:
    by_name = {operator.name: _exposing(operator) for operator in OPERATORS}
    reaches_each(syntax_like_texts(), by_name)
    reaches_each(messages(SPEC, long=False), by_name)


def test_credentials_shaped_like_real_ones_come_up() -> None:
    reaches(cookie_values(), lambda c: isinstance(c, str) and c.startswith('"'))
    reaches(cookie_values(), lambda c: isinstance(c, str) and c.endswith("=")
            and not c.startswith('"'))
    reaches(tokens(), lambda t: isinstance(t, str) and t.startswith(" ") and len(t) > 2)

    def shaped(c: object) -> bool:
        if not isinstance(c, Conversation):
            return False
        return (any(n == "" for n, _ in c.cookies)
                and any(n in ("oldsession", "django_session") for n, _ in c.cookies))

    reaches(auth_conversations(SPEC), shaped)
    reaches(auth_conversations(SPEC), lambda c: isinstance(c, Conversation) and any(
        isinstance(v, SpacesAs) and v.spelling == "bare" for _, v in c.query))
    reaches(auth_conversations(SPEC), lambda c: isinstance(c, Conversation)
            and any(n == "access_token" for n, _ in c.query))
