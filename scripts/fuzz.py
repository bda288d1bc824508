"""`make fuzz`: schemathesis, every check, against a real `brain serve`.

Every check runs because that is schemathesis's default; `--checks all` is not passed, because a
check named on the command line overrides the per-operation settings of the config file.

Starts the service on its embedded PostgreSQL and Redis in a temporary directory, registers the
agents the document's examples name (so that sharing a message reaches more than a 404), runs
schemathesis with tests/fuzz/schemathesis.toml, and stops the service. Exit status: schemathesis's.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"brain serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("brain serve did not become ready")


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
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="brain-fuzz-") as data:
        env = {
            **os.environ,
            "BRAIN_DATA_DIR": data,
            "BRAIN_ADMIN_TOKEN": token,
            "BRAIN_LOG_LEVEL": "WARNING",
            "BRAIN_FUZZ_TOKEN": token,
        }
        log = Path(data) / "serve.log"
        with log.open("wb") as out:
            service = subprocess.Popen(
                [BIN / "brain", "serve", "--port", str(port)], env=env, stdout=out, stderr=out
            )
        try:
            wait_ready(url, service)
            auth = {"Authorization": f"Bearer {token}"}
            for agent in ("sales", "support", "research"):
                httpx.put(f"{url}/v1/agents/{agent}", json={"name": agent}, headers=auth)
            command = [
                str(BIN / "schemathesis"),
                "--config-file", str(ROOT / "tests" / "fuzz" / "schemathesis.toml"),
                "run", f"{url}/schema/openapi.json",
                "--phases", "examples,coverage,fuzzing,stateful",
                "--exclude-operation-id", "stream_messages",  # tests/integration/test_messages.py
                "--max-examples", str(args.max_examples),
                "--workers", args.workers,
            ]  # fmt: skip
            if args.seed:
                command += ["--seed", args.seed]
            if args.max_time:
                command += ["--max-time", str(args.max_time)]
            status = subprocess.call(command, env=env, cwd=data)  # its cache stays there
            errors = [line for line in log.read_text().splitlines() if "ERROR" in line]
            if errors:
                print("brain serve logged errors:", *errors[:20], sep="\n  ")
                status = status or 1
            return status
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(60)


if __name__ == "__main__":
    sys.exit(main())
