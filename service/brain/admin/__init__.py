"""The admin area: stats, cleanup and clear, over the data of every other area."""

from __future__ import annotations

from brain.admin import routes
from brain.admin.service import AdminService
from brain.kit.areas import Area, Resources


def build(resources: Resources) -> AdminService:
    return AdminService(resources.db, resources.cache, resources.data)


AREA = Area("admin", routes.router, build)
