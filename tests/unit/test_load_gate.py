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
