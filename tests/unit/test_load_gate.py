"""The CI load gate's verdict (scripts/load.py): it passes only on a run within the limit; a
failing run is repeated, one the host disturbed does not count against Brain, and a regression
still fails."""

from __future__ import annotations

from scripts.load import (
    FSYNC_P95_LIMIT_MS,
    GATE_BUDGET_S,
    GATE_RUNS,
    STEAL_LIMIT,
    GateRun,
    gate_verdict,
    overload_figures,
)

PASS, FAIL = GateRun(True, 0.0, 1.0), GateRun(False, 0.0, 1.0)
STOLEN = GateRun(False, STEAL_LIMIT * 2, 1.0)
SLOW_DISK = GateRun(False, 0.0, FSYNC_P95_LIMIT_MS * 2)


def test_a_passing_run_passes_and_a_failing_one_is_repeated() -> None:
    assert gate_verdict([PASS]) == "pass"
    assert gate_verdict([FAIL]) is None
    assert gate_verdict([FAIL, PASS]) == "pass"


def test_two_undisturbed_failures_fail() -> None:
    assert gate_verdict([FAIL, FAIL]) == "FAIL (2 undisturbed runs over the limit)"
    assert gate_verdict([FAIL, STOLEN, FAIL]) == "FAIL (2 undisturbed runs over the limit)"


def test_disturbed_failures_are_repeated_but_never_pass() -> None:
    assert STOLEN.disturbance() and SLOW_DISK.disturbance() and FAIL.disturbance() is None
    assert gate_verdict([STOLEN, SLOW_DISK]) is None
    every = [STOLEN, SLOW_DISK] * (GATE_RUNS // 2)
    assert gate_verdict(every[:-1], 60.0) is None
    assert gate_verdict(every, 60.0) == (
        f"FAIL (no run passed in {GATE_RUNS} runs, 60 s; {GATE_RUNS} of them disturbed by the host)"
    )


def test_no_run_starts_after_the_budget() -> None:
    assert gate_verdict([STOLEN], GATE_BUDGET_S - 1) is None
    assert gate_verdict([STOLEN], GATE_BUDGET_S) == (
        f"FAIL (no run passed in 1 run, {GATE_BUDGET_S:.0f} s; 1 of them disturbed by the host)"
    )
    assert gate_verdict([STOLEN, PASS], GATE_BUDGET_S * 2) == "pass"
    assert gate_verdict([], GATE_BUDGET_S * 2) is None


def _summary(windows: dict[int, float]) -> dict:
    metrics: dict = {
        "iterations{scenario:overload}": {"values": {"count": 60_000}},
        "http_req_duration{scenario:overload,expected_response:true}": {
            "values": {"count": 27_000, "p(95)": 31.5, "p(99)": 44.0}
        },
        "brain_refused{scenario:overload}": {"values": {"rate": 0.55}},
        "brain_served_in_service{phase:overload}": {"values": {"p(95)": 12.0}},
        "dropped_iterations{scenario:overload}": {"values": {"count": 3}},
    }
    for w, p95 in windows.items():
        metrics[f"brain_after_served{{window:{w}}}"] = {"values": {"p(95)": p95}}
    return {"metrics": metrics}


def test_overload_figures_per_phase() -> None:
    run = overload_figures(_summary({0: 5.0}), {"overload": 30.0})
    assert run.phases["overload"] == {
        "offered": 2000.0, "served": 900.0, "p95": 31.5, "p99": 44.0, "in_service_p95": 12.0,
        "refused": 0.55, "dropped": 3.0,
    }  # fmt: skip


def test_recovery_is_when_the_served_p95_stays_under_the_limit() -> None:
    assert overload_figures(_summary({0: 5.0, 1: 4.0}), {}).recovery_s == 0.0
    slow_then_fast = {0: 300.0, 1: 80.0, 2: 12.0, 3: 25.0, 4: 9.0, 5: 8.0}
    assert overload_figures(_summary(slow_then_fast), {}).recovery_s == 1.0  # window 4 on
    assert overload_figures(_summary({0: 300.0, 39: 21.0}), {}).recovery_s is None
