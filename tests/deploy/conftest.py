"""Helpers of the Helm chart tests: render `deploy/helm/brain` through helm-python-sdk.

Also a tool: `.venv/bin/python -m tests.deploy.conftest DIR [--set-json JSON]` writes the rendered
default manifests (one file per template) to DIR, e.g. for `scripts/check-deploy.sh DIR`
(checkov).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "brain"
CRDS = REPO / "tests" / "deploy" / "crds"  # vendored: see the README there
GRAFANA = REPO / "grafana"
RELEASE = "brain"
NAMESPACE = "brain"

helm_python.disable_logging()

EXTERNAL_VALUES: dict[str, Any] = {
    "postgresql": {
        "mode": "external",
        "external": {
            "url": "postgresql://brain:secret@db.example.com:5432/brain",
            "readUrls": "postgresql://brain:secret@db-ro.example.com:5432/brain",
        },
    },
    "redis": {"mode": "external", "external": {"url": "redis://cache.example.com:6379/0"}},
}

HA_PITR_VALUES: dict[str, Any] = {
    "fullnameOverride": "brain",
    "replicaCount": 3,
    "workers": 2,
    "autoscaling": {"enabled": False},
    "otel": {"enabled": True, "endpoint": "http://otel-collector.observability:4318"},
    "backup": {"inheritFromIAMRole": True, "endpointURL": "https://s3.eu-west-1.amazonaws.com"},
    "postgresql": {
        "cnpg": {
            "archiveTimeout": "30s",
            "synchronous": {"enabled": True, "method": "any", "number": 1},
            "recovery": {
                "enabled": True,
                "sourceServerName": "brain-pg-old",
                "targetTime": "2025-01-01T12:00:00Z",
            },
        }
    },
    "redis": {"cluster": {"requiredAntiAffinity": True}},
}

VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "external": EXTERNAL_VALUES,
    "ha-pitr": HA_PITR_VALUES,
}


def render(
    values: dict[str, Any] | None = None, *, name: str = RELEASE, namespace: str = NAMESPACE
) -> dict[str, list[dict[str, Any]]]:
    """Template path -> the manifests it renders (NOTES.txt left out)."""
    chart = helm_python.Chart.load(CHART)
    out: dict[str, list[dict[str, Any]]] = {}
    for path, text in chart.render(values or {}, name=name, namespace=namespace).items():
        if path.endswith("NOTES.txt"):
            continue
        docs = [d for d in yaml.safe_load_all(text) if d]
        if docs:
            out[path] = docs
    return out


def manifests(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [doc for docs in rendered.values() for doc in docs]


def write_rendered(directory: Path, values: dict[str, Any] | None = None) -> list[Path]:
    """Write the rendered manifests to `directory`, one file per template."""
    directory.mkdir(parents=True, exist_ok=True)
    chart = helm_python.Chart.load(CHART)
    written = []
    for path, text in sorted(chart.render(values or {}, name=RELEASE, namespace=NAMESPACE).items()):
        if path.endswith("NOTES.txt") or not text.strip():
            continue
        target = directory / path.removeprefix("brain/templates/").replace("/", "_")
        target.write_text(text)
        written.append(target)
    return written


@pytest.fixture(scope="session")
def rendered_sets() -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {name: render(values) for name, values in VALUE_SETS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description="Render the Brain chart to a directory.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--set-json", default="{}", help="values as one JSON object")
    args = parser.parse_args()
    for path in write_rendered(args.directory, json.loads(args.set_json)):
        print(path)


if __name__ == "__main__":
    main()
