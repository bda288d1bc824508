"""redis-data-lost: every Redis node's data gone at once (FLUSHALL on every master of the
cluster) under memory and messaging load.

At the flush some messages have been delivered and acknowledged (they must not come again), some
delivered and not yet acknowledged (one consumer holds a batch unacknowledged), and some not yet
delivered (one recipient's consumer is paused). Every unacknowledged one must become deliverable
again from PostgreSQL, by itself; the cache must serve nothing stale."""

from __future__ import annotations

import asyncio
import time

from scripts.drills import harness, load
from scripts.drills.redis_cluster import Cluster, serving, spread

WARM_S = 3.0
TARGET = (10.0, 10.0)


async def one_run(database_url: str, cluster: Cluster, brains: harness.Brains) -> harness.Run:
    await asyncio.to_thread(cluster.wait_healthy, 120)
    recipients = spread(cluster)
    async with load.Load(brains.urls, harness.TOKEN, recipients=recipients) as drive:
        drive.start()
        await asyncio.sleep(WARM_S)
        paused, holder = recipients[-1], recipients[0]
        drive.paused_consumers.update((paused, holder))
        await asyncio.sleep(1.5)
        # A batch taken by a second consumer of `holder` and never acknowledged before the flush.
        held = await drive.until_ok(
            "GET", f"/v1/agents/{holder}/messages?limit=20&consumer=holder&wait=1"
        )
        unacked = {m["id"] for m in held.json()["items"]}
        unacked |= {
            w.id for w in drive.writes.values()
            if w.kind == "share" and w.id and w.body["to_agent"] == paused
            and w.id not in drive.deliveries
        }  # fmt: skip
        if not held.json()["items"] or len(unacked) == len(held.json()["items"]):
            raise RuntimeError("nothing held or nothing waiting at the flush: it proves nothing")
        fault_at = time.monotonic()
        await asyncio.to_thread(cluster.flushall)
        drive.paused_consumers.clear()
        rto = await _all_delivered(drive, unacked, fault_at, 90)
        await asyncio.sleep(2.0)
        outcome = await load.finish(drive, database_url)
        return harness.Run.checked(
            outcome, rto_s=rto,
            details={
                "unacked_at_flush": len(unacked), "held_batch": len(held.json()["items"]),
                "redelivered_acked": len(drive.redelivered_acked),
            },
        )  # fmt: skip


async def _all_delivered(
    drive: load.Load, messages: set[str], fault_at: float, within: float
) -> float | None:
    """Seconds from the flush until every message in `messages` has been delivered after it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(drive.delivered_at.get(m, 0.0) > fault_at for m in messages):
            return max((drive.delivered_at[m] for m in messages), default=fault_at) - fault_at
        await asyncio.sleep(0.1)
    return None


async def run(runs: int) -> list[harness.Drill]:
    drill = harness.Drill(
        "redis-data-lost", TARGET, "all unacked delivered again <= 10 s, 0 lost",
    )  # fmt: skip
    with harness.workdir("redis-data") as directory:
        async with serving(directory) as (database_url, cluster, brains):
            for _ in range(runs):
                await drill.attempt(one_run(database_url, cluster, brains))
    return [drill]
