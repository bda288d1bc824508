"""Part `cpu`: the service's CPU per request for a cached memory query and for GET /health/live,
beside a minimal Litestar app (`baseline_app`) doing the same work, measured the same way in the
same run: a fixed number of requests at a fixed concurrency through the same clients, after an
uncounted warm-up, over the CPU seconds (utime + stime) of the serving processes; the two sides
take turns (Brain, minimal, minimal, Brain), half the requests each time."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from brain import embedded
from scripts.bench import baseline_app
from scripts.bench.client import JSON_HEADER, Client
from scripts.bench.context import Bench, Cpu
from scripts.bench.data import AGENTS
from scripts.bench.harness import Answer, Op, Run, connections_per_worker, fmt, measure_requests

ROOT = Path(__file__).resolve().parents[2]
# One agent's newest 20: it has about 40 memories with --quick (2k rows), 200 without (10k).
QUERY = json.dumps({"agent_id": AGENTS[0], "limit": 20}).encode()
COMPARED = [  # what is compared, the body, "METHOD /path" on Brain and on the minimal app
    ("cached query", QUERY, "POST /v1/memories/query", "POST /q (JSON body, one Redis GET)"),
    ("health live", None, "GET /health/live", "GET /live (hello world)"),
]


class Minimal:
    """`baseline_app` as a subprocess with the service's worker count, on the bench's Redis."""

    def __init__(self, log: Path, redis_url: str, workers: int) -> None:
        self.port = embedded.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "BENCH_REDIS_URL": redis_url}
        self.workers, self.log = workers, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60) -> None:
        command = [sys.executable, "-m", baseline_app.__name__, "--port", str(self.port),
                   "--workers", str(self.workers)]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/live", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the minimal app did not start on {self.url}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM (uvicorn stops its workers), then SIGKILL after 15 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


async def run(bench: Bench, rows: int) -> None:
    args = bench.args
    print(
        f"cpu per request ({args.cpu_requests} requests at concurrency {args.concurrency} after "
        f"{args.cpu_warmup} uncounted, {args.workers} worker(s) each side)",
        flush=True,
    )
    await bench.clear()
    await bench.load(rows)  # a table for the query to find its memories in
    first = await bench.http.post("/v1/memories/query", content=QUERY, headers=JSON_HEADER)
    first.raise_for_status()  # this first answer fills the cache: the measured ones hit it
    await bench.redis.set(baseline_app.KEY, b"x" * (len(first.content) + 4))  # as memory.py
    minimal = Minimal(bench.workdir / "minimal.log", bench.redis_url, args.workers)
    clients = [Client(minimal.url, bench.token) for _ in range(args.concurrency)]
    try:
        await asyncio.to_thread(minimal.start)
        for request, body, brain, baseline in COMPARED:
            await compare(bench, minimal, clients, request, body, (brain, baseline))
    finally:
        for each in clients:
            await each.aclose()
        await asyncio.to_thread(minimal.stop)
    hit = next(c.api.share("hit") or 0.0 for c in bench.cpu if c.request == "cached query")
    if hit < 1:
        bench.notes.append(f"cpu, cached query: only {hit:.1%} of answers were cache hits")


def sender(clients: list[Client], path: str, body: bytes | None) -> Op:
    """GET `path`, or POST `body` to it, each worker on its own client."""

    async def send(worker: int) -> Answer:
        if body is None:
            return await clients[worker].get(path)
        return await clients[worker].post(path, content=body, headers=JSON_HEADER)

    return send


async def compare(
    bench: Bench,
    minimal: Minimal,
    clients: list[Client],
    request: str,
    body: bytes | None,
    names: tuple[str, str],
) -> None:
    """The same requests (`names`: "METHOD /path" on Brain and on the minimal app) to both, in
    the order Brain, minimal, minimal, Brain (half the requests each time, each after its own
    warm-up), so that the shared machine's drift during the comparison falls on both sides."""
    count = {
        "requests": bench.args.cpu_requests // 2,
        "concurrency": bench.args.concurrency,
        "warmup": bench.args.cpu_warmup,
    }
    sides = ((bench.service, bench.clients, "/health/live"), (minimal, clients, "/live"))
    totals: list[tuple[Run, float]] = [(Run(names[0]), 0.0), (Run(names[1]), 0.0)]
    for side in (0, 1, 1, 0):
        server, each, probe = sides[side]
        await bench.balance(each, server.pid, server.port, probe)
        op = sender(each, names[side].split()[1], body)
        run, cpu = await measure_requests(names[side], op, server_pid=server.pid, **count)
        run.connections = connections_per_worker(server.pid, server.port)
        _progress(run, cpu)
        totals[side] = (_joined(totals[side][0], run), totals[side][1] + cpu)
    (api, api_cpu), (base, base_cpu) = totals
    bench.cpu.append(Cpu(request, names[1], api, base, api_cpu, base_cpu))


def _joined(total: Run, run: Run) -> Run:
    """Two measurements of the same requests as one (its latencies, counts and time)."""
    total.latencies_ms += run.latencies_ms
    total.server_ms += run.server_ms
    total.cache.update(run.cache)
    total.errors.update(run.errors)
    total.seconds += run.seconds
    total.client_cpu, total.service_cpu = run.client_cpu, run.service_cpu
    total.machine_cpu, total.connections = run.machine_cpu, run.connections
    return total


def _progress(run: Run, cpu: float) -> None:
    us = cpu / len(run.latencies_ms) * 1e6 if run.latencies_ms else None
    print(f"  {run.name:<46} {fmt(us, 0):>6} µs CPU/request  {run.ops:9.1f} ops/s", flush=True)
