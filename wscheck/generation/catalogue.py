"""A catalogue of real-world mangling: what web developers do to a message that looks like
syntax, as small operators, and the texts that expose every one of them.

A chat server must echo any text unchanged (protocol ``/ws`` 2, ``/item/ws`` 3), but text
that *looks* like something else tempts code to treat it as such: a template, an escape
sequence, a command, JSON, markup, a query, a number. Each :class:`Operator` is one such
mistake as one line of Python, the way an app would write it. :data:`SYNTAX_LIKE` is the
corpus the fixed checks send (``echo.syntax-like``, ``auth.syntax-like``) and the
strategies draw from (:func:`~wscheck.generation.strategies.syntax_like_texts`);
``tests/test_strategies.py`` keeps it honest: every operator changes (or chokes on) at least
one text of the corpus, so no mistake of the catalogue can pass the fixed checks.

Pure data and functions: no Hypothesis, no I/O.
"""

from __future__ import annotations

import codecs
import html
import json
import re
import shlex
import string
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

__all__ = ["FAMILIES", "OPERATORS", "SYNTAX_LIKE", "Operator", "exposes"]


@dataclass(frozen=True)
class Operator:
    """One realistic mistake: ``apply`` is what the app does to a message (it may raise, as
    the app then does); ``mistake`` is the code a developer writes, for the reader."""

    name: str
    family: str
    mistake: str
    apply: Callable[[str], str]


def exposes(operator: Operator, text: str) -> bool:
    """Whether ``text`` shows ``operator``: the text comes out changed, or the app chokes."""
    try:
        return operator.apply(text) != text
    except Exception:
        return True


