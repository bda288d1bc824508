"""`brain serve | migrate | cleanup | reembed | mcp`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from brain import embedded, migrate, workers
from brain.kit import db, embeddings, registry
from brain.observability import logs
from brain.settings import ConfigError, RemoteSettings, Settings

if TYPE_CHECKING:
    from litestar import Litestar


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        _say(f"brain: {exc}")
        raise SystemExit(2) from None
    # The provider in force, passed on to the worker processes.
    os.environ["BRAIN_EMBEDDINGS"] = settings.embeddings_provider
    return settings.replace(embeddings=settings.embeddings_provider)


def _banner(stack: embedded.Stack, settings: Settings) -> None:
    lines = ["Brain embedded default - for development only, not for production."]
    lines.append(f"  data dir:   {stack.data_dir}")
    if stack.postgres is not None:
        lines.append(
            f"  postgresql: {settings.database_url}  (log: {stack.postgres.pgdata / 'log'})"
        )
    if stack.redis is not None:
        lines.append(
            f"  redis:      {settings.redis_url}  (AOF everysec in {stack.redis.directory})"
        )
    found = embeddings.configured_space(settings)
    model = f"{settings.embeddings_provider} ({found[0]})" if found else "none"
    lines.append(f"  embeddings: {model}  (BRAIN_EMBEDDINGS)")
    if stack.settings.admin_token is None:
        lines.append(
            f"  admin token: {settings.admin_token}  (kept in {stack.data_dir / 'admin_token'})"
        )
    _say("\n".join(lines))


def _ensure_schema(settings: Settings, stack: embedded.Stack | None) -> None:
    assert settings.database_url is not None
    if stack is not None and stack.postgres is not None:
        for mig in migrate.apply(settings.database_url):
            _say(f"applied migration {mig.version:04d}_{mig.name}")
    else:
        missing = migrate.pending(settings.database_url)
        if missing:
            names = ", ".join(f"{m.version:04d}_{m.name}" for m in missing)
            raise migrate.MigrationError(
                f"the database lacks migrations {names}: run `brain migrate`"
            )
    _ensure_vector_index(settings, migrated=stack is not None and stack.postgres is not None)
    slow = migrate.not_leakproof(settings.database_url)
    if slow:
        statements = "; ".join(f"ALTER FUNCTION {name} LEAKPROOF" for name in slow)
        _say(
            "brain: warning: tag and full-text filters cannot use their indexes under row-level "
            f"security until a superuser runs: {statements} (see migration 0004)"
        )


def _ensure_vector_index(settings: Settings, migrated: bool) -> None:
    """The configured embedding space's HNSW index: built where this process migrates."""
    assert settings.database_url is not None
    found = embeddings.configured_space(settings)
    statement = embeddings.index_statement(*found) if found else None
    if found is None or statement is None:
        return
    if migrated:
        migrate.ensure_index(settings.database_url, statement)
    elif not migrate.index_exists(settings.database_url, embeddings.index_name(found[0])):
        _say(
            f"brain: warning: the embedding space {found[0]} has no index yet, so search by "
            "meaning scans every row: run `brain migrate`"
        )


