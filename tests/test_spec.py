"""The spec: defaults equal to protocol.md, TOML loading, errors naming file and key.

Expected protocol strings are written out literally from ``protocol.md`` (not read from the
Spec), so a wrong default fails here.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wscheck.core.spec import AuthSpec, EchoSpec, Spec, SpecError, load_spec, spec_from_mapping


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults are the brief, byte for byte ---------------------------------------------------


def test_echo_defaults_are_the_brief() -> None:
    echo = Spec().echo
    assert echo is not None
    assert echo.path == "/ws"
    assert echo.url_path() == "/ws"
    assert echo.render_reply("hello") == "接收到的消息是:hello"
    assert echo.render_reply("") == "接收到的消息是:"
    assert echo.bye == "bye"
    assert echo.farewells == ("请注意:窗口即将关闭", "窗口已关闭")
    assert echo.bye_close_code == 1000
    assert echo.binary_close_code == 1003


def test_auth_defaults_are_the_brief() -> None:
    auth = Spec().auth
    assert auth is not None
    assert auth.path == "/item/ws"
    assert auth.url_path() == "/item/ws"
    assert (auth.cookie, auth.token, auth.q) == ("session", "token", "q")
    assert auth.render(auth.credential_reply, credential="abc") == (
        "Session cookie or query token value is: abc")
    assert auth.render(auth.credential_reply, credential=None) == (
        "Session cookie or query token value is: None")
    assert auth.render(auth.q_reply, q=5) == "parameter q is: 5"
    assert auth.render(auth.message_reply, message="hi", q=None) == (
        "Message text was: hi, for : None")
    assert auth.render(auth.message_reply, message="hi", q=-3) == "Message text was: hi, for : -3"
    assert auth.denied_close_code == 1008
    assert auth.binary_close_code == 1003


def test_default_strings_are_exact_bytes() -> None:
    """The colons are ASCII U+003A with no space after them, not the full-width U+FF1A."""
    echo = Spec().echo
    assert echo is not None
    prefix = echo.render_reply("")
    assert prefix.encode() == "接收到的消息是".encode() + b":"
    assert "\uff1a" not in prefix + "".join(echo.farewells)
    assert echo.farewells[0].encode() == "请注意".encode() + b":" + "窗口即将关闭".encode()
    assert echo.farewells[0].encode().hex() == (
        "e8afb7e6b3a8e6848f3ae7aa97e58fa3e58db3e5b086e585b3e997ad")
    assert echo.farewells[1].encode().hex() == "e7aa97e58fa3e5b7b2e585b3e997ad"


# --- TOML loading ---------------------------------------------------------------------------

FULL_TOML = """
[echo]
path = "/chat"
reply = "You said: {message}"
bye = "quit"
farewells = ["so long", "and thanks"]
bye_close_code = 4000
binary_close_code = 1007

[auth]
path = "/guarded"
cookie = "sid"
token = "key"
q = "page"
credential_reply = "cred={credential}"
q_reply = "page={q}"
message_reply = "msg={message} page={q}"
denied_close_code = 4003
binary_close_code = 1009
"""


def test_every_key_is_loaded(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, FULL_TOML))
    assert spec == Spec(
        echo=EchoSpec(path="/chat", reply="You said: {message}", bye="quit",
                      farewells=("so long", "and thanks"), bye_close_code=4000,
                      binary_close_code=1007),
        auth=AuthSpec(path="/guarded", cookie="sid", token="key", q="page",
                      credential_reply="cred={credential}", q_reply="page={q}",
                      message_reply="msg={message} page={q}", denied_close_code=4003,
                      binary_close_code=1009),
    )
    assert spec.echo is not None
    assert spec.echo.render_reply("x") == "You said: x"


def test_empty_file_is_the_reference_protocol(tmp_path: Path) -> None:
    assert load_spec(write(tmp_path, "")) == Spec()


def test_partial_section_keeps_other_defaults(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, '[echo]\nreply = "echo: {message}"\n'))
    assert spec == Spec(echo=EchoSpec(reply="echo: {message}"))


def test_empty_bye_means_no_bye_word(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, '[echo]\nbye = ""\n'))
    assert spec.echo is not None
    assert spec.echo.bye is None
    assert spec.echo.farewells == ("请注意:窗口即将关闭", "窗口已关闭")


@pytest.mark.parametrize("section", ["echo", "auth"])
def test_enabled_false_disables_a_section(tmp_path: Path, section: str) -> None:
    spec = load_spec(write(tmp_path, f"[{section}]\nenabled = false\n"))
    assert getattr(spec, section) is None
    other = "auth" if section == "echo" else "echo"
    assert getattr(spec, other) == getattr(Spec(), other)


def test_enabled_true_keeps_a_section(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, '[auth]\nenabled = true\ncookie = "sid"\n'))
    assert spec.auth == AuthSpec(cookie="sid")


def test_fastapi_docs_protocol_with_path_params(tmp_path: Path) -> None:
    """FastAPI's own tutorial: texts differ, the guarded path has a parameter."""
    spec = load_spec(write(tmp_path, """
[echo]
reply = "Message text was: {message}"
bye = ""
farewells = []

[auth]
path = "/items/{item_id}/ws"
q_reply = "Query parameter q is: {q}"
message_reply = "Message text was: {message}, for item ID: {item_id}"

[auth.path_params]
item_id = "foo"
"""))
    auth = spec.auth
    assert auth is not None
    assert auth.path == "/items/{item_id}/ws"
    assert auth.path_params == (("item_id", "foo"),)
    assert auth.url_path() == "/items/foo/ws"
    assert auth.render(auth.message_reply, message="hi", q=None) == (
        "Message text was: hi, for item ID: foo")
    assert auth.render(auth.q_reply, q=3) == "Query parameter q is: 3"
    assert spec.echo == EchoSpec(reply="Message text was: {message}", bye=None, farewells=())


