"""The printed report: the tables of every part, the CPU of the runs, errors, targets, notes."""

from __future__ import annotations

import argparse
import os

from scripts.bench import vectors
from scripts.bench.context import Bench, Cpu, Latency, Pair, Scale
from scripts.bench.harness import fmt, percentile
from scripts.bench.memory import BATCH, WIDE
from scripts.bench.results import all_runs, api_runs, growth_rows, targets


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def table(headers: list[str], rows: list[list[str]], left: int = 2) -> str:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        out = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out)

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


PAIR_HEADERS = (
    "operation|baseline|API ops/s|API p50|API p95|svc p50|base ops/s|base p50|base p95|ratio"
)
SCALE_HEADERS = "rows|shape|n|API p50|API p95|svc p50|svc p95|raw p50|raw p95"
PEER_HEADERS = (
    "operation|Brain (HTTP)|ops/s|p50|p95|peer (in-process)|ops/s|p50|p95|ops/s Brain/peer|"
    "p95 Brain/peer"
)
LATENCY_HEADERS = (
    "delivered over|baseline|n|p50|p95|p99|max|share p50|share svc p50|base n|base p50|base p95"
)
CPU_HEADERS = (
    "request|Brain|CPU µs/req|ops/s|p50|minimal app (Litestar)|CPU µs/req|ops/s|p50|"
    "ratio Brain/minimal"
)


def pair_row(p: Pair) -> list[str]:
    api, base = p.api, p.base
    latencies = [fmt(api.p(50)), fmt(api.p(95)), fmt(api.p(50, service=True), 3)]
    return [p.operation, p.baseline, fmt(api.ops, 0), *latencies, fmt(base.ops, 0),
            fmt(base.p(50)), fmt(base.p(95)), pct(p.ratio)]  # fmt: skip


def scale_row(s: Scale) -> list[str]:
    api, base = s.api, s.base
    service = [fmt(api.p(50, service=True)), fmt(api.p(95, service=True))]
    return [f"{s.rows:,}", s.shape, str(len(api.latencies_ms)), fmt(api.p(50)), fmt(api.p(95)),
            *service, fmt(base.p(50)), fmt(base.p(95))]  # fmt: skip


def growth(bench: Bench) -> list[str]:
    headers, rows = growth_rows(bench)
    if not rows:
        return []
    return [
        "\ngrowth of uncached query latency with table size (no worse than logarithmic: the p50 "
        "ratio stays at or under the log ratio log(rows large)/log(rows small); linear growth "
        "would follow the rows ratio):\n",
        table(headers, rows, left=1),
    ]


def peer_row(p: Pair) -> list[str]:
    api, peer = p.api, p.base
    a95, b95 = api.p(95), peer.p(95)
    return [p.operation, api.name.partition(": ")[2], fmt(api.ops, 0), fmt(api.p(50)),
            fmt(a95), f"AsyncPostgresStore.{p.baseline}", fmt(peer.ops, 0), fmt(peer.p(50)),
            fmt(b95), fmt(p.ratio), fmt(a95 / b95 if a95 and b95 else None)]  # fmt: skip


def peer_section(bench: Bench, args: argparse.Namespace) -> list[str]:
    if not bench.peer:
        return []
    items = next((s.rows for s in bench.scale), 0)
    return [
        f"\npeer: LangGraph AsyncPostgresStore (langgraph-checkpoint-postgres), same PostgreSQL "
        f"server, own database, concurrency {args.concurrency} (Brain rows: the runs above):\n",
        table(PEER_HEADERS.split("|"), [peer_row(p) for p in bench.peer], left=1),
        "  the peer runs in-process: no HTTP, no auth, no JSON response encoding, no cache; its "
        "calls made in the same event-loop tick are batched into one abatch (its documented "
        "behaviour); it shares the load generator's CPU.",
        "  put: namespace ('agents', agent_id), uuid key, the memory's context dict + tags + "
        "importance (+ topic) | Brain: POST /v1/memories (empty tables)",
        f"  search: namespace ('agents', agent_id), filter topic = t and importance $gte x "
        f"(a text comparison in the store), limit 20, newest first, over {items:,} items | "
        "Brain: agent + tag + min_importance, never-repeating (uncached) or repeating (cached)",
    ]


MESSAGING_LEGEND = [
    "messaging baselines (PostgreSQL: the service's own statements, psycopg, a second database):",
    "  share: publish_direct (checks both agents, inserts the message and its delivery: one "
    "statement) | one XADD of the message's JSON (the API appends through a Lua script)",
    "  pending+ack: one op = take 1..10 (random) then acknowledge them; raw: XREADGROUP COUNT "
    "1..10 + XACK on pre-filled streams (one per client)",
    "  broadcast: publish_broadcast (one statement), then one XADD per recipient in one pipeline",
    "  (with --quick the messaging runs last half the time per measurement)",
]


def latency_row(d: Latency) -> list[str]:
    api, base = d.api, d.base
    return [d.path, d.baseline, str(len(api.latencies_ms)), fmt(api.p(50)), fmt(api.p(95)),
            fmt(api.p(99)), fmt(max(api.latencies_ms, default=None)),
            fmt(percentile(d.share_ms, 50)), fmt(api.p(50, service=True), 3),
            str(len(base.latencies_ms)), fmt(base.p(50)), fmt(base.p(95))]  # fmt: skip


