"""`/console`: the web console, served by the service itself.

Server-rendered pages (Jinja templates in this package) with one small script of its own for
what a page cannot do alone (the live inbox, acking without a reload, checking JSON as it is
typed); no front-end build, nothing fetched from elsewhere at run time. A person signs in with
the admin token or an API key, kept in an encrypted session cookie (`session`); every page is
a few requests to the API in-process with that credential (`visit`), so the console shows and
does exactly what the credential may, and nothing the API would refuse.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router

from brain.console import pages, visit
from brain.console.visit import Console, SignIn
from brain.kit import errors

PATH = "/console"
SECURITY_HEADERS = {
    # Scripts and styles of this package only (no inline code), no framing, forms post here.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def _to_sign_in(request: Request[Any, Any, Any], exc: SignIn) -> Response[Any]:
    query = visit.query_string({"next": exc.next_path, "reason": exc.reason})
    return Redirect(f"{PATH}/login?{query}", status_code=303, headers=SECURITY_HEADERS)


def _error_page(request: Request[Any, Any, Any], exc: errors.BrainError) -> Response[Any]:
    """A refused page as a page (the API's routes answer problem details)."""
    headers = {k: v for k, v in exc.headers.items() if k.lower() != "www-authenticate"}
    headers.update(SECURITY_HEADERS)  # after_request does not see exception handlers' answers
    return Template(
        template_name="error.html",
        context={"visit": None, "status": exc.status, "title": exc.title, "detail": exc.detail},
        status_code=exc.status,
        headers=headers,
    )


def _invalid_page(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """A path or query parameter the console's routes refuse (an agent id that breaks the rules)."""
    return _error_page(request, errors.Invalid(str(exc.detail)))


async def _secure(response: Response[Any]) -> Response[Any]:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def router() -> Router:
    static = create_static_files_router(
        path="/static", directories=[visit.STATIC], name="console:static",
        include_in_schema=False, cache_control=None,
    )  # fmt: skip
    return Router(
        PATH,
        route_handlers=[*pages.HANDLERS, static],
        dependencies={"visit": Provide(visit.visit)},
        exception_handlers={
            SignIn: _to_sign_in,
            errors.BrainError: _error_page,
            ValidationException: _invalid_page,
        },
        after_request=_secure,
        include_in_schema=False,
    )


__all__ = ["PATH", "Console", "router"]
templates = visit.templates
