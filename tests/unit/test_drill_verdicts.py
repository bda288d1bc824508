"""The drills' verdicts (scripts/drills/harness.py): a check that cannot fail proves nothing, so
each rule is shown failing here, on runs made up for it."""

from __future__ import annotations

from collections import Counter

from scripts.drills.harness import Drill, Run

TARGET = (15.0, 30.0)


def clean(rto: float, dependency: float | None = None, **fields: object) -> Run:
    run = Run(rto_s=rto, dependency_rto_s=dependency, acked=100, in_doubt=2, in_doubt_stored_once=2)
    for name, value in fields.items():
        setattr(run, name, value)
    return run


def drill(*runs: Run, **options: object) -> Drill:
    made = Drill("d", TARGET, "<= 15 / 30 s", **options)  # type: ignore[arg-type]
    made.runs.extend(runs)
    return made


def test_within_the_targets_passes() -> None:
    assert drill(clean(10), clean(12), clean(29)).verdict() == []


def test_a_lost_acknowledged_write_fails() -> None:
    assert "1 acknowledged writes lost" in drill(clean(10, acked_lost=1)).verdict()


def test_an_in_doubt_write_not_stored_exactly_once_fails() -> None:
    why = drill(clean(10, in_doubt_stored_once=1), clean(10, duplicates=1)).verdict()
    assert "1 in-doubt writes not stored once" in why
    assert "1 writes stored more than once" in why


def test_rto_over_the_targets_fails() -> None:
    assert drill(clean(16), clean(16), clean(10)).verdict() == ["RTO 16.0/16.0 s over 15/30 s"]
    assert drill(clean(10), clean(10), clean(31)).verdict() == ["RTO 10.0/31.0 s over 15/30 s"]
    assert "never recovered" in drill(Run(rto_s=None)).verdict()


def test_a_p50_missed_by_the_dependency_alone_passes_only_if_brain_adds_little() -> None:
    # PostgreSQL alone took 20 s (its HA manager's lease): Brain's 0.5 s on top is allowed...
    assert drill(clean(20.5, 20.0), own_share_s=2.0).verdict() == []
    # ...3 s is not, nor is any miss without an allowance, nor a miss the dependency did not cause.
    assert drill(clean(23.0, 20.0), own_share_s=2.0).verdict()
    assert drill(clean(20.5, 20.0)).verdict()
    assert drill(clean(16.0, 12.0), own_share_s=5.0).verdict()
    # The max target holds whatever the dependency does.
    assert drill(clean(31.0, 30.5), own_share_s=2.0).verdict()


def test_the_negative_control_fails_when_it_sees_no_loss() -> None:
    control = Drill("control", None, "lost > 0", expect_loss=True)
    control.runs.append(clean(20))
    assert control.verdict() == ["the control lost nothing: the checker cannot see loss"]
    control.runs.append(clean(20, acked_lost=250))
    assert control.verdict() == []


def test_failed_memory_requests_and_forbidden_answers_fail() -> None:
    no_memory_failures = drill(
        clean(5, failed_routes=Counter({"POST /v1/memories 503": 1})), max_failed_memory=0
    )
    assert "1 memory requests failed" in no_memory_failures.verdict()
    assert "x answered 500" in drill(clean(5, problems=["x answered 500"])).verdict()


def test_a_run_that_could_not_complete_fails() -> None:
    failed = drill(clean(5))
    failed.errors.append("TimeoutError: the cluster never formed")
    assert failed.verdict() == ["TimeoutError: the cluster never formed"]
    assert Drill("empty", TARGET, "").verdict() == ["no run completed"]
