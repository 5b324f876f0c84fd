"""Credentials masked, target texts made safe to print: one pass over a verdict before anyone
shows it.

The kit sends credentials (the token's query value, every cookie value) and a target may echo
them anywhere: in a reply, a close reason, an exception. :func:`redact_verdict` masks them in
the conversation, in every event and in the problem and notes, so that the terminal, JUnit
XML, the JSON and HTML reports and the replay hints all show the same masked values unless the
run was asked to show credentials. It also clips the problem and the notes and escapes their
control characters (see :mod:`wscheck.core.limits`), since they may quote what the target sent.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from wscheck.core.cookies import cookie_header, parse_cookie_header
from wscheck.core.events import (
    AppCrashed,
    AppLogged,
    Closed,
    Conversation,
    Event,
    ProtocolViolation,
    SpacesAs,
    Text,
    TransportError,
)
from wscheck.core.limits import CLIP_LENGTH, clip, printable

if TYPE_CHECKING:
    from wscheck.core.spec import Spec
    from wscheck.run.registry import Verdict

__all__ = ["MASK", "Masker", "mask", "redact_verdict", "safe_line", "safe_text",
           "set_log_redaction"]

MASK = "•••"

#: Shorter credentials are masked where they stand (query, cookies, the credential reply) but
#: not searched for inside other texts, where they would hit ordinary words by chance.
MIN_SEARCHED_LENGTH = 3


def cookie_shape(value: str) -> tuple[str, str, str]:
    """A cookie value cut into what opens it (a double quote), its core, and what closes it
    (``=`` padding, then the closing quote): the shape a masked value and its stand-in keep."""
    quoted = len(value) >= 2 and value[0] == value[-1] == '"'
    inner = value[1:-1] if quoted else value
    core = inner.rstrip("=")
    quote = '"' if quoted else ""
    return quote, core, inner[len(core):] + quote


def mask(value: str) -> str:
    """``"tok123"`` → ``"t•••"``; the empty value stays empty (the protocol tells empty from
    absent, so that difference is kept)."""
    return value[:1] + MASK if value else ""


def safe_line(text: str, limit: int = CLIP_LENGTH) -> str:
    """One line of text from the run, clipped and with every control character escaped."""
    return printable(clip(text, limit))


def safe_text(text: str, limit: int = CLIP_LENGTH) -> str:
    """Several lines of text from the run: as :func:`safe_line`, keeping newlines and tabs."""
    return printable(clip(text, limit), keep_newlines=True)


class Masker:
    """Masks the credentials of one conversation wherever they show up."""

    def __init__(self, spec: Spec, conversation: Conversation) -> None:
        self._spec = spec
        secrets: list[str] = []
        token = spec.auth.token if spec.auth is not None else None
        for key, value in conversation.query:
            if key == token and value not in secrets:
                secrets.append(value)
        for _key, value in conversation.cookies:
            if value not in secrets:
                secrets.append(value)
        # A cookie as the server reads it (a quoted value unquoted) shows up in replies too.
        for value in parse_cookie_header(cookie_header(conversation.cookies)).values():
            if value not in secrets:
                secrets.append(value)
        self.masks: dict[str, str] = {}
        used: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            shown, n = mask(secret), 1
            while shown in used:  # two credentials with one first letter stay told apart
                n += 1
                shown = f"{mask(secret)}{n}"
            used.add(shown)
            self.masks[secret] = shown

    def text(self, text: str) -> str:
        """``text`` with every credential of the conversation masked."""
        auth = self._spec.auth
        if auth is not None:
            for secret, shown in self.masks.items():
                try:
                    line = auth.render(auth.credential_reply, credential=secret)
                except (KeyError, IndexError, ValueError):  # pragma: no cover - spec checked
                    break
                if text == line:
                    return auth.render(auth.credential_reply, credential=shown)
        for secret in sorted(self.masks, key=len, reverse=True):
            if len(secret) >= MIN_SEARCHED_LENGTH:
                text = text.replace(secret, self.masks[secret])
        return text

    def conversation(self, conversation: Conversation) -> Conversation:
        """The conversation with the token's query value and the cookie values masked."""
        token = self._spec.auth.token if self._spec.auth is not None else None
        return dataclasses.replace(
            conversation,
            query=tuple((k, self._masked(v) if k == token else v)
                        for k, v in conversation.query),
            cookies=tuple((k, self._masked_cookie(v)) for k, v in conversation.cookies),
        )

    def _masked_cookie(self, value: str) -> str:
        """A cookie value masked, keeping its shape: double quotes around it and ``=``
        padding at its end stay (standard parsing removes the quotes, and a failure may
        depend on either), so a replay's stand-in can have them too."""
        if value not in self.masks:
            return value
        shown = self.masks[value]
        opening, core, closing = cookie_shape(value)
        if not core or not (opening or closing):
            return shown
        suffix = shown[len(mask(value)):]  # what tells two masks with one first letter apart
        return opening + mask(core) + suffix + closing

    def _masked(self, value: str) -> str:
        """A query value masked, keeping how its spaces were spelled (the report says it)."""
        shown = self.masks.get(value, value)
        if isinstance(value, SpacesAs) and shown is not value:
            return SpacesAs(shown, value.spelling)
        return shown

    def event(self, event: Event) -> Event:
        """The event with credentials masked in every text it carries: a reply, a close
        reason, an exception, a problem."""
        match event:
            case Text(text):
                return Text(self.text(text))
            case Closed(code, reason):
                return Closed(code, self.text(reason))
            case AppCrashed(exception):
                return AppCrashed(self.text(exception))
            case AppLogged(level, logger, message):
                return AppLogged(level, logger, self.text(message))
            case ProtocolViolation(problem):
                return ProtocolViolation(self.text(problem))
            case TransportError(problem):
                return TransportError(self.text(problem))
        return event