def cpu_row(c: Cpu) -> list[str]:
    api, base = c.api, c.base
    return [c.request, api.name, fmt(c.us("api"), 0), fmt(api.ops, 0), fmt(api.p(50)), base.name,
            fmt(c.us("base"), 0), fmt(base.ops, 0), fmt(base.p(50)), fmt(c.ratio)]  # fmt: skip


def cpu_section(bench: Bench, args: argparse.Namespace) -> list[str]:
    if not bench.cpu:
        return []
    return [
        f"\nCPU per request: Brain beside a minimal Litestar app (scripts/bench/baseline_app.py) "
        f"doing the same work, both served by uvicorn with brain serve's options and "
        f"{args.workers} worker(s), one after the other in this run; {args.cpu_requests} "
        f"requests each at concurrency {args.concurrency} (the same aiohttp clients) after "
        f"{args.cpu_warmup} uncounted; CPU = utime + stime of the serving process and its "
        "workers (/proc/<pid>/stat, clock ticks) over the counted requests:\n",
        table(CPU_HEADERS.split("|"), [cpu_row(c) for c in bench.cpu], left=2),
        "  cached query: the same body every time (X-Brain-Cache: hit) | POST /q: the same body "
        "decoded, one redis-py (hiredis) GET of a value the size of Brain's cache entry, a small "
        "JSON answer; health live: GET /health/live | a hello world",
    ]


def report(bench: Bench, args: argparse.Namespace) -> str:
    out = [
        f"\nBrain benchmark - concurrency {args.concurrency}, {args.workers} service worker(s), "
        f"{args.duration:g} s per measurement, {os.cpu_count()} CPU(s). Latencies in ms; "
        "svc = in-service (Server-Timing); ratio = API ops/s / baseline ops/s.\n",
        table(PAIR_HEADERS.split("|"), [pair_row(p) for p in bench.pairs]),
        f"store, {BATCH} a request: ops/s count memories (POST /v1/memories/batch | the same "
        "insert_batch statement through psycopg); its latencies are per request",
        *(MESSAGING_LEGEND if any(p.operation == "share" for p in bench.pairs) else []),
        "\nuncached query latency by table size (sequential, concurrency 1):\n",
        table(SCALE_HEADERS.split("|"), [scale_row(s) for s in bench.scale]),
        *growth(bench),
        *peer_section(bench, args),
        "\nend-to-end share -> delivery (sequential; from sending POST /v1/messages until the "
        "message arrives; share = the POST alone; baseline: XADD waking a blocked XREADGROUP):\n",
        table(LATENCY_HEADERS.split("|"), [latency_row(d) for d in bench.latency]),
        *cpu_section(bench, args),
        "\nIn the API runs: CPU (cores busy) of the load generator, the service and the whole "
        "machine; the load generator's keep-alive connections per service worker; cache outcomes.",
        *(
            f"  {r.name:<44} client {r.client_cpu:.2f}  service {fmt(r.service_cpu)}  "
            f"machine {r.machine_cpu:.2f}  conns/worker {'+'.join(map(str, r.connections or []))}  "
            f"cache {dict(r.cache)}"
            for r in api_runs(bench)
            if r.seconds  # not the sequential end-to-end samples
        ),
        *_errors(bench),
        *(_targets(bench) if "memory" in args.parts else []),  # the memory part's
        *vectors.section(bench, args),
        *(f"note: {n}" for n in bench.notes),
    ]
    return "\n".join(out)


def _errors(bench: Bench) -> list[str]:
    failed = [r for r in all_runs(bench) if r.errors]
    if not failed:
        return ["\nerrors: none"]
    lines = ["\nerrors:"]
    for run in failed:
        top = ", ".join(f"{k} x{v}" for k, v in run.errors.most_common(3))
        lines.append(f"  {run.name}: {run.error_share:.2%} ({top})")
    return lines


def _targets(bench: Bench) -> list[str]:
    t = targets(bench)

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    return [
        "\ntargets:",
        f"  store >= 50% of the raw INSERT rate: {pct(t['store_ratio'])} -> "
        f"{verdict(t['store_ratio_met'])}",
        f"  cached query p50 in the service < 1 ms: "
        f"{fmt(t['cached_query_in_service_p50_ms'], 3)} ms -> "
        f"{verdict(t['cached_query_in_service_p50_met'])} "
        f"(alone, concurrency 1: {fmt(t['cached_query_in_service_p50_ms_c1'], 3)} ms)",
        f"  store, {WIDE} clients at once: {pct(t['store_wide_ratio'])} of the raw INSERT rate at "
        f"the same concurrency -> {verdict((t['store_wide_ratio'] or 0) >= 0.5)}",
        f"  store, {BATCH} a request: {pct(t['store_batch_ratio'])} of the same statement's rate "
        "through psycopg",
        *(
            f"  ahead of the peer on {operation}: {fmt(ratio)}x -> {verdict((ratio or 0) > 1)}"
            for operation, ratio in t["peer_ratios"].items()
        ),
    ]
