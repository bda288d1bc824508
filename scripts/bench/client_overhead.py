"""Part `client`: what the Python client (clients/python, `brain_client.AsyncBrain`) costs per
call beside raw httpx sending the same request on the same kind of connection pool: a cached
GET /v1/memories/{id} and a cached POST /v1/memories/query.

Both sides make exactly the same requests, a fixed number each, after an uncounted warm-up, in
the order raw, client, client, raw (half the requests each time, so that the shared machine's
drift falls on both). The raw side sends prepared bytes and only checks the status; the
client's side includes everything it does for a caller: building the request (headers,
parameters, the body encoded from a Struct), the retry bookkeeping, checking the answer, and
decoding it into typed Structs. Its overhead is the difference in latency and in the load
generator's CPU per call (time.process_time of this process)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

import httpx
import msgspec

from brain_client import AsyncBrain
from brain_client._core import LIMITS
from scripts.bench.context import Bench
from scripts.bench.harness import Answer, Run, fmt, measure_requests
from scripts.bench.report import table

JSON = {"Content-Type": "application/json"}
AGENT = "client-bench"
TAG = "client-bench"
QUERY = {"agent_id": AGENT, "tags": [TAG], "limit": 20}
HEADERS = "request|side|n|p50 ms|p95 ms|client CPU µs/call|ops/s"


@dataclasses.dataclass
class Overhead:
    """One request kind: raw httpx beside the client."""

    request: str
    raw: Run
    client: Run
    raw_cpu_us: float | None
    client_cpu_us: float | None

    @property
    def cpu_us(self) -> float | None:
        """The client's CPU per call beyond raw httpx's."""
        if self.raw_cpu_us is None or self.client_cpu_us is None:
            return None
        return self.client_cpu_us - self.raw_cpu_us

    @property
    def p50_ms(self) -> float | None:
        raw, client = self.raw.p(50), self.client.p(50)
        return None if raw is None or client is None else client - raw

    def summary(self) -> dict[str, object]:
        return {
            "request": self.request,
            "raw": self.raw.summary(),
            "client": self.client.summary(),
            "raw_cpu_us_per_call": self.raw_cpu_us,
            "client_cpu_us_per_call": self.client_cpu_us,
            "overhead_cpu_us_per_call": self.cpu_us,
            "overhead_p50_ms": self.p50_ms,
        }


def cpu_us(run: Run) -> float | None:
    """The load generator's CPU per counted call (µs)."""
    calls = len(run.latencies_ms)
    return run.client_cpu * run.seconds / calls * 1e6 if calls else None


async def run(bench: Bench, requests: int = 4000, concurrency: int = 1) -> list[Overhead]:
    """Measure both request kinds, `requests` counted calls per side each (after a warm-up of a
    tenth as many), `concurrency` at a time (1: each call's overhead, no queueing); print the
    table and return the figures."""
    service, token = bench.service, bench.token
    print(
        f"client overhead: brain_client.AsyncBrain beside raw httpx ({requests} calls per side, "
        f"concurrency {concurrency})",
        flush=True,
    )
    auth = {"Authorization": f"Bearer {token}"}
    query_body = msgspec.json.encode(QUERY)
    results: list[Overhead] = []
    async with (
        AsyncBrain(service.url, token) as brain,
        httpx.AsyncClient(base_url=service.url, headers=auth, limits=LIMITS, timeout=30) as raw,
    ):
        await brain.register_agent(AGENT)
        memory = await brain.store(AGENT, {"note": "measured"}, tags=[TAG])
        for _ in range(2):  # the second answer of each comes from the cache
            await brain.get_memory(memory.id)
            await brain.query(agent_id=AGENT, tags=[TAG], limit=20)
        path = f"/v1/memories/{memory.id}"

        async def raw_get(worker: int) -> Answer:
            response = await raw.get(path)
            return Answer(response.status_code, response.headers, response.content)

        async def client_get(worker: int) -> None:
            await brain.get_memory(memory.id)

        async def raw_query(worker: int) -> Answer:
            response = await raw.post(
                "/v1/memories/query",
                content=query_body,
                headers={"Content-Type": "application/json"},
            )
            return Answer(response.status_code, response.headers, response.content)

        async def client_query(worker: int) -> None:
            await brain.query(agent_id=AGENT, tags=[TAG], limit=20)

        sides = [
            ("cached GET /v1/memories/{id}", raw_get, client_get),
            ("cached POST /v1/memories/query", raw_query, client_query),
        ]
        for request, raw_op, client_op in sides:
            results.append(await compare(bench, request, raw_op, client_op, requests, concurrency))
    rows = []
    for each in results:
        for side, measured, us in (
            ("raw httpx", each.raw, each.raw_cpu_us),
            ("brain_client", each.client, each.client_cpu_us),
        ):
            n = str(len(measured.latencies_ms))
            rows.append([each.request, side, n, fmt(measured.p(50), 3), fmt(measured.p(95), 3),
                         fmt(us, 0), fmt(measured.ops, 0)])  # fmt: skip
        ratio = None
        if each.client_cpu_us is not None and each.raw_cpu_us:
            ratio = each.client_cpu_us / each.raw_cpu_us
        rows.append([each.request, "overhead (client - raw)", "", fmt(each.p50_ms, 3), "",
                     f"{fmt(each.cpu_us, 0)} ({fmt(ratio)}x)", ""])  # fmt: skip
    print(table(HEADERS.split("|"), rows))
    return results


Op = Callable[[int], Awaitable[Answer | None]]


async def compare(
    bench: Bench, request: str, raw_op: Op, client_op: Op, requests: int, concurrency: int
) -> Overhead:
    """raw, client, client, raw: half the requests each time, each after its own warm-up."""
    count = {
        "requests": requests // 2,
        "concurrency": concurrency,
        "warmup": max(requests // 20, 1),
    }
    totals = {"raw": Run(f"{request}: raw httpx"), "client": Run(f"{request}: brain_client")}
    cpu = {"raw": 0.0, "client": 0.0}
    for side in ("raw", "client", "client", "raw"):
        op = raw_op if side == "raw" else client_op
        measured, _ = await measure_requests(
            totals[side].name, op, server_pid=bench.service.pid, **count
        )
        total = totals[side]
        total.latencies_ms += measured.latencies_ms
        total.server_ms += measured.server_ms
        total.cache.update(measured.cache)
        total.errors.update(measured.errors)
        total.seconds += measured.seconds
        cpu[side] += measured.client_cpu * measured.seconds
    for side, total in totals.items():
        total.client_cpu = cpu[side] / total.seconds if total.seconds else 0.0
    raw, client = totals["raw"], totals["client"]
    return Overhead(request, raw, client, cpu_us(raw), cpu_us(client))