def test_path_params_on_the_echo_endpoint(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, """
[echo]
path = "/rooms/{room}/ws"
reply = "[{room}] {message}"
[echo.path_params]
room = "lobby"
"""))
    assert spec.echo is not None
    assert spec.echo.url_path() == "/rooms/lobby/ws"
    assert spec.echo.render_reply("hi") == "[lobby] hi"


def test_literal_braces_in_templates(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, '[echo]\nreply = "{{json}}: {message}"\n'))
    assert spec.echo is not None
    assert spec.echo.render_reply("x") == "{json}: x"


def test_pyproject_is_read_from_tool_wscheck(tmp_path: Path) -> None:
    path = write(tmp_path, """
[project]
name = "someone-elses-app"

[tool.wscheck.echo]
bye = "ciao"

[tool.wscheck.auth]
enabled = false
""", name="pyproject.toml")
    assert load_spec(path) == Spec(echo=EchoSpec(bye="ciao"), auth=None)


def test_pyproject_without_tool_wscheck_is_the_reference(tmp_path: Path) -> None:
    path = write(tmp_path, '[project]\nname = "x"\n', name="pyproject.toml")
    assert load_spec(path) == Spec()


def test_explicit_table(tmp_path: Path) -> None:
    path = write(tmp_path, '[a.b.echo]\nbye = "end"\n[echo]\nbye = "ignored"\n')
    assert load_spec(path, table="a.b") == Spec(echo=EchoSpec(bye="end"))


