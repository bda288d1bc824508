"""Redis Cluster nodes for tests and drills."""

from __future__ import annotations

import socket

from brain import embedded

BUS_OFFSET = 10000
"""A cluster node also listens on its port + 10000 (the cluster bus)."""


def cluster_port() -> int:
    """A free port whose cluster-bus port is free and valid (below 65536) too."""
    while True:
        port = embedded.free_port()
        if port + BUS_OFFSET > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + BUS_OFFSET))
            except OSError:
                continue
        return port
