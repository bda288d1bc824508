"""point-in-time-restore: a mistaken `POST /v1/admin/clear` under load, undone by restoring a
new PostgreSQL to a time T before it, from a base backup (pg_basebackup) and the WAL archive
(archive_command, archive_timeout as in the chart), as CloudNativePG's `bootstrap.recovery` with
`recoveryTarget.targetTime` does.

Exact to T: every memory and message whose write was answered before T is there; none whose
request started after T is (writes in flight at T may be either). Redis is emptied before Brain
serves the restored database (runbooks/disaster/point-in-time-restore.md): its cache and streams
hold what happened after T. Then, from PostgreSQL alone, every message that was unacknowledged at
T is delivered; one acknowledged before T is not delivered again; one acknowledged after T is
delivered again (its acknowledgement was after T, so it is undone with the rest); one shared after
T is gone."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

from brain import embedded
from scripts.drills import harness, load
from scripts.drills.postgres import owned, postgres_user, wait_for

BEFORE_S = 5.0  # load between the base backup and T
AFTER_S = 3.0  # load between T and the disaster
SEED_ROWS = 100_000
SEED = f"""INSERT INTO memories (workspace, id, agent_id, context, tags)
SELECT 'default', gen_random_uuid(), 'drill-seed-' || (n % 10),
       jsonb_build_object('seed', n, 'note', 'what agent ' || (n % 10) || ' learned, item ' || n),
       ARRAY['seed']
FROM generate_series(1, {SEED_ROWS}) AS n"""  # noqa: S608 (a constant)
"""Rows in the database before the base backup, so that the restore has some size to it."""
ARCHIVE_TIMEOUT = "60s"  # the chart's (deploy/helm/brain/values.yaml: postgresql.archiveTimeout)


def _as_postgres(*command: str, timeout: float = 300) -> None:
    user = postgres_user()
    subprocess.run(
        command, check=True, capture_output=True, timeout=timeout,
        user=user.pw_uid if user else None, group=user.pw_gid if user else None,
    )  # fmt: skip


def _chown_tree(path: Path) -> None:
    user = postgres_user()
    if user is None:
        return
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(Path(root) / name, user.pw_uid, user.pw_gid)
    os.chown(path, user.pw_uid, user.pw_gid)


def _archiving(directory: Path, archive: Path) -> embedded.Postgres:
    """An embedded PostgreSQL that archives every WAL segment into `archive`."""
    server = embedded.Postgres(directory)
    server.start()
    for setting, value in (
        ("archive_mode", "on"),
        ("archive_command", f"test ! -f {archive}/%f && cp %p {archive}/%f"),
        ("archive_timeout", ARCHIVE_TIMEOUT),
    ):
        server.psql(f"ALTER SYSTEM SET {setting} = '{value}'", db="postgres")
    port = server.port
    server.stop()
    server.start(port=port)
    return server


def _archive_now(server: embedded.Postgres) -> None:
    """Close the current WAL segment and wait until it is archived (what archive_timeout does
    within a minute; the drill does not wait that long)."""
    segment = server.psql("SELECT pg_walfile_name(pg_switch_wal())", db="postgres").strip()

    def archived() -> bool:
        last = server.psql("SELECT last_archived_wal FROM pg_stat_archiver", db="postgres")
        return last.strip() >= segment

    wait_for("the WAL of T archived", archived, 60)


def _restore(base: Path, archive: Path, directory: Path, target: str) -> embedded.Postgres:
    """A new server from the base backup, replaying the archive up to `target`, then promoted."""
    pgdata = directory / "pgdata"
    owned(directory)
    shutil.copytree(base, pgdata)
    (pgdata / "recovery.signal").touch()
    with (pgdata / "postgresql.auto.conf").open("a") as conf:
        conf.write(
            f"restore_command = 'cp {archive}/%f %p'\n"
            f"recovery_target_time = '{target}'\n"
            "recovery_target_action = 'promote'\n"
            # The restored server is a new timeline of the same history: it must not write into
            # the archive of the one it replaces (CloudNativePG: a new serverName).
            "archive_mode = 'off'\n"
        )
    _chown_tree(directory)
    pgdata.chmod(0o700)
    server = embedded.Postgres(directory)
    server.start()
    wait_for(
        "recovery to T and promotion",
        lambda: server.psql("SELECT pg_is_in_recovery()", db="postgres").strip() == "f",
        300,
    )
    return server


def _utc(wall: float) -> str:
    """`wall` (time.time()) as a PostgreSQL timestamp with its offset, to the microsecond."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(wall))
    return f"{stamp}.{int(wall % 1 * 1_000_000):06d}+00:00"


