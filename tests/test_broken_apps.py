"""The kit must catch every broken app in ``tests/broken`` — with exactly the right checks.

Each broken app is the raw ASGI implementation with one defect. For each, the table says which
checks must fail (``fails``) and which generated-property checks may fail (``may_fail``):
a property check draws its conversations at random, so whether it meets a narrow defect
depends on the draw, but it may only fail for a defect inside the protocol lines it covers.
Every other check must pass. "It failed somewhere" is not enough: a check that fails for a
defect outside its own subject sends the user looking in the wrong place.

How the sets were chosen:

* the echo checks (``echo.*``) judge the whole echo reply, so any reply defect that shows in
  their conversations fails them (a wrong prefix fails all of them but ``echo.accept``);
* narrower checks judge only their own subject: ``bye.exact-word`` whether a near-miss ends
  the chat, ``bye.mid-conversation`` whether a late bye still ends it, ``bye.sequence`` the
  farewells, ``bye.close-code`` the code, ``isolation.concurrent``/``prop.concurrent``
  cross-talk, ``auth.cookie-precedence``/``auth.empty-credential`` which credential is used,
  ``auth.bye-ordinary`` the bye word on ``/item/ws``, ``robust.*`` binary and disconnects;
* a check whose conversation cannot happen because an earlier step is refused (a dead echo
  endpoint, a credential that no longer lets the client in, a bye word never recognised) is
  *inconclusive* (``inconclusive``, asserted exactly like the failures): it cannot vouch for
  its line, and the check whose line that step is fails and says why, once.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field

import pytest

import tests.broken
from tests.verdicts import asgi_verdicts, failing, inconclusive
from wscheck.run.registry import SUITE

#: Generated examples per property check: enough for the defects listed as sure failures
#: below, few enough that a broken app's shrinking stays short.
EXAMPLES = 15

#: The time probes' watch (the ``idle_watch`` setting, default 2 s) for the broken apps whose
#: defect is in time: past their period (``ticks_every_second``: 1 s) and their threshold
#: (``bye_only_early``: 1 s). Every other defect shows the same way whenever the probe
#: speaks, so those apps are checked with :data:`SHORT_WATCH`: the probes still run (and
#: must pass), 2 s less per app.
TIME_DEFECTS = {"ticks_every_second": 2.0, "bye_only_early": 2.0}
SHORT_WATCH = 0.25


@dataclass(frozen=True)
class Expect:
    fails: frozenset[str]
    may_fail: frozenset[str] = field(default_factory=frozenset)
    inconclusive: frozenset[str] = field(default_factory=frozenset)


def expect(*fails: str, may: tuple[str, ...] = (), unseen: tuple[str, ...] = ()) -> Expect:
    return Expect(frozenset(fails), frozenset(may), frozenset(unseen))


ECHO_CONTENT_PROPS = ("prop.echo", "prop.conversation", "prop.stateful")
BYE_PROPS = ("prop.conversation", "prop.stateful")
AUTH_PROPS = ("prop.auth", "prop.stateful")
ECHO_REPLIES = ("echo.exact", "echo.syntax-like", "echo.empty", "echo.whitespace",
                "echo.newlines", "echo.unicode", "echo.long", "echo.pipelined",
                "echo.stays-open", "echo.no-unsolicited")

#: The checks of /ws lines when no client gets in on /ws: each is inconclusive.
NO_ECHO_CLIENT = (*ECHO_REPLIES, "echo.idle", "bye.sequence", "bye.close-code",
                  "bye.nothing-after", "bye.after-pause", "bye.exact-word",
                  "bye.mid-conversation", "isolation.concurrent", "isolation.same-text",
                  "robust.binary", "robust.disconnect", *ECHO_CONTENT_PROPS, "prop.concurrent")

EXPECTED: dict[str, Expect] = {
    # --- /ws 1-3: the echo ----------------------------------------------------------------
    # No conversation on /ws can happen, so no check of a /ws line can vouch for it: every
    # one is inconclusive rather than passing vacuously, and echo.accept fails, saying why.
    "refuses_echo": expect("echo.accept", unseen=NO_ECHO_CLIENT),
    # Refusing clients without an Origin header is refusing every plain client: the same as
    # refuses_echo. Refusing those with one (every browser) fails echo.accept alone among
    # the fixed checks, since their clients send none; the generated conversations (and the
    # state machine) send it now and then, and may fail for it.
    "browsers_only": expect("echo.accept", unseen=NO_ECHO_CLIENT),
    "refuses_browsers": expect("echo.accept", may=BYE_PROPS),
    # An accept selecting what the client never offered: the client fails the connection,
    # so nobody gets in on /ws.
    "unasked_subprotocol": expect("echo.accept", unseen=NO_ECHO_CLIENT),
    "unoffered_extension": expect("echo.accept", unseen=NO_ECHO_CLIENT),
    # Sure failures of the echo properties: every generated message meets this defect. For
    # prop.stateful "sure" holds under the derandomized profile this test runs: with other
    # seeds a state-machine run of 10 steps may send no text on /ws at all (2 seeds in 20
    # in benchmarks/flake.py).
    "wrong_prefix": expect(*ECHO_REPLIES, *ECHO_CONTENT_PROPS),
    "formats_message": expect("echo.exact", "echo.syntax-like", may=ECHO_CONTENT_PROPS),
    "ignores_empty": expect("echo.empty", may=ECHO_CONTENT_PROPS),
    "strips_whitespace": expect("echo.whitespace", "echo.newlines", "echo.syntax-like",
                                may=ECHO_CONTENT_PROPS),
    "normalises_newlines": expect("echo.newlines", may=ECHO_CONTENT_PROPS),
    "normalises_unicode": expect("echo.unicode", may=ECHO_CONTENT_PROPS),
    "splits_unicode_lines": expect("echo.unicode", may=ECHO_CONTENT_PROPS),
    "drops_variation_selectors": expect("echo.unicode", may=ECHO_CONTENT_PROPS),
    # The rarer categories, one each: only echo.unicode's samples surely carry them.
    "drops_private_use": expect("echo.unicode", may=ECHO_CONTENT_PROPS),
    "drops_tags": expect("echo.unicode", may=ECHO_CONTENT_PROPS),
    "replaces_noncharacters": expect("echo.unicode", may=ECHO_CONTENT_PROPS),
    "plain_spaces": expect("echo.unicode", may=ECHO_CONTENT_PROPS),
    "drops_unassigned": expect("echo.unicode", may=ECHO_CONTENT_PROPS),
    "ascii_only": expect("echo.unicode", "echo.long", may=ECHO_CONTENT_PROPS),
    "truncates_long": expect("echo.long", may=ECHO_CONTENT_PROPS),
    # Only a text over 64 KiB meets these defects: the larger ones echo.long sends (100 and
    # 300 KiB, each on its own connection), where a close with 1009 is the only refusal.
    "truncates_long_text": expect("echo.long"),
    "big_text_closes_1011": expect("echo.long"),
    "drops_when_busy": expect("echo.pipelined", may=ECHO_CONTENT_PROPS),
    # Ten echoes then a close: the 10-message checks see the close, the longer ones an
    # unanswered message; bye.exact-word sees the chat end after a word that is not bye.
    "closes_after_ten": expect("echo.stays-open", "echo.unicode", "echo.pipelined",
                               "echo.syntax-like", "bye.exact-word", may=ECHO_CONTENT_PROPS),
    # A quota past every short conversation: only the hundreds of messages of echo.stays-open
    # (and, now and then, a long generated conversation) reach it.
    "quota_after_sixty": expect("echo.stays-open", may=ECHO_CONTENT_PROPS),
    "prompts_when_idle": expect("echo.no-unsolicited", may=ECHO_CONTENT_PROPS),
    # The same moment, ten million times: the client calls it a flood (test_bounds.py shows
    # the failure says so) and the run stays small.
    # bye.sequence and echo.idle listen before they speak, are flooded, and cannot speak;
    # the bye said after a pause meets the flood instead of its farewells (/ws 3: pauses
    # change nothing).
    "floods_when_idle": expect("echo.no-unsolicited", "bye.after-pause", may=ECHO_CONTENT_PROPS,
                               unseen=("bye.sequence", "echo.idle")),
    # Only a connection open for a second sees the tick: the idle watch.
    "ticks_every_second": expect("echo.idle", may=ECHO_CONTENT_PROPS),
    # An idle timeout past any idle watch: echo.idle follows the app's own timer in-process.
    "closes_when_idle": expect("echo.idle"),
    # A greeting right after the accept is in every echo transcript: the echo checks judge
    # whole transcripts and fail; the farewells, the bye's close and isolation are still right.
    "welcomes": expect(*ECHO_REPLIES, may=ECHO_CONTENT_PROPS),
    # Each reply comes one message late: the echo checks fail. The checks that judge a close
    # or a farewell further on never get there (reading stops at the first missing reply):
    # inconclusive, neither passed nor failed for a defect that is not theirs; so are the
    # isolation checks, whose lone clients get no reply to compare with.
    "answers_one_late": expect(*ECHO_REPLIES, may=ECHO_CONTENT_PROPS,
                               unseen=("echo.idle", "bye.nothing-after", "bye.exact-word",
                                       "bye.mid-conversation", "isolation.concurrent",
                                       "prop.concurrent", "robust.binary")),
    # Only a client that sends before reading sees two replies swapped.
    "swaps_pipelined_replies": expect("echo.pipelined", may=ECHO_CONTENT_PROPS),
    # Text that looks like syntax, one mistake of the catalogue (wscheck/generation/
    # catalogue.py) per family: only echo.syntax-like's corpus surely carries what each
    # mangles; the generated messages draw from the same corpus, and may.
    "templates_dollar": expect("echo.syntax-like", may=ECHO_CONTENT_PROPS),
    "unescapes_backslashes": expect("echo.syntax-like", may=ECHO_CONTENT_PROPS),
    "runs_commands": expect("echo.syntax-like", may=ECHO_CONTENT_PROPS),
    "parses_json": expect("echo.syntax-like", may=ECHO_CONTENT_PROPS),
    "escapes_html": expect("echo.syntax-like", may=ECHO_CONTENT_PROPS),
    "strips_tags": expect("echo.syntax-like", may=ECHO_CONTENT_PROPS),
    "doubles_quotes": expect("echo.syntax-like", may=ECHO_CONTENT_PROPS),
    "unquotes_message": expect("echo.syntax-like", may=ECHO_CONTENT_PROPS),
    "formats_numbers": expect("echo.syntax-like", may=ECHO_CONTENT_PROPS),
    # --- /ws 4: bye -----------------------------------------------------------------------
    "farewells_swapped": expect("bye.sequence", may=BYE_PROPS),
    "one_farewell": expect("bye.sequence", may=BYE_PROPS),
    "farewell_fullwidth_colon": expect("bye.sequence", may=BYE_PROPS),
    # The bye word echoed before the farewells: not exactly two texts (bye.sequence), and a
    # late bye is echoed (bye.mid-conversation judges exactly that).
    "echoes_bye": expect("bye.sequence", "bye.mid-conversation", may=BYE_PROPS),
    # Farewells but no close: the close is bye.sequence's and bye.mid-conversation's subject;
    # bye.close-code judges the code of a close, and there is none: inconclusive, like
    # bye.nothing-after (what follows a close that never came).
    "bye_keeps_open": expect("bye.sequence", "bye.mid-conversation", may=BYE_PROPS,
                             unseen=("bye.close-code", "bye.nothing-after",
                                     "bye.after-pause")),
    # The bye word never recognised: the close checks have nothing to judge.
    "ignores_bye": expect("bye.sequence", "bye.mid-conversation", may=BYE_PROPS,
                          unseen=("bye.close-code", "bye.nothing-after", "bye.after-pause")),
    # The same, only because the bye word is compared by identity: a server's frames are
    # new strings, and so now are the in-process driver's (it handed over its own object).
    "bye_by_identity": expect("bye.sequence", "bye.mid-conversation", may=BYE_PROPS,
                              unseen=("bye.close-code", "bye.nothing-after",
                                      "bye.after-pause")),
    # Only messages pipelined right after the bye word cut the farewells short.
    "bye_cut_short": expect("bye.sequence", may=BYE_PROPS),
    "bye_closes_1001": expect("bye.close-code", may=BYE_PROPS),
    # A close no server can send (a reason past what a close frame carries): in-process only
    # the close's own check can tell, the transcript being otherwise right.
    "bye_reason_too_long": expect("bye.close-code"),
    "sends_after_close": expect("bye.nothing-after", may=BYE_PROPS),
    "bye_any_case": expect("bye.exact-word", may=ECHO_CONTENT_PROPS),
    "bye_stripped": expect("bye.exact-word", may=ECHO_CONTENT_PROPS),
    "bye_nfkc": expect("bye.exact-word", may=ECHO_CONTENT_PROPS),
    "bye_ignores_invisible": expect("bye.exact-word", may=ECHO_CONTENT_PROPS),
    # A late bye is echoed: bye.nothing-after (bye after a message) never sees a close.
    "bye_only_first": expect("bye.mid-conversation", may=BYE_PROPS,
                             unseen=("bye.nothing-after",)),
    # Only a bye said after a pause is echoed: the time probe.
    "bye_only_early": expect("bye.after-pause", may=BYE_PROPS),
    # --- /ws 5: isolation (every interleaved run meets it) --------------------------------
    "replies_to_latest_client": expect("isolation.concurrent", "isolation.same-text",
                                       "prop.concurrent", may=("prop.stateful",)),
    # Leaks of other shapes, caught by provenance: every message carries its client's tag,
    # and a text on one connection with another client's tag is a leak, whatever its shape.
    "broadcasts": expect("isolation.concurrent", "isolation.same-text", "prop.concurrent",
                         may=("prop.stateful",)),
    "suffixes_other_client": expect("isolation.concurrent", "prop.concurrent",
                                    may=("prop.stateful",)),
    "swaps_when_together": expect("isolation.concurrent", "prop.concurrent",
                                  may=("prop.stateful",)),
    # Replies routed by their text: only identical texts sent at once show it (tags make
    # every text of isolation.concurrent unique); prop.concurrent draws such examples now
    # and then. replies_to_latest_client gives one client every reply, so it fails
    # isolation.same-text too.
    # The long run's clients send the same texts side by side too; whether two of them meet
    # at the same moment there is up to the scheduler, so it may fail, not must.
    "routes_by_text": expect("isolation.same-text",
                             may=("prop.concurrent", "prop.stateful", "isolation.long-run")),
    # One credential for all: only clients connected at the same time can tell.
    "shared_credential": expect("isolation.concurrent", may=("prop.stateful",)),
    # --- /item/ws -------------------------------------------------------------------------
    "accepts_missing_credentials": expect("auth.missing", "auth.missing-observable",
                                          "auth.lookalike-names", may=AUTH_PROPS),
    # A refusal with the wrong code, or with a message before the close, is no refusal in
    # the brief's sense: auth.missing-observable has no accept-then-close 1008 to approve.
    "refuses_with_1011": expect("auth.missing", "auth.missing-observable", "auth.q-invalid",
                              "auth.lookalike-names", may=AUTH_PROPS),
    # An HTTP 401 denial response: refused before the handshake completed, no close code.
    "denies_with_401": expect("auth.missing", "auth.missing-observable", "auth.q-invalid",
                            "auth.lookalike-names", may=AUTH_PROPS),
    "explains_refusal": expect("auth.missing", "auth.missing-observable", "auth.q-invalid",
                             "auth.lookalike-names", may=AUTH_PROPS),
    # The token no longer lets anyone in: auth.token fails; every check that needs a client
    # with a token let in is inconclusive (a refusal without credentials shows nothing when
    # everyone is refused). An empty cookie with a token is let in, with the wrong credential.
    "ignores_token": expect("auth.token", "auth.empty-credential",
                            unseen=("auth.q", "auth.bye-ordinary", "isolation.concurrent",
                                    "robust.binary", "robust.disconnect", "auth.missing",
                                    "auth.missing-observable", "auth.q-invalid", "auth.long",
                                    "auth.lookalike-names", "auth.query-syntax",
                                    "auth.syntax-like", "isolation.same-text", *AUTH_PROPS)),
    # No route at /item/ws: everyone is refused there. auth.token fails with the diagnosis;
    # the refusal checks do not pass it, robust.disconnect does not claim it stopped serving.
    "no_item_route": expect("auth.token",
                            unseen=("auth.missing", "auth.missing-observable", "auth.cookie",
                                    "auth.cookie-precedence", "auth.empty-credential",
                                    "auth.q", "auth.q-invalid", "auth.bye-ordinary",
                                    "isolation.concurrent", "robust.binary",
                                    "robust.disconnect", "auth.cookie-syntax", "auth.long",
                                    "auth.lookalike-names", "auth.query-syntax",
                                    "auth.syntax-like", "isolation.same-text", *AUTH_PROPS)),
    # Browsers refused on /item/ws only: auth.token, whose line is that a client with a
    # token is let in, asks with the Origin header too. Every other fixed check's client
    # sends none and is served, so their preconditions hold and they pass; the generated
    # conversations and the state machine send it now and then.
    "refuses_browsers_on_item": expect("auth.token", may=AUTH_PROPS),
    # A token not decoded: the spaced tokens of auth.query-syntax and the template-looking
    # one of auth.syntax-like are percent-encoded on the way, as every odd character is.
    "token_not_decoded": expect("auth.token", "auth.query-syntax", "auth.syntax-like",
                                may=AUTH_PROPS),
    # Credentials the short, plain, lone values of the fixed cases never showed wrong.
    "truncates_credential": expect("auth.token", "auth.cookie", "auth.long", may=AUTH_PROPS),
    # In-process a space was only ever spelled %20: a token spelled with + shows it.
    "token_plus_kept": expect("auth.token", "auth.query-syntax", may=AUTH_PROPS),
    "token_decoded_twice": expect("auth.token", may=AUTH_PROPS),
    "cookie_percent_decoded": expect("auth.cookie", may=AUTH_PROPS),
    # With a token only and another cookie, that cookie is taken for the session too.
    # The first cookie is a look-alike's too, and a look-alike alone lets a client in.
    "first_cookie": expect("auth.token", "auth.cookie", "auth.cookie-syntax",
                           "auth.lookalike-names", may=AUTH_PROPS),
    "names_any_case": expect("auth.token", "auth.cookie", may=AUTH_PROPS),
    "ignores_cookie": expect("auth.cookie", "auth.cookie-precedence", "auth.cookie-syntax",
                             "auth.long", "auth.empty-credential", "auth.q", may=AUTH_PROPS),
    "token_wins": expect("auth.cookie-precedence", "auth.empty-credential", may=AUTH_PROPS),
    "empty_cookie_absent": expect("auth.empty-credential", may=AUTH_PROPS),
    "empty_token_absent": expect("auth.empty-credential", may=AUTH_PROPS),
    "q_not_echoed": expect("auth.q", may=AUTH_PROPS),
    "q_zero_absent": expect("auth.q", may=AUTH_PROPS),
    # All three lines, in the wrong order: the whole-reply checks fail; the checks of which
    # credential is used and of the bye word's message line do not.
    "message_line_first": expect("auth.token", "auth.cookie", "auth.q", "auth.long",
                                 "auth.syntax-like", may=AUTH_PROPS),
    # A wrong message-line text: the whole-reply checks fail. auth.bye-ordinary does not: the
    # bye word still gets the same reply as any message, and nothing closes.
    "tidies_for_colon": expect("auth.token", "auth.cookie", "auth.q", "auth.long",
                               "auth.syntax-like", may=AUTH_PROPS),
    # An extra line in every reply without q: the checks of the whole reply fail (and the
    # auth property surely does), the checks of which credential is used do not.
    "q_line_always": expect("auth.q", "auth.token", "auth.cookie", "auth.long",
                            "auth.syntax-like", "prop.auth",
                            may=("prop.stateful",)),
    "q_length_guard": expect("auth.q", may=AUTH_PROPS),
    # The message line rendered from a template with the message pasted in: braces break it.
    "formats_item_message": expect("auth.syntax-like", may=AUTH_PROPS),
    # Credentials shaped like real ones, read by hand-rolled parsers; the model reads them
    # with the standard parsers (Starlette's cookie parser, urllib.parse). A look-alike
    # name taken for the credential, or a parser that chokes on a nameless cookie, also
    # lets in (or fails) a client that has only look-alikes: auth.lookalike-names's line.
    "cookie_split_on_equals": expect("auth.cookie-syntax", may=AUTH_PROPS),
    "cookie_keeps_quotes": expect("auth.cookie-syntax", may=AUTH_PROPS),
    "nameless_cookie_crash": expect("auth.cookie-syntax", "auth.lookalike-names", may=AUTH_PROPS),
    "cookie_suffix_match": expect("auth.cookie-syntax", "auth.lookalike-names", may=AUTH_PROPS),
    "token_regex": expect("auth.query-syntax", "auth.lookalike-names", may=AUTH_PROPS),
    "bare_param_crash": expect("auth.query-syntax", may=AUTH_PROPS),
    "token_stripped": expect("auth.query-syntax", may=AUTH_PROPS),
    # Lengths on the credentials endpoint: 64 KiB messages and 4,000-character credentials.
    "item_message_limit": expect("auth.long", may=AUTH_PROPS),
    "credential_length_guard": expect("auth.long", may=AUTH_PROPS),
    "accepts_bad_q": expect("auth.q-invalid", may=AUTH_PROPS),
    "bye_on_item": expect("auth.bye-ordinary", may=AUTH_PROPS),
    # --- SHOULD level ---------------------------------------------------------------------
    "refuses_before_accept": expect("auth.missing-observable"),
    "binary_closes_1000": expect("robust.binary"),
    "binary_ignored_on_item": expect("robust.binary"),
    # Only a binary message over 64 KiB meets these defects: the large ones robust.binary
    # sends (100 and 300 KiB), each on its own connection.
    "binary_size_as_text": expect("robust.binary"),
    "big_binary_closes_1008": expect("robust.binary"),
    "crashes_on_disconnect": expect("robust.disconnect"),
    # An error logged, not raised: only the app's log records show it (in-process).
    "logs_on_disconnect": expect("robust.disconnect"),
    "errors_when_dropped": expect("robust.disconnect"),
    "forgets_failed_task": expect("robust.disconnect"),
    # Only a client that drops right before the app's own close meets it.
    "close_unguarded": expect("robust.disconnect"),
    # --- the long run: state that builds up over the process ------------------------------
    # Each defect lies beyond the counts the rest of the suite reaches (about 260
    # connections, 1,100 replies and 20 byes at EXAMPLES) and within what the long run,
    # after them all, adds (240 connections, 3,240 replies, 180 byes).
    "leaks_slot_after_n": expect("isolation.long-run"),
    "drops_every_nth_reply": expect("isolation.long-run"),
    "bye_fails_after_n": expect("isolation.long-run"),
}

#: isolation.long-run's verdict on the other apps. Its precondition is that the first
#: conversation of each kind (an echo ending with the bye word; a token with and without q),
#: run alone at its start, gets what the model predicts: a defect that shows there does not
#: build up, the checks of its line name it, and the long run is inconclusive.
LONG_RUN_UNSEEN = (
    "browsers_only", "bye_by_identity", "bye_closes_1001", "bye_keeps_open", "bye_only_first",
    "echoes_bye", "farewell_fullwidth_colon", "farewells_swapped", "ignores_bye", "ignores_token",
    "message_line_first", "no_item_route", "one_farewell", "q_not_echoed", "refuses_echo",
    "swaps_pipelined_replies", "tidies_for_colon", "unasked_subprotocol",
    "unoffered_extension", "welcomes", "wrong_prefix",
)
#: Cross-talk shows once clients run side by side, as the long run's do after its start: it
#: fails, and says to look at isolation.concurrent too.
LONG_RUN_FAILS = ("broadcasts", "replies_to_latest_client", "shared_credential",
                  "swaps_when_together")
for _name in LONG_RUN_UNSEEN:
    _e = EXPECTED[_name]
    EXPECTED[_name] = Expect(_e.fails, _e.may_fail, _e.inconclusive | {"isolation.long-run"})
for _name in LONG_RUN_FAILS:
    _e = EXPECTED[_name]
    EXPECTED[_name] = Expect(_e.fails | {"isolation.long-run"}, _e.may_fail, _e.inconclusive)


def _broken_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(tests.broken.__path__))


def test_every_broken_app_is_in_the_table() -> None:
    assert sorted(EXPECTED) == _broken_modules()
    assert set(TIME_DEFECTS) <= set(EXPECTED)


def test_every_check_is_killed_by_some_broken_app() -> None:
    """Coverage cannot rot: a new check needs a broken app that it (surely) catches."""
    from tests.test_broken_rooms import ROOM_EXPECTED

    killed = set().union(*(e.fails for e in [*EXPECTED.values(), *ROOM_EXPECTED.values()]))
    missing = [c.id for c in SUITE.all() if c.id not in killed]
    assert not missing, f"no broken app is expected to fail: {missing}"


def test_the_table_names_only_real_checks() -> None:
    ids = {c.id for c in SUITE.all()}
    for name, e in EXPECTED.items():
        assert e.fails | e.may_fail | e.inconclusive <= ids, name
        assert not e.fails & e.may_fail, name
        assert not e.fails & e.inconclusive, name


def test_the_kill_matrix_is_generated_from_the_table() -> None:
    """docs/kill-matrix.md is this table rendered; regenerate: python -m tests.kill_matrix."""
    from tests.kill_matrix import DOC, generate

    assert DOC.read_text(encoding="utf-8") == generate(), (
        "docs/kill-matrix.md is stale: run `python -m tests.kill_matrix`")


def covering_set(table: dict[str, Expect], leave_out: set[str]) -> set[str]:
    """Few broken apps that, between them, surely fail every check some app of ``table``
    but those in ``leave_out`` fails: greedily the app that fails the most checks not yet
    failed (ties by name).

    The everyday tier (``scripts/test``, ``python -m pytest``) runs these, so that it still
    shows every check catching a defect; the whole matrix is marked slow and runs in CI
    (``scripts/test --slow``)."""
    apps = {n: e for n, e in table.items() if n not in leave_out}
    left = set().union(*(e.fails for e in apps.values()))
    chosen: set[str] = set()
    while left:
        best = min(apps, key=lambda n: (-len(apps[n].fails & left), n))
        chosen.add(best)
        left -= apps[best].fails
    return chosen


#: The broken apps of the everyday run (see :func:`covering_set`). Left out: the app whose
#: timer keeps it from ever being known idle, so that every quiet window of its suite runs in
#: full (20 s); its check, echo.idle, fails on it by default in tests/test_time_probes.py.
EVERYDAY = covering_set(EXPECTED, leave_out={"ticks_every_second"})


@pytest.mark.parametrize("name", [n if n in EVERYDAY else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(EXPECTED)])
def test_broken_app_fails_exactly_its_checks(name: str) -> None:
    module = importlib.import_module(f"tests.broken.{name}")
    outcomes = asgi_verdicts(module.app, examples=EXAMPLES,
                             idle_watch=TIME_DEFECTS.get(name, SHORT_WATCH))
    failed = failing(outcomes)
    e = EXPECTED[name]
    missed = e.fails - failed
    extra = failed - e.fails - e.may_fail
    assert not missed and not extra, (
        f"{name}: checks that should have failed but did not: {sorted(missed)}; "
        f"checks that failed for a defect that is not theirs: {sorted(extra)}")
    assert inconclusive(outcomes) == e.inconclusive, (
        f"{name}: inconclusive {sorted(inconclusive(outcomes))}, "
        f"expected {sorted(e.inconclusive)}")
