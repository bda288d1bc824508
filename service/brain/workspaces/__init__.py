"""Workspaces and their API keys: who may work where, with what (G7)."""

from __future__ import annotations

from brain.kit.areas import Area, Resources
from brain.workspaces import routes
from brain.workspaces.service import WorkspaceService


def build(resources: Resources) -> WorkspaceService:
    return WorkspaceService(
        resources.db, resources.data, resources.auth, resources.settings.workspace
    )


AREA = Area("workspaces", routes.router, build)
