"""A real `brain serve` process, driven as an operator would: start, stop, kill -9.

Used by the e2e tests and by the scripts that measure or fuzz a running service (load, bench,
fuzz), so that all of them start, wait for and stop it the same way."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx

from brain import embedded
from tests.support.api import repo_root


def on_cores(cores: set[int]) -> Callable[[], None]:
    """A `preexec_fn` that keeps the child (and what it starts) on `cores`."""
    return lambda: os.sched_setaffinity(0, cores)


class Service:
    """`brain serve --workers N` with `env` added to this process's environment; with `cores`,
    it and every process it starts (workers, embedded servers) run on those cores only."""

    def __init__(
        self,
        env: dict[str, str],
        workers: int = 1,
        log: Path | None = None,
        *,
        host: str = "127.0.0.1",
        cores: set[int] | None = None,
    ) -> None:
        self.env = {**os.environ, "BRAIN_LOG_FORMAT": "console", **env}
        self.workers = workers
        self.cores = cores
        self.host = host
        self.port = embedded.free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60) -> Service:
        """Start and wait until /health/ready answers 200; the log's tail if it never does."""
        with open(self.log or os.devnull, "ab") as out:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "brain", "serve", "--host", self.host,
                 "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env, cwd=repo_root(), stdout=out, stderr=out,
                preexec_fn=None if self.cores is None else on_cores(self.cores),
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"brain serve exited with {self.process.returncode}{self._tail()}"
                )
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"brain serve did not become ready on {self.url}{self._tail()}")

    def _tail(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return ":\n" + self.log.read_text(errors="replace")[-3000:]

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a process manager would (kill -9 after `timeout`); the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

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

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()


class EmbeddedService(Service):
    """`brain serve` on its embedded PostgreSQL and Redis, in a temporary data directory of its
    own (removed on exit); `token` is the admin token it generated."""

    def __init__(
        self, workers: int = 1, env: dict[str, str] | None = None, cores: set[int] | None = None
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="brain-serve-"))
        self.data = self.tmp / "data"  # created by brain serve, owned as PostgreSQL needs
        own = {"BRAIN_DATA_DIR": str(self.data), "BRAIN_LOG_LEVEL": "WARNING", **(env or {})}
        super().__init__(own, workers, log=self.tmp / "serve.log", cores=cores)
        for name in ("BRAIN_DATABASE_URL", "BRAIN_REDIS_URL"):
            self.env.pop(name, None)
        if "BRAIN_ADMIN_TOKEN" not in own:
            self.env.pop("BRAIN_ADMIN_TOKEN", None)

    @property
    def token(self) -> str:
        return self.env.get("BRAIN_ADMIN_TOKEN") or (self.data / "admin_token").read_text().strip()

    def start(self, timeout: float = 120) -> EmbeddedService:
        super().start(timeout)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            super().__exit__(kind, exc, tb)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
