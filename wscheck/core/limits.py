"""Bounds on what the kit reads and prints, and the helpers that enforce them.

The kit reads files the user names (spec, ``pyproject.toml``, known-failures list, a report to
replay) and prints or stores texts the target chose (replies, close reasons, exception text).
Neither is trusted to be small or well-formed: a spec path may name ``/dev/zero`` or a FIFO, a
TOML file may nest a thousand levels deep, an app may reply with a megabyte or with terminal
escape sequences. Every bound is a named constant here, listed in the guide's "Limits and
safety" section, so that a setting can take each one over later without a hunt.
"""

from __future__ import annotations

import hashlib
import os
import stat
import unicodedata
from pathlib import Path

from wscheck.errors import SettingError, UsageError

__all__ = [
    "CLIP_BYTES",
    "CLIP_LENGTH",
    "KEEP_LENGTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_DOCUMENT_FILES",
    "MAX_DOCUMENT_NODES",
    "MAX_INPUT_FILE_BYTES",
    "MAX_MESSAGE_LENGTH",
    "MAX_NESTING",
    "MAX_REPORT_FILE_BYTES",
    "MAX_TOML_KEY_PARTS",
    "KeptText",
    "check_report_path",
    "clip",
    "clip_kept",
    "printable",
    "read_regular_file",
    "toml_shape_problem",
]

#: Largest spec, ``pyproject.toml`` or known-failures file read (a real one is a few KiB).
MAX_INPUT_FILE_BYTES = 256 * 1024
#: Largest AsyncAPI document (each file a ``$ref`` names included) read; real ones are tens
#: of KiB.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
#: Most files one AsyncAPI document may pull in through relative ``$ref``\ s.
MAX_DOCUMENT_FILES = 64
#: Most values (objects, arrays, scalars) an AsyncAPI document may hold once its YAML aliases
#: and ``$ref``\ s are followed: a "billion laughs" document is refused, not expanded.
MAX_DOCUMENT_NODES = 500_000
#: Largest report ``wscheck replay`` reads (reports clip what the target sent, see below).
MAX_REPORT_FILE_BYTES = 32 * 1024 * 1024
#: Deepest nesting of arrays and tables accepted in TOML (deeper input exhausts the parser's
#: recursion), and in a report read back.
MAX_NESTING = 32
#: Most parts in one dotted TOML key (``a.b.c`` has three). Python's TOML parser keeps every
#: prefix of a dotted key, so its memory grows with the square of the parts: 50 000 parts in a
#: 100 KB file take gigabytes.
MAX_TOML_KEY_PARTS = 32
#: Characters of a text the target sent (reply, close reason, exception) kept in reports and
#: printed; a longer text keeps its head and tail and says its length and SHA-256 digest.
CLIP_LENGTH = 2000
#: Characters of a text the target sent that a transcript keeps whole, beyond everything its
#: conversation sent when it opened. No reply the model predicts is longer: a reply is a
#: template around what the client sent, and this is well above the longest message the
#: kit's own strategies send after opening (64 KiB, the state machine's) with a credential
#: and a tag (the fixed checks' larger messages, up to 300 KiB, are sent, so counted). A
#: longer one is clipped as above the moment it is recorded, so a target answering every
#: message with 16 MiB costs a failing check kilobytes, not gigabytes.
KEEP_LENGTH = 256 * 1024
#: Bytes of a binary message the target sent kept in reports (its size is kept too).
CLIP_BYTES = 1024
#: Characters of a pytest failure message or error traceback kept in a report.
MAX_MESSAGE_LENGTH = 20_000


# --- files ----------------------------------------------------------------------------------


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"  # pragma: no cover - no other kinds on POSIX


def read_regular_file(path: str | Path, what: str, limit: int,
                      error: type[UsageError]) -> str:
    """The UTF-8 text of ``path``, or ``error`` with one line naming ``what`` and the path.

    The file must be a regular file (a symlink to one is fine) of at most ``limit`` bytes.
    Its type is checked with ``os.stat`` before it is opened, and it is opened non-blocking
    and checked again on the open descriptor, so a FIFO (or one swapped in between) cannot
    block the run and a device such as ``/dev/zero`` is never read.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what} {path} cannot be read: it is {_kind(info.st_mode)}, "
                    "not a regular file")
    if info.st_size > limit:
        raise error(f"{what} {path} cannot be read: it is too large ({info.st_size} bytes; "
                    f"the limit is {limit})")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"{what} {path} cannot be read: it is {_kind(mode)}, "
                        "not a regular file")
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise error(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{what} {path} cannot be read: it is too large (more than {limit} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} cannot be read: it is not UTF-8 text ({exc.reason} at "
                    f"byte {exc.start})") from None


_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_- \t")


def check_report_path(path: str, flag: str) -> None:
    """Refuse a report path that exists and is not a regular file, naming ``flag``.

    A report replaces the file at its path as a whole (written beside it, then renamed over
    it), so the path must be a regular file or nothing yet: a symbolic link, a FIFO, a device
    (``/dev/stdout``) or a directory is refused rather than replaced or written through, which
    as root could swap a system file for a report.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SettingError(f"{flag} {path!r} cannot be written: {exc.strerror or exc}"
                           ) from None
    if stat.S_ISREG(info.st_mode):
        return
    kind = ("a symbolic link" if stat.S_ISLNK(info.st_mode) else
            "a directory" if stat.S_ISDIR(info.st_mode) else
            "a FIFO" if stat.S_ISFIFO(info.st_mode) else
            "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else
            "not a regular file")
    raise SettingError(f"{flag} {path!r} is {kind}: give the path of a regular file (a "
                       "report replaces it as a whole)")