async def one_run(directory: Path) -> harness.Run:
    archive = owned(directory / "archive")
    primary = _archiving(directory / "primary", archive)
    redis = embedded.Redis(directory / "redis")
    redis.start()
    brains = harness.Brains(directory, primary.url(), redis.url(), count=2)
    restored: embedded.Postgres | None = None
    after: harness.Brains | None = None
    try:
        await asyncio.to_thread(brains.start)
        primary.psql(SEED)
        base = directory / "base"
        owned(base)
        assert primary.port is not None
        await asyncio.to_thread(
            _as_postgres, str(primary.bin / "pg_basebackup"), "-h", "127.0.0.1",
            "-p", str(primary.port), "-U", "postgres", "-D", str(base), "-Fp", "-X", "none",
            "-c", "fast",
        )  # fmt: skip
        async with load.Load(brains.urls, harness.TOKEN) as drive:
            drive.start()
            await asyncio.sleep(BEFORE_S - 1.5)
            # One inbox's messages of the last moments before T are acknowledged after T.
            drive.paused_consumers.add(drive.recipients[0])
            await asyncio.sleep(1.5)
            t_wall, t_mono = time.time(), time.monotonic()
            await asyncio.sleep(1.0)
            drive.paused_consumers.clear()
            await asyncio.sleep(AFTER_S - 1.0)
            cleared = await drive.client.post(
                f"{brains.urls[0]}/v1/admin/clear", json={"confirm": "delete all data"}
            )
            assert cleared.status_code == 204, cleared.text
            await drive.stop()
            await drive.stop_consumers()
            await asyncio.to_thread(_archive_now, primary)
            brains.stop()
            started = time.monotonic()
            restored = await asyncio.to_thread(
                _restore, base, archive, directory / "restored", _utc(t_wall)
            )
            # The cache and the streams hold what happened after T (runbook step).
            await asyncio.to_thread(_flush, redis)
            after = harness.Brains(directory / "restored", restored.url(), redis.url(), count=2)
            await asyncio.to_thread(after.start)
            drive.urls = after.urls
            first = await _first_write(drive, after.urls[0])
            restore_s = first - started
            restored_mark = time.monotonic()
            # Writes in doubt from before T: sent again (same key) to the restored service.
            for write in [w for w in drive.in_doubt() if w.started < t_mono]:
                answer = await drive.until_ok(
                    "POST", write.path, write.body, headers={"Idempotency-Key": write.key}
                )
                write.id = answer.json()["id"]
            drive.start_consumers()
            # Unacknowledged at T: shared before T, and no acknowledgement sent before T (one
            # sent before and answered after T may have committed on either side).
            due = [
                w for w in drive.writes.values()
                if w.kind == "share" and w.acked and w.ended < t_mono and w.id is not None
                and drive.ack_started.get(w.id, float("inf")) > t_mono
            ]  # fmt: skip
            await _wait(lambda: all(_delivered_since(drive, w.id, restored_mark) for w in due), 60)
            await asyncio.sleep(2.0)
            await drive.stop_consumers()
            rows = await asyncio.to_thread(load.stored, restored.url(), drive.run)
            size = await asyncio.to_thread(_size, restored.url())
        return _judge(drive, rows, t_mono, restored_mark, due, restore_s, size)
    finally:
        for brain in (brains, after):
            if brain is not None:
                brain.stop()
        if restored is not None:
            restored.stop()
        primary.stop()
        redis.stop()


