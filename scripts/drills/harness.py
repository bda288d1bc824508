"""What every drill shares: a working directory, the `brain serve` processes under test, the
result of one run and of a drill's runs, and the report (a table, bench-results/drills.json)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from tests.support.api import repo_root
from tests.support.service import Service

from scripts.bench.harness import percentile

if TYPE_CHECKING:
    from scripts.drills.load import Outcome

TOKEN = "drill-admin-token"  # noqa: S105  # the loopback services of one drill
RESULTS = repo_root() / "bench-results" / "drills.json"


@contextlib.contextmanager
def workdir(name: str) -> Iterator[Path]:
    """A temporary directory that PostgreSQL's user (pgserver, as root) can enter; removed
    afterwards unless BRAIN_DRILL_KEEP is set."""
    path = Path(tempfile.mkdtemp(prefix=f"brain-drill-{name}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        if os.environ.get("BRAIN_DRILL_KEEP"):
            print(f"  kept {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


class Brains:
    """`count` `brain serve` processes on one database and one Redis (migrated first)."""

    def __init__(
        self, directory: Path, database_url: str, redis_url: str, *, cluster: bool = False,
        count: int = 2, env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.directory = directory
        self.env = {
            "BRAIN_DATABASE_URL": database_url, "BRAIN_REDIS_URL": redis_url,
            "BRAIN_REDIS_CLUSTER": "true" if cluster else "false", "BRAIN_ADMIN_TOKEN": TOKEN,
            "BRAIN_LOG_FORMAT": "json", "BRAIN_LOG_LEVEL": "INFO", "BRAIN_DB_POOL_MAX": "8",
            "BRAIN_VISIBILITY_TIMEOUT_SECONDS": "5", **(env or {}),
        }  # fmt: skip
        self.count = count
        self.services: list[Service] = []

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "brain", "migrate"], env={**os.environ, **self.env},
            cwd=repo_root(), check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def start(self) -> Brains:
        self.migrate()
        for n in range(self.count):
            service = Service(self.env, log=self.directory / f"brain-{n}.log")
            self.services.append(service.start(timeout=90))
        return self

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.services]

    def readiness(self) -> list[dict[str, Any]]:
        """Each process's /health/ready answer (which dependency it sees down)."""
        found = []
        for url in self.urls:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                found.append(httpx.get(f"{url}/health/ready", timeout=5).json())
        return found

    def witness(self, dependency: str, fault_at: float, within: float) -> list[str]:
        """During an outage of `dependency` (postgres or redis): what did not say so, within
        `within` seconds of the fault: every process's readiness naming it down, and the first
        process's `brain_dependency_up{dependency=...}` at 0 (set by those probes)."""
        said = {"readiness": False, "brain_dependency_up": False}
        deadline = fault_at + within
        time.sleep(max(0.0, fault_at + 1.0 - time.monotonic()))
        while not all(said.values()) and time.monotonic() < deadline:
            answers = self.readiness()
            if answers and all(a.get(dependency) != "up" for a in answers):
                said["readiness"] = True
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if self.dependency_up().get(dependency) == 0:
                    said["brain_dependency_up"] = True
            time.sleep(0.5)
        return [f"{what} did not say {dependency} was down" for what, ok in said.items() if not ok]

    def dependency_up(self) -> dict[str, float]:
        """`brain_dependency_up` of the first process, by dependency."""
        text = httpx.get(f"{self.urls[0]}/metrics", timeout=5).text
        found = {}
        for line in text.splitlines():
            if line.startswith("brain_dependency_up{"):
                name = line.split('dependency="', 1)[1].split('"', 1)[0]
                found[name] = float(line.rsplit(" ", 1)[1])
        return found

    def stop(self) -> None:
        for service in self.services:
            with contextlib.suppress(Exception):
                service.stop(timeout=30)
        self.services = []

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for n in range(self.count):
            path = self.directory / f"brain-{n}.log"
            if path.exists():
                out += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(out)


