"""A check's record: the one value from the test item to every report, plain JSON values on
the way from an xdist worker (execnet carries nothing else) and the report's entry without the
check's own word."""

from __future__ import annotations

import execnet

from wscheck.core.events import Accepted, Conversation, SendText, Text
from wscheck.core.spec import Spec
from wscheck.reporting.record import CheckRecord
from wscheck.reporting.redaction import redact_verdict
from wscheck.run.conversation import Observation
from wscheck.run.registry import SUITE, Outcome, Verdict


def _failed_record() -> CheckRecord:
    chk = SUITE["echo.exact"]
    conversation = Conversation("/ws", (SendText("hello"),))
    observation = Observation(conversation, (Accepted(), Text("接收到的消息是:hello")),
                              (Accepted(), Text("hello")))
    verdict = Verdict("the reply is not exactly the prefix followed by the message",
                      observation, notes=("diagnosis: the prefix is missing",))
    shown = redact_verdict(verdict, Spec(), show_credentials=False)
    return CheckRecord.of(chk, Outcome.FAIL, verdict, shown, replay="wscheck replay ...")


def test_the_record_crosses_execnet_and_comes_back_equal() -> None:
    record = _failed_record()
    carried = execnet.loads(execnet.dumps(record.to_wire()))
    assert CheckRecord.from_wire(carried) == record
    assert carried["outcome"] == "fail" and type(carried["outcome"]) is str


def test_the_report_entry_holds_the_evidence_but_not_the_checks_own_word() -> None:
    entry = _failed_record().to_json()
    assert "outcome" not in entry
    assert entry["verdict"] == "error"  # settled by the collector from pytest's outcome
    assert entry["first_difference"] == 1
    assert entry["observed"] == [{"type": "accepted"}, {"type": "text", "text": "hello"}]
    assert _failed_record().diagnoses == ("diagnosis: the prefix is missing",)


def test_a_record_without_a_verdict_holds_only_the_word() -> None:
    record = CheckRecord.of(SUITE["echo.exact"], Outcome.NOT_APPLICABLE)
    assert (record.outcome, record.problem, record.conversation, record.notes) == (
        Outcome.NOT_APPLICABLE, None, None, ())
    assert record.where == "echo.exact [MUST]"
