"""An AsyncAPI 3.0 document read into a :class:`~wscheck.core.spec.Spec`.

The document (YAML or JSON, told apart from TOML by its content) is parsed with PyYAML's safe
loader within bounds, validated against the AsyncAPI 3.0.0 JSON Schema bundled beside this
module (``schemas/``), and its ``$ref``\\ s are followed: local ones (``#/...``) and relative
files, never a network address. Every problem is one :class:`SpecError` line naming the JSON
pointer where it is.

What it means: a channel is a WebSocket endpoint when it has a ``ws`` binding, or when the
servers it is on speak ``ws``/``wss`` (all of the document's when it names none; a document
without servers is taken to be about WebSocket, since the kit was pointed at it). The
operations are the server's: ``receive`` with a ``reply`` is a request/reply exchange,
``send`` a message it may send on its own. A document that ``wscheck spec --asyncapi``
wrote carries the whole chat protocol as ``x-wscheck-spec`` and reads back to that very spec.
"""

from __future__ import annotations

import datetime
import json
import re
import urllib.parse
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from wscheck.core.api import ApiEndpoint, ApiMessage, ApiOperation, ApiSpec
from wscheck.core.limits import (
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_FILES,
    MAX_DOCUMENT_NODES,
    clip,
    printable,
    read_regular_file,
)
from wscheck.core.spec import Spec, spec_from_mapping
from wscheck.errors import SpecError

__all__ = ["EXTENSION", "is_asyncapi", "load_asyncapi", "parse_asyncapi"]

#: The extension that carries a whole chat spec (the TOML tables, as JSON).
EXTENSION = "x-wscheck-spec"
#: How many ``$ref`` hops one reference may take, and how deep inlined schemas may nest.
MAX_REF_HOPS = 32
MAX_DEPTH = 64
#: The value sent for an API key the document asks for (it cannot say which value is good).
STAND_IN = "wscheck"
#: Payload formats read as JSON Schema (AsyncAPI's schema is a superset of draft 07).
_SCHEMA_FORMATS = ("application/vnd.aai.asyncapi", "application/schema+json")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_OPERATION_ID = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_ASYNCAPI_LINE = re.compile(r"""^["']?asyncapi["']?\s*:""", re.MULTILINE)


def is_asyncapi(text: str) -> bool:
    """Whether a spec file's text is an AsyncAPI document (JSON or YAML) rather than TOML:
    JSON starts with ``{``, and a YAML document has an ``asyncapi:`` key at the top, which
    is no valid TOML line."""
    stripped = text.lstrip("\ufeff \t\r\n")
    return stripped.startswith("{") or _ASYNCAPI_LINE.search(text) is not None


def _pointer(parts: tuple[str | int, ...]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) \
        if parts else "/"


def _fail(where: str, problem: str) -> SpecError:
    return SpecError(printable(clip(f"{where}: {problem}", 400)))


class _Budget:
    """Counts the values read, so that aliases or references cannot blow a document up."""

    def __init__(self, where: str) -> None:
        self.left = MAX_DOCUMENT_NODES
        self.where = where

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise SpecError(f"{self.where}: the document is too large once its aliases and "
                            f"$refs are expanded (more than {MAX_DOCUMENT_NODES} values)")


