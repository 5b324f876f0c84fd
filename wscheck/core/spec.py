"""The protocol as data.

A :class:`Spec` describes one chat protocol: which paths exist, what the server replies, which
word ends the chat and which credentials the guarded endpoint takes. The defaults are exactly
the normative brief (``protocol.md``), so ``Spec()`` *is* the reference protocol; other teams
describe their own texts and paths in a TOML file instead of patching the kit.

Reply texts are :meth:`str.format` templates. Only named fields are allowed, and only the ones
listed for each template (plus the endpoint's path parameters), so a typo such as ``{mesage}``
is caught when the spec is loaded, not in the middle of a run. A literal brace is written
``{{`` or ``}}``.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from wscheck.core.api import ApiSpec
from wscheck.core.limits import printable
from wscheck.core.toml import read_spec_table, toml_value
from wscheck.errors import SpecError

__all__ = [
    "BROADCAST_AUDIENCES",
    "AuthSpec",
    "BroadcastSpec",
    "EchoSpec",
    "Spec",
    "SpecError",
    "load_spec",
    "spec_from_mapping",
]


def _no_path_params() -> tuple[tuple[str, str], ...]:
    return ()


@dataclass(frozen=True)
class EchoSpec:
    """The echo endpoint (``/ws`` in the reference protocol)."""

    path: str = "/ws"
    #: Template of the reply to every ordinary text message. Fields: ``message``.
    reply: str = "接收到的消息是:{message}"
    #: The exact word that ends the chat; ``None`` (``bye = ""`` in TOML) means there is none.
    bye: str | None = "bye"
    #: The messages sent, in order, after the bye word and before the close.
    farewells: tuple[str, ...] = ("请注意:窗口即将关闭", "窗口已关闭")
    bye_close_code: int = 1000
    binary_close_code: int = 1003
    #: Values used for ``{name}`` parameters in ``path``; they may also appear in ``reply``.
    path_params: tuple[tuple[str, str], ...] = field(default_factory=_no_path_params)

    def url_path(self) -> str:
        """The path with its parameters filled in, as a client requests it."""
        return self.path.format_map(dict(self.path_params))

    def render_reply(self, message: str) -> str:
        """The reply the server must send for an ordinary ``message``."""
        return self.reply.format_map({**dict(self.path_params), "message": message})


@dataclass(frozen=True)
class AuthSpec:
    """The endpoint guarded by a cookie or a token (``/item/ws`` in the reference protocol)."""

    path: str = "/item/ws"
    cookie: str = "session"
    token: str = "token"
    q: str = "q"
    #: Sent first for every message. Fields: ``credential`` (cookie or token, or ``None``).
    credential_reply: str = "Session cookie or query token value is: {credential}"
    #: Sent second, only when ``q`` was given. Fields: ``q``.
    q_reply: str = "parameter q is: {q}"
    #: Sent last for every message. Fields: ``message``, ``q`` (the integer, or ``None``).
    message_reply: str = "Message text was: {message}, for : {q}"
    denied_close_code: int = 1008
    binary_close_code: int = 1003
    path_params: tuple[tuple[str, str], ...] = field(default_factory=_no_path_params)

    def url_path(self) -> str:
        """The path with its parameters filled in, as a client requests it."""
        return self.path.format_map(dict(self.path_params))

    def render(self, template: str, **values: object) -> str:
        """Fill ``template`` with the path parameters and ``values`` (``None`` → ``"None"``)."""
        return template.format_map({**dict(self.path_params), **values})


#: Who receives a broadcast: every connected client, the sender included, or every client
#: but the sender.
BROADCAST_AUDIENCES = ("everyone", "others")


@dataclass(frozen=True)
class BroadcastSpec:
    """A broadcast chat room: every client that connects to ``path`` joins one room, and what
    one client says goes to the others (FastAPI's tutorial003, the defaults here).

    Each client names itself with the path parameter ``client_param`` (the kit fills it with a
    distinct decimal number per client); the templates may use it as a field. What a client
    says is answered with ``reply`` to the sender alone (first), then ``broadcast`` goes to
    ``to``: ``"everyone"`` (the sender included) or ``"others"``. ``join_notice`` goes to the
    clients already there when one joins, ``leave_notice`` to those who remain when one
    leaves (closes or drops); ``None`` (``""`` in TOML) means there is no such message. The
    reference protocol has no broadcast endpoint: ``Spec().broadcast`` is ``None``.
    """

    path: str = "/ws/{client_id}"
    client_param: str = "client_id"
    #: To the sender alone, before anything else. Fields: ``message`` and the client's.
    reply: str | None = "You wrote: {message}"
    #: To ``to`` for every message. Fields: ``message`` and the client's.
    broadcast: str = "Client #{client_id} says: {message}"
    to: str = "everyone"
    #: To the clients already connected when one joins. Fields: the client's.
    join_notice: str | None = None
    #: To the clients that remain when one leaves. Fields: the client's.
    leave_notice: str | None = "Client #{client_id} left the chat"
    path_params: tuple[tuple[str, str], ...] = field(default_factory=_no_path_params)

    def url_path(self, client: str) -> str:
        """The path client ``client`` connects to."""
        return self.path.format_map({**dict(self.path_params), self.client_param: client})

    def render(self, template: str, client: str, message: str = "") -> str:
        """``template`` filled for ``client`` (and ``message``)."""
        return template.format_map({**dict(self.path_params), self.client_param: client,
                                    "message": message})


@dataclass(frozen=True)
class Spec:
    """A whole protocol. ``Spec()`` is exactly the reference protocol of ``protocol.md``."""

    echo: EchoSpec | None = field(default_factory=EchoSpec)
    auth: AuthSpec | None = field(default_factory=AuthSpec)
    #: A broadcast room; none in the reference protocol.
    broadcast: BroadcastSpec | None = None
    #: A WebSocket API read from an AsyncAPI document (:mod:`wscheck.core.asyncapi_in`); its
    #: checks are the ``asyncapi.*`` ones. None for a chat protocol.
    api: ApiSpec | None = None

    def digest(self) -> str:
        """A short stable fingerprint, so a report says which protocol it was checked against.
        A spec without a broadcast room (or an API) keeps the fingerprint it had before those
        existed."""
        data = asdict(self)
        for optional in ("broadcast", "api"):
            if data[optional] is None:
                del data[optional]
        blob = json.dumps(data, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_toml(self) -> str:
        """The spec as a TOML document that :func:`load_spec` reads back to an equal spec."""
        lines: list[str] = []
        sections: tuple[tuple[str, EchoSpec | AuthSpec | BroadcastSpec | None], ...] = (
            ("echo", self.echo), ("auth", self.auth), ("broadcast", self.broadcast))
        for name, section in sections:
            lines.append(f"[{name}]")
            if section is None and name != "broadcast":
                lines += ["enabled = false", ""]
                continue
            # Every key is printed, defaults included. A disabled broadcast room is printed
            # with its keys too (read back, it stays disabled): the keys to fill are shown.
            lines.append(f"enabled = {toml_value(section is not None)}")
            if section is None:
                section = BroadcastSpec()
            params: tuple[tuple[str, str], ...] = ()
            for f in fields(section):
                value = getattr(section, f.name)
                if f.name == "path_params":
                    params = value
                    continue
                if f.name in _OPTIONAL_TEXTS[name] and value is None:
                    value = ""
                lines.append(f"{f.name} = {toml_value(value)}")
            lines.append(f"[{name}.path_params]")  # printed when empty too: a key to fill
            lines += [f"{toml_value(k)} = {toml_value(v)}" for k, v in params]
            lines.append("")
        return "\n".join(lines)


#: Keys whose value may be absent, written ``""`` in TOML: no bye word, no such message.
_OPTIONAL_TEXTS: dict[str, frozenset[str]] = {
    "echo": frozenset({"bye"}), "auth": frozenset(),
    "broadcast": frozenset({"reply", "join_notice", "leave_notice"}),
}

#: The broadcast room's templates; each may use ``{message}`` where marked, and the client's
#: own field (``client_param``) and the path parameters everywhere.
_BROADCAST_TEMPLATES = {"reply": True, "broadcast": True, "join_notice": False,
                        "leave_notice": False}

# Which template fields each template may use (besides the endpoint's path parameters).
_TEMPLATE_FIELDS: dict[tuple[str, str], frozenset[str]] = {
    ("echo", "reply"): frozenset({"message"}),
    ("auth", "credential_reply"): frozenset({"credential"}),
    ("auth", "q_reply"): frozenset({"q"}),
    ("auth", "message_reply"): frozenset({"message", "q"}),
}


def _type_name(value: object) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)


Section = EchoSpec | AuthSpec | BroadcastSpec


def _section(
    cls: type[EchoSpec] | type[AuthSpec] | type[BroadcastSpec], name: str, table: object,
    where: str,
) -> Section | None:
    if not isinstance(table, Mapping):
        raise SpecError(f"{where}: [{name}] must be a table, got {_type_name(table)}")
    table = dict(table)
    enabled = table.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise SpecError(f"{where}: {name}.enabled must be a boolean, got {_type_name(enabled)}")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{name}.{key}"
        if key not in known:
            allowed = ", ".join(sorted(known | {"enabled"}))
            raise SpecError(f"{where}: unknown key {dotted!r} (known keys: {allowed})")
        default = getattr(defaults, key)
        if key == "path_params":
            if not isinstance(value, Mapping) or not all(
                isinstance(v, str) for v in value.values()
            ):
                raise SpecError(f"{where}: {dotted} must be a table of strings")
            values[key] = tuple((str(k), v) for k, v in value.items())
        elif key == "farewells":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SpecError(f"{where}: {dotted} must be an array of strings")
            values[key] = tuple(value)
        elif key in _OPTIONAL_TEXTS[name]:
            if not isinstance(value, str):
                raise SpecError(f"{where}: {dotted} must be a string, got {_type_name(value)}")
            values[key] = value or None
        elif key == "to":
            if value not in BROADCAST_AUDIENCES:
                raise SpecError(f"{where}: {dotted} must be one of "
                                f"{', '.join(map(repr, BROADCAST_AUDIENCES))}, got "
                                f"{printable(repr(value))}")
            values[key] = value
        elif isinstance(default, bool) or type(value) is not type(default):
            raise SpecError(
                f"{where}: {dotted} must be {'an' if isinstance(default, int) else 'a'} "
                f"{_type_name(default)}, got {_type_name(value)}"
            )
        else:
            values[key] = value
        if key.endswith("close_code") and not 1000 <= value <= 4999:
            raise SpecError(f"{where}: {dotted} must be a WebSocket close code (1000-4999)")
    section = cls(**values)
    if isinstance(section, BroadcastSpec):
        _validate_broadcast(section, where)
    else:
        _validate_templates(section, name, where)
    return section if enabled else None


def _fields_of(template: str, dotted: str, where: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise SpecError(f"{where}: {dotted} is not a valid template: {exc}") from None
    names: set[str] = set()
    for _literal, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if not field_name.isidentifier() or spec or conversion:
            raise SpecError(
                f"{where}: {dotted} may only use plain named fields like {{message}}, "
                f"not {{{field_name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}}"
            )
        names.add(field_name)
    return names


#: Characters a cookie name may not hold (RFC 6265 says a name is an RFC 7230 token).
_COOKIE_NAME_SEPARATORS = frozenset('()<>@,;:\\"/[]?={} \t')


def _validate_names(section: Section, name: str, where: str) -> None:
    """Paths, cookie and query names the kit will send, checked now rather than at the first
    connection: a ``?`` or ``#`` would turn part of the path into a query or a fragment, a NUL
    or a control character cannot go on the wire, and a cookie name such as ``a=b; c`` would
    make the Cookie header say something else than the spec."""
    path = section.url_path("1") if isinstance(section, BroadcastSpec) else section.url_path()
    for ch in path:
        if ch in "?#" or not ch.isprintable() or ch.isspace():
            raise SpecError(
                f"{where}: {name}.path must not hold {printable(repr(ch))} (a path has no "
                f"query, fragment, space or control character), got {printable(repr(path))}")
    if isinstance(section, AuthSpec):
        cookie = section.cookie
        if not cookie or any(not c.isascii() or not c.isprintable()
                             or c in _COOKIE_NAME_SEPARATORS for c in cookie):
            raise SpecError(
                f"{where}: {name}.cookie must be a cookie name (ASCII letters, digits and "
                f"!#$%&'*+-.^_`|~, no '=', ';' or space), got {printable(repr(cookie))}")
        for key in ("token", "q"):
            value = getattr(section, key)
            if not value or not value.isprintable() or any(c in value for c in "&=#"):
                raise SpecError(
                    f"{where}: {name}.{key} must be a query parameter name (no '&', '=', "
                    f"'#' or control character), got {printable(repr(value))}")


def _validate_templates(section: EchoSpec | AuthSpec, name: str, where: str) -> None:
    params = {k for k, _ in section.path_params}
    path_fields = _fields_of(section.path, f"{name}.path", where)
    if not section.path.startswith("/"):
        raise SpecError(f"{where}: {name}.path must start with '/', got {section.path!r}")
    missing = path_fields - params
    if missing:
        raise SpecError(
            f"{where}: {name}.path uses {{{sorted(missing)[0]}}} but {name}.path_params "
            "gives no value for it"
        )
    _validate_names(section, name, where)
    for (section_name, key), allowed in _TEMPLATE_FIELDS.items():
        if section_name != name:
            continue
        used = _fields_of(getattr(section, key), f"{name}.{key}", where)
        unknown = used - allowed - params
        if unknown:
            ok = ", ".join("{" + f + "}" for f in sorted(allowed | params))
            raise SpecError(
                f"{where}: {name}.{key} uses unknown field {{{sorted(unknown)[0]}}} "
                f"(allowed: {ok})"
            )


def _validate_broadcast(section: BroadcastSpec, where: str) -> None:
    """The room's path must name each client by ``client_param``; its templates may use
    ``{message}`` (where a message is what they answer), the client's field and the path
    parameters, nothing else."""
    param = section.client_param
    if not param.isidentifier():
        raise SpecError(f"{where}: broadcast.client_param must be a name like client_id, "
                        f"got {printable(repr(param))}")
    params = {k for k, _ in section.path_params}
    if param in params:
        raise SpecError(f"{where}: broadcast.path_params must not give {param!r}: the kit "
                        "names each client itself")
    if not section.path.startswith("/"):
        raise SpecError(f"{where}: broadcast.path must start with '/', got {section.path!r}")
    path_fields = _fields_of(section.path, "broadcast.path", where)
    if param not in path_fields:
        raise SpecError(f"{where}: broadcast.path must hold {{{param}}} (broadcast."
                        f"client_param), so that each client has its own path")
    missing = path_fields - params - {param}
    if missing:
        raise SpecError(f"{where}: broadcast.path uses {{{sorted(missing)[0]}}} but "
                        "broadcast.path_params gives no value for it")
    _validate_names(section, "broadcast", where)
    for key, takes_message in _BROADCAST_TEMPLATES.items():
        template = getattr(section, key)
        if template is None:
            continue
        allowed = params | {param} | ({"message"} if takes_message else set())
        unknown = _fields_of(template, f"broadcast.{key}", where) - allowed
        if unknown:
            ok = ", ".join("{" + f + "}" for f in sorted(allowed))
            raise SpecError(f"{where}: broadcast.{key} uses unknown field "
                            f"{{{sorted(unknown)[0]}}} (allowed: {ok})")


def spec_from_mapping(data: Mapping[str, Any], where: str = "spec") -> Spec:
    """Build a :class:`Spec` from a parsed TOML table; ``where`` names it in error messages.

    Keys that are not part of the protocol (``expected_failures``, run settings) are the
    caller's business and are refused here, so that a misspelt section never passes silently.
    """
    data = dict(data)
    echo: Section | None = EchoSpec()
    auth: Section | None = AuthSpec()
    room: Section | None = None  # no [broadcast] table: no broadcast room
    for key, value in data.items():
        if key == "echo":
            echo = _section(EchoSpec, "echo", value, where)
        elif key == "auth":
            auth = _section(AuthSpec, "auth", value, where)
        elif key == "broadcast":
            room = _section(BroadcastSpec, "broadcast", value, where)
        else:
            raise SpecError(f"{where}: unknown key {key!r} "
                            "(known sections: echo, auth, broadcast)")
    assert echo is None or isinstance(echo, EchoSpec)
    assert auth is None or isinstance(auth, AuthSpec)
    assert room is None or isinstance(room, BroadcastSpec)
    return Spec(echo=echo, auth=auth, broadcast=room)


def load_spec(path: str | Path, table: str | None = None) -> Spec:
    """Read a spec from a TOML file; ``table="tool.wscheck"`` reads that sub-table instead.

    A file named ``pyproject.toml`` is read from its ``[tool.wscheck]`` table. The list of
    known failures that may sit beside the protocol (``expected_failures``, read by
    :mod:`wscheck.config.known`) is not protocol and is left out.
    """
    data, where = read_spec_table(path, table)
    data.pop("expected_failures", None)
    return spec_from_mapping(data, where)
