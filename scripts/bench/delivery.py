"""Part `messaging`, end to end: from sending a share to receiving it over Server-Sent Events
and over a long poll, beside a raw XADD waking a blocked XREADGROUP; sequential samples."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import httpx
import redis.asyncio as aioredis

from scripts.bench.client import JSON_HEADER
from scripts.bench.context import Bench, Latency
from scripts.bench.data import (
    PEERS,
    PENDING,
    RECIPIENTS,
    ack_body,
    fake_memory,
    share_body,
    stream_fields,
)
from scripts.bench.harness import Answer, Run

ACK_EVERY = 20  # the end-to-end runs acknowledge in batches of this many


async def run(bench: Bench) -> None:
    samples = 50 if bench.args.quick else 200
    print(f"end-to-end share -> delivery ({samples} sequential samples each)", flush=True)
    sse, sse_share = await over_sse(bench, RECIPIENTS[0], samples)
    poll, poll_share = await over_long_poll(bench, RECIPIENTS[1], samples)
    wake = await raw_wake(bench, samples)
    baseline = "XADD -> XREADGROUP BLOCK"
    bench.latency.append(Latency("SSE (GET .../stream)", baseline, sse, wake, sse_share))
    bench.latency.append(Latency("long poll (wait=5)", baseline, poll, wake, poll_share))


def _sse_client(bench: Bench) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=bench.service.url,
        headers={"Authorization": f"Bearer {bench.token}"},
        timeout=httpx.Timeout(30, read=None),
    )


async def _share_to(bench: Bench, agent: str) -> tuple[float, Answer, str | None]:
    """Send one message to `agent`; (when it was sent, the answer, the message id)."""
    body = share_body(PEERS[-1], agent, fake_memory(bench.rng).context)
    sent = time.perf_counter()
    answer = await bench.http.post("/v1/messages", content=body, headers=JSON_HEADER)
    return sent, answer, answer.json()["id"] if answer.status_code == 201 else None


async def _ack(bench: Bench, agent: str, ids: list[str]) -> None:
    if ids:
        path, body = f"/v1/agents/{agent}/messages/ack", ack_body(ids)
        (await bench.http.post(path, content=body, headers=JSON_HEADER)).raise_for_status()
        ids.clear()


async def over_sse(bench: Bench, agent: str, samples: int) -> tuple[Run, list[float]]:
    arrived: dict[str, float] = {}
    waiting: dict[str, asyncio.Future[float]] = {}

    async def read(response: httpx.Response) -> None:
        event = ident = None
        async for line in response.aiter_lines():
            if not line:  # the end of an event
                if event == "message" and ident:
                    at = arrived[ident] = time.perf_counter()
                    future = waiting.pop(ident, None)
                    if future is not None and not future.done():
                        future.set_result(at)
                event = ident = None
                continue
            name, _, value = line.partition(":")
            if name == "event":
                event = value.strip()
            elif name == "id":
                ident = value.strip()

    run, share_ms, unacked = Run("share -> SSE event"), [], []
    async with _sse_client(bench) as client:
        path = f"/v1/agents/{agent}/messages/stream?consumer=bench"
        async with client.stream("GET", path) as response:
            response.raise_for_status()
            reader = asyncio.create_task(read(response))
            try:
                for index in range(samples + 5):  # the first five warm up
                    sent, answer, ident = await _share_to(bench, agent)
                    posted = time.perf_counter()
                    if ident is None:
                        run.record(0.0, answer, 201)
                        continue
                    at = arrived.get(ident)
                    if at is None:
                        future = waiting[ident] = asyncio.get_running_loop().create_future()
                        try:
                            at = await asyncio.wait_for(future, 5)
                        except TimeoutError:
                            run.errors["no event within 5 s"] += 1
                            continue
                    if index >= 5:
                        run.record((at - sent) * 1000, answer, 201)
                        share_ms.append((posted - sent) * 1000)
                    unacked.append(ident)
                    if len(unacked) >= ACK_EVERY:
                        await _ack(bench, agent, unacked)
                await _ack(bench, agent, unacked)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                    await reader
    bench.progress(run)
    return run, share_ms


async def over_long_poll(bench: Bench, agent: str, samples: int) -> tuple[Run, list[float]]:
    path = f"/v1/agents/{agent}/messages?limit=10&wait=5&consumer=bench"
    run, share_ms, unacked = Run("share -> long poll answer"), [], []
    async with _sse_client(bench) as client:

        async def poll() -> tuple[httpx.Response, float]:
            answer = await client.get(path)
            return answer, time.perf_counter()

        for index in range(samples + 5):
            waiter = asyncio.create_task(poll())
            await asyncio.sleep(0.01)  # let the poll reach its blocking read
            sent, answer, ident = await _share_to(bench, agent)
            posted = time.perf_counter()
            got, at = await waiter
            taken = [i.id for i in PENDING.decode(got.content).items] if got.is_success else []
            unacked.extend(taken)
            if ident is None or ident not in taken:
                run.errors["share failed" if ident is None else "not in the poll's answer"] += 1
            elif index >= 5:
                run.record((at - sent) * 1000, answer, 201)
                share_ms.append((posted - sent) * 1000)
            if len(unacked) >= ACK_EVERY:
                await _ack(bench, agent, unacked)
        await _ack(bench, agent, unacked)
    bench.progress(run)
    return run, share_ms


async def raw_wake(bench: Bench, samples: int) -> Run:
    """XADD on one connection waking an XREADGROUP BLOCK on another, as above (10 ms apart)."""
    key = "bench:wake"
    body = share_body(PEERS[-1], RECIPIENTS[0], fake_memory(bench.rng).context)
    await bench.redis.xgroup_create(key, "g", id="0", mkstream=True)
    blocker = aioredis.Redis.from_url(bench.redis_url)
    run = Run("XADD -> XREADGROUP BLOCK")
    try:

        async def read() -> tuple[Any, float]:
            got = await blocker.xreadgroup("g", "c", {key: ">"}, count=10, block=5000)
            return got, time.perf_counter()

        for index in range(samples + 5):
            waiter = asyncio.create_task(read())
            await asyncio.sleep(0.01)
            sent = time.perf_counter()
            await bench.redis.xadd(key, stream_fields(str(uuid.uuid4()), body))
            got, at = await waiter
            if not got:
                run.errors["no entry within 5 s"] += 1
                continue
            await bench.redis.xack(key, "g", *(entry[0] for entry in got[0][1]))
            if index >= 5:
                run.record((at - sent) * 1000, None, 0)
    finally:
        await blocker.aclose()
        await bench.redis.unlink(key)
    bench.progress(run)
    return run
