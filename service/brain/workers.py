"""`brain serve --workers N`: uvicorn's supervisor, each worker on its own SO_REUSEPORT socket.

uvicorn's workers share one listening socket, and whichever worker wakes first accepts a whole
burst of new connections: the benchmark's eight keep-alive connections were seen 8+0 on two
workers, one core serving while the other idled. With a socket per worker in one SO_REUSEPORT
group, the kernel spreads new connections over the workers by their address hash.

uvicorn's supervisor hands its workers the sockets it was given, pickled into each spawned process
(and into each replacement of a worker that died). It is given a `Listener`, which unpickles as a
new bound socket of that process; the worker listens on it once its app has started (a worker
still starting gets no connection; one that died took its socket and pending connections with
it). The kernel only picks among listening sockets, so the parent's bound socket, which reserves
the port, receives nothing. A port already in use, by anyone, fails `brain serve` before a worker
starts.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess


def config(app: str, host: str, port: int, workers: int) -> uvicorn.Config:
    """How `brain serve` runs uvicorn (also the minimal app `make bench` compares it with):
    `app` is a factory's import path."""
    return uvicorn.Config(
        app,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        # Nothing reads the client address, so no X-Forwarded-* rewriting per request.
        proxy_headers=False,
        server_header=False,
    )


def bound(host: str, port: int, *, reuse_port: bool = True) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEADDR (and SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class Listener:
    """Stands for a worker's socket: pickled into a worker, it becomes a socket of that worker,
    bound; uvicorn listens on it once the app has started (after the lifespan start-up)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return bound, (self.host, self.port)


def supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def reserve(host: str, port: int) -> contextlib.AbstractContextManager[object]:
    """The parent's bound, not listening, socket; OSError when (host, port) is in use by anyone.

    Bound without SO_REUSEPORT first: a socket with it could join the group of another process of
    the same user, such as a second `brain serve` on this port, and share its connections."""
    bound(host, port, reuse_port=False).close()
    return bound(host, port) if supported() else contextlib.nullcontext()


def run(config: uvicorn.Config) -> None:
    """Serve `config` (an import string app, `workers` > 1) until a signal stops it, inside
    `reserve(config.host, config.port)`."""
    if not supported():  # neither Linux nor a BSD: uvicorn's shared socket
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    listener: Any = Listener(config.host, config.port)
    Multiprocess(config, sockets=[listener]).run()
