"""The admin area: stats, cleanup, clear and the audit log, over the data of every other area."""

from __future__ import annotations

from brain.admin import routes
from brain.admin.service import AdminService
from brain.kit.areas import Area, Resources


def build(resources: Resources) -> AdminService:
    return AdminService(resources.db, resources.cache, resources.data, resources.cursors)


AREA = Area("admin", routes.router, build)