def _flush(redis: embedded.Redis) -> None:
    import redis as redis_py

    with redis_py.Redis(port=redis.port) as client:
        client.flushall()


async def _first_write(drive: load.Load, url: str) -> float:
    """When the restored service first answers a write 2xx (its RTO, from the restore's start)."""
    while True:
        try:
            answer = await drive.client.post(
                f"{url}/v1/memories", json={"agent_id": "drill-probe", "context": {"probe": 1}}
            )
            if answer.is_success:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)


def _delivered_since(drive: load.Load, message: str | None, since: float) -> bool:
    return any(m == message and at > since for m, at in drive.delivery_log)


async def _wait(check: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.2)


def _size(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM memories), (SELECT count(*) FROM messages),"
            " (SELECT count(*) FROM message_deliveries), pg_database_size(current_database())"
        ).fetchone()
    assert row is not None
    return {"memories": row[0], "messages": row[1], "deliveries": row[2], "bytes": row[3]}


def _judge(
    drive: load.Load, rows: load.Stored, t: float, restored_mark: float,
    due: list[load.Write], restore_s: float, size: dict[str, int],
) -> harness.Run:  # fmt: skip
    before = [w for w in drive.writes.values() if w.acked and w.ended < t]
    later = [w for w in drive.writes.values() if w.started > t]
    in_flight = [w for w in drive.writes.values() if w.started <= t <= w.ended]
    counts = load.tally(drive, rows, before)
    present_after_t = [w.key for w in later if rows.count(w.kind, w.key)]
    post = [(m, at) for m, at in drive.delivery_log if at > restored_mark]
    delivered_after = {m for m, _ in post}
    acked_before_again = sorted(m for m in delivered_after if drive.acked_at.get(m, 1e18) < t)
    acked_after_again = sorted(
        m for m in delivered_after if t <= drive.acked_at.get(m, -1.0) < restored_mark
    )
    later_ids = {w.id for w in later if w.kind == "share"}
    ghosts = sorted(m for m in delivered_after if m in later_ids)
    undelivered = [w.id for w in due if w.id not in delivered_after]
    problems = drive.problems(redelivery=False)
    if present_after_t:
        problems.append(f"{len(present_after_t)} writes started after T are in the restored data")
    if acked_before_again:
        problems.append(f"{len(acked_before_again)} messages acknowledged before T came again")
    if ghosts:
        problems.append(f"{len(ghosts)} messages shared after T were delivered after the restore")
    if undelivered:
        problems.append(f"{len(undelivered)} messages unacknowledged at T never delivered")
    doubt = [w for w in drive.writes.values() if not w.acked and w.started < t]
    return harness.Run(
        rto_s=restore_s, acked=counts.acked, acked_lost=len(counts.acked_lost),
        in_doubt=len(doubt),
        in_doubt_stored_once=sum(1 for w in doubt if rows.count(w.kind, w.key) == 1),
        duplicates=len(counts.duplicates), failed=drive.statuses(), failed_routes=drive.failed(),
        problems=problems,
        details={
            "restored": size, "written_before_t": len(before), "started_after_t": len(later),
            "after_t_present": len(present_after_t), "in_flight_at_t": len(in_flight),
            "unacked_at_t_delivered": len(due) - len(undelivered),
            "acked_after_t_delivered_again": len(acked_after_again),
            "acked_before_t_delivered_again": len(acked_before_again),
        },
    )  # fmt: skip


async def run(runs: int) -> list[harness.Drill]:
    drill = harness.Drill("point-in-time-restore", None, "measured; exact to T: 0 rows off")
    for _ in range(runs):
        with harness.workdir("pitr") as directory:
            await drill.attempt(one_run(directory))
    return [drill]
