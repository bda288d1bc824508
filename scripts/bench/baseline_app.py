"""Part `cpu`'s minimal app: Litestar doing the least of what each measured Brain request does,
served by uvicorn as `brain serve` serves Brain (the same options, a socket per worker), so that
the CPU Brain spends beyond it is what Brain adds.

`python -m scripts.bench.baseline_app --port P --workers N`, with BENCH_REDIS_URL set."""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
import uvicorn
from litestar import Litestar, get, post
from litestar.datastructures import State

from brain import workers

KEY = "bench:cpu"
"""What POST /q reads: the bench sets it to a value the size of Brain's cached query entry."""


@get("/live")
async def live() -> dict[str, str]:
    """A hello world, beside Brain's GET /health/live."""
    return {"status": "ok"}


@post("/q", status_code=200)
async def query(data: dict[str, Any], state: State) -> dict[str, Any]:
    """A JSON body decoded and one Redis GET, beside Brain's cached POST /v1/memories/query."""
    value = await state.redis.get(KEY)
    return {"found": value is not None, "bytes": len(value or b""), "fields": len(data)}


def create_app() -> Litestar:
    """redis-py's asyncio client (with hiredis, its C reply parser, as Brain's) per process."""

    async def connect(app: Litestar) -> None:
        app.state.redis = aioredis.Redis.from_url(os.environ["BENCH_REDIS_URL"])

    async def disconnect(app: Litestar) -> None:
        await app.state.redis.aclose()

    return Litestar([live, query], on_startup=[connect], on_shutdown=[disconnect])


def worker_app() -> Litestar:
    """As `brain.cli.worker_app`: workers end when their parent does, even by `kill -9`."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    return create_app()


def _exit_on_signal(signum: int, _: object) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve as `brain serve` does (brain.cli.serve): its uvicorn options, one worker in-process
    or `brain.workers.run` (a SO_REUSEPORT socket per worker)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    module = "scripts.bench.baseline_app"
    app = f"{module}:worker_app" if args.workers > 1 else f"{module}:create_app"
    config = workers.config(app, args.host, args.port, args.workers)  # brain serve's options
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        if args.workers == 1:
            uvicorn.Server(config).run()
            return 0
        with workers.reserve(args.host, args.port):
            workers.run(config)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
