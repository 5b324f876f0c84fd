"""The benchmark scripts run and report what the README says they measure.

A smoke test with tiny sizes: it checks the shape of the figures and that every concurrent
session was verified, never a speed (the machine running the tests may be anything).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # every benchmark, at tiny sizes; CI runs it

KEYS = [
    "raw_asgi_rt_per_s", "wscheck_asgi_rt_per_s", "httpx_ws_asgi_rt_per_s",
    "testclient_rt_per_s", "websockets_url_rt_per_s", "wscheck_url_rt_per_s",
    "raw_asgi_conn_per_s", "wscheck_asgi_conn_per_s", "httpx_ws_asgi_conn_per_s",
    "testclient_conn_per_s", "websockets_url_conn_per_s", "wscheck_url_conn_per_s",
    "wscheck_asgi_vs_raw", "wscheck_url_vs_websockets", "suite_seconds_asgi",
    "concurrent_asgi_bytes_per_session", "concurrent_url_bytes_per_session",
]


def test_roundtrip_quick_prints_the_figures_as_its_last_line() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "roundtrip.py"), "--quick", "--json",
         "--no-suite-url"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert "round trips/s" in done.stdout  # the table comes first
    for key in KEYS:
        assert isinstance(figures[key], (int, float)) and figures[key] > 0, key
    assert figures["concurrent_asgi_sessions_verified"] == figures["concurrent_asgi_sessions"]
    assert figures["concurrent_url_sessions_verified"] == figures["concurrent_url_sessions"]
    assert figures["suite_asgi_checks"]["failed"] == 0
    curve = figures["cost_curve"]
    assert [p["messages"] for p in curve] == sorted(p["messages"] for p in curve)
    assert all(p["seconds"] > 0 for p in curve)


def under_load(*pytest_args: str) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "under_load.py"), "--hogs", "1",
         "--limit", "240", "--", "-q", "-p", "no:cacheprovider", *pytest_args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_under_load_reports_the_test_run_beside_a_cpu_bound_process() -> None:
    status, figures = under_load("tests/test_spec.py", "-k", "digest")
    assert status == 0
    assert figures["exit_status"] == 0 and figures["hogs"] == 1
    assert isinstance(figures["seconds"], float) and figures["seconds"] > 0


def test_under_load_passes_on_pytests_exit_status() -> None:
    status, figures = under_load("tests/test_spec.py", "-k", "no_test_has_this_name")
    assert status == figures["exit_status"] == pytest.ExitCode.NO_TESTS_COLLECTED


def test_suite_benchmark_times_both_targets_and_prints_the_ratio() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "suite.py"), "--rounds", "1", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert "network / in-process" in done.stdout  # the table comes first
    for target in ("in_process", "network"):
        assert figures[f"{target}_exit_status"] == [0]  # the reference app conforms
        assert figures[f"{target}_pytest_s"] > 0 and figures[f"{target}_wall_s"] > 0
    assert figures["ratio_pytest_s"] == round(
        figures["network_pytest_s"] / figures["in_process_pytest_s"], 2)


def test_suite_benchmark_times_a_slow_app_in_process_and_over_the_network() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "suite.py"), "--slow-app", "0.001", "--json",
         "--", "--examples", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert "echo.stays-open" in done.stdout  # the table comes first
    for target in ("in_process", "network"):
        assert figures[f"slow_{target}_exit_status"] == 0  # a slow app that conforms
        assert figures[f"slow_{target}_ratio_to_longest"] == round(
            figures[f"slow_{target}_pytest_s"] / figures["longest_conversation_s"], 2)


def test_strategies_benchmark_compares_reused_and_rebuilt_builders() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "strategies.py"), "--examples", "5",
         "--rounds", "1", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures["strategies"]) == {"echo_conversations", "auth_conversations",
                                          "conversations"}
    for row in figures["strategies"].values():
        assert row["reused"] > 0 and row["rebuilt"] > 0 and row["ratio"] > 0


def test_load_benchmark_gives_a_client_that_completed_nothing_more_rounds(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A round in which a client completed no conversation (starved of CPU on a busy
    machine) is no figure: the throughput run tries again, at most twice, and says how many
    rounds it ran."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("wscheck_bench_load",
                                                  ROOT / "benchmarks" / "load.py")
    assert spec is not None and spec.loader is not None
    load = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load)
    locust_counts = iter([0, 0, 7])

    def run_locust(*_: object, **__: object) -> dict[str, float]:
        return {"conversations": next(locust_counts), "mismatches": 0, "kit_errors": 0,
                "cpu_seconds": 1.0}

    async def run_url_driver(*_: object) -> tuple[int, int]:
        return 3, 0

    async def run_websockets(*_: object) -> int:
        return 5

    monkeypatch.setattr(load, "run_locust", run_locust)
    monkeypatch.setattr(load, "run_url_driver", run_url_driver)
    monkeypatch.setattr(load, "run_websockets", run_websockets)
    figures = load.throughput("127.0.0.1:1", tmp_path / "pool.json", [], 1, 1.0, 1)
    assert figures["rounds"] == 3
    assert figures["locust_conversations_per_s"] == 7.0
    never = iter([0, 0, 0, 0])
    monkeypatch.setattr(load, "run_locust", lambda *_, **__: {
        "conversations": next(never), "mismatches": 0, "kit_errors": 0, "cpu_seconds": 1.0})
    figures = load.throughput("127.0.0.1:1", tmp_path / "pool.json", [], 1, 1.0, 1)
    assert figures["rounds"] == 3 and figures["locust_conversations_per_s"] == 0


def test_rfc6455_benchmark_reports_both_suites_and_their_ratio() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "rfc6455.py"), "--rounds", "1", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["rfc6455_exit_status"] == 0 and figures["chat_exit_status"] == 0
    assert figures["rfc6455_vs_chat"] == pytest.approx(
        figures["rfc6455_pytest_s"] / figures["chat_pytest_s"], abs=0.01)
    assert "85 passed" in figures["rfc6455_summary"]