# --- errors name the file and the key -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param('[echo]\nreplyy = "x"\n', ["unknown key", "echo.replyy", "reply"],
                     id="unknown-key"),
        pytest.param('[echoo]\nbye = "x"\n', ["unknown key", "echoo", "echo, auth"],
                     id="unknown-section"),
        pytest.param('[echo]\nbye_close_code = "1000"\n',
                     ["echo.bye_close_code", "integer", "string"], id="string-for-int"),
        pytest.param("[echo]\nbye_close_code = true\n",
                     ["echo.bye_close_code", "integer", "boolean"], id="bool-for-int"),
        pytest.param("[auth]\ncookie = 3\n", ["auth.cookie", "string", "integer"],
                     id="int-for-string"),
        pytest.param('[echo]\nfarewells = "bye"\n', ["echo.farewells", "array of strings"],
                     id="farewells-not-array"),
        pytest.param("[echo]\nfarewells = [1]\n", ["echo.farewells", "array of strings"],
                     id="farewells-not-strings"),
        pytest.param("[echo]\nbye = 0\n", ["echo.bye", "string"], id="bye-not-string"),
        pytest.param('[auth]\nenabled = "no"\n', ["auth.enabled", "boolean"],
                     id="enabled-not-bool"),
        pytest.param("[echo]\nbye_close_code = 999\n", ["echo.bye_close_code", "1000-4999"],
                     id="close-code-range"),
        pytest.param('[echo]\nreply = "x {mesage}"\n',
                     ["echo.reply", "unknown field {mesage}", "{message}"],
                     id="template-typo"),
        pytest.param('[auth]\nq_reply = "{message}"\n', ["auth.q_reply", "{message}"],
                     id="field-of-another-template"),
        pytest.param('[echo]\nreply = "{message!r}"\n', ["echo.reply", "{message!r}"],
                     id="conversion"),
        pytest.param('[echo]\nreply = "{"\n', ["echo.reply", "not a valid template"],
                     id="lone-brace"),
        pytest.param('[auth]\npath = "/items/{item_id}/ws"\n',
                     ["auth.path", "{item_id}", "auth.path_params"], id="path-param-no-value"),
        pytest.param('[echo]\npath = "ws"\n', ["echo.path", "start with '/'"],
                     id="path-not-absolute"),
        pytest.param("[auth]\npath_params = { item_id = 1 }\n",
                     ["auth.path_params", "table of strings"], id="path-params-not-strings"),
        pytest.param("echo = 3\n", ["[echo] must be a table"], id="section-not-table"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message


def test_malformed_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[echo\nbye = 1\n")
    with pytest.raises(SpecError, match="is not valid TOML") as info:
        load_spec(path)
    assert str(path) in str(info.value)
    assert "line 1" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(SpecError, match="does not exist") as info:
        load_spec(path)
    assert str(path) in str(info.value)


def test_pyproject_errors_name_the_table(tmp_path: Path) -> None:
    path = write(tmp_path, '[tool.wscheck.echo]\nfarewell = "x"\n', name="pyproject.toml")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert f"{path} [tool.wscheck]" in str(info.value)
    assert "'echo.farewell'" in str(info.value)


def test_spec_error_is_a_value_error() -> None:
    with pytest.raises(SpecError, match="where-it-came-from: unknown key 'x'"):
        spec_from_mapping({"x": 1}, where="where-it-came-from")


# --- to_toml and digest ---------------------------------------------------------------------

CUSTOM = Spec(
    echo=EchoSpec(path="/rooms/{room}/ws", reply="[{room}] \"{message}\" \\ ok", bye=None,
                  farewells=(), bye_close_code=4001, path_params=(("room", "lobby"),)),
    auth=AuthSpec(path="/items/{item_id}/ws", cookie="sid", token="api key",
                  q_reply="Query parameter q is: {q}",
                  message_reply="Message text was: {message}, for item ID: {item_id}",
                  path_params=(("item_id", "foo"),)),
)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(Spec(), id="default"),
        pytest.param(CUSTOM, id="custom"),
        pytest.param(Spec(echo=None), id="no-echo"),
        pytest.param(Spec(echo=EchoSpec(bye="ciao", farewells=("ciao!",)), auth=None),
                     id="no-auth"),
        pytest.param(Spec(echo=EchoSpec(farewells=("tab\there", "new\nline", "del\x7fete",
                                                   "bell\x07", "é你🙂"))),
                     id="control-characters"),
    ],
)
def test_to_toml_round_trips(tmp_path: Path, spec: Spec) -> None:
    text = spec.to_toml()
    assert load_spec(write(tmp_path, text)) == spec


def test_default_to_toml_is_readable() -> None:
    text = Spec().to_toml()
    assert 'reply = "接收到的消息是:{message}"' in text
    assert 'farewells = ["请注意:窗口即将关闭", "窗口已关闭"]' in text
    assert "denied_close_code = 1008" in text


def test_digest_is_stable() -> None:
    a, b = Spec(), Spec(echo=EchoSpec(), auth=AuthSpec())
    assert a.digest() == b.digest()
    assert len(a.digest()) == 16
    int(a.digest(), 16)
    # ... and across processes (no dependence on hash randomisation or object identity).
    out = subprocess.run(
        [sys.executable, "-c", "from wscheck.core.spec import Spec; print(Spec().digest())"],
        capture_output=True, text=True, check=True, timeout=30,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert out.stdout.strip() == a.digest()


def test_digest_differs_for_different_specs() -> None:
    variants = [
        Spec(),
        CUSTOM,
        Spec(echo=None),
        Spec(auth=None),
        Spec(echo=EchoSpec(bye=None)),
        Spec(echo=EchoSpec(bye="Bye")),
        Spec(echo=EchoSpec(bye_close_code=1001)),
        Spec(echo=EchoSpec(farewells=("窗口已关闭", "请注意:窗口即将关闭"))),
        Spec(auth=AuthSpec(q_reply="parameter q is:{q}")),
        Spec(auth=dataclasses.replace(AuthSpec(), cookie="Session")),
    ]
    digests = [s.digest() for s in variants]
    assert len(set(digests)) == len(variants)
