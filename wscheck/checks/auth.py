"""Checks of the credentials endpoint (protocol ``/item/ws``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from wscheck.checks.judging import (
    TOKEN_LET_IN,
    WIRE_FORM_NOTE,
    Projection,
    all_agree,
    compare,
    keep_texts,
    refusal_form,
    refuses_everyone,
    served,
    template_matcher,
    what_refusal,
)
from wscheck.core.events import Conversation, SendText, SpacesAs, Text
from wscheck.core.spec import AuthSpec
from wscheck.generation.catalogue import SYNTAX_LIKE
from wscheck.generation.strategies import LONG_MESSAGE_BYTES, lookalike_names, utf8_text
from wscheck.run.conversation import Observation, run_conversation
from wscheck.run.registry import Context, Verdict, check


def _auth(ctx: Context) -> AuthSpec:
    assert ctx.spec.auth is not None
    return ctx.spec.auth


def conv(
    ctx: Context,
    *messages: str,
    token: str | None = None,
    cookie: str | None = None,
    q: str | None = None,
    pipelined: bool = False,
    origin: bool = False,
) -> Conversation:
    """A conversation on the credentials endpoint; ``None`` leaves a credential out;
    ``origin`` sends the ``Origin`` header a browser sends."""
    auth = _auth(ctx)
    query: dict[str, str] = {}
    if token is not None:
        query[auth.token] = token
    if q is not None:
        query[auth.q] = q
    cookies: Mapping[str, str] = {auth.cookie: cookie} if cookie is not None else {}
    return Conversation.of(auth.url_path(), *messages, query=query, cookies=cookies,
                           pipelined=pipelined, origin=origin)


def credential_lines(ctx: Context) -> Projection:
    """Keep only the credential reply lines: what the precedence checks judge."""
    auth = _auth(ctx)
    return keep_texts(template_matcher(auth.credential_reply, **dict(auth.path_params)))


async def _credential_used(ctx: Context, conversations: list[Conversation],
                           problem: str) -> Verdict:
    """Compare only the credential lines: which credential counts, whatever the others say."""
    return await compare(ctx, conversations, project=credential_lines(ctx), problem=problem)


async def _serves_credentials(ctx: Context) -> Verdict | None:
    """Precondition of the refusal checks: a client *with* a credential is served. An
    endpoint that refuses everyone (no route at that path, say) refuses a client without
    credentials too, and that shows nothing about how it treats missing credentials."""
    return await refuses_everyone(ctx, _auth(ctx).url_path())


async def _refused(ctx: Context, conversations: list[Conversation], problem: str) -> Verdict:
    code = _auth(ctx).denied_close_code
    gap = await _serves_credentials(ctx)
    if gap is not None:
        return gap
    notes: list[str] = []
    together = await all_agree(ctx, conversations,
                               lambda obs: refusal_form(obs, code) is not None)
    for obs in together or []:
        if refusal_form(obs, code) == "before-accept" and not notes:
            notes.append(f"note: {WIRE_FORM_NOTE} (see auth.missing-observable)")
    if together is not None:
        return Verdict(notes=tuple(notes))
    for c in conversations:
        obs = await run_conversation(ctx.driver, ctx.spec, c)
        form = refusal_form(obs, code)
        if form is None:
            return Verdict(f"{problem}: {what_refusal(obs)}", obs)
        if form == "before-accept" and not notes:
            notes.append(f"note: {WIRE_FORM_NOTE} (see auth.missing-observable)")
    return Verdict(notes=tuple(notes))


@check("auth.missing", "MUST", "/item/ws 1",
       "without cookie and token: no message, and the connection ends with 1008",
       needs=["auth"],
       precondition="a client with a valid token is served (auth.token): if everyone is "
                    "refused, a refusal shows nothing")
async def missing(ctx: Context) -> Verdict:
    return await _refused(ctx, [conv(ctx, "hello"), conv(ctx, "hello", q="5")],
                          problem="a client without credentials was not refused with 1008")


@check("auth.missing-observable", "SHOULD", "/item/ws 1",
       "the refusal is accept-then-close 1008, so the code reaches every client",
       needs=["auth"],
       precondition="a client with a valid token is served (auth.token)")
async def missing_observable(ctx: Context) -> Verdict:
    code = _auth(ctx).denied_close_code
    gap = await _serves_credentials(ctx)
    if gap is not None:
        return gap
    obs = await run_conversation(ctx.driver, ctx.spec, conv(ctx, "hello"))
    form = refusal_form(obs, code)
    if form == "before-accept":
        return Verdict(WIRE_FORM_NOTE + "; accept first, then close with 1008", obs)
    if form is None:
        return Verdict(f"no accept-then-close {code} for a client without credentials: "
                       f"{what_refusal(obs)} (see auth.missing)", obs)
    return Verdict()


#: A credential far longer than any that a truncating server lets through whole: the
#: protocol renders values of any length a header can carry.
LONG_CREDENTIAL = 400

#: A token that is already escaped text: decoded once it stays ``%25``, ``%2F`` and ``+``;
#: a server that decodes twice turns them into ``%``, ``/`` and a space.
ESCAPED_TOKEN = "100%25+a%2Fb%20c"

#: A cookie value with percent escapes: a cookie is never percent-decoded.
ESCAPED_COOKIE = "v%20a%2Fl%25ue"


def decoys(name: str) -> list[str]:
    """Names that differ from ``name`` only in case: other parameters or cookies, which the
    server ignores (protocol ``/item/ws``: names are case-sensitive)."""
    return list(dict.fromkeys(n for n in (name.upper(), name.capitalize(), name.swapcase())
                              if n != name))


def with_decoys(ctx: Context, message: str, *, token: str | None = None,
                cookie: str | None = None) -> Conversation:
    """A conversation whose one real credential is surrounded by decoys: other cookies and
    parameters, before and after it, and names that differ only in case. A server that takes
    the first cookie whatever its name, or the last parameter of any case, renders a decoy."""
    auth = _auth(ctx)
    query: list[tuple[str, str]] = [("other", "param")]
    cookies: list[tuple[str, str]] = [("theme", "dark")]
    if token is not None:
        names = decoys(auth.token)
        query += [(names[0], "decoy-before"), (auth.token, token),
                  *((n, f"decoy-after-{i}") for i, n in enumerate(names[1:] or names))]
    if cookie is not None:
        names = decoys(auth.cookie)
        cookies += [(names[0], "decoy-before"), (auth.cookie, cookie),
                    *((n, f"decoy-after-{i}") for i, n in enumerate(names[1:] or names))]
    return Conversation(auth.url_path(), (SendText(message),), tuple(query), tuple(cookies))


@check("auth.token", "MUST", "/item/ws 3",
       "with a token only, every message gets the credential and message replies, in order: "
       "the token decoded once (a space spelled + or %20), whole at any length, among decoy "
       "parameters, with and without the Origin header a browser sends",
       needs=["auth"],
       precondition="none: a client with a token being let in is its own line")
async def token(ctx: Context) -> Verdict:
    lockstep = conv(ctx, "hello", "second message", token="some-token")
    pipelined = conv(ctx, "first", "then", token="tök en&x=1;y", pipelined=True)
    escaped = conv(ctx, "escaped", token=ESCAPED_TOKEN)
    long = conv(ctx, "long", token="t0123456789" * (LONG_CREDENTIAL // 10))
    decoyed = with_decoys(ctx, "decoys", token="the-token")
    # A space spelled both ways, whatever the driver's own way: `+` and `%20` both decode
    # to a space (application/x-www-form-urlencoded).
    spaces = [conv(ctx, f"spaces as {s}", token=SpacesAs("a space b", s)) for s in ("+", "%20")]
    # Its line says a client with credentials is accepted: a refusal is its own failure.
    plain = await compare(ctx, [lockstep, pipelined, escaped, long, decoyed, *spaces],
                          problem="the replies with a token are wrong", owns_handshake=True)
    if not plain.passed:
        return plain
    # Browsers reach this endpoint too, and every one sends an Origin header: a server that
    # refuses those (a cross-site guard that allows no origin) serves every other client.
    # Asked after the plain clients were served, so a failure here is about the header alone.
    browser = conv(ctx, "from a browser", "again", token="some-token", origin=True)
    verdict = await compare(ctx, [browser], owns_handshake=True,
                            problem="a client with a token and the Origin header a browser "
                                    "sends was not served as one without it (every browser "
                                    "sends one)")
    obs = verdict.observation
    if verdict.problem is None or obs is None or served(obs):
        return verdict
    return dataclasses.replace(verdict, notes=(*verdict.notes, (
        "diagnosis: the same token without the Origin header was let in, so the header is "
        "what the server refuses: an origin check that allows no origin, or not the origin "
        "of the target's own pages")))


@check("auth.cookie", "MUST", "/item/ws 3",
       "with a session cookie only, the replies carry the cookie's value: never "
       "percent-decoded, whole at any length, among other cookies", needs=["auth"],
       precondition=TOKEN_LET_IN)
async def cookie(ctx: Context) -> Verdict:
    return await compare(ctx, [conv(ctx, "hello", "again", cookie="cookie-value-42"),
                               conv(ctx, "escaped", cookie=ESCAPED_COOKIE),
                               conv(ctx, "long", cookie="c0123456789" * (LONG_CREDENTIAL // 10)),
                               with_decoys(ctx, "decoys", cookie="the-cookie")],
                         problem="the replies with a cookie are wrong")


def _pairs(ctx: Context, message: str, query: list[tuple[str, str]],
           cookies: list[tuple[str, str]]) -> Conversation:
    """A one-message conversation on the credentials endpoint with the query and cookies
    exactly as given (order, repeats, bare parameters, nameless cookies)."""
    return Conversation(_auth(ctx).url_path(), (SendText(message),), tuple(query),
                        tuple(cookies))


@check("auth.cookie-syntax", "MUST", "/item/ws 3",
       "the session cookie as standard cookie parsing reads it: base64 padding (=) kept, "
       "double quotes removed, among nameless cookies and cookies whose names end in its "
       "name (csrftoken, oldsession, django_session)",
       needs=["auth"],
       precondition=TOKEN_LET_IN)
async def cookie_syntax(ctx: Context) -> Verdict:
    # The expected value is computed by the model from the Cookie header the client sends,
    # with Starlette's parser (Python's unquoting): any hand-rolled parser that reads these
    # headers otherwise fails. Only spellings of RFC 6265's grammar, and the nameless cookie
    # every browser sends, are used: what lies outside is left to the implementation.
    name = _auth(ctx).cookie
    odd = [(n, f"decoy{i}") for i, n in enumerate(lookalike_names(name))]
    return await compare(ctx, [
        _pairs(ctx, "padded", [], [(name, "c2Vzc2lvbg==")]),
        _pairs(ctx, "quoted", [], [(name, '"quoted-value"')]),
        _pairs(ctx, "quoted padded", [], [("theme", '"dark"'), (name, '"YWJjZA=="')]),
        _pairs(ctx, "lookalikes before", [], [*odd, ("", "nameless"), (name, "the-cookie")]),
        _pairs(ctx, "lookalikes after", [], [("", "nameless"), (name, "the=cookie"), *odd,
                                            ("", "trailing")]),
    ], project=credential_lines(ctx),
        problem="the session cookie was not read as standard cookie parsing reads it")


@check("auth.query-syntax", "MUST", "/item/ws 3",
       "the token as the query grammar gives it: among parameters without = (?debug&token=), "
       "parameters whose names end in its name (access_token), and with surrounding spaces "
       "(spelled + and %20) kept",
       needs=["auth"],
       precondition=TOKEN_LET_IN)
async def query_syntax(ctx: Context) -> Verdict:
    name = _auth(ctx).token
    bare = SpacesAs("", "bare")
    odd = [(n, f"decoy{i}") for i, n in enumerate(lookalike_names(name))]
    return await compare(ctx, [
        _pairs(ctx, "bare parameters", [("debug", bare), (name, "the-token"), ("verbose", bare)],
               []),
        _pairs(ctx, "lookalikes", [odd[1], (name, "the-token"), *odd], []),
        *(_pairs(ctx, f"spaces as {s}", [(name, SpacesAs("  spaced token ", s))], [])
          for s in ("+", "%20")),
    ], project=credential_lines(ctx),
        problem="the token was not read as the query grammar gives it")


@check("auth.lookalike-names", "MUST", "/item/ws 1",
       "cookies and parameters whose names contain a credential's name (oldsession, "
       "django_session, access_token, tokens), and nameless cookies, are no credential: "
       "without the real ones the client is refused with 1008",
       needs=["auth"],
       precondition="a client with a valid token is served (auth.token)")
async def lookalike_only(ctx: Context) -> Verdict:
    auth = _auth(ctx)
    cookie_odd = [(n, "decoy") for n in lookalike_names(auth.cookie)]
    token_odd = [(n, "decoy") for n in lookalike_names(auth.token)]
    return await _refused(ctx, [
        _pairs(ctx, "hello", [], cookie_odd),
        _pairs(ctx, "hello", token_odd, []),
        _pairs(ctx, "hello", [(auth.token + "s", "decoy")],
               [("", "nameless"), *cookie_odd[:2]]),
    ], problem="a client with only look-alike credentials was not refused with 1008")


#: Credentials as long as a header carries everywhere: RFC 6265 (section 6.1) has user agents
#: store cookies of 4096 bytes (name and value), and a URL of this length passes every
#: server's request-line limit (8 KiB and more).
HEADER_CREDENTIAL = 4000


@check("auth.long", "MUST", "/item/ws 3",
       "a 64 KiB message (65,536 bytes of UTF-8) comes back whole on the credentials "
       "endpoint too, and a 4,000-character token or cookie is rendered whole",
       needs=["auth"],
       precondition=TOKEN_LET_IN)
async def long(ctx: Context) -> Verdict:
    body = utf8_text("0123456789abcdef" * 3 + "é你🙂\n", LONG_MESSAGE_BYTES)
    token = utf8_text("T0k3n-", HEADER_CREDENTIAL)
    cookie = utf8_text("C00k1e.", HEADER_CREDENTIAL)
    return await compare(ctx, [conv(ctx, body, "after long", token="t"),
                               conv(ctx, "long token", token=token),
                               conv(ctx, "long cookie", cookie=cookie)],
                         problem="a long message or credential was truncated or changed")


@check("auth.syntax-like", "MUST", "/item/ws 3",
       "messages and a token that look like syntax (templates, escapes, commands, JSON, "
       "markup, numbers) are rendered literally in the replies",
       needs=["auth"],
       precondition=TOKEN_LET_IN)
async def syntax_like(ctx: Context) -> Verdict:
    return await compare(ctx, [
        *(conv(ctx, *SYNTAX_LIKE[i:i + 40], token="t") for i in range(0, len(SYNTAX_LIKE), 40)),
        conv(ctx, "a template of a token", token="{credential} $name %s {{x}} <b>&amp; \\n"),
    ], problem="a message or token that looks like syntax was not rendered literally")


@check("auth.cookie-precedence", "MUST", "/item/ws 3",
       "with both, the cookie wins over the token", needs=["auth"],
       precondition=TOKEN_LET_IN)
async def cookie_precedence(ctx: Context) -> Verdict:
    both = conv(ctx, "hello", cookie="from-cookie", token="from-token")
    return await _credential_used(ctx, [both], "the token was used although a cookie was given")


@check("auth.empty-credential", "MUST", "/item/ws 1, 3",
       "an empty credential counts as present; an empty cookie falls through to the token",
       needs=["auth"],
       precondition=TOKEN_LET_IN)
async def empty_credential(ctx: Context) -> Verdict:
    empties = [conv(ctx, "hello", cookie="", token="the-token"), conv(ctx, "hello", cookie=""),
               conv(ctx, "hello", token=""), conv(ctx, "hello", cookie="", token="")]
    return await _credential_used(
        ctx, empties, "an empty cookie or token was not handled as `cookie or token`")


@check("auth.q", "MUST", "/item/ws 2, 3",
       "an integer q of any sign and magnitude (a 301-digit one too) is echoed as a number; "
       "without q there is no q line and q renders None",
       needs=["auth"],
       precondition=TOKEN_LET_IN)
async def q(ctx: Context) -> Verdict:
    return await compare(
        ctx,
        [conv(ctx, "hello", token="t", q="5"),
         conv(ctx, "hello", "again", token="t", q="0"),
         conv(ctx, "hello", cookie="c", q="-17"),
         conv(ctx, "hello", token="t", q="12345678901234567890"),
         conv(ctx, "hello", token="t", q="-" + "987654321" * 4),
         conv(ctx, "hello", cookie="c", q="1" + "0" * 300),
         conv(ctx, "no q here", token="t")],
        problem="the replies for q are wrong")


@check("auth.q-invalid", "MUST", "/item/ws 2",
       "a q with no digit at all is refused like missing credentials (1008, no message)",
       needs=["auth"],
       precondition="a client with a valid token is served (auth.token)")
async def q_invalid(ctx: Context) -> Verdict:
    return await _refused(ctx, [conv(ctx, "hello", token="t", q="abc"),
                                conv(ctx, "hello", cookie="c", q="x")],
                          problem="a non-integer q was not refused with 1008")


@check("auth.bye-ordinary", "MUST", "/item/ws 4",
       "the bye word is an ordinary message on the credentials endpoint", needs=["auth"],
       precondition=TOKEN_LET_IN)
async def bye_ordinary(ctx: Context) -> Verdict:
    words = ["bye"]
    if ctx.spec.echo is not None and ctx.spec.echo.bye not in (None, "bye"):
        words.append(ctx.spec.echo.bye)
    # Judged against a control: the same conversation with an ordinary word must get the
    # same replies, word for word. What the replies say is the other checks' business.
    control = "ordinary-word"
    pairs = [c for word in words for c in (conv(ctx, word, "still here", token="t"),
                                           conv(ctx, control, "still here", token="t"))]

    def ordinary_word(word: str, obs: Observation, plain: Observation) -> bool:
        return served(plain) and obs.observed == tuple(
            Text(e.text.replace(control, word)) if isinstance(e, Text) else e
            for e in plain.observed)

    together = await all_agree(ctx, pairs, lambda obs: True)
    if together is not None and all(
            ordinary_word(word, obs, plain)
            for word, obs, plain in zip(words, together[::2], together[1::2])):
        return Verdict(observation=together[-2])
    for word in words:
        obs = await run_conversation(ctx.driver, ctx.spec,
                                     conv(ctx, word, "still here", token="t"))
        plain = await run_conversation(ctx.driver, ctx.spec,
                                       conv(ctx, control, "still here", token="t"))
        as_plain = tuple(Text(e.text.replace(control, word)) if isinstance(e, Text) else e
                         for e in plain.observed)
        if not served(plain):
            return await refuses_everyone(ctx, plain.conversation.path, evidence=plain) or \
                Verdict.unobserved(
                    "precondition failed: a conversation with a token was not served at all, "
                    "so the bye word cannot be shown to be ordinary (see auth.token)", plain)
        if obs.observed != as_plain:
            shown = Observation(obs.conversation, as_plain, obs.observed)
            return Verdict(f"{word!r} was answered differently from an ordinary word "
                           f"(expected column: the replies to {control!r}, with {word!r} put "
                           "in)", shown)
    return Verdict(observation=obs)
