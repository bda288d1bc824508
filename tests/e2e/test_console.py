"""The web console in a real browser: Playwright driving Debian's Chromium against a real
`brain serve` on the test's PostgreSQL and Redis. Screenshots of every page land in
build/screenshots/ (not committed)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.api import AUTH, TOKEN, repo_root
from tests.support.browser import CHROMIUM_ARGS, axe_violations, chromium
from tests.support.service import Service

SHOTS = repo_root() / "build" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # bypass_csp: axe-core is injected as an inline script, which the console's policy refuses.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def api(service: Service, method: str, path: str, headers: dict[str, str] | None = None,
        **kw: Any) -> httpx.Response:  # fmt: skip
    return httpx.request(method, service.url + path, headers=headers or AUTH, timeout=10, **kw)


def sign_in(page: Page, service: Service, token: str = TOKEN, path: str = "/console/",
            workspace: str | None = None) -> None:  # fmt: skip
    """Open `path`: the console sends a visitor who is not signed in to the sign-in form, and
    back to `path` after it."""
    page.goto(service.url + path)
    expect(page.get_by_test_id("token-input")).to_be_visible()
    page.get_by_test_id("token-input").fill(token)
    if workspace:
        page.get_by_test_id("workspace-input").fill(workspace)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("token-input")).to_have_count(0)


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def key(service: Service, workspace: str, scopes: list[str], agent_id: str | None = None) -> str:
    body: dict[str, Any] = {"name": f"console {uuid.uuid4().hex[:6]}", "scopes": scopes}
    if agent_id:
        body["agent_id"] = agent_id
    made = api(service, "POST", f"/v1/workspaces/{workspace}/keys", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["secret"])


def test_the_original_scenario_survives_a_restart(service: Service, page: Page) -> None:
    """As the original design's test has it: on /console/agents/dexter, fill context-input,
    click store-button, restart `brain serve`, click query-button: query-result has the text."""
    sign_in(page, service, path="/console/agents/dexter")
    assert page.url.endswith("/console/agents/dexter")
    marker = f"dexter saw the blue door {uuid.uuid4().hex[:8]}"
    page.get_by_test_id("context-input").fill(f'{{"note": "{marker}"}}')
    page.get_by_test_id("store-button").click()
    expect(page.get_by_test_id("done")).to_contain_text("stored memory")
    shot(page, "agent")

    assert service.stop() == 0  # a real restart, on the same data and port
    service.start()

    page.get_by_test_id("query-button").click()
    expect(page.get_by_test_id("query-result")).to_contain_text(marker)
    stored = api(service, "POST", "/v1/memories/query", json={"agent_id": "dexter"}).json()
    assert [m["context"] for m in stored["items"]] == [{"note": marker}]


def test_a_message_appears_live_and_is_acked_from_the_page(service: Service, page: Page) -> None:
    for agent in ("alice", "bob"):
        assert api(service, "PUT", f"/v1/agents/{agent}", json={}).status_code == 201
    sign_in(page, service, path="/console/agents/bob")
    expect(page.get_by_test_id("inbox-status")).to_contain_text("live")
    sent_at = time.monotonic()
    sent = api(service, "POST", "/v1/messages", json={
        "from_agent": "alice", "to_agent": "bob", "context": {"ask": "review PR 7"},
    })  # fmt: skip
    assert sent.status_code == 201, sent.text
    entry = page.get_by_test_id("inbox-message")
    expect(entry).to_contain_text("review PR 7", timeout=1_000)  # within a second
    print(f"message on the open page {time.monotonic() - sent_at:.3f} s after the POST")
    shot(page, "inbox")
    entry.get_by_test_id("ack-button").click()
    expect(entry).to_have_count(0)
    replayed = api(service, "GET", "/v1/agents/bob/messages/replay",
                   params={"since": "1970-01-01T00:00:00Z"}).json()  # fmt: skip
    assert [m["acked_at"] is not None for m in replayed["items"]] == [True]
    page.reload()  # acked: not delivered again, not even to the console
    expect(page.get_by_test_id("inbox-status")).to_contain_text("live")
    expect(page.get_by_test_id("inbox-message")).to_have_count(0)


def test_sign_in_is_refused_with_a_wrong_key(service: Service, page: Page) -> None:
    page.goto(service.url + "/console/agents")
    page.get_by_test_id("token-input").fill("brk_default_" + "x" * 40)
    with page.expect_response(lambda r: r.url.endswith("/console/login")) as answer:
        page.get_by_test_id("sign-in").click()
    assert answer.value.status == 401
    expect(page.get_by_test_id("error-token")).to_contain_text("not valid")
    expect(page.get_by_test_id("token-input")).to_have_attribute("aria-invalid", "true")
    shot(page, "sign-in-refused")
    page.goto(service.url + "/console/agents")  # still not signed in
    expect(page.get_by_test_id("token-input")).to_be_visible()


def test_a_key_of_one_workspace_never_sees_another(service: Service, page: Page) -> None:
    for ws in ("wa", "wb"):
        assert api(service, "POST", "/v1/workspaces", json={"id": ws}).status_code == 201
    b_marker = f"b-secret-{uuid.uuid4().hex[:8]}"
    b_headers = {**AUTH, "X-Brain-Workspace": "wb"}
    assert (
        api(service, "PUT", "/v1/agents/b-agent", b_headers, json={"name": b_marker}).status_code
        == 201
    )
    assert api(service, "POST", "/v1/memories", b_headers, json={
        "agent_id": "b-agent", "context": {"note": b_marker}}).status_code == 201  # fmt: skip
    assert api(service, "PUT", "/v1/agents/a-agent", {**AUTH, "X-Brain-Workspace": "wa"},
               json={"name": "A's own"}).status_code == 201  # fmt: skip
    secret = key(service, "wa", ["agents:read", "memories:read", "messages:read", "admin"])
    sign_in(page, service, token=secret, path="/console/agents")
    expect(page.get_by_test_id("workspace")).to_contain_text("wa")
    expect(page.get_by_test_id("agents")).to_contain_text("a-agent")
    seen = [page.content()]
    for path in ("/console/", "/console/agents/b-agent", "/console/memories?run=1",
                 "/console/messages?view=replay&agent=b-agent"):  # fmt: skip
        page.goto(service.url + path)
        seen.append(page.content())
    assert not [html for html in seen if b_marker in html or "b-agent</a>" in html]
    # The admin token's workspace field is for the admin token only.
    page.context.clear_cookies()
    sign_in_refused = page.goto(service.url + "/console/login")
    assert sign_in_refused is not None
    page.get_by_test_id("token-input").fill(secret)
    page.get_by_test_id("workspace-input").fill("wb")
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("error-workspace")).to_contain_text("admin token")


def test_a_key_without_memories_write_sees_no_store_form(service: Service, page: Page) -> None:
    secret = key(service, "default", ["memories:read", "agents:read", "messages:read"])
    sign_in(page, service, token=secret, path="/console/agents/dexter")
    expect(page.get_by_test_id("query-button")).to_be_visible()
    expect(page.get_by_test_id("store-form")).to_have_count(0)
    expect(page.get_by_test_id("send-form")).to_have_count(0)
    refused = api(service, "POST", "/v1/memories", {"Authorization": f"Bearer {secret}"},
                  json={"agent_id": "dexter", "context": {"note": "x"}})  # fmt: skip
    assert refused.status_code == 403
    assert "memories:write" in refused.json()["detail"]


def test_form_errors_are_shown_next_to_the_field_and_nothing_is_stored(
    service: Service, page: Page
) -> None:
    sign_in(page, service, path="/console/agents/carol")
    form = page.get_by_test_id("store-form")
    context = page.get_by_test_id("context-input")
    context.fill('{"note": "unfinished"')
    expect(form.get_by_test_id("error-context")).to_contain_text("not valid JSON")  # as typed
    page.get_by_test_id("store-button").click()  # the server checks too
    expect(form.get_by_test_id("error-context")).to_contain_text("not valid JSON")

    page.get_by_test_id("context-input").fill('{"note": "fine"}')
    page.get_by_test_id("importance-input").fill("5")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_test_id("store-button").click()
    assert answer.value.status == 422
    expect(form.get_by_test_id("error-importance")).to_contain_text("importance")
    expect(form.get_by_test_id("error-importance")).to_contain_text("1")
    expect(page.get_by_test_id("importance-input")).to_have_value("5")  # what was typed stays
    expect(page.get_by_test_id("context-input")).to_have_value('{"note": "fine"}')
    shot(page, "form-errors")

    page.get_by_test_id("importance-input").fill("0.7")
    page.get_by_test_id("tags-input").fill("ok, " + "t" * 200)
    page.get_by_test_id("store-button").click()
    expect(form.get_by_test_id("error-tags")).to_contain_text("tags[1]")
    stored = api(service, "POST", "/v1/memories/query", json={"agent_id": "carol"}).json()
    assert stored["items"] == []


def test_every_page_has_labels_and_no_accessibility_violations(
    service: Service, page: Page
) -> None:
    api(service, "PUT", "/v1/agents/erin", json={"name": "Erin", "capabilities": ["search"]})
    made = api(service, "POST", "/v1/memories", json={
        "agent_id": "erin", "context": {"note": "axe"}, "tags": ["a11y"]}).json()  # fmt: skip
    api(service, "POST", "/v1/messages", json={
        "from_agent": "erin", "to_agent": "frank", "context": {"hi": 1}})  # fmt: skip
    page.goto(service.url + "/console/login")
    found = {"login": axe_violations(page)}
    shot(page, "sign-in")
    sign_in(page, service)
    pages = {
        "overview": "/console/", "agents": "/console/agents",
        "agent-query": "/console/agents/erin?run=1&scope=team",
        "memories": "/console/memories?run=1&tags=a11y",
        "memory": f"/console/memories/{made['id']}",
        "messages": "/console/messages?view=history&agent=erin&peer=frank",
        "replay": "/console/messages?view=replay&agent=frank",
    }  # fmt: skip
    for name, path in pages.items():
        page.goto(service.url + path)
        page.wait_for_load_state("networkidle") if name != "agent-query" else None
        found[name] = axe_violations(page)
        shot(page, name)
    assert found == {name: [] for name in found}


def test_the_store_form_works_with_the_keyboard_alone(service: Service, page: Page) -> None:
    sign_in(page, service, path="/console/agents/gina")
    page.get_by_test_id("context-input").focus()
    page.keyboard.type('{"note": "typed, never clicked"}')
    page.keyboard.press("Tab")
    page.keyboard.type("keyboard")  # tags
    page.keyboard.press("Tab")
    page.keyboard.type("0.9")  # importance
    page.keyboard.press("Enter")  # submits the form
    expect(page.get_by_test_id("done")).to_contain_text("stored memory")
    stored = api(service, "POST", "/v1/memories/query", json={"agent_id": "gina"}).json()
    assert [(m["tags"], m["importance"]) for m in stored["items"]] == [(["keyboard"], 0.9)]


def test_agents_are_registered_edited_and_unregistered(service: Service, page: Page) -> None:
    sign_in(page, service, path="/console/agents")
    page.get_by_test_id("agent-id-input").fill("hank")
    page.get_by_label("Capabilities").fill("crm, email")
    page.get_by_test_id("register-button").click()
    expect(page.get_by_test_id("done")).to_contain_text("registered hank")
    row = page.locator('tr[data-agent="hank"]')
    expect(row).to_contain_text("crm, email")
    expect(row).to_contain_text("s ago")  # last seen

    page.get_by_test_id("agent-id-input").fill("bad id!")
    page.get_by_test_id("register-button").click()
    expect(page.get_by_test_id("error-id")).to_contain_text("agent_id")  # the API's rule
    assert api(service, "GET", "/v1/agents").json()["items"][0]["id"] == "hank"

    row.get_by_role("link", name="hank").click()
    page.locator("#edit-role").fill("closer")
    page.locator("#edit-metadata").fill('{"region": "emea"}')
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("done")).to_contain_text("registration saved")
    agent = api(service, "GET", "/v1/agents/hank").json()
    assert (agent["role"], agent["capabilities"], agent["metadata"]) == (
        "closer", ["crm", "email"], {"region": "emea"})  # fmt: skip

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Unregister").click()
    expect(page.get_by_test_id("done")).to_contain_text("unregistered hank")
    assert api(service, "GET", "/v1/agents/hank").status_code == 404


def test_memories_are_searched_shown_and_deleted(service: Service, page: Page) -> None:
    for agent, note, tags in (("ivy", "ivy likes green tea", ["tea"]),
                              ("jack", "jack likes black tea", ["tea", "black"]),
                              ("jack", "jack drives a van", ["car"])):  # fmt: skip
        made = api(service, "POST", "/v1/memories", json={
            "agent_id": agent, "context": {"note": note}, "tags": tags})  # fmt: skip
        assert made.status_code == 201
    sign_in(page, service, path="/console/memories")
    page.get_by_label("Tags", exact=True).fill("tea")
    page.get_by_test_id("query-button").click()
    result = page.get_by_test_id("query-result")
    expect(result).to_contain_text("green tea")
    expect(result).to_contain_text("black tea")
    expect(result).not_to_contain_text("van")
    page.get_by_role("textbox", name="Agents").fill("jack")
    page.get_by_label("Words").fill("tea")
    page.get_by_test_id("query-button").click()
    expect(result.locator("li")).to_have_count(1)
    expect(result).to_contain_text("black tea")
    shot(page, "memories-search")

    result.locator("li a").first.click()
    expect(page.get_by_test_id("memory-context")).to_contain_text("jack likes black tea")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("delete-button").click()
    expect(page.get_by_test_id("done")).to_contain_text("deleted memory")
    left = api(service, "POST", "/v1/memories/query", json={"tags": ["tea"]}).json()["items"]
    assert [m["context"]["note"] for m in left] == ["ivy likes green tea"]


def test_messages_history_replay_and_unacknowledged_counts(service: Service, page: Page) -> None:
    for agent in ("kim", "lee"):
        assert api(service, "PUT", f"/v1/agents/{agent}", json={}).status_code == 201
    for n, (frm, to) in enumerate((("kim", "lee"), ("lee", "kim"), ("kim", "lee"))):
        sent = api(service, "POST", "/v1/messages", json={
            "from_agent": frm, "to_agent": to, "context": {"n": n}})  # fmt: skip
        assert sent.status_code == 201
    taken = api(service, "GET", "/v1/agents/kim/messages").json()["items"]
    assert api(service, "POST", "/v1/agents/kim/messages/ack",
               json={"ids": [m["id"] for m in taken]}).json() == {"acked": 1}  # fmt: skip
    sign_in(page, service, path="/console/messages")
    expect(page.get_by_test_id("unacked-total")).to_have_text("2")
    expect(page.get_by_test_id("unacked")).to_contain_text("lee")

    page.locator("#h-agent").fill("kim")
    page.locator("#h-peer").fill("lee")
    page.get_by_test_id("history-button").click()
    expect(page.get_by_test_id("history").locator("li")).to_have_count(3)

    page.locator("#r-agent").fill("lee")
    page.get_by_test_id("replay-button").click()
    replay = page.get_by_test_id("replay")
    expect(replay.locator("li")).to_have_count(2)
    expect(replay).to_contain_text("not acknowledged")
    shot(page, "replay")


def test_the_console_serves_its_own_assets_only(service: Service, page: Page) -> None:
    """Nothing is fetched from elsewhere: every request a page makes goes to the service."""
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    sign_in(page, service, path="/console/agents/dexter")
    page.goto(service.url + "/console/")
    assert asked and all(url.startswith(service.url) for url in asked), asked
