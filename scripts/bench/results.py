"""The targets the figures are held to, and the JSON results (bench-results/bench.json)."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
from pathlib import Path
from typing import Any

from scripts.bench.context import Bench, Cpu
from scripts.bench.data import rows_label
from scripts.bench.harness import Run, fmt, percentile
from scripts.bench.memory import BATCH, WIDE
from scripts.bench.scale import SHAPES


def api_runs(bench: Bench) -> list[Run]:
    """Each API run once (get by id has two baselines)."""
    runs = {id(p.api): p.api for p in bench.pairs}
    runs.update({id(s.api): s.api for s in bench.scale})
    runs.update({id(d.api): d.api for d in bench.latency})
    runs.update({id(c.api): c.api for c in bench.cpu})
    return list(runs.values())


def all_runs(bench: Bench) -> list[Run]:
    runs = {id(r): r for p in bench.pairs for r in (p.api, p.base)}
    runs.update({id(r): r for s in bench.scale for r in (s.api, s.base)})
    runs.update({id(r): r for d in bench.latency for r in (d.api, d.base)})
    runs.update({id(p.base): p.base for p in bench.peer})
    runs.update({id(r): r for c in bench.cpu for r in (c.api, c.base)})
    return list(runs.values())


def growth_rows(bench: Bench) -> tuple[list[str], list[list[str]]]:
    """Per shape: p50 at each table size, then p50 / p95 at the largest over the smallest size
    beside log(largest rows) / log(smallest rows) and the rows ratio itself."""
    sizes = sorted({s.rows for s in bench.scale})
    if len(sizes) < 2:
        return [], []
    first, last = sizes[0], sizes[-1]
    by = {(s.rows, s.shape): s for s in bench.scale}
    log_ratio = math.log(last) / math.log(first)
    span = f"{rows_label(last)}/{rows_label(first)}"
    headers = ["shape", *(f"API p50 {rows_label(n)}" for n in sizes),
               f"API p50 {span}", f"API p95 {span}", f"svc p50 {span}", f"raw p50 {span}",
               "log ratio", "rows ratio"]  # fmt: skip

    def ratio(a: float | None, b: float | None) -> str:
        return fmt(a / b) if a is not None and b else "-"

    rows = []
    for shape in SHAPES:
        if (first, shape) not in by or (last, shape) not in by:
            continue
        lo, hi = by[first, shape], by[last, shape]
        rows.append([
            shape, *(fmt(by[n, shape].api.p(50)) if (n, shape) in by else "-" for n in sizes),
            ratio(hi.api.p(50), lo.api.p(50)), ratio(hi.api.p(95), lo.api.p(95)),
            ratio(hi.api.p(50, service=True), lo.api.p(50, service=True)),
            ratio(hi.base.p(50), lo.base.p(50)), fmt(log_ratio), f"{last / first:g}",
        ])  # fmt: skip
    return headers, rows


def targets(bench: Bench) -> dict[str, Any]:
    store = next((p for p in bench.pairs if p.operation == "store"), None)
    wide = next((p for p in bench.pairs if p.operation == f"store, c={WIDE}"), None)
    cached = next((p for p in bench.pairs if p.operation == "cached query"), None)
    alone = next((p for p in bench.pairs if p.operation == "cached query, c=1"), None)
    batch = next((p for p in bench.pairs if p.operation == f"store, {BATCH} a request"), None)
    store_ratio = store.ratio if store else None
    cached_p50 = cached.api.p(50, service=True) if cached else None
    return {
        "store_ratio": store_ratio,
        "store_batch_ratio": batch.ratio if batch else None,
        "store_wide_ratio": wide.ratio if wide else None,
        "peer_ratios": {p.operation: p.ratio for p in bench.peer},
        "store_ratio_met": store_ratio is not None and store_ratio >= 0.5,
        "cached_query_in_service_p50_ms": cached_p50,
        "cached_query_in_service_p50_met": cached_p50 is not None and cached_p50 < 1.0,
        "cached_query_in_service_p50_ms_c1": alone.api.p(50, service=True) if alone else None,
    }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def cpu_result(c: Cpu, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "request": c.request,
        "brain": c.api.name,
        "minimal": c.base.name,
        "brain_us_per_request": _rounded(c.us("api"), 1),
        "minimal_us_per_request": _rounded(c.us("base"), 1),
        "ratio": _rounded(c.ratio, 3),
        "method": {
            "requests": args.cpu_requests,
            "warmup_requests": args.cpu_warmup,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "cpu": "utime+stime of the serving process and its workers (/proc/<pid>/stat)",
        },
        "brain_cpu_seconds": round(c.api_cpu, 3),
        "minimal_cpu_seconds": round(c.base_cpu, 3),
        "api": c.api.summary(),
        "base": c.base.summary(),
    }


def results(bench: Bench, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    pairs = [
        {"operation": p.operation, "baseline": p.baseline, "ratio": p.ratio,
         "api": p.api.summary(), "base": p.base.summary()}
        for p in bench.pairs
    ]  # fmt: skip
    scale = [
        {"rows": s.rows, "shape": s.shape, "api": s.api.summary(), "base": s.base.summary()}
        for s in bench.scale
    ]  # fmt: skip
    headers, rows = growth_rows(bench)
    growth_table = [dict(zip(headers, r, strict=True)) for r in rows]
    peer = [
        {"operation": p.operation, "ops_ratio": p.ratio, "brain": p.api.name,
         "peer": p.base.summary()}
        for p in bench.peer
    ]  # fmt: skip
    latency = [
        {"path": d.path, "baseline": d.baseline, "share_p50_ms": percentile(d.share_ms, 50),
         "api": d.api.summary(), "base": d.base.summary()}
        for d in bench.latency
    ]  # fmt: skip
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "seconds": round(seconds, 1),
        "pairs": pairs,
        "scale": scale,
        "growth": growth_table,
        "peer": peer,
        "latency": latency,
        "cpu": [cpu_result(c, args) for c in bench.cpu],
        "targets": targets(bench),
        "notes": bench.notes,
    }
