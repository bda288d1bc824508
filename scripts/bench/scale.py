"""Part `scale`: sequential uncached queries of four shapes at three table sizes (loaded with
COPY), through the API beside the same statement through psycopg."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from brain.kit import db
from scripts.bench.context import Bench, Scale
from scripts.bench.data import AGENTS, TAG_POOL, VOCAB, rows_label, sql_for
from scripts.bench.harness import Answer

ANCIENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _ancient(rng: random.Random) -> str:
    """A `since` far before every row: no effect on the result, but a body that never repeats."""
    return (ANCIENT + dt.timedelta(microseconds=rng.randrange(10**12))).isoformat()


SHAPES: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    "agent + recent": lambda r: {"agent_id": r.choice(AGENTS), "since": _ancient(r)},
    "tags any": lambda r: {"tags": r.sample(TAG_POOL, 2), "since": _ancient(r)},
    "text search": lambda r: {"text": r.choice(VOCAB), "since": _ancient(r)},
    "min_importance, by importance": lambda r: {
        "min_importance": 0.5 + r.random() * 1e-6,
        "order": "importance",
    },
}


async def run(bench: Bench, sizes: tuple[int, ...]) -> None:
    """Grow the table to each size in turn, measuring at each."""
    print("uncached query latency by table size (concurrency 1)", flush=True)
    await bench.clear()
    loaded = 0
    for size in sizes:
        await bench.load(size - loaded)
        loaded = size
        await scale_at(bench, size)


async def scale_at(bench: Bench, size: int) -> None:
    """Sequential uncached queries of each shape at the current table size."""
    budget = max(bench.args.duration / 2, 0.5)
    rng = bench.rng
    for shape, make in SHAPES.items():

        async def api(_: int, make: Callable[..., dict[str, Any]] = make) -> Answer:
            return await bench.http.post("/v1/memories/query", json=make(rng))

        async def raw(_: int, make: Callable[..., dict[str, Any]] = make) -> None:
            statement, params = sql_for(make(rng))
            conn = bench.conns[0]
            await (await conn.execute(statement, params, prepare=db.PLAN_EACH_CALL)).fetchall()

        label = f"{rows_label(size)} {shape}"
        alone = {"concurrency": 1, "duration": budget, "warmup": 0.3}
        api_run = await bench.run(f"{label}: API", api, **alone)
        base_run = await bench.run(f"{label}: psycopg", raw, **alone)
        bench.scale.append(Scale(size, shape, api_run, base_run))
        miss = api_run.share("miss") or 0.0
        if miss < 0.99:
            bench.notes.append(f"{label}: only {miss:.1%} of answers were cache misses")
