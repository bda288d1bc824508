"""The chart under test: what it is rendered with, and where its CRD schemas are."""

from __future__ import annotations

from typing import Any

from scripts.render_chart import CHART, NAMESPACE, RELEASE, REPO, manifests, render, write_rendered

__all__ = ["CHART", "CRDS", "GRAFANA", "NAMESPACE", "RELEASE", "VALUE_SETS", "manifests",
           "render", "write_rendered"]  # fmt: skip

CRDS = REPO / "tests" / "deploy" / "crds"  # vendored: see the README there
GRAFANA = REPO / "grafana"

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
