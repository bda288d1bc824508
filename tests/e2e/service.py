"""Drive a real `brain serve` process like an operator would: start, stop, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from brain import embedded
from tests.conftest import repo_root


class Service:
    def __init__(self, env: dict[str, str], workers: int = 1, log: Path | None = None) -> None:
        self.env = {**os.environ, "BRAIN_LOG_FORMAT": "console", **env}
        self.workers = workers
        self.port = embedded.free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Service:
        with open(self.log or os.devnull, "ab") as out:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "brain", "serve", "--port", str(self.port),
                 "--workers", str(self.workers)],
                env=self.env, cwd=repo_root(), stdout=out, stderr=out,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"brain serve exited: {self.process.returncode}"
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("brain serve did not become ready")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a process manager would; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """kill -9 of `brain serve`."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        # Workers (if any) end with their parent; wait until the port is free again.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/health/live", timeout=0.5)
            except httpx.HTTPError:
                return
            time.sleep(0.1)
        raise TimeoutError("workers outlived brain serve")