def worker_app() -> Litestar:
    """Factory for worker processes: they end when `brain serve` ends, even by `kill -9`."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    from brain import app

    return app.from_env()


def _exit_on_signal(signum: int, _: object) -> None:
    raise SystemExit(0)


def _share_cores(worker_count: int) -> None:
    """The local model's BLAS threads: this machine's cores shared among the workers (unless set).
    OpenBLAS spins its threads while it waits; with two workers of two threads each on two cores,
    stores with the model ran 6 times slower than with one thread per worker (make bench)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = str(max(1, (cores or 1) // worker_count))
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, threads)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings()
    logs.configure(settings.log_level, settings.log_format)
    stack = embedded.Stack(settings) if settings.embedded else None
    cleanup_dirs: list[str] = []
    try:
        if stack is not None:
            settings = stack.start()
            _banner(stack, settings)
            os.environ.update(
                BRAIN_DATABASE_URL=str(settings.database_url),
                BRAIN_REDIS_URL=str(settings.redis_url),
                BRAIN_ADMIN_TOKEN=str(settings.admin_token),
            )
        elif settings.admin_token is None:
            _say("brain: BRAIN_ADMIN_TOKEN is required when the database and Redis are external")
            return 2
        _ensure_schema(settings, stack)
        if stack is not None and stack.postgres is not None:
            # Migrated as the owner; served as the role row-level security holds (kit.db.ROLE).
            settings = settings.replace(database_url=stack.postgres.url(user=db.ROLE))
            os.environ["BRAIN_DATABASE_URL"] = str(settings.database_url)
        if settings.embeddings_provider == "local":
            _share_cores(args.workers)
        if args.workers > 1 and settings.metrics_multiprocess_dir is None:
            # Workers share their metrics through files (prometheus-client multiprocess mode).
            metrics_dir = tempfile.mkdtemp(prefix="brain-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
            cleanup_dirs.append(metrics_dir)
        config = workers.config(
            "brain.cli:worker_app" if args.workers > 1 else "brain.app:from_env",
            args.host, args.port, args.workers,
        )  # fmt: skip
        listening = f"Brain listening on http://{args.host}:{args.port} ({args.workers} worker(s))"
        # uvicorn shuts down gracefully, then re-raises the signal it caught; make SIGTERM end in
        # SystemExit (like SIGINT's KeyboardInterrupt) so that `finally` stops the embedded servers.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        if args.workers == 1:
            _say(listening)
            uvicorn.Server(config).run()
            return 0
        try:
            port = workers.reserve(args.host, args.port)
        except OSError as exc:
            _say(f"brain: cannot listen on {args.host}:{args.port}: {exc}")
            return 1
        with port:
            _say(listening)
            workers.run(config)
        return 0
    except KeyboardInterrupt:
        return 0
    except migrate.MigrationError as exc:
        _say(f"brain: {exc}")
        return 1
    finally:
        if stack is not None:
            stack.stop()
        for path in cleanup_dirs:
            shutil.rmtree(path, ignore_errors=True)


def run_migrate(_: argparse.Namespace) -> int:
    settings = _settings()
    logs.configure(settings.log_level, settings.log_format)
    stack = embedded.Stack(settings) if settings.database_url is None else None
    if stack is not None:
        settings = stack.start(with_redis=False)
    try:
        assert settings.database_url is not None
        applied = migrate.apply(settings.database_url)
        _ensure_vector_index(settings, migrated=True)
    except migrate.MigrationError as exc:
        _say(f"brain: {exc}")
        return 1
    finally:
        if stack is not None:
            stack.stop(all_servers=False)
    _say(f"applied {len(applied)} migration(s)" if applied else "schema is up to date")
    return 0


def cleanup(_: argparse.Namespace) -> int:
    """Delete expired data once (for a CronJob); prints what it did as JSON."""
    from brain import app

    settings = _settings()
    logs.configure(settings.log_level, settings.log_format)
    stack = embedded.Stack(settings) if settings.embedded else None
    if stack is not None:
        settings = stack.start()

    async def once() -> dict[str, int]:
        application = app.create_app(settings, serving=False)
        async with application.lifespan():
            admin = application.state.services["admin"]
            totals: dict[str, int] = {}
            workspaces = await registry.ids(application.state.db)
            for workspace in workspaces:
                for what, count in (await admin.cleanup(workspace)).items():
                    totals[what] = totals.get(what, 0) + count
            return {**totals, "workspaces": len(workspaces)}

    try:
        print(json.dumps(asyncio.run(once())))
    finally:
        if stack is not None:
            stack.stop(all_servers=False)
    return 0


def _batch_size(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 1000:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to 1000, not {value!r}")
    return int(value)


def reembed(args: argparse.Namespace) -> int:
    """Give every live memory a vector of the configured model (after a model change, or for
    memories stored before there was one); resumable, with progress on stderr."""
    from brain import app

    settings = _settings()
    logs.configure(settings.log_level, settings.log_format)
    found = embeddings.configured_space(settings)
    if found is None or settings.embeddings_provider == "none":
        _say("brain: reembed needs a model: BRAIN_EMBEDDINGS=local or openai")
        return 2
    stack = embedded.Stack(settings) if settings.embedded else None
    if stack is not None:
        settings = stack.start()
    started = time.monotonic()

    def progress(seen: int, done: int, total: int) -> None:
        rate = seen / max(time.monotonic() - started, 1e-9)
        share = f" ({100 * seen // total} %)" if total else ""
        _say(f"reembed: {seen}/{total} memories{share}, {done} embedded, {rate:.0f}/s")

    async def run() -> tuple[int, int]:
        application = app.create_app(settings, serving=False)
        async with application.lifespan():
            service = application.state.services["memories"]
            result: tuple[int, int] = await service.reembed(args.batch, progress)
            return result

    try:
        _ensure_vector_index(settings, migrated=stack is not None)
        seen, done = asyncio.run(run())
    finally:
        if stack is not None:
            stack.stop(all_servers=False)
    seconds = round(time.monotonic() - started, 3)
    print(json.dumps({"space": found[0], "memories": seen, "embedded": done, "seconds": seconds}))
    return 0


def run_mcp(args: argparse.Namespace) -> int:
    """MCP over stdio for desktop clients, forwarding each tool call to the Brain at --url."""
    import importlib.metadata

    from brain import mcp

    token = args.remote.token
    if not token:
        _say("brain mcp: set BRAIN_TOKEN to an API key (or BRAIN_ADMIN_TOKEN to the admin token)")
        return 2
    version = importlib.metadata.version("brain")
    remote = mcp.Remote(
        args.url, token, workspace=args.workspace, agent_id=args.agent, version=version
    )
    _say(f"brain mcp: serving MCP on stdio, each tool call forwarded to {args.url}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(mcp.serve(remote, version))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="brain", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve the HTTP API")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8080)
    serve_cmd.add_argument("--workers", type=int, default=1, help="worker processes")
    serve_cmd.set_defaults(run=serve)
    commands.add_parser("migrate", help="apply missing SQL migrations").set_defaults(
        run=run_migrate
    )
    commands.add_parser("cleanup", help="delete expired data").set_defaults(run=cleanup)
    reembed_cmd = commands.add_parser(
        "reembed", help="give every memory a vector of the configured embedding model"
    )
    reembed_cmd.add_argument(
        "--batch", type=_batch_size, default=64,
        help="memories per model call and UPDATE, 1-1000 (64)",
    )  # fmt: skip
    reembed_cmd.set_defaults(run=reembed)
    try:
        remote = RemoteSettings.from_env()
    except ConfigError as exc:
        remote = None
        remote_error = str(exc)
    mcp_cmd = commands.add_parser(
        "mcp", help="serve MCP over stdio, forwarding to a Brain (token: BRAIN_TOKEN)"
    )
    mcp_cmd.add_argument(
        "--url", default=(remote or RemoteSettings()).url,
        help="the Brain to call (BRAIN_URL; http://127.0.0.1:8080)",
    )  # fmt: skip
    mcp_cmd.add_argument(
        "--workspace", default=remote.workspace if remote else None,
        help="with the admin token: the workspace to work in (BRAIN_WORKSPACE; default)",
    )  # fmt: skip
    mcp_cmd.add_argument(
        "--agent", default=remote.agent if remote else None,
        help="the agent the tools act as when a call names none (BRAIN_AGENT)",
    )  # fmt: skip
    mcp_cmd.set_defaults(run=run_mcp, remote=remote)
    args = parser.parse_args(argv)
    if args.command == "mcp" and remote is None:
        _say(f"brain mcp: {remote_error}")
        return 2
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
