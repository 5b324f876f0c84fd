"""The kit on AsyncAPI documents no one here wrote: the AsyncAPI project's Kraken and Gemini
WebSocket examples (fetched at test time, see tests/asyncapi_docs.py), each against a small
reference server (tests/asyncapi_apps.py) that must pass, and mutants of it that must fail
for their named reason.

A mutant fails its named check; beside it only the generated-property checks that cover the
same rule may fail too (``asyncapi.<op>.prop``, ``asyncapi.stateful``: whether they meet the
defect depends on the draw). Every other check passes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.asyncapi_apps import gemini_app, kraken_app
from tests.asyncapi_docs import asyncapi_examples  # noqa: F401  (a fixture)
from tests.fastapi_docs import in_ci
from tests.verdicts import asgi_verdicts, url_verdicts
from wscheck.config.known import load_spec_and_known
from wscheck.core.spec import Spec
from wscheck.errors import SpecError

KRAKEN = "kraken-websocket-request-reply-message-filter-in-reply-asyncapi.yml"
KRAKEN_CHANNELS = "kraken-websocket-request-reply-multiple-channels-asyncapi.yml"
GEMINI = "websocket-gemini-asyncapi.yml"
#: Generated examples per property: the named checks of the mutants are fixed checks, and
#: the properties only may fail beside them.
EXAMPLES = 5


def spec_of(documents: dict[str, Path], name: str) -> Spec:
    return load_spec_and_known(documents[name])[0]


def asyncapi_outcomes(outcomes: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in outcomes.items() if k.startswith("asyncapi.")}


@pytest.mark.parametrize(("document", "app"), [(KRAKEN, kraken_app),
                                               (KRAKEN_CHANNELS, kraken_app),
                                               (GEMINI, gemini_app)])
def test_the_reference_server_passes(asyncapi_examples: dict[str, Path],  # noqa: F811
                                     document: str, app) -> None:
    spec = spec_of(asyncapi_examples, document)
    outcomes = asyncapi_outcomes(asgi_verdicts(app(), spec, examples=EXAMPLES))
    assert outcomes and set(outcomes.values()) == {"pass"}, outcomes


def test_the_kraken_document_means_what_it_says(
        asyncapi_examples: dict[str, Path]) -> None:  # noqa: F811
    api = spec_of(asyncapi_examples, KRAKEN).api
    assert api is not None
    assert [(e.path, e.channels) for e in api.endpoints] == [("/", ("currencyExchange",))]
    assert [(o.id, o.action, o.replies is not None) for o in api.operations] == [
        ("receivePing", "receive", True), ("sendHeartbeat", "send", False),
        ("systemStatus", "send", False), ("receiveSubscribeRequest", "receive", True),
        ("receiveUnsubscribeRequest", "receive", True)]
    assert [m.correlation for m in api.operations[0].messages] == [("reqid",)]
    gemini = spec_of(asyncapi_examples, GEMINI).api
    assert gemini is not None and gemini.endpoints[0].path == "/v1/marketdata/btcusd"


MUTANTS = [
    (KRAKEN, kraken_app, "missing-field", "asyncapi.receiveSubscribeRequest.schema",
     "is not a valid currencyExchange/subscriptionStatus"),
    (KRAKEN, kraken_app, "wrong-type", "asyncapi.receivePing.schema",
     "is not a valid currencyExchange/pong: at /reqid: '"),
    (KRAKEN, kraken_app, "wrong-enum", "asyncapi.systemStatus.schema",
     "at /status: 'bogus' is not one of"),
    (KRAKEN, kraken_app, "wrong-channel", "asyncapi.receivePing.reply",
     "is currencyExchange/subscriptionStatus"),
    (KRAKEN_CHANNELS, kraken_app, "wrong-channel", "asyncapi.receivePing.reply",
     "is currencyInfo/subscriptionStatus, a message of channel 'currencyInfo', not one of "
     "the reply's (pong/pong)"),
    (KRAKEN, kraken_app, "binary", "asyncapi.receivePing.schema",
     "is not a valid currencyExchange/pong: it is a binary message, not text"),
    (KRAKEN, kraken_app, "crosstalk", "asyncapi.receivePing.isolation",
     "received a reply meant for another client's receivePing request"),
    (GEMINI, gemini_app, "wrong-type", "asyncapi.sendMarketData.schema",
     "is not a valid marketDataV1/marketData"),
    (GEMINI, gemini_app, "wrong-enum", "asyncapi.sendMarketData.schema",
     "is not a valid marketDataV1/marketData"),
]


@pytest.mark.parametrize(("document", "app", "defect", "named", "reason"), MUTANTS,
                         ids=[f"{d.split('-')[0]}{'-channels' if d == KRAKEN_CHANNELS else ''}"
                              f"-{m}" for d, _, m, _, _ in MUTANTS])
def test_a_mutant_fails_for_its_named_reason(asyncapi_examples: dict[str, Path],  # noqa: F811
                                             document: str, app, defect: str, named: str,
                                             reason: str) -> None:
    import asyncio

    from tests.verdicts import derandomized, run_checks
    from wscheck.drivers.asgi import AsgiDriver, lifespan

    spec = spec_of(asyncapi_examples, document)

    async def verdicts() -> dict[str, object]:
        async with lifespan(app(defect)) as wrapped:
            driver = AsgiDriver(wrapped, timeout=2.0)
            try:
                return {k: v for k, (_, v) in
                        (await run_checks(driver, spec, EXAMPLES)).items()}
            finally:
                await driver.aclose()

    with derandomized():
        results = asyncio.run(verdicts())
    verdict = results[named]
    assert verdict is not None and verdict.problem is not None, verdict
    assert reason in verdict.problem, verdict.problem
    op = named.split(".")[1]
    may_also = {f"asyncapi.{op}.prop", "asyncapi.stateful"}
    others = {k for k, v in results.items() if k.startswith("asyncapi.") and k != named
              and v is not None and not v.passed}
    assert others <= may_also, others


def test_over_the_network_through_uvicorn(asyncapi_examples: dict[str, Path]) -> None:  # noqa: F811
    # Every check of one operation and of the server's own messages: over a network every
    # quiet window is real time, and the state machine's runs are many of them.
    spec = spec_of(asyncapi_examples, KRAKEN)
    only = {f"asyncapi.receivePing.{kind}" for kind in
            ("reply", "schema", "unsolicited", "isolation", "prop")}
    only |= {"asyncapi.sendHeartbeat.schema", "asyncapi.systemStatus.schema"}
    good = asyncapi_outcomes(url_verdicts(kraken_app(), spec, examples=5, only=only))
    assert set(good) == only and set(good.values()) == {"pass"}, good
    gemini = asyncapi_outcomes(url_verdicts(gemini_app(), spec_of(asyncapi_examples, GEMINI)))
    assert gemini == {"asyncapi.sendMarketData.schema": "pass"}
    bad = asyncapi_outcomes(url_verdicts(kraken_app("wrong-type"), spec, examples=5,
                                         only={"asyncapi.receivePing.schema"}))
    assert bad == {"asyncapi.receivePing.schema": "fail"}


def test_an_invalid_real_document_is_refused_in_one_line(
        asyncapi_examples: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    text = asyncapi_examples[KRAKEN].read_text(encoding="utf-8")
    broken = tmp_path / "kraken.yml"
    broken.write_text(text.replace("action: send", "action: emit", 1), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec_and_known(broken)
    message = str(info.value)
    assert "\n" not in message and "/operations/sendHeartbeat/action: 'emit'" in message


def test_reports_replay_and_known_failures_work_as_for_the_chat(
        asyncapi_examples: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    """Through `wscheck run` as a user runs it: the report keeps the API, `wscheck replay`
    judges the failure's conversation by the check's rules (still failing on the mutant,
    conforming on the reference server), and an xfail list names the document's checks."""
    import os
    import shutil
    import subprocess
    import sys

    import tests.asyncapi_apps

    shutil.copy(asyncapi_examples[KRAKEN], tmp_path / "kraken.yml")
    shutil.copy(tests.asyncapi_apps.__file__, tmp_path / "krakenapp.py")
    for name, defect in (("bad", "'wrong-type'"), ("good", "")):
        (tmp_path / f"{name}.py").write_text(
            f"from krakenapp import kraken_app\n\napp = kraken_app({defect})\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}

    def wscheck(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wscheck", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    check = "asyncapi.receivePing.schema"
    run = wscheck("run", "--app", "bad:app", "--spec", "kraken.yml", "--examples", "5",
                  "--report", "r.json", "--", "-k", "receivePing and schema",
                  "-p", "no:cacheprovider")
    assert run.returncode == 1, run.stdout[-3000:]
    assert f"replay: wscheck replay {tmp_path / 'r.json'} {check} --app bad:app" in run.stdout
    import json
    import re

    import jsonschema

    schema_doc = (Path(__file__).resolve().parent.parent / "docs" / "report-schema.md"
                  ).read_text(encoding="utf-8")
    schema = json.loads(re.search(r"```json\n(.*?)```", schema_doc, re.S).group(1))
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(report)
    assert report["spec"]["api"]["operations"][0]["id"] == "receivePing"
    still = wscheck("replay", "r.json", check, "--app", "bad:app")
    assert still.returncode == 1 and f"{check}: still fails" in still.stdout, still.stdout
    assert "now: the reply to request" in still.stdout
    fixed = wscheck("replay", "r.json", check, "--app", "good:app")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"{check}: the conversation now conforms" in fixed.stdout
    (tmp_path / "known.txt").write_text(f"{check}\n", encoding="utf-8")
    known = wscheck("run", "--app", "bad:app", "--spec", "kraken.yml", "--xfail", "known.txt",
                    "--", "-k", "receivePing and schema", "-p", "no:cacheprovider")
    assert known.returncode == 0, known.stdout[-3000:]
    (tmp_path / "typo.txt").write_text("asyncapi.receivePing.shema\n", encoding="utf-8")
    typo = wscheck("run", "--app", "bad:app", "--spec", "kraken.yml", "--xfail", "typo.txt")
    assert typo.returncode == 4 and "unknown check id 'asyncapi.receivePing.shema'" in (
        typo.stdout + typo.stderr)


@pytest.mark.slow
def test_load_mode_runs_a_documents_requests_and_names_a_mutants_failure(
        asyncapi_examples: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    """`wscheck load --spec kraken.yml`: Locust users send requests drawn from the
    document's schemas, each judged by the rules of its operation's checks; the reference
    server conforms under load, the wrong-type mutant does not, and its example replays."""
    # Locust is looked for, not imported: importing it monkey-patches this process for
    # gevent, and an xdist worker so patched never takes another test.
    if importlib.util.find_spec("locust") is None:  # pragma: no cover - the test extra has it
        missing = "the load extra is not installed: pip install 'pytest-wscheck[load]'"
        if in_ci():
            pytest.fail(f"CI=true: {missing}", pytrace=False)
        pytest.skip(missing)
    import os
    import shutil
    import subprocess
    import sys

    from tests.servers import serve_uvicorn

    shutil.copy(asyncapi_examples[KRAKEN], tmp_path / "kraken.yml")
    root = str(Path(__file__).resolve().parent.parent)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
           "PYTHONPATH": root}

    def load(url: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wscheck", "load", "--url", url,
                               "--spec", "kraken.yml", "--users", "4", "--run-time", "3s",
                               "--seed", "1", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    with serve_uvicorn(kraken_app()) as address:
        good = load(f"ws://{address}")
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-3000:]
    assert "every transcript matched the model" in good.stdout
    for op in ("receivePing", "receiveSubscribeRequest", "receiveUnsubscribeRequest"):
        assert op in good.stdout, good.stdout[-3000:]
    with serve_uvicorn(kraken_app("wrong-type")) as address:
        bad = load(f"ws://{address}")
        assert bad.returncode == 1, bad.stdout[-3000:] + bad.stderr[-3000:]
        assert "[receivePing] invalid reply" in bad.stdout, bad.stdout[-3000:]
        assert "TranscriptMismatch('invalid reply')" in bad.stdout + bad.stderr
        replay = next(line.split("replay: ", 1)[1] for line in bad.stdout.splitlines()
                      if line.startswith("replay: "))
        words = replay.split()
        # The replayed conversation fails on its first run: two seconds of load show it as
        # well as the replay command's ten.
        words[words.index("--run-time") + 1] = "2s"
        again = subprocess.run([sys.executable, "-m", "wscheck", *words[1:]], cwd=tmp_path,
                               env=env, capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL)
    assert again.returncode == 1, again.stdout[-3000:] + again.stderr[-3000:]
    assert "[receivePing] invalid reply" in again.stdout, again.stdout[-3000:]