def redact_verdict(verdict: Verdict, spec: Spec, *, show_credentials: bool = False) -> Verdict:
    """The verdict as it may be shown: credentials masked (unless ``show_credentials``) in
    the conversation, the transcripts, the aftermath, the problem, the notes and the reason
    a check was inconclusive; those texts clipped and safe to print."""
    obs = verdict.observation
    text = _same
    if obs is not None and not show_credentials:
        masker = Masker(spec, obs.conversation)
        if masker.masks:
            text = masker.text
            obs = dataclasses.replace(
                obs,
                conversation=masker.conversation(obs.conversation),
                expected=tuple(masker.event(e) for e in obs.expected),
                observed=tuple(masker.event(e) for e in obs.observed),
                aftermath=masker.event(obs.aftermath) if obs.aftermath is not None else None,
            )
    return dataclasses.replace(
        verdict,
        problem=safe_line(text(verdict.problem)) if verdict.problem is not None else None,
        observation=obs,
        notes=tuple(safe_text(text(n)) for n in verdict.notes),
        inconclusive=(safe_line(text(verdict.inconclusive)) if verdict.inconclusive is not None
                      else None),
        informational=(safe_line(verdict.informational) if verdict.informational is not None
                       else None),
        not_applicable=(safe_line(verdict.not_applicable)
                        if verdict.not_applicable is not None else None),
        trace=tuple(safe_line(line) for line in verdict.trace),
    )


def _same(text: str) -> str:
    return text


# --- logs -----------------------------------------------------------------------------------

#: The logger of the kit's network client: it logs each request's URL, query string included.
HTTP_CLIENT_LOGGER = "httpx"


class _QueryRedactingFilter(logging.Filter):
    """Masks query values in the URLs httpx logs (``HTTP Request: GET ws://…?token=…``) at
    INFO: with ``--log-level=INFO`` pytest shows captured logs of a failing check in the
    terminal and JUnit XML, which would put the token the kit sent there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_url_without_values(a) for a in record.args)
        return True


def _url_without_values(value: object) -> object:
    import httpx

    if not isinstance(value, httpx.URL) or not value.query:
        return value
    names = "&".join(f"{k}={MASK}" for k, _ in value.params.multi_items())
    return f"{value.copy_with(query=None)}?{names}"


def set_log_redaction(enabled: bool) -> None:
    """Mask (or stop masking) the query values in the kit's HTTP client logs."""
    logger = logging.getLogger(HTTP_CLIENT_LOGGER)
    for existing in [f for f in logger.filters if isinstance(f, _QueryRedactingFilter)]:
        logger.removeFilter(existing)
    if enabled:
        logger.addFilter(_QueryRedactingFilter())
