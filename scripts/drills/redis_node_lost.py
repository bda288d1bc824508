"""redis-node-lost: kill -9 of one master of a six-node Redis Cluster under memory and messaging
load, the master that holds the workspace's cache generations and one recipient's inbox.

Memory requests must not fail at all (the cache is bypassed while its node is away). Messaging to
the agents on that shard stops until the replica is promoted (cluster-node-timeout and an
election), then resumes by itself; every share answered 201 is delivered, and no acknowledged
message is delivered again. Redis replication is asynchronous: the promoted replica may lack the
last writes of the master it replaces, which the relay notices (the node's marker) and repairs
from PostgreSQL's outbox."""

from __future__ import annotations

import asyncio
import time

from scripts.drills import harness, load
from scripts.drills.redis_cluster import NODE_TIMEOUT_MS, Cluster, serving, spread

WARM_S = 3.0
AFTER_S = 3.0
TARGET = (NODE_TIMEOUT_MS / 1000 + 5, NODE_TIMEOUT_MS / 1000 + 5)


async def one_run(database_url: str, cluster: Cluster, brains: harness.Brains) -> harness.Run:
    await asyncio.to_thread(cluster.wait_healthy, 120)
    recipients = spread(cluster)
    async with load.Load(brains.urls, harness.TOKEN, recipients=recipients) as drive:
        drive.start()
        await asyncio.sleep(WARM_S)
        victim = cluster.master_of(f"{{default/{recipients[0]}}}")
        lost = [recipients[0]]
        fault_at = time.monotonic()
        victim.kill()
        tag = f"{{default/{recipients[0]}}}"
        promoted = asyncio.create_task(asyncio.to_thread(_served, cluster, tag, victim, fault_at))
        # The cache's generations live on the lost master: readiness says degraded (redis down).
        told = asyncio.create_task(asyncio.to_thread(brains.witness, "redis", fault_at, 5))
        rto = await drive.wait_first_ok("take", fault_at, lost)
        redis_rto = await promoted
        silent = await told
        await asyncio.sleep(AFTER_S)
        victim.start()  # Kubernetes restarts the pod: it rejoins as the new master's replica
        redundancy = None
        try:
            await asyncio.to_thread(cluster.wait_healthy, 120)
            redundancy = time.monotonic() - fault_at
        except TimeoutError:
            pass
        outcome = await load.finish(drive, database_url)
        outcome.problems += silent
        return harness.Run.checked(
            outcome, rto_s=rto, redundancy_s=redundancy, dependency_rto_s=redis_rto,
            details={"victim": victim.address, "lost_inboxes": lost},
        )  # fmt: skip


def _served(cluster: Cluster, tag: str, victim: object, fault_at: float) -> float | None:
    """Seconds until the lost master's slots have a new master and the cluster says ok."""
    deadline = fault_at + 90
    while time.monotonic() < deadline:
        try:
            if cluster.serves(tag, victim):  # type: ignore[arg-type]
                return time.monotonic() - fault_at
        except Exception:  # noqa: S110  # a node that is still electing
            pass
        time.sleep(0.1)
    return None


async def run(runs: int) -> list[harness.Drill]:
    drill = harness.Drill(
        "redis-node-lost", TARGET,
        f"messaging <= {TARGET[1]:.0f} s, 0 failed memory requests, 0 lost",
        max_failed_memory=0,
    )  # fmt: skip
    with harness.workdir("redis-node") as directory:
        async with serving(directory) as (database_url, cluster, brains):
            for _ in range(runs):
                await drill.attempt(one_run(database_url, cluster, brains))
    return [drill]