def _plain(value: Any, budget: _Budget, depth: int = 0) -> Any:
    """``value`` as JSON data: string keys, dates as ISO text; bounded in size and depth."""
    budget.take()
    if depth > MAX_DEPTH * 2:
        raise SpecError(f"{budget.where}: the document nests too deep")
    if isinstance(value, Mapping):
        return {str(k): _plain(v, budget, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, budget, depth + 1) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def parse_asyncapi(text: str, where: str) -> Any:
    """``text`` (YAML, JSON being YAML) parsed safely, as plain JSON data."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)  # a safe loader (CSafeLoader when built)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _fail(where, f"is not valid YAML or JSON: {problem}{at}") from None
    except RecursionError:
        raise SpecError(f"{where}: the document nests too deep") from None
    return _plain(data, _Budget(where))


class _Documents:
    """The root document and the files its ``$ref``\\ s name, each read once."""

    def __init__(self, root: Path, data: Any) -> None:
        self.root = root.resolve()
        self.files: dict[Path, Any] = {self.root: data}
        self.budget = _Budget(str(root))

    def name(self, file: Path, pointer: str) -> str:
        """How a place is named in errors: the pointer alone in the root document."""
        if file == self.root:
            return pointer
        try:
            shown = file.relative_to(self.root.parent)
        except ValueError:
            shown = file
        return f"{shown}#{pointer}"

    def _file(self, file: Path, at: str) -> Any:
        if file not in self.files:
            if len(self.files) >= MAX_DOCUMENT_FILES:
                raise _fail(at, f"more than {MAX_DOCUMENT_FILES} files are referenced")
            text = read_regular_file(file, f"{at}: $ref file", MAX_DOCUMENT_BYTES, SpecError)
            self.files[file] = parse_asyncapi(text, str(file))
        return self.files[file]

    def target(self, ref: object, file: Path, at: str) -> tuple[Any, Path, str]:
        """What ``ref`` (found at ``at`` in ``file``) names: the value, its file, its pointer."""
        if not isinstance(ref, str):
            raise _fail(at, "$ref must be a string")
        if _SCHEME.match(ref):
            scheme = ref.split(":", 1)[0].lower()
            if scheme in ("http", "https"):
                raise _fail(at, f"remote $ref {ref!r} is not fetched: only local (#/...) "
                                "and relative file references are followed")
            raise _fail(at, f"$ref {ref!r} is not supported: only local (#/...) and "
                            "relative file references are followed")
        path_part, _, fragment = ref.partition("#")
        target_file = (file.parent / urllib.parse.unquote(path_part)).resolve() \
            if path_part else file
        value = self._file(target_file, at)
        fragment = urllib.parse.unquote(fragment)
        if fragment and not fragment.startswith("/"):
            raise _fail(at, f"$ref {ref!r}: the part after '#' must be a JSON pointer (/...)")
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in fragment.split("/")[1:]]
        for token in tokens:
            if isinstance(value, dict) and token in value:
                value = value[token]
            elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
                value = value[int(token)]
            else:
                raise _fail(at, f"$ref {ref!r} names nothing in "
                                f"{self.name(target_file, '') or 'the document'}")
        return value, target_file, fragment or "/"

    def deref(self, value: Any, file: Path, at: str) -> tuple[Any, Path, str]:
        """``value`` with its chain of ``$ref``\\ s followed (bounded, cycle-safe)."""
        seen: set[tuple[Path, str]] = set()
        pointer = at
        while isinstance(value, dict) and "$ref" in value:
            if len(seen) >= MAX_REF_HOPS:
                raise _fail(self.name(file, at), f"more than {MAX_REF_HOPS} $ref hops")
            value, file, pointer = self.target(value["$ref"], file, self.name(file, pointer))
            if (file, pointer) in seen:
                raise _fail(self.name(file, at), "circular $ref")
            seen.add((file, pointer))
        return value, file, pointer

    def inline(self, value: Any, file: Path, at: str,
               stack: tuple[tuple[Path, str], ...] = ()) -> Any:
        """A copy of ``value`` with every ``$ref`` replaced by what it names; a reference
        back into itself (a recursive schema) is refused in one line."""
        self.budget.take()
        if len(stack) > MAX_DEPTH:
            raise _fail(self.name(file, at), "$refs nest too deep")
        if isinstance(value, dict) and "$ref" in value:
            target, tfile, tpointer = self.target(value["$ref"], file, self.name(file, at))
            if (tfile, tpointer) in stack:
                raise _fail(self.name(file, at), f"circular $ref {value['$ref']!r} (a "
                                                 "recursive schema is not supported)")
            return self.inline(target, tfile, tpointer, (*stack, (tfile, tpointer)))
        if isinstance(value, dict):
            return {k: self.inline(v, file, f"{at.rstrip('/')}/{k}", stack)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self.inline(v, file, f"{at.rstrip('/')}/{i}", stack)
                    for i, v in enumerate(value)]
        return value


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema_file = Path(__file__).with_name("schemas") / "asyncapi-3.0.0.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def _validate(data: Any, where: str) -> None:
    """The document against the AsyncAPI 3.0.0 JSON Schema: the most relevant problem, in
    one line with its JSON pointer."""
    from jsonschema.exceptions import best_match

    errors = list(_validator().iter_errors(data))
    if not errors:
        return
    error = best_match(errors)
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" \
        if len(errors) > 1 else ""
    raise _fail(where, f"{_pointer(tuple(error.absolute_path))}: {clip(error.message, 200)}"
                       f"{more}")


def _version(data: Any, where: str) -> None:
    if not isinstance(data, dict) or "asyncapi" not in data:
        raise _fail(where, "is not an AsyncAPI document (no top-level 'asyncapi' key)")
    version = str(data["asyncapi"])
    if not re.fullmatch(r"3\.0\.\d+", version):
        raise _fail(where, f"/asyncapi: AsyncAPI {version} is not supported: only AsyncAPI "
                           "3.0 documents are read")


def load_asyncapi(path: str | Path, text: str | None = None) -> Spec:
    """The spec an AsyncAPI 3.0 document at ``path`` describes (``text``: already read)."""
    path = Path(path)
    where = str(path)
    if text is None:
        text = read_regular_file(path, "spec file", MAX_DOCUMENT_BYTES, SpecError)
    data = parse_asyncapi(text, where)
    _version(data, where)
    _validate(data, where)
    if EXTENSION in data:
        chat = data[EXTENSION]
        if not isinstance(chat, dict):
            raise _fail(where, f"/{EXTENSION}: must be an object (the spec's tables)")
        return spec_from_mapping(chat, f"{where} /{EXTENSION}")
    return Spec(echo=None, auth=None, broadcast=None,
                api=_Reader(_Documents(path, data), where).api())


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _local_key(ref: object, prefix: str) -> tuple[str, ...] | None:
    """The tokens after ``#/<prefix>/`` of a local reference, or None."""
    if not isinstance(ref, str) or not ref.startswith(f"#/{prefix}/"):
        return None
    rest = urllib.parse.unquote(ref[len(prefix) + 3:])
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in rest.split("/"))