@dataclasses.dataclass
class Run:
    """One run of a drill."""

    rto_s: float | None
    """Fault to the first 2xx of the drill's write (a request started after the fault)."""
    redundancy_s: float | None = None
    """Fault to full redundancy again (the lost node back as a replica)."""
    dependency_rto_s: float | None = None
    """Fault to the dependency's own recovery, seen by a client of it directly (PostgreSQL
    writable again): the HA manager's share of the RTO; Brain's is the rest."""
    acked: int = 0
    acked_lost: int = 0
    in_doubt: int = 0
    in_doubt_stored_once: int = 0
    duplicates: int = 0
    failed: Counter[str] = dataclasses.field(default_factory=Counter)
    """Failed requests by status ("503", "timeout")."""
    failed_routes: Counter[str] = dataclasses.field(default_factory=Counter)
    problems: list[str] = dataclasses.field(default_factory=list)
    """What must never happen (a 500, an acknowledged message delivered again...)."""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def checked(cls, outcome: Outcome, *, rto_s: float | None, **fields: Any) -> Run:
        """A run from its RTO and the checks of `load.finish`."""
        counts = outcome.counts
        return cls(
            rto_s=rto_s, acked=counts.acked, acked_lost=len(counts.acked_lost),
            in_doubt=counts.in_doubt, in_doubt_stored_once=counts.in_doubt_stored_once,
            duplicates=len(counts.duplicates), failed=outcome.failed,
            failed_routes=outcome.failed_routes, problems=outcome.problems, **fields,
        )  # fmt: skip


