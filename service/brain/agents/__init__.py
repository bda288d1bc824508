"""The agent registry: who the agents of a workspace are."""

from __future__ import annotations

from brain.agents import routes
from brain.agents.service import AgentService
from brain.kit.areas import Area, Resources


def build(resources: Resources) -> AgentService:
    return AgentService(resources.db, resources.settings.max_context_bytes, resources.data)


AREA = Area("agents", routes.router, build)
