"""`python -m scripts.bench [--parts ...]`: the options, the parts in order, the output."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path

import aiohttp
import httpx
import psycopg
from tests.support.service import Service

import scripts.bench
from scripts.bench import (
    client_overhead,
    cpu,
    mcp,
    memory,
    messaging,
    peer,
    scale,
    tenancy,
    vectors,
)
from scripts.bench.context import Bench, brain_service, servers
from scripts.bench.report import report
from scripts.bench.results import api_runs, results

ROOT = Path(__file__).resolve().parents[2]
MAX_ERROR_SHARE = 0.01
PARTS = ("memory", "peer", "tenancy", "scale", "messaging", "cpu", "client", "vectors", "mcp")


def parts(value: str) -> tuple[str, ...]:
    chosen = tuple(p.strip() for p in value.split(",") if p.strip())
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"parts are {', '.join(PARTS)}; not {unknown}")
    return chosen


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    doc = scripts.bench.__doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m scripts.bench", description=doc.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=0.5, help="uncounted seconds before each")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="service worker processes")
    parser.add_argument("--quick", action="store_true", help="2k/5k/20k rows, not 10k/100k/1M")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated data")
    parser.add_argument(
        "--parts", type=parts, default=PARTS,
        help=f"comma-separated parts to run (default: all of {','.join(PARTS)}; "
        "peer and tenancy need memory)",
    )  # fmt: skip
    parser.add_argument(
        "--cpu-requests", type=int, default=20_000,
        help="part cpu: counted requests per measurement (each side, each request kind)",
    )  # fmt: skip
    parser.add_argument(
        "--cpu-warmup", type=int, default=2_000,
        help="part cpu: uncounted requests before each measurement",
    )  # fmt: skip
    parser.add_argument(
        "--vector-scales", type=vectors.scales, metavar="ROWS,...",
        help="part vectors: table sizes (default 10000,100000,1000000; --quick: 10000,100000)",
    )  # fmt: skip
    parser.add_argument(
        "--vector-peer-scales", type=vectors.scales, metavar="ROWS,...",
        help="part vectors: the peer's store sizes (default: those of --vector-scales)",
    )  # fmt: skip
    parser.add_argument(
        "--service-from", type=Path, metavar="CHECKOUT",
        help="serve the brain package of another checkout (e.g. a git worktree of an older "
        "commit) to compare versions; its migrations must be those of this one",
    )  # fmt: skip
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench-results" / "bench.json",
        help="also write the results here (default: bench-results/bench.json)",
    )  # fmt: skip
    return parser.parse_args(argv)


async def everything(bench: Bench) -> None:
    """The chosen parts in their fixed order (each draws on the one random source in turn)."""
    sizes = (2_000, 5_000, 20_000) if bench.args.quick else (10_000, 100_000, 1_000_000)
    small = sizes[0]
    chosen = bench.args.parts
    if "memory" in chosen:
        await memory.run(bench, small)
        if "peer" in chosen:
            await peer.run(bench, small)
        if "tenancy" in chosen:
            await tenancy.run(bench)
    if "scale" in chosen:
        await scale.run(bench, sizes)
    if "messaging" in chosen:
        await messaging.run(bench)
    if "cpu" in chosen:
        await cpu.run(bench, small)
    if "client" in chosen:  # brain_client's CPU per call beside raw httpx
        await client_overhead.run(bench)
    if "vectors" in chosen:
        await vectors.run(bench)
    if "mcp" in chosen:  # last: it clears the data and loads its own
        await mcp.run(bench, small)


async def benchmark(
    args: argparse.Namespace, service: Service, db_url: str, redis_url: str, workdir: Path
) -> Bench:
    bench = Bench(args, service, db_url, redis_url, workdir)
    try:
        await bench.open()
        await everything(bench)
    finally:
        await bench.close()
    return bench


def run_async(coro: Awaitable[Bench]) -> Bench:
    """uvloop when available: less overhead in the load generator, as in the service."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="brain-bench-") as tmp:
        workdir = Path(tmp)
        with servers(workdir) as (postgres, cache):
            service = brain_service(
                workdir, postgres.url(), cache.url(), args.workers, args.service_from
            )
            try:
                print(f"starting the service on {service.url} ({args.workers} workers)", flush=True)
                service.start(timeout=90)
                bench = run_async(benchmark(args, service, postgres.url(), cache.url(), workdir))
            except (
                RuntimeError, TimeoutError, aiohttp.ClientError, httpx.HTTPError, psycopg.Error
            ) as exc:  # fmt: skip
                print(f"bench: {exc}", file=sys.stderr)
                return 1
            finally:
                # SIGTERM (uvicorn stops its workers), then SIGKILL after 15 s.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    if service.process is not None:
                        service.stop(timeout=15)
    elapsed = time.perf_counter() - started
    print(report(bench, args))
    print(f"\ntotal {elapsed:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = {**results(bench, args, elapsed), "vectors": vectors.results(bench)}
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"results written to {args.json}")
    every = [*api_runs(bench), *vectors.runs(bench)]
    worst = max((r.error_share for r in every), default=0.0)
    if worst > MAX_ERROR_SHARE:
        print(f"bench: {worst:.1%} of the requests of an API run failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
