"""The console's pages as HTML, in-process against real PostgreSQL and Redis: what each shows
for a credential, queries by meaning with the local model, forms that work without the page's
script."""

from __future__ import annotations

import re
import uuid

from litestar.testing import AsyncTestClient

from tests.support import tenancy
from tests.support.api import TOKEN

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


async def sign_in(client: AsyncTestClient, token: str = TOKEN) -> str:
    """Sign in through the form; the session's CSRF token."""
    form = await client.get("/console/login")
    assert form.status_code == 200
    match = _CSRF.search(form.text)
    assert match is not None
    done = await client.post(
        "/console/login",
        data={"_csrf": match.group(1), "token": token, "next": "/console/"},
        headers={"Authorization": ""},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    page = await client.get("/console/agents")
    assert page.status_code == 200
    found = _CSRF.search(page.text)
    assert found is not None
    return found.group(1)


async def test_a_query_by_meaning_from_the_agent_page(local: AsyncTestClient) -> None:
    """With a model, the query form has a Meaning field, and it finds by meaning alone."""
    for note in ("Acme prefers to be contacted by email", "The van is blue"):
        body = {"agent_id": "sales", "context": {"note": note}}
        assert (await local.post("/v1/memories", json=body)).status_code == 201
    await sign_in(local)
    page = await local.get("/console/agents/sales")
    assert 'name="semantic"' in page.text
    found = await local.get("/console/agents/sales", params={
        "run": "1", "semantic": "how does Acme like to be reached?", "limit": "1"})  # fmt: skip
    assert found.status_code == 200
    result = found.text[found.text.index('data-testid="query-result"') :]
    assert "prefers to be contacted by email" in result
    assert "van is blue" not in result
    assert "score" in result


async def test_without_a_model_there_is_no_meaning_field(client: AsyncTestClient) -> None:
    await sign_in(client)
    page = await client.get("/console/agents/sales")
    assert page.status_code == 200
    assert 'name="text"' in page.text
    assert 'name="semantic"' not in page.text


async def test_an_ack_form_works_without_the_script(client: AsyncTestClient) -> None:
    """The inbox entry's form posts back and redirects when no script took it over."""
    for agent in ("alice", "bob"):
        await client.put(f"/v1/agents/{agent}", json={})
    sent = await client.post("/v1/messages", json={
        "from_agent": "alice", "to_agent": "bob", "context": {"n": 1}})  # fmt: skip
    taken = await client.get("/v1/agents/bob/messages", params={"consumer": "console"})
    assert [m["id"] for m in taken.json()["items"]] == [sent.json()["id"]]
    csrf = await sign_in(client)
    acked = await client.post(
        "/console/agents/bob/inbox/ack", data={"_csrf": csrf, "id": sent.json()["id"]},
        headers={"Authorization": ""}, follow_redirects=False,
    )  # fmt: skip
    assert acked.status_code == 303
    assert acked.headers["location"] == "/console/agents/bob?done=acknowledged+1"
    replay = await client.get(
        "/v1/agents/bob/messages/replay", params={"since": "2000-01-01T00:00:00Z"}
    )
    assert replay.json()["items"][0]["acked_at"] is not None


async def test_what_a_narrow_key_sees(client: AsyncTestClient) -> None:
    """A key without `admin` gets no figures on the overview; an agent-bound key has a store
    form and an inbox on its own agent's page only."""
    scopes = ["memories:read", "memories:write", "messages:read"]
    made = await tenancy.key(client, "default", scopes, agent_id="ivy")
    secret = made["secret"]
    client.headers.pop("Authorization")
    await sign_in(client, secret)
    overview = await client.get("/console/")
    assert "figures need the <code>admin</code> scope" in overview.text
    own = await client.get("/console/agents/ivy")
    other = await client.get("/console/agents/jack")
    assert 'data-testid="store-form"' in own.text and 'data-testid="inbox"' in own.text
    assert 'data-testid="store-form"' not in other.text and 'data-testid="inbox"' not in other.text
    assert 'data-testid="query-button"' in other.text  # reading the team's memories is the point


async def test_a_page_of_an_id_that_breaks_the_rules_is_a_page_not_json(
    client: AsyncTestClient,
) -> None:
    await sign_in(client)
    page = await client.get(f"/console/agents/{'x' * 65}")
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    missing = await client.get(f"/console/memories/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]
