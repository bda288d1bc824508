"""postgres-primary-lost: the primary of a three-node Patroni cluster is killed (kill -9 of its
postmaster and its Patroni: the node is lost) or hangs (SIGSTOP: timeouts matter), under a load
of stores, queries and shares through two `brain serve` processes on a multi-host URL.

Synchronous replication (Patroni `synchronous_mode_strict`, as CloudNativePG's `synchronous` with
`dataDurability: required`): a commit is acknowledged once a standby has it, so no acknowledged
write may be lost. The negative control runs the same kill with asynchronous replication and both
standbys' WAL receivers stopped: there the checker must report lost writes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import psutil
import psycopg

from brain import embedded
from scripts.drills import harness, load
from scripts.drills.postgres import Cluster, Node

WARM_S = 3.0  # load before the fault
AFTER_S = 3.0  # load after the first successful write
TARGET = (15.0, 30.0)
OWN_SHARE_S = 2.0
"""Patroni cannot fail over a lost node in under its 20 s lease (postgres.TTL_S), so the p50 target
is out of reach for PostgreSQL itself: then Brain must add at most this to PostgreSQL's own
recovery (the max target stays)."""


async def one_run(cluster: Cluster, brains: harness.Brains, fault: str) -> harness.Run:
    """One fault under load, then the checks. `fault`: kill | hang | lag (the control)."""
    await asyncio.to_thread(cluster.wait_healthy, 120)
    async with load.Load(brains.urls, harness.TOKEN) as drive:
        drive.start()
        await asyncio.sleep(WARM_S)
        victim = cluster.leader()
        assert victim is not None
        if fault == "lag":
            walsenders(victim)
            await asyncio.sleep(2.0)  # writes the standbys do not have
        fault_at = time.monotonic()
        if fault == "hang":
            victim.freeze()
        else:
            victim.kill()
        writable = asyncio.create_task(asyncio.to_thread(_writable, cluster, victim, fault_at))
        told = asyncio.create_task(asyncio.to_thread(brains.witness, "postgres", fault_at, 12))
        rto = await drive.wait_first_ok("store", fault_at)
        database_rto = await writable
        silent = await told
        await asyncio.sleep(AFTER_S)
        # Kubernetes restarts the lost pod (or the hung node comes back): it rejoins as a
        # replica, rewound (pg_rewind) past what only it had.
        if fault == "hang":
            victim.thaw()
        else:
            victim.start()
        redundancy = None
        with contextlib.suppress(TimeoutError):
            await asyncio.to_thread(cluster.wait_healthy, 120)
            redundancy = time.monotonic() - fault_at
        outcome = await load.finish(drive, cluster.url(), check_stale=False)
        outcome.problems += silent
        return harness.Run.checked(
            outcome, rto_s=rto, redundancy_s=redundancy, dependency_rto_s=database_rto,
            details={
                "fault": fault, "victim": victim.name,
                "lost_keys": outcome.counts.acked_lost[:10],
            },
        )  # fmt: skip


def _writable(cluster: Cluster, victim: Node, fault_at: float) -> float | None:
    """Seconds from the fault until another node commits a write of a client connected to it
    directly (promoted, with a synchronous standby when synchronous): PostgreSQL's own recovery,
    the HA manager's share of the RTO. Brain's share is the rest."""
    deadline = fault_at + 90
    while time.monotonic() < deadline:
        for node in cluster.nodes:
            if node is victim:
                continue
            with contextlib.suppress(psycopg.Error):
                with psycopg.connect(cluster.dsn(node, "postgres"), autocommit=True) as conn:
                    conn.execute("INSERT INTO drill_probe DEFAULT VALUES")
                    return time.monotonic() - fault_at
        time.sleep(0.2)
    return None


def walsenders(primary: Node) -> None:
    """SIGSTOP the primary's WAL senders: the standbys fall behind (the WAL they have not been
    sent dies with the primary, which a stopped WAL receiver would not do: its socket buffers
    would still hold it)."""
    stopped = 0
    for process in primary.processes():
        with contextlib.suppress(psutil.NoSuchProcess):
            if "walsender" in " ".join(process.cmdline()):
                process.suspend()
                stopped += 1
    if stopped != len(primary.cluster.nodes) - 1:
        raise RuntimeError(f"found {stopped} WAL senders on the primary")


async def _cluster_drill(
    directory: Path, drills: list[tuple[harness.Drill, str]], runs: int, *, synchronous: bool
) -> None:
    cluster = Cluster(
        directory / "pg", synchronous=synchronous,
        maximum_lag=1024 * 1024 if synchronous else 1024**3,
    )  # fmt: skip
    redis = embedded.Redis(directory / "redis")
    brains: harness.Brains | None = None
    try:
        await asyncio.to_thread(cluster.start)
        leader = cluster.leader()
        assert leader is not None
        cluster.psql(leader, "CREATE DATABASE brain")
        cluster.psql(leader, "CREATE TABLE drill_probe (at timestamptz DEFAULT now())")
        redis.start()
        brains = harness.Brains(directory, cluster.url(), redis.url())
        await asyncio.to_thread(brains.start)
        for _ in range(runs):
            for drill, fault in drills:
                await drill.attempt(one_run(cluster, brains, fault))
    finally:
        if brains is not None:
            brains.stop()
        await asyncio.to_thread(cluster.stop)
        redis.stop()


async def run(runs: int) -> list[harness.Drill]:
    kill = harness.Drill(
        "postgres-primary-lost (kill -9)", TARGET, "<= 15 / 30 s, 0 lost", own_share_s=OWN_SHARE_S
    )
    hang = harness.Drill(
        "postgres-primary-lost (SIGSTOP)", TARGET, "<= 15 / 30 s, 0 lost", own_share_s=OWN_SHARE_S
    )
    control = harness.Drill(
        "control: async + lagging standbys", None, "lost > 0 (checker sees loss)",
        expect_loss=True,
    )  # fmt: skip
    with harness.workdir("pg") as directory:
        await _cluster_drill(directory, [(kill, "kill"), (hang, "hang")], runs, synchronous=True)
    with harness.workdir("pg-async") as directory:
        await _cluster_drill(directory, [(control, "lag")], 1, synchronous=False)
    return [kill, hang, control]