@dataclasses.dataclass
class Drill:
    """A drill's runs against its targets."""

    name: str
    target_rto_s: tuple[float, float] | None  # (p50, max); None: measured only
    target: str  # in words, for the table
    runs: list[Run] = dataclasses.field(default_factory=list)
    expect_loss: bool = False
    """A negative control: it passes when the checker does see lost writes."""
    errors: list[str] = dataclasses.field(default_factory=list)
    """A run that could not complete (a server that never came up...)."""
    max_failed_memory: int | None = None
    """Failed memory requests allowed (0: the memory API must not fail at all)."""
    own_share_s: float | None = None
    """When the dependency alone takes longer than the p50 target (a floor set by its HA manager,
    not by Brain), the most Brain may add to it (RTO minus the dependency's own, p50)."""

    async def attempt(self, one_run: Awaitable[Run]) -> None:
        """Await one run and keep it; a run that could not complete (a server that never came
        up, a step that timed out) is kept as an error, which fails the drill."""
        try:
            self.runs.append(await one_run)
        except (TimeoutError, RuntimeError, AssertionError, subprocess.CalledProcessError) as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def rto(self) -> tuple[float | None, float | None]:
        values = [r.rto_s for r in self.runs if r.rto_s is not None]
        return percentile(values, 50), max(values) if values else None

    def dependency(self) -> float | None:
        """p50 of the dependency's own recovery."""
        return percentile([r.dependency_rto_s for r in self.runs if r.dependency_rto_s], 50)

    def own_share(self) -> float | None:
        """p50 of Brain's share of the RTO (its RTO minus the dependency's own)."""
        shares = [
            r.rto_s - r.dependency_rto_s for r in self.runs
            if r.rto_s is not None and r.dependency_rto_s is not None
        ]  # fmt: skip
        return percentile(shares, 50)

    def notes(self) -> list[str]:
        """What the table cannot say: a p50 target out of reach for the dependency itself."""
        p50, _ = self.rto()
        floor, share = self.dependency(), self.own_share()
        if (
            self.target_rto_s is not None and p50 is not None and p50 > self.target_rto_s[0]
            and floor is not None and share is not None
        ):  # fmt: skip
            return [
                f"RTO p50 {p50:.1f} s is over the {self.target_rto_s[0]:.0f} s target because "
                f"the dependency alone took {floor:.1f} s (p50); Brain added {share:.2f} s "
                f"(allowed: {self.own_share_s} s)"
            ]
        return []

    def redundancy(self) -> tuple[float | None, float | None]:
        values = [r.redundancy_s for r in self.runs if r.redundancy_s is not None]
        return percentile(values, 50), max(values) if values else None

    def failed(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for run in self.runs:
            total.update(run.failed)
        return total

    def verdict(self) -> list[str]:
        """Why the drill fails; empty when it passes."""
        why = list(self.errors)
        if not self.runs:
            return why or ["no run completed"]
        lost = sum(r.acked_lost for r in self.runs)
        if self.expect_loss:
            if lost == 0:
                why.append("the control lost nothing: the checker cannot see loss")
            return why
        if lost:
            why.append(f"{lost} acknowledged writes lost")
        for run in self.runs:
            why += run.problems
            if run.duplicates:
                why.append(f"{run.duplicates} writes stored more than once")
            if run.in_doubt_stored_once != run.in_doubt:
                why.append(
                    f"{run.in_doubt - run.in_doubt_stored_once} in-doubt writes not stored once"
                )
            if run.rto_s is None:
                why.append("never recovered")
            if self.max_failed_memory is not None:
                memory = sum(n for route, n in run.failed_routes.items() if "/memories" in route)
                if memory > self.max_failed_memory:
                    why.append(f"{memory} memory requests failed")
        p50, worst = self.rto()
        if self.target_rto_s is not None and p50 is not None and worst is not None:
            over = p50 > self.target_rto_s[0]
            floor, share = self.dependency(), self.own_share()
            if over and self.own_share_s is not None and share is not None and floor is not None:
                # Out of Brain's reach only if the dependency alone misses the target.
                over = floor <= self.target_rto_s[0] or share > self.own_share_s
            if over or worst > self.target_rto_s[1]:
                why.append(
                    f"RTO {p50:.1f}/{worst:.1f} s over {self.target_rto_s[0]:.0f}/"
                    f"{self.target_rto_s[1]:.0f} s"
                )
        return sorted(set(why), key=why.index)

    @property
    def passed(self) -> bool:
        return not self.verdict()

    def as_json(self) -> dict[str, Any]:
        p50, worst = self.rto()
        r50, rmax = self.redundancy()
        return {
            "drill": self.name,
            "runs": len(self.runs),
            "rto_s": {"p50": _round(p50), "max": _round(worst)},
            "target_rto_s": (
                {"p50": self.target_rto_s[0], "max": self.target_rto_s[1]}
                if self.target_rto_s else None
            ),
            "target": self.target,
            "redundancy_s": {"p50": _round(r50), "max": _round(rmax)},
            "dependency_rto_s_p50": _round(self.dependency()),
            "brain_share_s_p50": _round(self.own_share()),
            "acked": sum(r.acked for r in self.runs),
            "acked_lost": sum(r.acked_lost for r in self.runs),
            "in_doubt": sum(r.in_doubt for r in self.runs),
            "in_doubt_stored_once": sum(r.in_doubt_stored_once for r in self.runs),
            "failed": dict(sorted(self.failed().items())),
            "expect_loss": self.expect_loss,
            "passed": self.passed,
            "why": self.verdict(),
            "notes": self.notes(),
            "details": [
                {
                    "rto_s": _round(r.rto_s), "dependency_rto_s": _round(r.dependency_rto_s),
                    "redundancy_s": _round(r.redundancy_s), "acked": r.acked,
                    "acked_lost": r.acked_lost, "in_doubt": r.in_doubt,
                    "failed_routes": dict(r.failed_routes),
                } | r.details
                for r in self.runs
            ],
        }  # fmt: skip


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(drills: Sequence[Drill]) -> str:
    head = ("drill", "runs", "RTO p50/max s", "dependency alone", "target", "redundancy s",
            "acked lost", "in doubt", "failed requests", "verdict")  # fmt: skip
    rows = [head]
    for d in drills:
        p50, worst = d.rto()
        r50, rmax = d.redundancy()
        failed = ", ".join(f"{k}: {v}" for k, v in sorted(d.failed().items())) or "0"
        lost = sum(r.acked_lost for r in d.runs)
        acked = sum(r.acked for r in d.runs)
        doubt = sum(r.in_doubt for r in d.runs)
        once = sum(r.in_doubt_stored_once for r in d.runs)
        rows.append((
            d.name, str(len(d.runs)), f"{_s(p50)} / {_s(worst)}", _s(d.dependency()), d.target,
            f"{_s(r50)} / {_s(rmax)}", f"{lost} of {acked}", f"{doubt} ({once} stored once)",
            failed, "pass" if d.passed else "FAIL",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for d in drills:
        for why in d.verdict():
            lines.append(f"  {d.name}: FAIL: {why}")
        for note in d.notes():
            lines.append(f"  {d.name}: {note}")
    return "\n".join(lines)


def save(drills: Sequence[Drill], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([d.as_json() for d in drills], indent=2) + "\n")