_ANNOTATIONS = frozenset({"description", "title", "examples", "example", "externalDocs",
                          "deprecated", "discriminator", "$comment", "readOnly", "writeOnly"})


def _schema_only(schema: Any) -> Any:
    """A payload schema without annotations (and ``x-`` extensions): what judges and
    generates, nothing that only describes."""
    if isinstance(schema, dict):
        return {k: (v if k in ("const", "enum", "default") else _schema_only(v))
                for k, v in schema.items()
                if k not in _ANNOTATIONS and not k.startswith("x-")}
    if isinstance(schema, list):
        return [_schema_only(v) for v in schema]
    return schema


class _Reader:
    """The WebSocket API of one validated document."""

    def __init__(self, docs: _Documents, where: str) -> None:
        self.docs = docs
        self.where = where
        self.root = docs.files[docs.root]
        self.file = docs.root

    def fail(self, at: str, problem: str) -> SpecError:
        return _fail(f"{self.where}: {at}" if at else self.where, problem)

    def get(self, value: Any, at: str) -> Any:
        return self.docs.deref(value, self.file, at)[0]

    def api(self) -> ApiSpec:
        servers = {name: self.get(s, f"/servers/{name}")
                   for name, s in (self.root.get("servers") or {}).items()}
        ws_servers = {n for n, s in servers.items()
                      if isinstance(s, dict) and str(s.get("protocol", "")).lower()
                      in ("ws", "wss")}
        channels: dict[str, dict[str, Any]] = {}
        for key, raw in (self.root.get("channels") or {}).items():
            at = f"/channels/{key}"
            channel = self.get(raw, at)
            if self._is_websocket(channel, at, servers, ws_servers) \
                    and channel.get("address") is not None:
                channels[key] = channel
        if not channels:
            raise self.fail("/channels", "no WebSocket channel (one with an address and a ws "
                                         "binding, or on a ws/wss server)")
        messages: dict[tuple[str, str], ApiMessage] = {}
        endpoint_of: dict[str, int] = {}
        endpoints: list[ApiEndpoint] = []
        for key, channel in channels.items():
            at = f"/channels/{key}"
            for name, raw in (channel.get("messages") or {}).items():
                messages[key, name] = self._message(key, name, raw, f"{at}/messages/{name}")
            path, query, cookies = self._connect(channel, at)
            query, cookies = self._credentials(key, query, cookies)
            for i, e in enumerate(endpoints):
                if (e.path, e.query, e.cookies) == (path, query, cookies):
                    endpoints[i] = ApiEndpoint(path, (*e.channels, key), query, cookies)
                    endpoint_of[key] = i
                    break
            else:
                endpoint_of[key] = len(endpoints)
                endpoints.append(ApiEndpoint(path, (key,), query, cookies))
        operations = []
        for op_id, raw in (self.root.get("operations") or {}).items():
            op = self._operation(op_id, raw, channels, messages, endpoint_of)
            if op is not None:
                operations.append(op)
        if not operations:
            raise self.fail("/operations", "no operation on a WebSocket channel: the kit "
                                           "has nothing to send or to expect")
        info = self.root.get("info") or {}
        return ApiSpec(str(info.get("title", "")), tuple(endpoints), tuple(operations),
                       tuple(messages.values()))

    def _is_websocket(self, channel: Any, at: str, servers: dict[str, Any],
                      ws_servers: set[str]) -> bool:
        bindings = self.get(channel.get("bindings") or {}, f"{at}/bindings")
        if isinstance(bindings, dict) and "ws" in bindings:
            return True
        if not servers:
            return True
        named = channel.get("servers")
        if not named:
            return bool(ws_servers)
        for i, ref in enumerate(named):
            key = _local_key(ref.get("$ref") if isinstance(ref, dict) else None, "servers")
            if key is None:
                raise self.fail(f"{at}/servers/{i}", "must be a $ref to #/servers/<name>")
            if key[0] in ws_servers:
                return True
        return False

    def _value(self, schema: Any) -> str | None:
        """A value to send for a parameter, query or header schema: const, default, the
        first enum value or the first example."""
        if not isinstance(schema, dict):
            return None
        for found in (schema.get("const"), schema.get("default")):
            if found is not None:
                return _text_value(found)
        for key in ("enum", "examples"):
            values = schema.get(key)
            if isinstance(values, list) and values:
                return _text_value(values[0])
        return None

    def _connect(self, channel: dict[str, Any], at: str
                 ) -> tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
        address = str(channel["address"])
        params = channel.get("parameters") or {}
        filled: dict[str, str] = {}
        for name in re.findall(r"\{([^{}]+)\}", address):
            if name not in params:
                raise self.fail(f"{at}/address", f"uses {{{name}}}, which /parameters does "
                                                 "not describe")
            value = self._value(self.get(params[name], f"{at}/parameters/{name}"))
            if value is None:
                raise self.fail(f"{at}/parameters/{name}", "needs a default, an enum or "
                                                           "examples: the kit must fill it")
            filled[name] = urllib.parse.quote(value, safe="")
        path = re.sub(r"\{([^{}]+)\}", lambda m: filled[m.group(1)], address)
        if not path.startswith("/"):
            path = "/" + path
        bindings = self.get(channel.get("bindings") or {}, f"{at}/bindings")
        ws = self.get(bindings.get("ws") or {}, f"{at}/bindings/ws") \
            if isinstance(bindings, dict) else {}
        query: list[tuple[str, str]] = []
        cookies: list[tuple[str, str]] = []
        if isinstance(ws, dict):
            q = self.docs.inline(ws.get("query") or {}, self.file, f"{at}/bindings/ws/query")
            required = set(q.get("required") or ()) if isinstance(q, dict) else set()
            for name, prop in ((q.get("properties") or {}).items()
                               if isinstance(q, dict) else ()):
                if name in required:  # optional ones are left out, as a plain client would
                    value = self._value(prop)
                    query.append((name, value if value is not None else _placeholder(prop)))
            h = self.docs.inline(ws.get("headers") or {}, self.file,
                                 f"{at}/bindings/ws/headers")
            for name, prop in ((h.get("properties") or {}).items()
                               if isinstance(h, dict) else ()):
                value = self._value(prop)
                if name.lower() == "cookie" and value:
                    for part in value.split(";"):
                        k, _, v = part.strip().partition("=")
                        if k:
                            cookies.append((k, v))
        return path, tuple(query), tuple(cookies)

    def _credentials(self, channel: str, query: tuple[tuple[str, str], ...],
                     cookies: tuple[tuple[str, str], ...]
                     ) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
        """The API key the channel's operations (or the servers) ask for, sent with a stand-in
        value: the first ``httpApiKey`` alternative in the query or a cookie. A server that
        checks the value refuses the kit, whose checks are then inconclusive."""
        lists: list[tuple[str, Any]] = []
        for op_id, raw in (self.root.get("operations") or {}).items():
            op = self.get(raw, f"/operations/{op_id}")
            ref = op.get("channel", {}).get("$ref") if isinstance(op.get("channel"), dict) \
                else None
            if _local_key(ref, "channels") == (channel,) and op.get("security"):
                lists.append((f"/operations/{op_id}/security", op["security"]))
        for name, raw in (self.root.get("servers") or {}).items():
            server = self.get(raw, f"/servers/{name}")
            if isinstance(server, dict) and server.get("security"):
                lists.append((f"/servers/{name}/security", server["security"]))
        for at, alternatives in lists:
            for i, raw in enumerate(alternatives):
                scheme = self.get(raw, f"{at}/{i}")
                if not isinstance(scheme, dict) or scheme.get("type") != "httpApiKey":
                    continue
                name, where = str(scheme.get("name", "")), scheme.get("in")
                if where == "query" and name and all(k != name for k, _ in query):
                    return (*query, (name, STAND_IN)), cookies
                if where == "cookie" and name and all(k != name for k, _ in cookies):
                    return query, (*cookies, (name, STAND_IN))
        return query, cookies

    def _message(self, channel: str, name: str, raw: Any, at: str) -> ApiMessage:
        message, mfile, mpointer = self.docs.deref(raw, self.file, at)
        if not isinstance(message, dict):
            raise self.fail(at, "must be a message object")
        payload = message.get("payload", {})
        inlined = self.docs.inline(payload, mfile, f"{mpointer}/payload")
        if isinstance(inlined, dict) and "schemaFormat" in inlined:
            fmt = str(inlined.get("schemaFormat"))
            if not fmt.startswith(_SCHEMA_FORMATS):
                raise self.fail(f"{at}/payload/schemaFormat",
                                f"{fmt!r} is not supported: payloads must be JSON Schema "
                                "(AsyncAPI or draft-07)")
            inlined = inlined.get("schema", {})
        if isinstance(inlined, bool):
            inlined = {} if inlined else {"not": {}}
        if not isinstance(inlined, dict):
            raise self.fail(f"{at}/payload", "must be a schema object")
        schema = _schema_only(inlined)
        correlation: tuple[str, ...] = ()
        if "correlationId" in message:
            cid = self.get(message["correlationId"], f"{at}/correlationId")
            location = str(cid.get("location", "")) if isinstance(cid, dict) else ""
            if location.startswith("$message.payload#"):
                fragment = location.split("#", 1)[1]
                correlation = tuple(t.replace("~1", "/").replace("~0", "~")
                                    for t in fragment.split("/")[1:])
        examples = tuple(_canonical(e["payload"]) for e in message.get("examples") or ()
                         if isinstance(e, dict) and "payload" in e)
        return ApiMessage(channel, name, _canonical(schema), schema.get("type") == "string",
                          correlation, examples)

    def _refs_to_messages(self, refs: Any, at: str,
                          messages: dict[tuple[str, str], ApiMessage]) -> tuple[ApiMessage, ...]:
        found = []
        for i, ref in enumerate(refs):
            key = _local_key(ref.get("$ref") if isinstance(ref, dict) else None, "channels")
            if key is None or len(key) != 3 or key[1] != "messages":
                raise self.fail(f"{at}/{i}", "must be a $ref to a message of a channel "
                                             "(#/channels/<channel>/messages/<message>)")
            if (key[0], key[2]) not in messages:
                raise self.fail(f"{at}/{i}", f"names {ref['$ref']!r}, not a message of a "
                                             "WebSocket channel")
            found.append(messages[key[0], key[2]])
        return tuple(found)

    def _operation(self, op_id: str, raw: Any, channels: dict[str, dict[str, Any]],
                   messages: dict[tuple[str, str], ApiMessage], endpoint_of: dict[str, int],
                   ) -> ApiOperation | None:
        at = f"/operations/{op_id}"
        op = self.get(raw, at)
        ref = op.get("channel", {}).get("$ref") if isinstance(op.get("channel"), dict) \
            else None
        key = _local_key(ref, "channels")
        if key is None or len(key) != 1:
            raise self.fail(f"{at}/channel", "must be a $ref to #/channels/<channel>")
        if key[0] not in channels:
            return None  # not a WebSocket channel: out of the kit's reach
        if not _OPERATION_ID.fullmatch(op_id):
            raise self.fail(at, f"the operation id {op_id!r} names the kit's checks "
                                f"(asyncapi.<id>.reply, ...): use ASCII letters, digits, "
                                "'_', '-' and '.' only")
        channel = key[0]

        def of_channel(name: str) -> tuple[ApiMessage, ...]:
            return tuple(m for (c, _), m in messages.items() if c == name)

        own = self._refs_to_messages(op["messages"], f"{at}/messages", messages) \
            if "messages" in op else of_channel(channel)
        replies = None
        action = str(op.get("action"))
        if action == "receive" and op.get("reply") is not None:
            reply = self.get(op["reply"], f"{at}/reply")
            reply_channel = channel
            if isinstance(reply.get("channel"), dict):
                rkey = _local_key(reply["channel"].get("$ref"), "channels")
                if rkey is None or len(rkey) != 1:
                    raise self.fail(f"{at}/reply/channel", "must be a $ref to "
                                                           "#/channels/<channel>")
                if rkey[0] not in channels:
                    raise self.fail(f"{at}/reply/channel", "is not a WebSocket channel")
                if endpoint_of[rkey[0]] != endpoint_of[channel]:
                    raise self.fail(f"{at}/reply/channel", "is at another address: a reply "
                                                           "comes on the same connection")
                reply_channel = rkey[0]
            replies = self._refs_to_messages(reply["messages"], f"{at}/reply/messages",
                                             messages) \
                if "messages" in reply else of_channel(reply_channel)
            if not replies:
                raise self.fail(f"{at}/reply", "names no message the reply may be")
        if action == "receive" and not own:
            raise self.fail(at, "names no message the client may send")
        return ApiOperation(op_id, "send" if action == "send" else "receive", channel,
                            endpoint_of[channel], own, replies)


def _text_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _placeholder(schema: Any) -> str:
    kind = schema.get("type") if isinstance(schema, dict) else None
    return {"boolean": "true", "integer": "1", "number": "1"}.get(str(kind), "x")
