"""The console's security (/console): the session cookie, CSRF and origin checks, signing in,
tampered and expired sessions, revoked keys, workspaces kept apart, the pages' security headers,
and no sessions without a secret. An in-process app on the test's PostgreSQL and Redis; what
was (not) stored is read back through /v1 with the admin token."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from brain import app
from brain.console.session import COOKIE, Session, Sessions, key_from
from brain.settings import Settings
from tests.support.api import AUTH, TOKEN
from tests.support.tenancy import key, workspace

CSRF = re.compile(r'name="_csrf" value="([^"]*)"')
META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
HOST = "testserver.local"  # AsyncTestClient's base_url
MEMORY = {"context": '{"note":"x"}'}


@pytest.fixture
async def web(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    """The app with no credential of its own (the console's cookie is a request's only one),
    redirects not followed (they are what is checked)."""
    async with AsyncTestClient(app=app.create_app(settings)) as test_client:
        test_client.follow_redirects = False
        yield test_client


def csrf_of(response: httpx.Response) -> str:
    found = CSRF.search(response.text)
    assert found is not None, response.text
    meta = META.search(response.text)
    assert meta is not None and meta.group(1) == found.group(1)
    return found.group(1)


def set_cookie(response: httpx.Response) -> dict[str, str]:
    """The attributes of the response's Set-Cookie of the session (lower-case names), its value
    as `value`."""
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    assert len(headers) == 1, response.headers
    first, *rest = (part.strip() for part in headers[0].split(";"))
    attributes = {"value": first.split("=", 1)[1]}
    for part in rest:
        name, _, value = part.partition("=")
        attributes[name.lower()] = value
    return attributes


async def sign_in(
    web: AsyncTestClient, token: str, workspace_id: str = "", next_path: str = "/console",
    **headers: str,
) -> httpx.Response:  # fmt: skip
    """The sign-in form's answer, filled in as a person would (the form's CSRF token)."""
    form = await web.get("/console/login", headers=headers)
    assert form.status_code == 200, form.text
    fields = {"_csrf": csrf_of(form), "token": token, "workspace": workspace_id, "next": next_path}
    return await web.post("/console/login", data=fields, headers=headers)


async def signed_in(web: AsyncTestClient, token: str = TOKEN, workspace_id: str = "") -> str:
    """Sign in; the CSRF token of the signed-in session (from a page)."""
    answer = await sign_in(web, token, workspace_id)
    assert answer.status_code == 303, answer.text
    page = await web.get("/console/agents")
    assert page.status_code == 200, page.text
    return csrf_of(page)


def to_sign_in(response: httpx.Response, next_path: str) -> bool:
    """Whether `response` sends the visitor to the sign-in form, then back to `next_path`."""
    location = response.headers.get("location", "")
    parts = urllib.parse.urlsplit(location)
    query = urllib.parse.parse_qs(parts.query)
    return (
        response.status_code == 303 and parts.path == "/console/login"
        and query.get("next") == [next_path]
    )  # fmt: skip


async def memories(web: AsyncTestClient, agent_id: str, **headers: str) -> list[Any]:
    body = {"agent_id": agent_id}
    answer = await web.post("/v1/memories/query", json=body, headers={**AUTH, **headers})
    assert answer.status_code == 200, answer.text
    items: list[Any] = answer.json()["items"]
    return items


def use_cookie(web: AsyncTestClient, value: str) -> None:
    """Replace the client's session cookie with `value`, as a browser would send it."""
    web.cookies.clear()
    web.cookies.set(COOKIE, value, domain=HOST, path="/console")


# -- 1. the cookie --------------------------------------------------------------------------------


