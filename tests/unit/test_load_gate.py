"""The CI load gate's verdict (scripts/load.py): a failing run is repeated, a run the host
disturbed does not count against Brain, and a regression still fails."""

from __future__ import annotations

from scripts.load import GATE_RUNS, STEAL_LIMIT, gate_verdict

CALM, STOLEN = 0.0, STEAL_LIMIT * 2


def test_a_passing_run_passes_and_a_failing_one_is_repeated() -> None:
    assert gate_verdict([(True, CALM)]) == "pass"
    assert gate_verdict([(False, CALM)]) is None
    assert gate_verdict([(False, CALM), (True, CALM)]) == "pass"


def test_two_undisturbed_failures_fail() -> None:
    assert (
        gate_verdict([(False, CALM), (False, CALM)]) == "FAIL (2 undisturbed runs over the limit)"
    )
    assert gate_verdict([(False, CALM), (False, STOLEN), (False, CALM)]) is not None


def test_disturbed_failures_are_repeated_but_not_forever() -> None:
    assert gate_verdict([(False, STOLEN), (False, STOLEN)]) is None
    every = [(False, STOLEN)] * GATE_RUNS
    assert gate_verdict(every) == f"FAIL (no run passed; {GATE_RUNS} of them disturbed by the host)"