def _json_roundtrip(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return json.dumps(value)


def _json_as_python(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return str(value)


def _number(convert: Callable[[str], object], render: Callable[[object], str]
            ) -> Callable[[str], str]:
    def apply(text: str) -> str:
        try:
            value = convert(text)
        except ValueError:
            return text
        return render(value)
    return apply


def _thousands(value: object) -> str:
    return f"{value:,}"


def _command(prefix: str) -> Callable[[str], str]:
    def apply(text: str) -> str:
        if text.startswith(prefix) and len(text) > 1:
            return f"unknown command: {text[1:].split()[0] if text[1:].split() else ''}"
        return text
    return apply


_EMOJI = {":)": "\U0001f642", ":smile:": "\U0001f604", ":(": "\U0001f641"}


def _shortcodes(text: str) -> str:
    for code, emoji in _EMOJI.items():
        text = text.replace(code, emoji)
    return text


#: The operators, by family; each family is one kind of syntax a message may look like.
OPERATORS: tuple[Operator, ...] = (
    # --- templates: the message pasted into a template, then rendered --------------------
    Operator("str.format", "template", "(PREFIX + message).format(user=name)",
             lambda m: m.format_map(defaultdict(str))),
    Operator("string.Template", "template",
             "string.Template(PREFIX + message).safe_substitute(name=user)",
             lambda m: string.Template(m).safe_substitute(name="guest", x="guest")),
    Operator("percent-format", "template", "(PREFIX + message) % ()", lambda m: m % ()),
    Operator("mustache", "template", "chevron.render(PREFIX + message, {})",
             lambda m: re.sub(r"\{\{\s*[\w.]*\s*\}\}", "", m)),
    # --- escapes: backslash sequences typed as text, taken for escapes ------------------
    Operator("unicode_escape", "escape",
             "message.encode('latin-1', 'backslashreplace').decode('unicode_escape')",
             lambda m: codecs.decode(m.encode("latin-1", "backslashreplace"),
                                     "unicode_escape")),
    Operator("typed-newlines", "escape", "message.replace('\\\\n', '\\n')",
             lambda m: m.replace("\\n", "\n").replace("\\t", "\t")),
    Operator("stripslashes", "escape", "message.replace('\\\\', '')",
             lambda m: m.replace("\\", "")),
    # --- commands: a message that starts like a chat command, routed as one -----------------
    Operator("slash-command", "command", "if message.startswith('/'): run_command(...)",
             _command("/")),
    Operator("bang-command", "command", "if message.startswith('!'): run_bot_command(...)",
             _command("!")),
    # --- JSON: a message parsed as JSON when it parses, rendered back -----------------------
    Operator("json-roundtrip", "json", "json.dumps(json.loads(message))", _json_roundtrip),
    Operator("json-as-python", "json", "str(json.loads(message))", _json_as_python),
    # --- markup: HTML escaped, unescaped, stripped, or Markdown stripped --------------------
    Operator("html.escape", "markup", "html.escape(message)", html.escape),
    Operator("html.escape-no-quotes", "markup", "html.escape(message, quote=False)",
             lambda m: html.escape(m, quote=False)),
    Operator("html.unescape", "markup", "html.unescape(message)", html.unescape),
    Operator("strip-tags", "markup", "re.sub(r'<[^>]*>', '', message)",
             lambda m: re.sub(r"<[^>]*>", "", m)),
    Operator("strip-markdown", "markup", "re.sub(r'[*_`~]', '', message)",
             lambda m: re.sub(r"[*_`~]", "", m)),
    # --- injection guards: SQL and shell quoting applied to the text that is echoed ---------
    Operator("sql-quotes", "injection", "message.replace(\"'\", \"''\")",
             lambda m: m.replace("'", "''")),
    Operator("sql-comment", "injection", "message.split('--')[0]",
             lambda m: m.split("--")[0]),
    Operator("shlex", "injection", "' '.join(shlex.split(message))",
             lambda m: " ".join(shlex.split(m))),
    # --- numbers: a message that is a number, parsed and formatted back ---------------------
    Operator("int", "number", "str(int(message))", _number(int, str)),
    Operator("float", "number", "str(float(message))", _number(float, str)),
    Operator("thousands", "number", "f'{int(message):,}'", _number(int, _thousands)),
    # --- URL encoding: a message taken for (or turned into) a URL-encoded value -------------
    Operator("unquote", "url", "urllib.parse.unquote(message)", unquote),
    Operator("unquote_plus", "url", "urllib.parse.unquote_plus(message)", unquote_plus),
    # --- chat niceties: emoji shortcodes, links, case -------------------------------------
    Operator("shortcodes", "chat", "message.replace(':)', '🙂')", _shortcodes),
    Operator("autolink", "chat", "re.sub(r'(https?://\\S+)', r'<a href=\"\\1\">\\1</a>', m)",
             lambda m: re.sub(r"(https?://\S+)", r'<a href="\1">\1</a>', m)),
    Operator("lower", "chat", "message.lower()", str.lower),
)

#: Every family of :data:`OPERATORS`, in order.
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(op.family for op in OPERATORS))

#: Texts that look like syntax, one or more per kind; together they expose every operator
#: of :data:`OPERATORS` (``tests/test_strategies.py``). Short, so that one conversation
#: carries them all.
SYNTAX_LIKE: tuple[str, ...] = (
    # templates
    "$name", "${x}", "$$", "{x}", "{0}", "{}", "{{x}}", "{{ name }}", "%s", "%d", "%(x)s",
    "%%", "100%",
    # escapes typed as text
    "\\n", "\\t", "\\\\", "\\u00e9", "\\x41", "C:\\new\\table",
    # commands
    "/help", "/me waves", "!cmd", "!ban all",
    # numbers and JSON
    " 5", "1e2", "007", "1.50", "+5", "1_000", "1234567", "-0", "NaN",
    '{"a":1}', "[1,2]", "[1]", "true", "false", "null", '"x"',
    # markup
    "<script>alert(1)</script>", "<b>bold</b>", "<", ">", "&", "a < b && c > d",
    "&amp;", "&lt;b&gt;", "&#39;", "&nbsp;", 'say "hi"', "it's",
    "**bold**", "_x_", "`code`", "~~strike~~",
    # SQL and shell
    "'; DROP TABLE messages; --", "a -- b", "$(whoami)", "`id`", "a | b", "it's \"quoted\"",
    # URL-encoded looking
    "%20", "a+b", "%41%zz", "50%25",
    # chat
    ":)", ":smile:", "https://example.com/?a=1&b=2", "@everyone", "#channel", "Hello World",
)