async def test_the_session_cookie_is_httponly_strict_and_scoped_to_the_console(
    web: AsyncTestClient,
) -> None:
    """The form's cookie and the signed-in one: HttpOnly, SameSite=Strict, Path=/console; not
    Secure over plain http (a browser would drop it), Secure when a proxy says https."""
    form = await web.get("/console/login")
    answer = await sign_in(web, TOKEN)
    assert answer.status_code == 303, answer.text
    for response in (form, answer):
        cookie = set_cookie(response)
        assert "httponly" in cookie and cookie["samesite"].lower() == "strict"
        assert cookie["path"] == "/console" and "secure" not in cookie
        assert "domain" not in cookie
    assert "max-age" not in set_cookie(form)  # not signed in: a browser session's cookie
    assert 28700 < int(set_cookie(answer)["max-age"]) <= 8 * 3600  # the sign-in's 8 hours
    https = {"X-Forwarded-Proto": "https"}
    web.cookies.clear()
    form = await web.get("/console/login", headers=https)
    use_cookie(web, set_cookie(form)["value"])  # httpx keeps a Secure cookie from http requests
    fields = {"_csrf": csrf_of(form), "token": TOKEN, "workspace": "", "next": "/console"}
    answer = await web.post("/console/login", data=fields, headers=https)
    assert answer.status_code == 303, answer.text
    for response in (form, answer):
        cookie = set_cookie(response)
        assert "secure" in cookie and "httponly" in cookie
        assert cookie["samesite"].lower() == "strict" and cookie["path"] == "/console"


# -- 2. CSRF and origin ---------------------------------------------------------------------------


async def test_a_form_without_the_sessions_csrf_token_or_from_elsewhere_is_refused(
    web: AsyncTestClient,
) -> None:
    """An unsafe request without the session's token, with another one, or from another site's
    page is refused with 403 (an HTML page) and stores nothing; with the token it is done."""
    csrf = await signed_in(web)
    url = "/console/agents/dexter/memories"
    other = csrf[:-1] + ("A" if csrf[-1] != "A" else "B")  # one character changed
    refused = [
        await web.post(url, data=MEMORY),
        await web.post(url, data={**MEMORY, "_csrf": ""}),
        await web.post(url, data={**MEMORY, "_csrf": other}),
        await web.post(url, data=MEMORY, headers={"X-CSRF-Token": "wrong"}),
        await web.post(url, data={**MEMORY, "_csrf": csrf}, headers={"X-CSRF-Token": "wrong"}),
        await web.post(url, data={**MEMORY, "_csrf": csrf}, headers={"Origin": "http://evil.example"}),
        await web.post(url, data={**MEMORY, "_csrf": csrf}, headers={"Origin": "null"}),
        await web.post(url, data={**MEMORY, "_csrf": csrf},
                       headers={"Origin": f"http://{HOST}.evil.example"}),
    ]  # fmt: skip
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"].startswith("text/html")
        assert "csrf" in answer.text.lower() or "another site" in answer.text
    assert await memories(web, "dexter") == []
    done = await web.post(url, data={**MEMORY, "_csrf": csrf}, headers={"Origin": f"http://{HOST}"})
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith("/console/agents/dexter?done=stored")
    by_header = await web.post(url, data=MEMORY, headers={"X-CSRF-Token": csrf})
    assert by_header.status_code == 303, by_header.text
    stored = await memories(web, "dexter")
    assert len(stored) == 2 and all(m["context"] == {"note": "x"} for m in stored)


async def test_signing_in_rotates_the_csrf_token(web: AsyncTestClient) -> None:
    """The token of the sign-in form (known before signing in) is not the signed-in session's:
    a form sent with it is refused."""
    form = await web.get("/console/login")
    before = csrf_of(form)
    fields = {"_csrf": before, "token": TOKEN, "workspace": "", "next": "/console/agents"}
    answer = await web.post("/console/login", data=fields)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/agents"
    after = csrf_of(await web.get("/console/agents"))
    assert after != before
    url = "/console/agents/dexter/memories"
    assert (await web.post(url, data={**MEMORY, "_csrf": before})).status_code == 403
    assert (await web.post(url, data=MEMORY, headers={"X-CSRF-Token": before})).status_code == 403
    assert await memories(web, "dexter") == []
    assert (await web.post(url, data={**MEMORY, "_csrf": after})).status_code == 303
    assert len(await memories(web, "dexter")) == 1


