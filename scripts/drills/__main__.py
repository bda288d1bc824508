"""`make drill`: every disaster drill, several runs each (`--quick`: one run each).

Prints a table and writes bench-results/drills.json; exits 1 when a drill misses its target."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from scripts.drills import (
    harness,
    point_in_time_restore,
    postgres_primary_lost,
    redis_data_lost,
    redis_node_lost,
)

DRILLS = {
    "postgres-primary-lost": postgres_primary_lost.run,
    "point-in-time-restore": point_in_time_restore.run,
    "redis-node-lost": redis_node_lost.run,
    "redis-data-lost": redis_data_lost.run,
}


async def main(names: list[str], runs: int) -> list[harness.Drill]:
    done: list[harness.Drill] = []
    for name in names:
        started = time.monotonic()
        print(f"drill {name}: {runs} run(s)...", file=sys.stderr, flush=True)
        done += await DRILLS[name](runs)
        print(f"drill {name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return done


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.drills", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one run of each drill")
    parser.add_argument("--runs", type=int, default=3, help="runs of each drill (3)")
    parser.add_argument("--only", action="append", choices=sorted(DRILLS), help="this drill")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    drills = asyncio.run(main(args.only or list(DRILLS), runs))
    print(harness.table(drills))
    harness.save(drills)
    print(f"written {harness.RESULTS}")
    return 0 if all(d.passed for d in drills) else 1


if __name__ == "__main__":
    sys.exit(cli())
