"""The reference app's mutants that the kit lets through are all explained, and stay so.

``benchmarks/mutation.py`` runs the kit's suite against every mutant of the reference app
(tens of minutes) and its results are checked in. The fast tests say when those results no
longer describe the source (then the benchmark must be run again) and that every survivor
is explained; the slow ones run the kit again against the recorded blind spots and against
one killed mutant of every mutated function, so that a change to the kit that lets a killed
mutant through, or that closes a blind spot without saying so, fails.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = ROOT / "benchmarks" / "mutation.py"
KINDS = ("equivalent", "unconstrained", "blind-spot")
RERUN = "run `python benchmarks/mutation.py` again (or `--survivors` for the survivors only)"


def _benchmark() -> ModuleType:
    """benchmarks/mutation.py, loaded by path (benchmarks/ is not a package)."""
    name = "wscheck_mutation_benchmark"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _results() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (ROOT / "benchmarks" / "mutation" / "results.json").read_text(encoding="utf-8"))
    return data


def _classified() -> dict[str, dict[str, str]]:
    classified: dict[str, dict[str, str]] = _benchmark().load_classification()
    return classified


def test_the_recorded_run_covers_the_current_source() -> None:
    results = _results()
    assert results["complete"], f"the recorded run is partial: {RERUN}"
    recorded, current = results["function_hashes"], _benchmark().function_hashes()
    changed = sorted(k for k in recorded.keys() | current.keys()
                     if recorded.get(k) != current.get(k))
    assert not changed, (f"the reference app changed since the mutation run ({changed}): "
                         f"{RERUN}, then classify any new survivor")


def test_every_survivor_is_explained_and_every_entry_is_a_survivor() -> None:
    results, classified = _results(), _classified()
    survivors = {m["key"] for m in results["mutants"] if m["status"] in ("survived", "timeout")}
    unexplained = sorted(survivors - classified.keys())
    assert not unexplained, ("new surviving mutants: classify each in "
                             f"benchmarks/mutation/equivalent.toml: {unexplained}")
    stale = sorted(classified.keys() - survivors)
    assert not stale, f"listed in equivalent.toml but no longer survivors: {stale}"
    for key, entry in classified.items():
        assert entry["kind"] in KINDS, key
        assert len(entry["reason"].split()) >= 5, f"say why: {key}"


def test_the_blind_spots_are_written_down() -> None:
    text = (ROOT / "benchmarks" / "mutation" / "blind_spots.md").read_text(encoding="utf-8")
    missing = [k for k, e in _classified().items() if e["kind"] == "blind-spot" and k not in text]
    assert not missing, f"blind spots not described in blind_spots.md: {missing}"
    # And the other way: an open blind spot described there is one equivalent.toml lists
    # (its entries come before the mutants seen only on the wire, which are killed).
    open_part = text.split("\n## ", 1)[0]
    described = [line.split("`")[1] for line in open_part.splitlines()
                 if line.startswith("Key: `")]
    listed = {k for k, e in _classified().items() if e["kind"] == "blind-spot"}
    stale = [k for k in described if k not in listed]
    assert not stale, f"described as blind spots but no longer survivors: {stale}"


#: Mutants that were blind spots until a check was written for them: each must stay killed
#: by that check (the sample below picks one mutant per function, not these).
FORMERLY_BLIND = {
    "reference_app/__init__.py::_Room._remove::ReplaceAndWithOr::if name is not None and "
    "self.spec.leave_notice is not None: => if name is not None or self.spec.leave_notice "
    "is not None:": "broadcast.drop-unnoticed",
    "reference_app/__init__.py::_Room._deliver::ExceptionReplacer::except _ClientGone: => "
    "except CosmicRayTestingException:": "broadcast.drop-unnoticed",
}


def test_the_formerly_blind_mutants_are_recorded_killed() -> None:
    recorded = {m["key"]: m for m in _results()["mutants"]}
    for key, killer in FORMERLY_BLIND.items():
        assert key in recorded, f"no longer a mutant of the source: {key}"
        assert recorded[key]["status"] == "killed", (key, recorded[key]["status"])
        assert killer in recorded[key]["killers"], (key, recorded[key]["killers"])


def test_the_published_score_is_the_recorded_one() -> None:
    results = _results()
    summary = _benchmark().score(results["mutants"], _classified())
    assert summary == results["summary"], (
        "equivalent.toml changed since the results were counted: "
        "python benchmarks/mutation.py --rescore")
    figure = f"{summary['killed']}/{summary['total']}"
    for page in ("README.md", "docs/mutation.md"):
        assert figure in (ROOT / page).read_text(encoding="utf-8"), (
            f"{page} does not show the recorded mutation score {figure}")


# --- the slow part: the kit run again against some mutants ------------------------------------

def _recorded(status: str) -> list[dict[str, Any]]:
    try:
        return [m for m in _results()["mutants"] if m["status"] == status]
    except (OSError, ValueError, KeyError):
        return []  # the fast tests above say what is wrong with the file


def _blind_spots() -> list[str]:
    try:
        classified = _classified()
    except (OSError, ValueError, KeyError):
        return []
    return sorted(k for k, e in classified.items() if e["kind"] == "blind-spot")


def _fixed_killers(m: dict[str, Any]) -> list[str]:
    return [k for k in m["killers"] if not k.startswith(("prop.", "<"))]


def _killed_sample() -> list[str]:
    """One mutant per mutated function, among those the cheap in-process sweep killed with a
    fixed check (a kill any later change to the kit must keep): the first by key."""
    chosen: dict[str, str] = {}
    for m in sorted(_recorded("killed"), key=lambda m: m["key"]):
        if m.get("via") == "asgi" and _fixed_killers(m) and m["function"] not in chosen:
            chosen[m["function"]] = m["key"]
    return sorted(chosen.values())


@functools.cache
def _mutants(operator: str) -> dict[str, Any]:
    """The mutants of one operator (all of them take about 10 s to make; one, a second)."""
    return {m.key: m for m in _benchmark().enumerate_mutants(operators={operator})}


def _params(keys: list[str]) -> list[Any]:
    """One param per key, named function-operator-N (a key itself holds code)."""
    return [pytest.param(k, id=f"{'-'.join(k.split('::')[1:3])}-{i}") for i, k in enumerate(keys)]


def _mutant(key: str) -> Any:
    found = [m for k, m in _mutants(key.split("::")[2]).items() if k == key]
    assert found, f"no mutant {key!r} in the current source: {RERUN}"
    return found[0]


@pytest.mark.slow  # the kit's suite once per target (1 to 3) against one mutant
@pytest.mark.parametrize("key", _params(_blind_spots())
                         or [pytest.param(None, id="none-open")])
def test_a_blind_spot_still_survives(key: str | None) -> None:
    if key is None:
        # None recorded: then blind_spots.md must not describe one as open either (rather
        # than an empty parameter set, which pytest would skip).
        text = (ROOT / "benchmarks" / "mutation" / "blind_spots.md").read_text(
            encoding="utf-8")
        assert "None is open." in text.split("\n## ", 1)[0]
        return
    bench = _benchmark()
    verdict = bench.run_mutant(_mutant(key))
    assert verdict["status"] == "survived", (
        f"the kit now kills this blind spot ({verdict['killers']}): take it out of "
        f"equivalent.toml and blind_spots.md, then {RERUN}")


@pytest.mark.slow  # the check written for it, against one mutant: a few seconds
@pytest.mark.parametrize("key", _params(sorted(FORMERLY_BLIND)))
def test_a_formerly_blind_mutant_is_still_killed(key: str) -> None:
    """The check that closed a blind spot still kills its mutant in-process."""
    check = FORMERLY_BLIND[key]
    verdict = _benchmark().rerun_killers(_mutant(key), "room", [check])
    assert verdict["status"] == "killed", f"{check} no longer catches {key} ({verdict})"
    assert verdict["killers"] == [check], verdict


@pytest.mark.slow  # the checks that killed it, against one mutant: a few seconds
@pytest.mark.parametrize("key", _params(_killed_sample()))
def test_a_killed_mutant_is_still_killed(key: str) -> None:
    """The fixed checks that killed it in the recorded run still do, on the same target (the
    whole suite would only add the properties, which no kill here depends on)."""
    recorded = next(m for m in _recorded("killed") if m["key"] == key)
    checks = _fixed_killers(recorded)
    verdict = _benchmark().rerun_killers(_mutant(key), recorded["target"], checks)
    assert verdict["status"] == "killed", (
        f"a new surviving mutant: {checks} no longer catch {key} ({verdict})")
    assert set(verdict["killers"]) & set(checks), verdict