async def test_the_sign_in_form_itself_needs_its_csrf_token(web: AsyncTestClient) -> None:
    """No one else's page signs a browser in (login CSRF): the form's token and a cookie are
    needed, else 403 and no session."""
    form = await web.get("/console/login")
    csrf = csrf_of(form)
    fields = {"token": TOKEN, "workspace": "", "next": "/console"}
    assert (await web.post("/console/login", data=fields)).status_code == 403
    assert (await web.post("/console/login", data={**fields, "_csrf": "x"})).status_code == 403
    elsewhere = {"Origin": "http://evil.example"}
    answer = await web.post("/console/login", data={**fields, "_csrf": csrf}, headers=elsewhere)
    assert answer.status_code == 403
    assert to_sign_in(await web.get("/console/agents"), "/console/agents")
    web.cookies.clear()  # no cookie: a fresh form, not a sign-in
    answer = await web.post("/console/login", data={**fields, "_csrf": csrf})
    assert answer.status_code == 403 and "expired" in answer.text
    assert to_sign_in(await web.get("/console/agents"), "/console/agents")


# -- 3. signing in --------------------------------------------------------------------------------


async def test_a_wrong_key_does_not_sign_in(web: AsyncTestClient) -> None:
    """A wrong token or key: 401, the form again with the error, and still not signed in."""
    for wrong in ("brk_default_" + "A" * 40, "not-a-key", TOKEN + "x"):
        answer = await sign_in(web, wrong)
        assert answer.status_code == 401, answer.text
        assert 'data-testid="error-token"' in answer.text
        assert wrong not in answer.text  # the form does not echo the secret back
        assert to_sign_in(await web.get("/console/agents"), "/console/agents")
        assert to_sign_in(await web.get("/console/"), "/console")


async def test_signing_in_never_redirects_to_another_site(web: AsyncTestClient) -> None:
    """`next` is a console page or /console: never another site (no open redirect)."""
    for elsewhere in ("https://evil.example/", "//evil.example", "/\\evil.example", "evil"):
        web.cookies.clear()
        answer = await sign_in(web, TOKEN, next_path=elsewhere)
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/console", elsewhere
        form = await web.get("/console/login", params={"next": elsewhere})
        assert 'name="next" value="/console"' in form.text, elsewhere
    web.cookies.clear()
    answer = await sign_in(web, TOKEN, next_path="/console/memories?run=1")
    assert answer.headers["location"] == "/console/memories?run=1"


async def test_the_admin_token_in_a_workspace_that_does_not_exist_is_refused(
    web: AsyncTestClient,
) -> None:
    """The admin token naming no workspace there is: 422 with the error beside the field."""
    answer = await sign_in(web, TOKEN, "nowhere")
    assert answer.status_code == 422, answer.text
    assert 'data-testid="error-workspace"' in answer.text
    assert "workspace nowhere does not exist" in answer.text
    assert to_sign_in(await web.get("/console/agents"), "/console/agents")
    await workspace(web, "nowhere")
    assert (await sign_in(web, TOKEN, "nowhere")).status_code == 303


async def test_a_key_cannot_sign_into_another_workspace(web: AsyncTestClient) -> None:
    """A key works in its own workspace only: naming another one refuses the sign-in."""
    await workspace(web, "acme")
    await workspace(web, "beta")
    made = await key(web, "acme")
    for other in ("beta", "default", "nowhere"):
        answer = await sign_in(web, made["secret"], other)
        assert answer.status_code == 422, answer.text
        assert 'data-testid="error-workspace"' in answer.text
        assert to_sign_in(await web.get("/console/agents"), "/console/agents")
    assert (await sign_in(web, made["secret"], "acme")).status_code == 303
    assert (await web.get("/console/agents")).status_code == 200


# -- 4. tampered and expired sessions -------------------------------------------------------------


