"""Part `mcp`: a `recall` tool call over MCP (Streamable HTTP at /mcp, one initialized session
per client, reused) beside the same query over plain HTTP (POST /v1/memories/query), cached and
uncached, at the benchmark's concurrency and alone; and cached in the 2026-07-28 era (sessions
by server/discover: no handshake, a self-contained request each).

What the ratio holds: on the MCP side the SDK's client (JSON-RPC framing, pydantic models, the
output schema's validation, httpx2) on the load generator, which shares the cores with the
service; in the service, authentication at /mcp, the SDK's stateless transport (a server task and
memory streams per POST), and the tool's in-process request to the API (the same route, through
the whole middleware stack again). `svc p50` is the time in the service of the POST /mcp
(Server-Timing, read by an httpx2 response hook), beside the query's own."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from scripts.bench.client import JSON_HEADER
from scripts.bench.context import Bench, Pair
from scripts.bench.data import AGENTS, TOPICS, uncached_body
from scripts.bench.harness import Answer, Run, connections_per_worker, fmt, measure, service_workers

QUERIES = 12


class Session:
    """One MCP client: an initialized session over its own single keep-alive connection, and the
    Server-Timing of its last answer."""

    def __init__(self, mcp: ClientSession) -> None:
        self.mcp = mcp
        self.timing: str | None = None

    async def recall(self, arguments: dict[str, Any]) -> Answer:
        self.timing = None
        result = await self.mcp.call_tool("recall", arguments)
        if result.is_error:
            raise RuntimeError(str(result.content[0])[:200])
        return Answer(200, {"server-timing": self.timing}, b"")


@contextlib.asynccontextmanager
async def sessions(bench: Bench, count: int, modern: bool) -> AsyncIterator[list[Session]]:
    """`count` initialized sessions, their connections spread evenly over the service's workers
    (the other clients' connections closed first, so that only these are counted); `modern`:
    by server/discover (the 2026-07-28 era, a self-contained request each), else by the
    initialize handshake."""
    for each in bench.clients:
        await each.reconnect()  # drops its connection; the next request opens one
    pid, port = bench.service.pid, bench.service.port
    workers = len(service_workers(pid))
    for attempt in range(100):
        async with contextlib.AsyncExitStack() as stack:
            opened = [await _open(bench, stack, modern) for _ in range(count)]
            held = connections_per_worker(pid, port)
            if workers < 2 or max(held) <= -(-sum(held) // workers) or attempt == 99:
                if workers > 1 and max(held) > -(-sum(held) // workers):
                    bench.notes.append("mcp: could not spread the sessions evenly over the workers")
                yield opened
                return


async def _open(bench: Bench, stack: contextlib.AsyncExitStack, modern: bool) -> Session:
    session: Session | None = None

    async def timing(response: httpx2.Response) -> None:
        if session is not None:
            session.timing = response.headers.get("server-timing")

    http = await stack.enter_async_context(
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {bench.token}"},
            limits=httpx2.Limits(max_connections=1),
            timeout=httpx2.Timeout(30.0),
            event_hooks={"response": [timing]},
        )
    )
    url = f"{bench.service.url}/mcp"
    read, write = await stack.enter_async_context(streamable_http_client(url, http_client=http))
    mcp = await stack.enter_async_context(ClientSession(read, write))
    await (mcp.discover() if modern else mcp.initialize())
    await mcp.list_tools()  # the client validates results against the output schemas it lists
    session = Session(mcp)
    return session


async def _mcp_run(bench: Bench, name: str, bodies: Any, modern: bool = False, **kw: Any) -> Run:
    """`bodies(worker)`: the recall arguments of the next call."""
    concurrency = kw.setdefault("concurrency", bench.args.concurrency)
    kw.setdefault("duration", bench.args.duration)
    kw.setdefault("warmup", bench.args.warmup)
    async with sessions(bench, concurrency, modern) as opened:

        async def op(worker: int) -> Answer:
            return await opened[worker].recall(bodies(worker))

        run = await measure(name, op, service_pid=bench.service.pid, **kw)
        run.connections = connections_per_worker(bench.service.pid, bench.service.port)
    print(f"  {name:<46} {run.ops:9.1f} ops/s  p50 {fmt(run.p(50))} ms", flush=True)
    return run


async def run(bench: Bench, rows: int) -> None:
    """Loads `rows` memories (the memory part's size: `small`), then the pairs."""
    print(f"recall over MCP / over HTTP ({rows} memories)", flush=True)
    await bench.clear()
    await bench.load(rows)
    await cached(bench)
    await uncached(bench)


async def cached(bench: Bench) -> None:
    queries = [
        {"agent_id": AGENTS[i * 3], "tags": [TOPICS[i % len(TOPICS)]], "limit": 20}
        for i in range(QUERIES)
    ]
    for query in queries:  # the first read of each fills the cache
        (await bench.http.post("/v1/memories/query", json=query)).raise_for_status()
    encoded = [json.dumps(q).encode() for q in queries]
    pick = bench.rng.randrange

    async def http(worker: int) -> Answer:
        body = encoded[pick(len(encoded))]
        client = bench.clients[worker]
        return await client.post("/v1/memories/query", content=body, headers=JSON_HEADER)

    def arguments(_: int) -> dict[str, Any]:
        return queries[pick(len(queries))]

    http_run = await bench.run("recall (cached): POST /v1/memories/query", http)
    mcp_run = await _mcp_run(bench, "recall (cached): MCP tools/call", arguments)
    bench.pairs.append(
        Pair("recall over MCP, cached", "POST /v1/memories/query", mcp_run, http_run)
    )
    _note(bench, "cached", mcp_run, http_run)
    name = "recall (cached): MCP 2026-07-28 tools/call"
    modern = await _mcp_run(bench, name, arguments, modern=True)
    bench.pairs.append(
        Pair("recall over MCP 2026-07-28, cached", "POST /v1/memories/query", modern, http_run)
    )
    alone = {"concurrency": 1, "duration": max(bench.args.duration / 2, 0.5)}
    http_alone = await bench.run("recall (cached): POST /v1/memories/query, c=1", http, **alone)
    mcp_alone = await _mcp_run(bench, "recall (cached): MCP tools/call, c=1", arguments, **alone)
    pair = Pair(
        "recall over MCP, cached, c=1", "POST /v1/memories/query, c=1", mcp_alone, http_alone
    )
    bench.pairs.append(pair)


async def uncached(bench: Bench) -> None:
    rng = bench.rng

    async def http(worker: int) -> Answer:
        return await bench.clients[worker].post("/v1/memories/query", json=uncached_body(rng))

    def arguments(_: int) -> dict[str, Any]:
        return uncached_body(rng)

    http_run = await bench.run("recall (uncached): POST /v1/memories/query", http)
    mcp_run = await _mcp_run(bench, "recall (uncached): MCP tools/call", arguments)
    bench.pairs.append(
        Pair("recall over MCP, uncached", "POST /v1/memories/query", mcp_run, http_run)
    )
    _note(bench, "uncached", mcp_run, http_run)


def _note(bench: Bench, kind: str, mcp_run: Run, http_run: Run) -> None:
    """The service's CPU per call on each side: where the MCP calls' time goes."""

    def us(run: Run) -> float | None:
        return run.service_cpu / run.ops * 1e6 if run.service_cpu and run.ops else None

    mcp_us, http_us = us(mcp_run), us(http_run)
    ratio = fmt(mcp_us / http_us) if mcp_us and http_us else "-"
    bench.notes.append(
        f"mcp, {kind} recall: service CPU per call {fmt(mcp_us, 0)} µs over MCP, "
        f"{fmt(http_us, 0)} µs over HTTP (x{ratio}); load generator "
        f"{mcp_run.client_cpu:.2f} vs {http_run.client_cpu:.2f} cores"
    )
