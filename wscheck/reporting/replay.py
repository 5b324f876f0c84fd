"""``wscheck replay REPORT.json CHECK_ID``: run a failing check's conversation again.

The report holds the conversation that showed the failure, the spec and the target. A report
is a file people share, so it is trusted for nothing: every value replay uses is type-checked
first (:func:`read_case`), an in-process app is imported only when ``--app`` names it, a CA
bundle is read only when ``--ca-file`` names it, and what the report says is printed clipped
with control characters escaped. Replay
runs that one conversation on the target (or on another one, ``--url`` / ``--app``), asks the
model for the expected transcript, prints both side by side and exits 1 if the transcript
still differs, 0 if it now conforms. For a network target :func:`httpx_ws_snippet` also
writes the conversation as a few lines of Python with httpx-ws, to paste anywhere.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from wscheck.config.settings import Given, Settings, resolve
from wscheck.core.cookies import cookie_header
from wscheck.core.events import (
    Accepted,
    ClientClose,
    Closed,
    Conversation,
    Drop,
    SendBytes,
    SendText,
    SpacesAs,
    describe,
)
from wscheck.core.render import render_conversation, side_by_side
from wscheck.core.spec import Spec
from wscheck.drivers.base import query_string
from wscheck.errors import ReplayError
from wscheck.reporting.reader import (
    MAX_REPORT_TIMEOUT,
    NOT_REPLAYED,
    ReplayCase,
    load_report,
    read_case,
)
from wscheck.reporting.redaction import MASK, cookie_shape, safe_line
from wscheck.run.conversation import Observation

if TYPE_CHECKING:
    from wscheck.config.target import Runtime

__all__ = ["ReplayCase", "ReplayError", "httpx_ws_snippet", "load_report", "read_case",
           "replay", "replay_command"]

#: Checks whose failure needs several clients at once: a single conversation replayed alone
#: may well conform.
CONCURRENT = frozenset({"isolation.concurrent", "prop.concurrent", "prop.stateful"})


def replay_command(report: str, check_id: str, *, url: str | None = None,
                   app: str | None = None) -> str:
    """The shell command that replays ``check_id`` from ``report``."""
    import shlex

    words = ["wscheck", "replay", report, check_id]
    if url:
        words += ["--url", url]
    elif app:
        words += ["--app", app]
    return " ".join(shlex.quote(w) for w in words)


def _ws_url(base: str, conversation: Conversation) -> str:
    url = base.rstrip("/") + conversation.path
    if conversation.query:
        # The network driver's encoding, each value's own space spelling kept.
        url += "?" + query_string(conversation.query, "+")
    return url


def httpx_ws_snippet(base_url: str, conversation: Conversation, spec: Spec | None = None) -> str:
    """The conversation as a standalone Python script using httpx-ws (the client the kit
    itself uses). In lock-step it reads, after each message, as many events as ``spec``'s
    model predicts; then it prints every event until the server closes or goes quiet."""
    from wscheck.model.echo import ModelConnection, UnspecifiedBehaviour

    model: ModelConnection | None = None
    if spec is not None and not conversation.pipelined:
        try:
            model = ModelConnection(spec, conversation)
            model.open()
        except UnspecifiedBehaviour:
            model = None
    sent: dict[str, str] = {}
    if conversation.origin:
        import httpx  # only for a network target, whose driver has imported both

        from wscheck.drivers.handshake import page_origin

        sent["Origin"] = page_origin(httpx.URL(base_url))
    if conversation.cookies:
        sent["Cookie"] = cookie_header(conversation.cookies)
    headers = f", headers={sent!r}" if sent else ""
    lines = [
        "# pip install httpx-ws",
        "import httpx_ws",
        "",
    ]
    if any(MASK in v for _k, v in (*conversation.query, *conversation.cookies)):
        lines.insert(1, "# credentials are masked (t•••): run with --wscheck-show-credentials "
                        "to see the values sent")
    lines += [
        f"with httpx_ws.connect_ws({_ws_url(base_url, conversation)!r}{headers}) as ws:",
    ]
    for action in conversation.actions:
        if isinstance(action, SendText):
            lines.append(f"    ws.send_text({action.text!r})")
        elif isinstance(action, SendBytes):
            lines.append(f"    ws.send_bytes({action.data!r})")
        elif isinstance(action, ClientClose):
            lines.append(f"    ws.close({action.code})")
            return "\n".join(lines)
        elif isinstance(action, Drop):
            lines.append("    ws.stream.close()  # drop: no closing handshake")
            return "\n".join(lines)
        replies = model.step(action) if model is not None else ()
        reads = sum(1 for r in replies if not isinstance(r, Closed))
        lines += ["    print(ws.receive(timeout=2))"] * reads
    lines += [
        "    try:  # everything else, until the server closes or is quiet for 2 s",
        "        while True:",
        "            print(ws.receive(timeout=2))",
        "    except Exception as exc:",
        "        print(type(exc).__name__, exc)",
    ]
    return "\n".join(lines)


def _unmask(conversation: Conversation) -> tuple[Conversation, bool]:
    """Stand-in values for credentials the report masked; whether there were any."""
    stand_ins: dict[str, str] = {}

    def fix(value: str) -> str:
        if MASK not in value:
            return value
        if isinstance(value, SpacesAs):
            # The masked value had spaces, spelled this way: so has its stand-in, since a
            # failure may depend on how a space is spelled.
            return stand_ins.setdefault(
                value, SpacesAs(f"replay {len(stand_ins) + 1}", value.spelling))
        return stand_ins.setdefault(value, f"replay{len(stand_ins) + 1}")

    def fix_cookie(value: str) -> str:
        if MASK not in value:
            return value
        # Its quotes and padding were kept by the mask: so has its stand-in.
        opening, _core, closing = cookie_shape(value)
        return stand_ins.setdefault(value, f"{opening}replay{len(stand_ins) + 1}{closing}")

    query = tuple((k, fix(v)) for k, v in conversation.query)
    cookies = tuple((k, fix_cookie(v)) for k, v in conversation.cookies)
    return dataclasses.replace(conversation, query=query, cookies=cookies), bool(stand_ins)


def conforms(spec: Spec, obs: Observation) -> bool:
    """Whether a replayed transcript is what the protocol says. A refusal in its wire form
    (a close before accept, HTTP 403 on the network) conforms too, as in ``auth.missing``."""
    if obs.ok and obs.aftermath is None:
        return True
    if spec.auth is not None and obs.aftermath is None:
        from wscheck.checks.judging import refusal_form

        code = spec.auth.denied_close_code
        return obs.expected == (Accepted(), Closed(code)) and refusal_form(
            obs, code) == "before-accept"
    return False


def _settings(case: ReplayCase, report_path: str | Path, *, url: str | None,
              app: str | None, timeout: float | str | None, ca_file: str | None) -> Settings:
    """The replay's settings: the report's timeout and quiet window, overridden by the flags
    given, all checked as a run's are; a bad value is named by its flag or by its field in
    the report. The target and the CA bundle never come from an in-process report: a report
    is shared and edited like any file, and importing the module it names (or reading the
    file it names) would run or read what nobody chose."""
    given: dict[str, Given] = {}
    if url:
        given["url"] = Given(url, "--url")
    if app:
        given["app"] = Given(app, "--app")
    if not (url or app):
        if case.target_kind == "app":
            raise ReplayError(
                f"{report_path} was written for the in-process app "
                f"{safe_line(repr(case.target), 200)}; replay imports an app only when the "
                "command line names it: add --app MODULE:ATTR (or --url ws://HOST:PORT)")
        given["url"] = Given(case.target, f"target.value of {report_path}")
    if timeout is not None:
        given["timeout"] = Given(timeout, "--timeout")
    elif case.timeout > MAX_REPORT_TIMEOUT:  # a hand-edited report must not stall replay
        raise ReplayError(f"{report_path}: settings.timeout {case.timeout:g} is more than "
                          f"{MAX_REPORT_TIMEOUT:g} seconds: give --timeout SECONDS")
    else:
        given["timeout"] = Given(case.timeout, f"settings.timeout of {report_path}")
    given["quiet_window"] = Given(case.quiet_window or None,
                                  f"settings.quiet_window of {report_path}")
    if ca_file is not None:
        given["ca_file"] = Given(ca_file, "--ca-file")
    settings = resolve(given, rootdir=Path.cwd(), interface="run", spec=case.spec)
    if settings.quiet_window > settings.timeout:  # a window longer than any wait means nothing
        settings = dataclasses.replace(settings, quiet_window=settings.timeout)
    return settings


def _show_case(check_id: str, case: ReplayCase, target: str, conversation: Conversation, *,
               stand_ins: bool, out: TextIO) -> None:
    """What is replayed, on what, and what the report saw, before the target is met."""
    print(f"replaying {check_id} [{case.level}] on {safe_line(target, 200)}", file=out)
    if case.problem:
        print(f"reported: {safe_line(case.problem)}", file=out)
    if stand_ins:
        print("note: the report masks credentials; stand-in values are used (write the "
              "report with --show-credentials, or --wscheck-show-credentials under pytest, to "
              "replay the exact ones)", file=out)
    if check_id in CONCURRENT or (check_id.startswith("asyncapi.") and check_id.endswith(
            (".isolation", ".stateful"))):
        print("note: this check failed with several clients at once; the conversation is "
              "replayed alone and may conform alone", file=out)
    print("", file=out)
    print("conversation:", file=out)
    print(render_conversation(conversation), file=out)
    print("", file=out)
    if case.expected or case.observed:
        print("in the report:", file=out)
        print(side_by_side(case.expected, case.observed), file=out)
        print("", file=out)


async def _rejudge(runtime: Runtime, check_id: str,
                   conversation: Conversation) -> tuple[Observation, str | None]:
    """An AsyncAPI check's conversation run again and judged by that check's rules."""
    from wscheck.checks.asyncapi import rejudge
    from wscheck.run.registry import Context

    assert runtime.driver is not None
    return await rejudge(Context(runtime.settings.spec, runtime.driver), check_id,
                         conversation)


def replay(report_path: str | Path, check_id: str, *, url: str | None = None,
           app: str | None = None, timeout: float | str | None = None,
           ca_file: str | None = None, out: TextIO | None = None) -> int:
    """Run the check's conversation from the report again; 1 if it still fails, 0 if it
    conforms now. Raises :class:`ReplayError` for a report or id that cannot be replayed, and
    a usage error for a bad flag (both exit 4)."""
    from wscheck.config.target import Runtime, TargetDown, load_app

    out = out if out is not None else sys.stdout  # looked up now: pytest swaps it
    case = read_case(report_path, check_id)
    if check_id.startswith("rfc6455."):
        # Its evidence is a frame trace, not a conversation: the case itself runs again.
        flag = ("--url " if case.target_kind == "url" else "--app ") + safe_line(case.target, 200)
        raise ReplayError(
            f"{check_id} is an rfc6455 case: its frames are in the report's trace; run it "
            f"again with: wscheck run {flag} --suite rfc6455 -- -k {check_id}")
    if case.conversation is None or case.verdict in NOT_REPLAYED:
        raise ReplayError(
            f"{check_id} is not a failure with a conversation in {report_path} (verdict "
            f"{case.verdict}): only failures that observed a transcript can be replayed")
    spec = case.spec
    conversation, stand_ins = _unmask(case.conversation)
    settings = _settings(case, report_path, url=url, app=app, timeout=timeout,
                         ca_file=ca_file)
    loaded = load_app(settings.app) if settings.app else None
    _show_case(check_id, case, settings.target, conversation, stand_ins=stand_ins, out=out)

    runtime = Runtime(settings, loaded)
    problem: str | None = None
    try:
        runtime.ensure_up()
        if spec.api is not None and check_id.startswith("asyncapi."):
            obs, problem = runtime.call(_rejudge, runtime, check_id, conversation)
        else:
            obs = runtime.call(runtime.run, conversation)
    except TargetDown as exc:
        print(f"the target does not answer: {safe_line(str(exc))}", file=out)
        return 1
    finally:
        runtime.close()
    print("now:", file=out)
    print(side_by_side(obs.expected, obs.observed), file=out)
    if obs.aftermath is not None:
        print("after the conversation, on the server side: " + describe(obs.aftermath),
              file=out)
    print("", file=out)
    if problem is not None:
        print(f"now: {safe_line(problem)}", file=out)
    if (conforms(spec, obs) if spec.api is None or not check_id.startswith("asyncapi.")
            else problem is None):
        print(f"{check_id}: the conversation now conforms", file=out)
        return 0
    print(f"{check_id}: still fails", file=out)
    if settings.url:
        print("\nthe same conversation with httpx-ws:\n"
              + httpx_ws_snippet(settings.url, conversation, spec), file=out)
    return 1