async def test_an_altered_or_foreign_cookie_is_not_a_session(web: AsyncTestClient) -> None:
    """A cookie with one character changed, or sealed under another secret, is no session: to
    the sign-in form."""
    assert (await sign_in(web, TOKEN)).status_code == 303
    good = web.cookies.get(COOKIE, path="/console")
    assert good is not None
    assert (await web.get("/console/agents")).status_code == 200
    for i in (0, len(good) // 2, len(good) - 2):
        changed = good[:i] + ("A" if good[i] != "A" else "B") + good[i + 1 :]
        use_cookie(web, changed)
        assert to_sign_in(await web.get("/console/agents"), "/console/agents"), i
    for junk in ("", "x", "!!!!", good + good, "A" * 5000):
        use_cookie(web, junk)
        assert to_sign_in(await web.get("/console/agents"), "/console/agents"), junk[:20]
    other = Sessions("another-secret-of-32-characters-long!!", 3600)
    foreign = other.signed_in(TOKEN, None)
    use_cookie(web, other.seal(foreign))
    assert to_sign_in(await web.get("/console/agents"), "/console/agents")
    answer = await web.post(
        "/console/agents/dexter/memories", data={**MEMORY, "_csrf": foreign.csrf}
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login")
    assert await memories(web, "dexter") == []
    use_cookie(web, good)  # the control: the cookie as it was is a session
    assert (await web.get("/console/agents")).status_code == 200


async def test_an_expired_session_is_not_accepted(web: AsyncTestClient, settings: Settings) -> None:
    """A session past its end, though sealed with the service's own secret, is no session."""
    secret = key_from(settings.console_secret, settings.admin_token)
    assert secret is not None
    own = Sessions(secret, 3600)
    ended = Session(csrf="c" * 43, token=TOKEN, workspace=None, ends=time.time() - 1)
    use_cookie(web, own.seal(ended))
    assert to_sign_in(await web.get("/console/agents"), "/console/agents")
    answer = await web.post("/console/agents/dexter/memories", data={**MEMORY, "_csrf": "c" * 43})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login")
    assert await memories(web, "dexter") == []
    never = Session(csrf="c" * 43, token=TOKEN, workspace=None, ends=0.0)
    use_cookie(web, own.seal(never))
    assert to_sign_in(await web.get("/console/agents"), "/console/agents")
    lasting = Session(csrf="c" * 43, token=TOKEN, workspace=None, ends=time.time() + 60)
    use_cookie(web, own.seal(lasting))  # the control: the same, not over yet, is a session
    assert (await web.get("/console/agents")).status_code == 200


# -- 5. revocation --------------------------------------------------------------------------------


async def test_a_revoked_key_signs_the_console_out(web: AsyncTestClient) -> None:
    """A key revoked while signed in with it: within the keys' cache time, the console sends
    its visitor to sign in again, and forms with it do nothing."""
    await workspace(web, "acme")
    made = await key(web, "acme")
    csrf = await signed_in(web, made["secret"])
    revoked = await web.delete(f"/v1/workspaces/acme/keys/{made['id']}", headers=AUTH)
    assert revoked.status_code == 204, revoked.text
    deadline = time.monotonic() + 1.5
    while True:
        answer = await web.get("/console/agents")
        if answer.status_code != 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert to_sign_in(answer, "/console/agents"), answer.headers
    reason = urllib.parse.parse_qs(urllib.parse.urlsplit(answer.headers["location"]).query)
    assert reason["reason"][0].startswith("signed out")
    url = "/console/agents/dexter/memories"
    answer = await web.post(url, data={**MEMORY, "_csrf": csrf})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login")
    assert await memories(web, "dexter", **{"X-Brain-Workspace": "acme"}) == []


# -- 6. workspaces apart --------------------------------------------------------------------------


async def test_a_key_sees_its_own_workspace_only(web: AsyncTestClient) -> None:
    """Signed in with a key of acme: acme's agents and memories, never beta's (which the admin
    token in beta does see, the control)."""
    await workspace(web, "acme")
    await workspace(web, "beta")
    marker = "beta-secret-marker-7f3a"
    in_acme = {**AUTH, "X-Brain-Workspace": "acme"}
    in_beta = {**AUTH, "X-Brain-Workspace": "beta"}
    made = await web.put("/v1/agents/alpha", json={"name": "acme agent"}, headers=in_acme)
    assert made.status_code == 201, made.text
    made = await web.put("/v1/agents/bravo", json={"name": marker, "role": marker}, headers=in_beta)
    assert made.status_code == 201, made.text
    stored = await web.post(
        "/v1/memories", json={"agent_id": "bravo", "context": {"note": marker}}, headers=in_beta
    )
    assert stored.status_code == 201, stored.text
    beta_memory = stored.json()["id"]
    pages = [
        "/console/agents", "/console/agents/bravo", "/console/agents/bravo?run=1",
        "/console/agents/bravo?run=1&scope=all", "/console/memories?run=1",
        "/console/memories?run=1&agents=bravo", "/console/",
    ]  # fmt: skip
    acme_key = await key(web, "acme")
    await signed_in(web, acme_key["secret"])
    listed = await web.get("/console/agents")
    assert listed.status_code == 200 and 'data-agent="alpha"' in listed.text
    assert 'data-agent="bravo"' not in listed.text
    for path in pages:
        answer = await web.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert marker not in answer.text and beta_memory not in answer.text, path
    assert (await web.get(f"/console/memories/{beta_memory}")).status_code == 404
    web.cookies.clear()
    await signed_in(web, TOKEN, "acme")  # the admin token in acme: not beta's either
    for path in pages:
        assert marker not in (await web.get(path)).text, path
    web.cookies.clear()
    await signed_in(web, TOKEN, "beta")  # the control: in beta, the pages show beta's
    assert marker in (await web.get("/console/agents")).text
    assert marker in (await web.get("/console/agents/bravo?run=1")).text
    assert (await web.get(f"/console/memories/{beta_memory}")).status_code == 200


# -- 7. security headers --------------------------------------------------------------------------


def assert_secure_headers(response: httpx.Response) -> None:
    policy = response.headers.get("content-security-policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in policy.split(";") if d.strip()}
    assert directives.get("script-src") == "script-src 'self'", (response.url, policy)
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", (response.url, policy)
    assert response.headers.get("x-content-type-options") == "nosniff", response.url
    assert response.headers.get("cache-control") == "no-store", response.url


async def test_console_pages_carry_the_security_headers(web: AsyncTestClient) -> None:
    """Every console page: a policy of scripts from here only and no framing, no content
    sniffing, not stored by caches (a page holds the CSRF token and the workspace's data)."""
    assert_secure_headers(await web.get("/console/login"))
    wrong = await sign_in(web, "wrong")  # 401: the form again
    assert wrong.status_code == 401
    assert_secure_headers(wrong)
    csrf = await signed_in(web)
    for path in ("/console/", "/console/agents", "/console/agents/dexter", "/console/memories",
                 "/console/messages", "/console/memories?run=1"):  # fmt: skip
        answer = await web.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["content-type"].startswith("text/html")
        assert_secure_headers(answer)
    invalid = await web.post(
        "/console/agents/dexter/memories", data={"context": "[", "_csrf": csrf}
    )
    assert invalid.status_code == 422  # the form again, with the error
    assert_secure_headers(invalid)
    assert_secure_headers(await web.get("/console/static/console.js"))


async def test_refused_console_pages_carry_the_security_headers_too(web: AsyncTestClient) -> None:
    """The console's error pages (403 CSRF, 404) and its redirects to sign in carry the same
    headers as its other pages."""
    not_signed_in = await web.get("/console/agents")
    assert not_signed_in.status_code == 303
    await signed_in(web)
    refused = await web.post("/console/agents/dexter/memories", data=MEMORY)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    missing = await web.get(f"/console/memories/{'0' * 8}-0000-0000-0000-{'0' * 12}")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    for answer in (refused, missing, not_signed_in):
        assert_secure_headers(answer)


# -- 8. no secret, no sessions --------------------------------------------------------------------


async def test_without_a_secret_the_console_is_unavailable(settings: Settings) -> None:
    """Neither BRAIN_CONSOLE_SECRET nor an admin token: no key to seal sessions with, so the
    console answers 503 saying so; with BRAIN_CONSOLE_SECRET alone it works."""
    bare = settings.replace(admin_token=None, console_secret=None)
    async with AsyncTestClient(app=app.create_app(bare)) as web:
        for answer in (
            await web.get("/console/login"),
            await web.post("/console/login", data={"_csrf": "x", "token": "t"}),
            await web.get("/console/agents"),
        ):
            assert answer.status_code == 503, answer.text
            assert "BRAIN_CONSOLE_SECRET" in answer.text
            assert not answer.headers.get_list("set-cookie")
    own = settings.replace(admin_token=None, console_secret="s" * 32)
    async with AsyncTestClient(app=app.create_app(own)) as web:
        form = await web.get("/console/login")
        assert form.status_code == 200 and csrf_of(form)
        assert set_cookie(form)["value"]
