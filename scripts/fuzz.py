"""`make fuzz`: schemathesis, every check, against a real `brain serve`.

Every check runs because that is schemathesis's default; `--checks all` is not passed, because a
check named on the command line overrides the per-operation settings of the config file.

Starts the service on its embedded PostgreSQL and Redis in a temporary directory (run it as
`python -m scripts.fuzz` from the repository), registers the
agents the document's examples name (so that sharing a message reaches more than a 404), runs
schemathesis with tests/fuzz/schemathesis.toml, and stops the service. Exit status: schemathesis's.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
from tests.support.service import EmbeddedService

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=100, help="per operation and phase")
    parser.add_argument(
        "--max-time", type=int, help="seconds for the whole run (fuzzing and stateful repeat)"
    )
    parser.add_argument("--seed", help="reproduce a run")
    parser.add_argument(
        "--workers",
        default="1",
        help="schemathesis threads (more than one: CPython 3.11.7's ast.parse can fail with "
        "'AST constructor recursion depth mismatch' while hypothesis, in another thread, "
        "changes the recursion limit)",
    )
    args = parser.parse_args()

    token = secrets.token_urlsafe(24)
    env = {"BRAIN_ADMIN_TOKEN": token, "BRAIN_FUZZ_TOKEN": token}
    with EmbeddedService(env=env) as service:
        auth = {"Authorization": f"Bearer {token}"}
        for agent in ("sales", "support", "research"):
            httpx.put(f"{service.url}/v1/agents/{agent}", json={"name": agent}, headers=auth)
        command = [
            str(BIN / "schemathesis"),
            "--config-file", str(ROOT / "tests" / "fuzz" / "schemathesis.toml"),
            "run", f"{service.url}/schema/openapi.json",
            "--phases", "examples,coverage,fuzzing,stateful",
            "--exclude-operation-id", "stream_messages",  # tests/integration/test_messages.py
            "--max-examples", str(args.max_examples),
            "--workers", args.workers,
        ]  # fmt: skip
        if args.seed:
            command += ["--seed", args.seed]
        if args.max_time:
            command += ["--max-time", str(args.max_time)]
        status = subprocess.call(command, env=service.env, cwd=service.tmp)  # its cache stays there
        assert service.log is not None
        errors = [line for line in service.log.read_text().splitlines() if "ERROR" in line]
        if errors:
            print("brain serve logged errors:", *errors[:20], sep="\n  ")
            status = status or 1
        return status


if __name__ == "__main__":
    sys.exit(main())
