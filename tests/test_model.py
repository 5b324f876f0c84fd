"""The oracle, line by line of protocol.md.

Expected texts are written out literally from the brief rather than built from the Spec.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings

from wscheck.core.events import (
    Accepted,
    ClientClose,
    Closed,
    Conversation,
    Drop,
    SendBytes,
    SendText,
    SpacesAs,
    Text,
)
from wscheck.core.spec import AuthSpec, EchoSpec, Spec
from wscheck.generation.strategies import conversations
from wscheck.model.echo import ModelConnection, UnspecifiedBehaviour, expected, q_is_checked

SPEC = Spec()
PREFIX = "接收到的消息是:"
FAREWELL_1 = "请注意:窗口即将关闭"
FAREWELL_2 = "窗口已关闭"
DENIED = (Accepted(), Closed(1008))


def echo(*messages: str | bytes | ClientClose | Drop, pipelined: bool = False) -> tuple:
    return expected(SPEC, Conversation.of("/ws", *messages, pipelined=pipelined))


def item(*messages: str | bytes | ClientClose | Drop, query: dict[str, str] | None = None,
         cookies: dict[str, str] | None = None) -> tuple:
    return expected(SPEC, Conversation.of("/item/ws", *messages, query=query, cookies=cookies))


def cred(value: str) -> Text:
    return Text(f"Session cookie or query token value is: {value}")


def msg(text: str, q: str = "None") -> Text:
    return Text(f"Message text was: {text}, for : {q}")


# --- /ws: echo -------------------------------------------------------------------------------


def test_connect_only_is_accepted() -> None:
    assert echo() == (Accepted(),)


def test_every_message_is_echoed_once_in_order() -> None:
    assert echo("hello", "world", "hello") == (
        Accepted(), Text(PREFIX + "hello"), Text(PREFIX + "world"), Text(PREFIX + "hello"))


@pytest.mark.parametrize(
    "message",
    ["", " ", "  padded  ", "\ttab", "a\nb", "crlf\r\n", "\n", "你好,世界", "🙂👨‍👩‍👧",
     "nul\x00", "{message} {0} %s {{}}", "Bye", " bye", "bye\n", "goodbye", "BYE", "bye bye",
     "x" * (64 * 1024 + 7)],
)
def test_nothing_is_trimmed_or_normalised(message: str) -> None:
    assert echo(message) == (Accepted(), Text(PREFIX + message))


def test_pipelined_makes_no_difference_to_the_model() -> None:
    assert echo("a", "b", "bye", pipelined=True) == echo("a", "b", "bye")


@settings(max_examples=200, deadline=None)
@given(conversations(SPEC))
def test_the_origin_header_makes_no_difference_to_the_model(conversation: Conversation) -> None:
    """Protocol /ws 1: served with or without an Origin header, on either endpoint (browsers
    reach both), so generated conversations of both kinds share one prediction."""
    flipped = dataclasses.replace(conversation, origin=not conversation.origin)
    try:
        predicted = expected(SPEC, conversation)
    except UnspecifiedBehaviour:
        with pytest.raises(UnspecifiedBehaviour):
            expected(SPEC, flipped)
        return
    assert expected(SPEC, flipped) == predicted


# --- /ws: bye ------------------------------------------------------------------------------


def test_bye_sends_both_farewells_then_closes_1000() -> None:
    assert echo("bye") == (Accepted(), Text(FAREWELL_1), Text(FAREWELL_2), Closed(1000))


@pytest.mark.parametrize("before", [1, 2, 5])
def test_bye_works_at_any_point(before: int) -> None:
    messages = [f"m{i}" for i in range(before)]
    assert echo(*messages, "bye") == (
        Accepted(), *(Text(PREFIX + m) for m in messages),
        Text(FAREWELL_1), Text(FAREWELL_2), Closed(1000))


def test_messages_pipelined_after_bye_get_nothing() -> None:
    assert echo("bye", "more", "and more", pipelined=True) == (
        Accepted(), Text(FAREWELL_1), Text(FAREWELL_2), Closed(1000))


@pytest.mark.parametrize("near_miss", ["bye\x00", "bye\u200b", "\ufeffbye", "ｂｙｅ", "𝐛𝐲𝐞"])
def test_a_near_miss_of_bye_is_echoed(near_miss: str) -> None:
    assert echo(near_miss) == (Accepted(), Text(PREFIX + near_miss))


def test_nothing_after_the_close() -> None:
    assert echo("bye", "after", b"binary", "bye", ClientClose()) == (
        Accepted(), Text(FAREWELL_1), Text(FAREWELL_2), Closed(1000))


def test_binary_closes_1003_and_nothing_follows() -> None:
    assert echo("before", b"\x00\x01", "after") == (
        Accepted(), Text(PREFIX + "before"), Closed(1003))


@pytest.mark.parametrize("leave", [ClientClose(), ClientClose(1001), Drop()])
def test_client_leaving_ends_the_conversation(leave: ClientClose | Drop) -> None:
    assert echo("hi", leave, "ignored", "bye") == (Accepted(), Text(PREFIX + "hi"))


def test_step_answers_one_action_at_a_time() -> None:
    model = ModelConnection(SPEC, Conversation.of("/ws"))
    assert model.open() == (Accepted(),)
    assert model.step(SendText("x")) == (Text(PREFIX + "x"),)
    assert not model.closed
    assert model.step(SendText("bye")) == (Text(FAREWELL_1), Text(FAREWELL_2), Closed(1000))
    assert model.closed
    assert model.step(SendText("x")) == ()
    assert model.step(SendBytes(b"x")) == ()


# --- /item/ws: credentials -----------------------------------------------------------------


def test_no_credentials_is_accept_then_1008_and_no_message() -> None:
    assert item() == DENIED
    assert item("hello", "bye", b"bin") == DENIED


def test_no_credentials_wins_over_a_valid_q() -> None:
    assert item("hello", query={"q": "5"}) == DENIED


def test_other_cookies_and_params_are_not_credentials() -> None:
    assert item("hi", query={"tokens": "x", "Token": "y"}, cookies={"Session": "z"}) == DENIED


def test_token() -> None:
    assert item("hello", "again", query={"token": "tok"}) == (
        Accepted(), cred("tok"), msg("hello"), cred("tok"), msg("again"))


def test_cookie() -> None:
    assert item("hello", cookies={"session": "cookie-1"}) == (
        Accepted(), cred("cookie-1"), msg("hello"))


def test_cookie_wins_over_token() -> None:
    assert item("hello", query={"token": "tok"}, cookies={"session": "ck"}) == (
        Accepted(), cred("ck"), msg("hello"))


@pytest.mark.parametrize(
    ("cookies", "query", "shown"),
    [
        pytest.param({"session": ""}, {}, "None", id="empty-cookie-alone"),
        pytest.param({"session": ""}, {"token": "tok"}, "tok", id="empty-cookie-then-token"),
        pytest.param({}, {"token": ""}, "", id="empty-token"),
        pytest.param({"session": ""}, {"token": ""}, "", id="both-empty"),
        pytest.param({"session": "ck"}, {"token": ""}, "ck", id="cookie-and-empty-token"),
    ],
)
def test_empty_credentials_count_as_present(
    cookies: dict[str, str], query: dict[str, str], shown: str
) -> None:
    assert item("hello", query=query, cookies=cookies) == (Accepted(), cred(shown), msg("hello"))


def test_repeated_keys_take_the_last_value() -> None:
    conv = Conversation("/item/ws", (SendText("m"),), query=(("token", "a"), ("token", "b")))
    assert expected(SPEC, conv) == (Accepted(), cred("b"), msg("m"))


def test_decoys_around_the_credentials_change_nothing() -> None:
    conv = Conversation(
        "/item/ws", (SendText("m"),),
        query=(("other", "x"), ("TOKEN", "d1"), ("token", "real"), ("Token", "d2")),
        cookies=(("theme", "dark"), ("SESSION", "d3"), ("session", "ck"), ("Session", "d4")))
    assert expected(SPEC, conv) == (Accepted(), cred("ck"), msg("m"))


def test_a_credential_is_rendered_whole_and_as_given() -> None:
    long = "x" * 400
    assert item("m", query={"token": long}) == (Accepted(), cred(long), msg("m"))
    assert item("m", cookies={"session": "a%20b%25"}) == (Accepted(), cred("a%20b%25"), msg("m"))
    spaced = SpacesAs("a b", "+")
    assert item("m", query={"token": spaced}) == (Accepted(), cred("a b"), msg("m"))


@pytest.mark.parametrize(
    ("cookies", "shown"),
    [
        pytest.param((("session", "YWJjZA=="),), "YWJjZA==", id="base64-padding"),
        pytest.param((("session", '"quoted"'),), "quoted", id="double-quotes-removed"),
        pytest.param((("", "nameless"), ("session", "ck"), ("", "again")), "ck", id="nameless"),
        pytest.param((("oldsession", "a"), ("session", "ck"), ("django_session", "b")), "ck",
                     id="lookalike-names"),
        pytest.param((("session", "a=b=c"),), "a=b=c", id="equals-inside"),
    ],
)
def test_the_cookie_is_what_standard_cookie_parsing_reads(
        cookies: tuple[tuple[str, str], ...], shown: str) -> None:
    """The model reads the Cookie header the client sends as Starlette does (Python's
    http.cookies unquoting): differential, whatever the pairs look like."""
    from starlette.requests import cookie_parser

    from wscheck.core.cookies import cookie_header

    conv = Conversation("/item/ws", (SendText("m"),), cookies=cookies)
    assert cookie_parser(cookie_header(cookies))["session"] == shown
    assert expected(SPEC, conv) == (Accepted(), cred(shown), msg("m"))


def test_lookalike_names_and_nameless_cookies_are_no_credential() -> None:
    conv = Conversation("/item/ws", (SendText("m"),),
                        query=(("access_token", "x"), ("csrftoken", "y")),
                        cookies=(("", "session"[:3]), ("oldsession", "z"),
                                 ("django_session", "w")))
    assert expected(SPEC, conv) == DENIED


def test_a_bare_parameter_is_empty_and_changes_nothing() -> None:
    bare = SpacesAs("", "bare")
    conv = Conversation("/item/ws", (SendText("m"),),
                        query=(("debug", bare), ("token", "t"), ("verbose", bare)))
    assert expected(SPEC, conv) == (Accepted(), cred("t"), msg("m"))
    with pytest.raises(ValueError, match="bare"):
        SpacesAs("x", "bare")


@pytest.mark.parametrize("text", ["{x}", "{0}", "{message}", "{{x}}", "%s", "$name", "{q}"])
def test_a_message_that_looks_like_a_template_is_rendered_literally(text: str) -> None:
    assert echo(text) == (Accepted(), Text(PREFIX + text))
    assert item(text, query={"token": "{credential}"}) == (
        Accepted(), cred("{credential}"), msg(text))


# --- /item/ws: q -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["-" + "9" * 40, "1" + "0" * 300])
def test_q_of_any_magnitude_is_rendered_back(raw: str) -> None:
    assert item("m", query={"token": "t", "q": raw}) == (
        Accepted(), cred("t"), Text(f"parameter q is: {raw}"), msg("m", raw))


@pytest.mark.parametrize(
    ("raw", "rendered"),
    [("0", "0"), ("5", "5"), ("-17", "-17"), ("1000", "1000"),
     ("12345678901234567890", "12345678901234567890")],
)
def test_canonical_q_is_rendered_back(raw: str, rendered: str) -> None:
    assert item("hello", "again", query={"token": "t", "q": raw}) == (
        Accepted(),
        cred("t"), Text(f"parameter q is: {rendered}"), msg("hello", rendered),
        cred("t"), Text(f"parameter q is: {rendered}"), msg("again", rendered),
    )


def test_q_with_a_cookie() -> None:
    assert item("hi", query={"q": "-3"}, cookies={"session": "c"}) == (
        Accepted(), cred("c"), Text("parameter q is: -3"), msg("hi", "-3"))


def test_absent_q_has_no_q_line_and_renders_none() -> None:
    assert item("hi", query={"token": "t"}) == (Accepted(), cred("t"), msg("hi", "None"))


@pytest.mark.parametrize("raw", ["abc", "x", "-", "five", " ", "None", "½", "一"])
def test_q_without_a_digit_is_refused(raw: str) -> None:
    assert item("hello", query={"token": "t", "q": raw}) == DENIED
    assert item("hello", query={"q": raw}, cookies={"session": "c"}) == DENIED
    assert q_is_checked(raw)


@pytest.mark.parametrize("raw", ["+5", " 5", "5 ", "05", "-0", "00", "5.0", "1_000", "5a", "١٢"])
def test_unspecified_q_spellings_raise(raw: str) -> None:
    assert not q_is_checked(raw)
    with pytest.raises(UnspecifiedBehaviour, match="q="):
        item("hello", query={"token": "t", "q": raw})


def test_empty_q_is_unspecified() -> None:
    """protocol.md /item/ws 2 lists "an empty `q=`" among the spellings left to the app."""
    assert not q_is_checked("")
    with pytest.raises(UnspecifiedBehaviour):
        item("hello", query={"token": "t", "q": ""})


# --- /item/ws: everything else ---------------------------------------------------------------


def test_bye_is_ordinary_on_the_credentials_endpoint() -> None:
    assert item("bye", "still here", query={"token": "t"}) == (
        Accepted(), cred("t"), msg("bye"), cred("t"), msg("still here"))


def test_binary_closes_1003_on_the_credentials_endpoint() -> None:
    assert item("a", b"\xff", "b", query={"token": "t"}) == (
        Accepted(), cred("t"), msg("a"), Closed(1003))


def test_client_leaving_the_credentials_endpoint() -> None:
    assert item(Drop(), "x", query={"token": "t"}) == (Accepted(),)


def test_unknown_path_is_unspecified() -> None:
    with pytest.raises(UnspecifiedBehaviour, match="/nowhere"):
        expected(SPEC, Conversation.of("/nowhere", "hi"))


# --- other specs -------------------------------------------------------------------------------

FASTAPI_DOCS = Spec(
    echo=EchoSpec(reply="Message text was: {message}", bye=None, farewells=()),
    auth=AuthSpec(path="/items/{item_id}/ws", q_reply="Query parameter q is: {q}",
                  message_reply="Message text was: {message}, for item ID: {item_id}",
                  path_params=(("item_id", "foo"),)),
)


def test_fastapi_docs_echo_has_no_bye() -> None:
    assert expected(FASTAPI_DOCS, Conversation.of("/ws", "hi", "bye", "after")) == (
        Accepted(), Text("Message text was: hi"), Text("Message text was: bye"),
        Text("Message text was: after"))


def test_fastapi_docs_items_endpoint() -> None:
    conv = Conversation.of("/items/foo/ws", "hi", query={"token": "t", "q": "3"})
    assert expected(FASTAPI_DOCS, conv) == (
        Accepted(), cred("t"), Text("Query parameter q is: 3"),
        Text("Message text was: hi, for item ID: foo"))
    assert expected(FASTAPI_DOCS, Conversation.of("/items/foo/ws", "hi")) == DENIED
    with pytest.raises(UnspecifiedBehaviour):
        expected(FASTAPI_DOCS, Conversation.of("/item/ws", "hi", query={"token": "t"}))


def test_custom_bye_codes_and_credential_names() -> None:
    spec = Spec(
        echo=EchoSpec(bye="quit", farewells=("ok",), bye_close_code=4000,
                      binary_close_code=1007),
        auth=AuthSpec(cookie="sid", token="key", q="page", denied_close_code=4003),
    )
    assert expected(spec, Conversation.of("/ws", "bye", "quit")) == (
        Accepted(), Text(PREFIX + "bye"), Text("ok"), Closed(4000))
    assert expected(spec, Conversation.of("/ws", b"x")) == (Accepted(), Closed(1007))
    assert expected(spec, Conversation.of("/item/ws", "m", query={"token": "t"})) == (
        Accepted(), Closed(4003))
    assert expected(spec, Conversation.of("/item/ws", "m", query={"key": "k", "page": "2"},
                                          cookies={"session": "not-it"})) == (
        Accepted(), cred("k"), Text("parameter q is: 2"), msg("m", "2"))


def test_disabled_section_describes_nothing() -> None:
    with pytest.raises(UnspecifiedBehaviour):
        expected(Spec(echo=None), Conversation.of("/ws", "hi"))
    with pytest.raises(UnspecifiedBehaviour):
        expected(Spec(auth=None), Conversation.of("/item/ws", "hi", query={"token": "t"}))


@settings(max_examples=200, deadline=None)
@given(conversations(Spec(echo=None)))
def test_the_model_reads_generated_cookies_as_starlette_does(conversation: Conversation) -> None:
    """Differential: whatever cookies a generated conversation carries, the model's
    credential is the one Starlette's own parser reads from the header the kit sends."""
    from starlette.requests import cookie_parser

    from wscheck.core.cookies import cookie_header, parse_cookie_header

    header = cookie_header(conversation.cookies)
    assert parse_cookie_header(header) == cookie_parser(header)