def toml_shape_problem(text: str) -> str | None:
    """Why ``text`` is too deep for the TOML parser to read safely, or None.

    One linear pass that knows just enough TOML (strings, comments, brackets, dots) to find
    how deep arrays and inline tables nest and how many parts a dotted key has, the two shapes
    that make Python's parser recurse too deep or use memory quadratic in the input. Anything
    else, valid or not, is left to the parser.
    """
    depth = 0
    parts = 1
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in "\"'":
            triple = text.startswith(c * 3, i)
            quote = c * 3 if triple else c
            j = i + len(quote)
            while j < n:
                if c == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(quote, j):
                    break
                if not triple and text[j] == "\n":
                    break  # an unterminated string: the parser will say so
                j += 1
            i = j + len(quote)
            if triple:  # up to two more quotes may close a multi-line string
                while i < n and text[i] == c:
                    i += 1
            continue
        if c == ".":
            parts += 1
            if parts > MAX_TOML_KEY_PARTS:
                return f"a dotted key has more than {MAX_TOML_KEY_PARTS} parts"
        elif c in "[{":
            depth += 1
            parts = 1
            if depth > MAX_NESTING:
                return f"arrays or tables nest more than {MAX_NESTING} deep"
        elif c in "]}":
            depth = max(0, depth - 1)
            parts = 1
        elif c not in _BARE:
            parts = 1
        i += 1
    return None


# --- texts the target chose -------------------------------------------------------------------


def clip_kept(text: str) -> str:
    """``text`` clipped for keeping in a transcript: the head, tail, length and digest that
    :func:`clip` gives, short enough that a report's own clip leaves it as it is (so the
    length and digest shown stay the original's)."""
    return clip(text, CLIP_LENGTH - 100)


def clip(text: str, limit: int = CLIP_LENGTH) -> str:
    """``text`` if it has at most ``limit`` characters; otherwise its head and tail around a
    marker with its length and the start of its SHA-256 digest, so that two long texts that
    differ can still be told apart and matched with the original."""
    if len(text) <= limit:
        return text
    # Digested a slice at a time: encoding a 16 MiB text whole would copy it again.
    hasher = hashlib.sha256()
    for start in range(0, len(text), 1 << 16):
        hasher.update(text[start:start + (1 << 16)].encode("utf-8", "surrogatepass"))
    digest = hasher.hexdigest()[:16]
    head, tail = limit * 2 // 3, limit // 3
    return (f"{text[:head]}…[clipped: {len(text)} chars, sha256 {digest}…]…"
            f"{text[len(text) - tail:]}")


class KeptText:
    """A text assembled part by part and kept as :func:`clip_kept` keeps it, without ever
    holding more than ``keep`` characters of it: up to ``keep`` characters the parts are kept
    whole; beyond, only the head and tail that :func:`clip_kept` shows, the length and a
    running SHA-256 digest. :meth:`text` is then exactly ``clip_kept`` of the whole text, so a
    network connection receiving a 16 MiB reply holds kilobytes of it, not the whole body.
    ``keep`` must be at least ``CLIP_LENGTH``, so that every text clipped here is one
    ``clip_kept`` clips too.
    """

    def __init__(self, keep: int) -> None:
        self.keep = max(keep, CLIP_LENGTH)
        limit = CLIP_LENGTH - 100  # clip_kept's
        self._head_length, self._tail_length = limit * 2 // 3, limit // 3
        self._parts: list[str] = []
        #: Characters so far (all of them, clipped or not).
        self.chars = 0
        #: UTF-8 bytes of the text, counted once it is clipped (0 while it is kept whole).
        self.octets = 0
        self._hasher: hashlib._Hash | None = None  # set once the text is beyond ``keep``
        self._head = ""
        self._tail = ""

    @property
    def clipped(self) -> bool:
        """Whether the text went beyond ``keep`` (only its head, tail and digest are kept)."""
        return self._hasher is not None

    def add(self, part: str) -> None:
        """Append ``part``."""
        self.chars += len(part)
        if self._hasher is None:
            self._parts.append(part)
            if self.chars <= self.keep:
                return
            whole, self._parts = "".join(self._parts), []
            self._hasher = hashlib.sha256()
            self._head = whole[:self._head_length]
            self._tail = ""
            part = whole
        for start in range(0, len(part), 1 << 16):
            piece = part[start:start + (1 << 16)].encode("utf-8", "surrogatepass")
            self._hasher.update(piece)
            self.octets += len(piece)
        self._tail = (self._tail + part[len(part) - self._tail_length:])[-self._tail_length:]

    def text(self) -> str:
        """The text as :func:`clip_kept` would keep it whole."""
        if self._hasher is None:
            return "".join(self._parts)
        digest = self._hasher.hexdigest()[:16]
        return (f"{self._head}…[clipped: {self.chars} chars, sha256 {digest}…]…"
                f"{self._tail}")


#: Categories never printed raw: controls (escape sequences start here), format characters
#: (bidirectional overrides reorder what is shown), surrogates (not encodable), and line
#: and paragraph separators.
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control and format character written as a Python escape
    (``ESC`` → ``\\x1b``), so that what a target sent cannot clear the screen, retitle the
    terminal or reorder a line. ``keep_newlines`` keeps ``\\n`` and ``\\t`` for multi-line
    texts the kit composed itself."""
    if text.isprintable():
        return text
    out = []
    for c in text:
        if keep_newlines and c in "\n\t":
            out.append(c)
        elif unicodedata.category(c) in _UNSAFE:
            code = ord(c)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(c)
    return "".join(out)
