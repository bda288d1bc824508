"""Instructions per request, counted by callgrind: a figure that a noisy machine cannot move.

`python -m scripts.bench.instructions [--service-from CHECKOUT ...]` starts a private PostgreSQL
and Redis, then runs the app in-process (no sockets, no workers) under
`valgrind --tool=callgrind` twice per route, with M and then M + N requests after the same
warm-up, and prints (instructions(M + N) - instructions(M)) / N: the cost of one request with the
start-up, the imports and the warm-up taken out. Requests go straight to the app's ASGI callable,
so nothing of an HTTP client or server is counted. With several `--service-from`, each checkout's
package is counted the same way, side by side (their migrations must be this one's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ROUTES = ("query", "live")
QUERY = {"agent_id": "agent-0", "limit": 20}
TOKEN = "bench-instructions"  # noqa: S105  # the private service of this run


async def call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request straight through the app's ASGI callable (no client, no socket)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
        "headers": [(b"authorization", b"Bearer " + TOKEN.encode()),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip
    received = False
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the request is served
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return int(answer["status"]), bytes(answer["body"])


async def child(route: str, requests: int, database_url: str, redis_url: str) -> None:
    """In the process valgrind counts: warm up, then `requests` requests of `route`."""
    from brain import app as factory
    from brain.settings import Settings

    settings = Settings(
        database_url=database_url, redis_url=redis_url, admin_token=TOKEN, log_level="ERROR",
        log_format="json",
    )  # fmt: skip
    # No background tasks (the relay, the cache's probe, the gauges): they run by the clock, and
    # under valgrind the clock is slow, so they would be counted in proportion to the run's time.
    app = factory.create_app(settings, serving=False, run_relay=False)
    query = json.dumps(QUERY).encode()
    async with app.lifespan():
        for n in range(20):
            memory = json.dumps({"agent_id": "agent-0", "context": {"n": n}}).encode()
            status, text = await call(app, "POST", "/v1/memories", memory)
            assert status == 201, text
        for _ in range(50 + requests):
            if route == "query":
                status, text = await call(app, "POST", "/v1/memories/query", query)
            else:
                status, text = await call(app, "GET", "/health/live")
            assert status == 200, text


def count(source: Path | None, route: str, requests: int, env: dict[str, str]) -> int:
    """Instructions of one child run under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        child_env = {**os.environ, **env, "PYTHONHASHSEED": "0"}  # the same dict orders each run
        if source is not None:
            child_env["PYTHONPATH"] = f"{source.resolve() / 'service'}{os.pathsep}{ROOT}"
        else:
            child_env["PYTHONPATH"] = str(ROOT)
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            sys.executable, "-m", "scripts.bench.instructions", "--child", route,
            "--requests", str(requests),
        ]  # fmt: skip
        ran = subprocess.run(command, env=child_env, cwd=ROOT, capture_output=True, text=True)
        if ran.returncode != 0:
            raise SystemExit(f"the counted run failed:\n{ran.stderr[-3000:]}")
        found = re.search(r"Collected : (\d+)", ran.stderr)
        if found is None:
            raise SystemExit(f"no instruction count in valgrind's output:\n{ran.stderr[-2000:]}")
        return int(found[1])


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench.instructions", description=__doc__
    )
    parser.add_argument("--service-from", type=Path, action="append", metavar="CHECKOUT")
    parser.add_argument("--requests", type=int, default=200, help="N: the requests counted")
    parser.add_argument("--base", type=int, default=50, help="M: the requests taken out")
    parser.add_argument("--child", choices=ROUTES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        urls = os.environ["BENCH_DATABASE_URL"], os.environ["BENCH_REDIS_URL"]
        asyncio.run(child(args.child, args.requests, *urls))
        return 0

    from brain import embedded, migrate

    sources: list[Path | None] = [*(args.service_from or []), None]
    with tempfile.TemporaryDirectory(prefix="brain-instructions-") as tmp:
        postgres = embedded.Postgres(Path(tmp) / "postgres")
        redis = embedded.Redis(Path(tmp) / "redis", appendonly=False)
        postgres.start()
        redis.start()
        try:
            rows = []
            for source in sources:
                for route in ROUTES:
                    name = f"bench_{len(rows)}"
                    postgres.psql(f'CREATE DATABASE "{name}"', db="postgres")
                    migrate.apply(postgres.url(name))
                    env = {"BENCH_DATABASE_URL": postgres.url(name), "BENCH_REDIS_URL": redis.url()}
                    low = count(source, route, args.base, env)
                    high = count(source, route, args.base + args.requests, env)
                    per = (high - low) / args.requests
                    label = str(source) if source else "this checkout"
                    rows.append((label, route, per))
                    print(f"{label:40s} {route:6s} {per / 1000:8.1f} k instructions/request",
                          flush=True)  # fmt: skip
        finally:
            redis.stop()
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
