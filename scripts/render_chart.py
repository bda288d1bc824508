"""Render the Helm chart `deploy/helm/brain` with real Helm (helm-python-sdk, no helm binary).

`.venv/bin/python -m scripts.render_chart DIR [--set-json JSON]` writes the rendered manifests
(one file per template) to DIR, for `scripts/check-deploy.sh DIR` (checkov, `make deploy`); the
chart tests render through the same functions (tests/support/chart.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import helm_python
import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "deploy" / "helm" / "brain"
RELEASE = "brain"
NAMESPACE = "brain"

helm_python.disable_logging()


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


def main() -> None:
    parser = argparse.ArgumentParser(description="Render the Brain chart to a directory.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--set-json", default="{}", help="values as one JSON object")
    args = parser.parse_args()
    for path in write_rendered(args.directory, json.loads(args.set_json)):
        print(path)


if __name__ == "__main__":
    main()
