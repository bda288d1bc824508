"""The hardening found by trying the API as an outsider would (G1, G5, G8): values PostgreSQL
takes but nobody can read back, bodies decoded strictly, bounded sizes and depths, cursors that
only reach what their query could, and the answers for OPTIONS and errors."""

from __future__ import annotations

import datetime as dt
import unicodedata

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from brain.kit import body, errors, fields
from tests.support.api import JSON

FAR = "9999-12-31T23:59:59-14:00"  # after the year 9999 once in UTC
ELEVEN_YEARS = (dt.datetime.now(dt.UTC) + dt.timedelta(days=11 * 366)).isoformat()


def count(db_conn: psycopg.Connection, table: str) -> int:
    row = db_conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    assert row is not None
    return int(row[0])


def fields_of(response: object) -> list[str]:
    problem = response.json()  # type: ignore[attr-defined]
    return [e["field"] for e in problem.get("errors", [])]


async def register(client: AsyncTestClient, *agents: str) -> None:
    for agent in agents:
        assert (await client.put(f"/v1/agents/{agent}", json={})).status_code in (200, 201)


# -- 1. values PostgreSQL accepts but no client can read back --------------------------------


@pytest.mark.parametrize("expires_at", [FAR, "9999-12-31T23:00:00Z", ELEVEN_YEARS])
@pytest.mark.parametrize("key", [None, "k-1"])
async def test_far_expiry_is_422_and_writes_nothing(
    client: AsyncTestClient, db_conn: psycopg.Connection, expires_at: str, key: str | None
) -> None:
    headers = {"Idempotency-Key": key} if key else {}
    memory = {"agent_id": "a", "context": {}, "expires_at": expires_at}
    one = await client.post("/v1/memories", json=memory, headers=headers)
    batch = await client.post(
        "/v1/memories/batch",
        json={"items": [{"agent_id": "a", "context": {}}, memory]},
        headers={"Idempotency-Key": f"{key}-b"} if key else {},
    )
    assert one.status_code == 422, one.text
    assert fields_of(one) == ["expires_at"]
    assert batch.status_code == 422, batch.text
    assert fields_of(batch) == ["items[1].expires_at"]
    assert count(db_conn, "memories") == 0
    assert count(db_conn, "idempotency_keys") == 0
    page = await client.post("/v1/memories/query", json={})
    assert page.status_code == 200 and page.json()["items"] == []


async def test_expiry_ten_years_away_is_fine(client: AsyncTestClient) -> None:
    nine = (dt.datetime.now(dt.UTC) + dt.timedelta(days=9 * 366)).isoformat()
    response = await client.post(
        "/v1/memories", json={"agent_id": "a", "context": {}, "expires_at": nine}
    )
    assert response.status_code == 201, response.text
    assert (await client.post("/v1/memories/query", json={})).status_code == 200


# -- 3. nesting ------------------------------------------------------------------------------


def nested(levels: int) -> str:
    """A JSON value nesting objects and arrays `levels` deep."""
    return '{"x": [' * (levels // 2) + "1" + "]}" * (levels // 2)


@pytest.mark.parametrize(
    ("method", "path", "wrap"),
    [
        ("POST", "/v1/memories", '{"agent_id": "a", "context": %s}'),
        ("POST", "/v1/memories/batch", '{"items": [{"agent_id": "a", "context": %s}]}'),
        ("PUT", "/v1/agents/a", '{"metadata": %s}'),
        ("POST", "/v1/messages", '{"from_agent": "a", "to_agent": "b", "context": %s}'),
        ("POST", "/v1/messages/broadcast", '{"from_agent": "a", "context": %s}'),
    ],
)
async def test_deep_nesting_is_400_naming_the_limit(
    client: AsyncTestClient, db_conn: psycopg.Connection, method: str, path: str, wrap: str
) -> None:
    await register(client, "b")
    for levels in (1000, body.MAX_DEPTH):
        raw = wrap.replace("%s", nested(levels))
        response = await client.request(method, path, content=raw, headers=JSON)
        assert response.status_code == 400, response.text
        assert f"{body.MAX_DEPTH} levels" in response.json()["detail"]
        assert fields_of(response) == ["body"]
    assert count(db_conn, "memories") == count(db_conn, "messages") == 0


async def test_nesting_up_to_the_limit_is_fine(client: AsyncTestClient) -> None:
    """The body's own object is level 1, so a context may nest MAX_DEPTH - 1 levels."""
    raw = '{"agent_id": "a", "context": %s}' % nested(body.MAX_DEPTH - 2)  # noqa: UP031
    response = await client.post("/v1/memories", content=raw, headers=JSON)
    assert response.status_code == 201, response.text


def test_depth_ignores_brackets_in_strings() -> None:
    text = '{"k": "' + "[{" * 200 + '", "escaped": "\\"[[["}'
    assert body.depth(text.encode()) <= body.MAX_DEPTH
    assert body.depth(nested(body.MAX_DEPTH + 2).encode()) > body.MAX_DEPTH


# -- 4. and 12. cursors ----------------------------------------------------------------------


async def share(client: AsyncTestClient, a: str, b: str, n: int) -> None:
    for i in range(n):
        response = await client.post(
            "/v1/messages", json={"from_agent": a, "to_agent": b, "context": {"i": i}}
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("cursor", ["9999999999999999999", "-1", "1" * 400, "%%", ""])
async def test_history_and_replay_refuse_cursors_they_did_not_issue(
    client: AsyncTestClient, cursor: str
) -> None:
    await register(client, "a", "b")
    since = "2020-01-01T00:00:00Z"
    for path, params in (
        ("/v1/messages/history", {"agent": "a", "peer": "b", "cursor": cursor}),
        ("/v1/agents/a/messages/replay", {"since": since, "cursor": cursor}),
    ):
        response = await client.get(path, params=params)
        assert response.status_code == 422, (path, response.text)
        assert fields_of(response) == ["cursor"]


async def test_history_cursor_is_bound_to_its_pair(client: AsyncTestClient) -> None:
    await register(client, "a", "b", "c")
    await share(client, "a", "b", 3)
    await share(client, "a", "c", 3)
    first = await client.get("/v1/messages/history", params={"agent": "a", "peer": "b", "limit": 2})
    cursor = first.json()["next_cursor"]
    assert cursor
    # The same pair, asked the other way round, is the same history: its cursor works.
    same = await client.get(
        "/v1/messages/history", params={"agent": "b", "peer": "a", "cursor": cursor}
    )
    assert same.status_code == 200 and len(same.json()["items"]) == 1
    other = await client.get(
        "/v1/messages/history", params={"agent": "a", "peer": "c", "cursor": cursor}
    )
    assert other.status_code == 422 and fields_of(other) == ["cursor"]
    before = await client.get(
        "/v1/messages/history",
        params={"agent": "a", "peer": "b", "cursor": cursor, "before": "2099-01-01T00:00:00Z"},
    )
    assert before.status_code == 422


async def test_replay_cursor_is_bound_to_its_agent_and_time(client: AsyncTestClient) -> None:
    await register(client, "a", "b", "c")
    await share(client, "a", "b", 3)
    await share(client, "a", "c", 3)
    since = "2020-01-01T00:00:00Z"
    first = await client.get("/v1/agents/b/messages/replay", params={"since": since, "limit": 2})
    cursor = first.json()["next_cursor"]
    rest = await client.get(
        "/v1/agents/b/messages/replay", params={"since": since, "cursor": cursor}
    )
    assert rest.status_code == 200
    assert [m["context"]["i"] for m in first.json()["items"] + rest.json()["items"]] == [0, 1, 2]
    for path, since_at in (
        ("/v1/agents/c/messages/replay", since),
        ("/v1/agents/b/messages/replay", "2021-01-01T00:00:00Z"),
    ):
        wrong = await client.get(path, params={"since": since_at, "cursor": cursor})
        assert wrong.status_code == 422 and fields_of(wrong) == ["cursor"]


async def test_memory_cursor_edited_is_422(client: AsyncTestClient) -> None:
    for n in range(3):
        await client.post("/v1/memories", json={"agent_id": "a", "context": {"n": n}})
    page = await client.post("/v1/memories/query", json={"limit": 1})
    cursor = page.json()["next_cursor"]
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for bad in (flipped, cursor + "AAAA", cursor[:-4]):
        response = await client.post("/v1/memories/query", json={"limit": 1, "cursor": bad})
        assert response.status_code == 422, bad
        assert fields_of(response) == ["cursor"]
    ok = await client.post("/v1/memories/query", json={"limit": 1, "cursor": cursor})
    assert ok.status_code == 200


# -- 5. the size of what is stored and served ------------------------------------------------


async def test_numbers_count_as_postgresql_writes_them(
    client: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    """10,000 times 1e308 is 60 KB as sent and 3.1 MB as stored: 413."""
    raw = '{"agent_id": "a", "context": {"n": [' + ",".join(["1e308"] * 10_000) + "]}}"
    assert len(raw) < 65536
    response = await client.post("/v1/memories", content=raw, headers=JSON)
    assert response.status_code == 413, response.text
    assert fields_of(response) == ["context"]
    assert "as stored" in response.json()["detail"]
    assert count(db_conn, "memories") == 0


@pytest.mark.parametrize(
    "context",
    [
        {"n": [1e308, -1.5e-300, 1e16, 0.1, 10**40, -0.0, 2.5e-5], "s": "1e308, x: y"},
        {"nested": {"a": [{"b": []}, {}], "c": '\\"\n\t\u2028é'}},
    ],
)
async def test_stored_size_matches_postgresql(
    client: AsyncTestClient, db_conn: psycopg.Connection, context: dict
) -> None:
    """The size the limit is checked against is what PostgreSQL writes out (at most that: it
    writes -0.0 as 0.0)."""
    response = await client.post("/v1/memories", json={"agent_id": "a", "context": context})
    assert response.status_code == 201, response.text
    row = db_conn.execute("SELECT octet_length(context::text) FROM memories").fetchone()
    assert row is not None
    import msgspec

    measured = fields.stored_size(msgspec.json.encode(context), context)
    assert measured - 1 <= row[0] <= measured


async def test_a_page_stops_at_its_byte_limit(
    client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from brain.kit import pagination

    monkeypatch.setattr(pagination, "MAX_PAGE_BYTES", 3000)
    for n in range(5):
        await client.post(
            "/v1/memories", json={"agent_id": "a", "context": {"x": "y" * 1000, "n": n}}
        )
    seen, cursor, pages = [], None, 0
    while True:
        page = (
            await client.post("/v1/memories/query", json={"limit": 500, "cursor": cursor})
        ).json()
        assert 1 <= len(page["items"]) <= 2  # a third would pass 3000 bytes
        seen += [m["context"]["n"] for m in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [4, 3, 2, 1, 0] and pages == 3


# -- 6. ids are matched whole ----------------------------------------------------------------


@pytest.mark.parametrize("agent", ["sales\n", "sales\r\n", "..", ".", "sa les", "é"])
async def test_ids_are_matched_whole(
    client: AsyncTestClient, db_conn: psycopg.Connection, agent: str
) -> None:
    stored = await client.post("/v1/memories", json={"agent_id": agent, "context": {}})
    assert stored.status_code == 422 and fields_of(stored) == ["agent_id"], stored.text
    assert "constraint" not in stored.text
    quoted = "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in agent)
    for method, path in (
        ("PUT", f"/v1/agents/{quoted}"),
        ("GET", f"/v1/agents/{quoted}"),
        ("GET", f"/v1/agents/{quoted}/memories"),
        ("GET", f"/v1/agents/{quoted}/messages"),
    ):
        response = await client.request(method, path, json={} if method == "PUT" else None)
        assert response.status_code == 422, (method, path, response.text)
        assert fields_of(response) == ["agent_id"]
    history = await client.get("/v1/messages/history", params={"agent": agent, "peer": "b"})
    assert history.status_code == 422 and fields_of(history) == ["agent"]
    assert count(db_conn, "memories") == count(db_conn, "agents") == 0


# -- 7. documented types, strictly -----------------------------------------------------------

STRICT = [
    ("/v1/memories", {"agent_id": "a", "context": {}, "importance": "0.5"}, "importance"),
    ("/v1/memories", {"agent_id": "a", "context": {}, "ttl_seconds": "100"}, "ttl_seconds"),
    ("/v1/memories", {"agent_id": "a", "context": {}, "ttl_seconds": 100.5}, "ttl_seconds"),
    ("/v1/memories", {"agent_id": "a", "context": {}, "expires_at": 4102444800}, "expires_at"),
    ("/v1/memories", {"agent_id": "a", "context": {}, "tags": "x"}, "tags"),
    ("/v1/memories", {"agent_id": "a", "context": {}, "importance": True}, "importance"),
    ("/v1/memories/query", {"limit": "5"}, "limit"),
    ("/v1/memories/query", {"since": 0.5}, "since"),
    ("/v1/memories/query", {"min_importance": "0"}, "min_importance"),
    (
        "/v1/messages",
        {"from_agent": "a", "to_agent": "b", "context": {}, "ttl_seconds": "9"},
        "ttl_seconds",
    ),
]


@pytest.mark.parametrize(("path", "data", "field"), STRICT)
async def test_documented_types_strictly(
    client: AsyncTestClient, db_conn: psycopg.Connection, path: str, data: dict, field: str
) -> None:
    response = await client.post(path, json=data)
    assert response.status_code == 422, response.text
    assert fields_of(response) == [field]
    assert count(db_conn, "memories") == count(db_conn, "messages") == 0


async def test_integers_written_with_a_fraction_are_integers(client: AsyncTestClient) -> None:
    """JSON (and JSON Schema's `integer`) does not tell 100.0 from 100; a string is never one."""
    response = await client.post(
        "/v1/memories", json={"agent_id": "a", "context": {"x": 1.0}, "ttl_seconds": 100.0}
    )
    assert response.status_code == 201, response.text
    assert response.json()["context"] == {"x": 1.0}
    query = await client.post("/v1/memories/query", content=b'{"limit": 1e1}', headers=JSON)
    assert query.status_code == 200, query.text


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/agents/a/messages/replay", {"since": "0.5"}, "since"),
        ("/v1/agents/a/messages/replay", {"since": "1700000000"}, "since"),
        ("/v1/agents/a/messages/replay", {"since": "2026-01-01T00:00:00"}, "since"),
        ("/v1/messages/history", {"agent": "a", "peer": "b", "before": "0"}, "before"),
        ("/v1/agents", {"limit": "1.5"}, "limit"),
        ("/v1/agents", {"limit": "0"}, "limit"),
        ("/v1/agents/a/memories", {"limit": "501"}, "limit"),
        ("/v1/messages/history", {"agent": "a", "peer": "b", "limit": "501"}, "limit"),
        ("/v1/agents/a/messages", {"limit": "x"}, "limit"),
    ],
)
async def test_query_strings_strictly(
    client: AsyncTestClient, path: str, params: dict, field: str
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert fields_of(response) == [field]
    message = response.json()["errors"][0]["message"]
    assert "got `str`" not in message and "string" not in message, message


# -- 8. a key given twice --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        ("/v1/memories", '{"agent_id": "a", "agent_id": "b", "context": {}}', "agent_id"),
        (
            "/v1/memories",
            '{"agent_id": "a", "context": {"k": 1, "n": {"x": 1, "x": 2}}}',
            "context.n.x",
        ),
        (
            "/v1/memories/batch",
            '{"items": [{"agent_id": "a", "context": {"k": 1, "k": 2}}]}',
            "items[0].context.k",
        ),
        ("/v1/memories/query", '{"limit": 1, "limit": 2}', "limit"),
        # The same key spelled with an escape is the same key.
        ("/v1/memories", '{"agent_id": "a", "agent\\u005fid": "b", "context": {}}', "agent_id"),
        (
            "/v1/memories",
            '{"agent_id": "a", "context": {"k\\u00e9": 1, "k\u00e9": 2}}',
            "context.k\u00e9",
        ),
    ],
)
async def test_repeated_keys_are_400_naming_the_key(
    client: AsyncTestClient, db_conn: psycopg.Connection, path: str, raw: str, field: str
) -> None:
    response = await client.post(path, content=raw, headers=JSON)
    assert response.status_code == 400, response.text
    assert fields_of(response) == [field]
    assert count(db_conn, "memories") == 0


async def test_keys_repeated_in_different_objects_are_fine(client: AsyncTestClient) -> None:
    items = [{"agent_id": "a", "context": {"n": n, "note": "x"}} for n in range(3)]
    response = await client.post("/v1/memories/batch", json={"items": items})
    assert response.status_code == 201, response.text
    same = {"agent_id": "a", "context": {"agent_id": "b", "context": {"agent_id": "c"}}}
    assert (await client.post("/v1/memories", json=same)).status_code == 201


# -- 9. content types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml",
     "multipart/form-data; boundary=x", "application/json; charset=latin-1"],
)  # fmt: skip
async def test_bodies_must_be_json(
    client: AsyncTestClient, db_conn: psycopg.Connection, content_type: str
) -> None:
    raw = '{"agent_id": "a", "context": {}}'
    response = await client.post(
        "/v1/memories", content=raw, headers={"Content-Type": content_type}
    )
    assert response.status_code == 415, response.text
    assert fields_of(response) == ["Content-Type"]
    assert response.json()["title"] == "Unsupported media type"
    assert count(db_conn, "memories") == 0


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=UTF-8", "application/merge-patch+json"],
)
async def test_json_in_utf8_is_accepted(client: AsyncTestClient, content_type: str | None) -> None:
    raw = b'{"agent_id": "a", "context": {}}'
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/v1/memories", content=raw, headers=headers)
    assert response.status_code == 201, response.text


# -- 10. OPTIONS -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/v1/agents/a", "DELETE, GET, OPTIONS, PUT"),
        ("/v1/memories/00000000-0000-0000-0000-000000000000", "DELETE, GET, OPTIONS"),
        ("/v1/memories", "OPTIONS, POST"),
        ("/health/ready", "GET, OPTIONS"),
    ],
)
async def test_options_lists_every_method(client: AsyncTestClient, path: str, methods: str) -> None:
    response = await client.options(path, headers={"Authorization": ""})
    assert response.status_code == 204
    assert response.headers["allow"] == methods
    not_allowed = await client.patch(path)
    assert not_allowed.status_code == 405
    assert sorted(not_allowed.headers["allow"].split(", ")) == methods.split(", ")
    assert not_allowed.json()["title"] == "Method not allowed"


# -- 11. one clear problem per error ---------------------------------------------------------


async def test_empty_body_is_400_naming_the_body(client: AsyncTestClient) -> None:
    for path in ("/v1/memories", "/v1/memories/query", "/v1/admin/clear"):
        response = await client.post(path, content=b"", headers=JSON)
        assert response.status_code == 400, response.text
        assert fields_of(response) == ["body"]
        assert "'data'" not in response.text and "empty" in response.json()["detail"]


@pytest.mark.parametrize(
    ("raw", "status", "field"),
    [
        (b'{"agent_id": "a", "context": {"x": 1e400}}', 422, "context"),
        (b'{"agent_id": "a", "context": {"x": [1, 2e999]}}', 422, "context"),
        (b'{"agent_id": "a", "context": {"x": ' + b"9" * 5000 + b"}}", 422, "context"),
        (b'{"agent_id": "a", "importance": 1e400, "context": {}}', 422, "importance"),
        (b'{"agent_id": "a", "context": {"x": NaN}}', 400, "body"),
        (b'{"agent_id": "a", "context": {}', 400, "body"),
        (b"{bad", 400, "body"),
    ],
)
async def test_every_problem_names_its_field(
    client: AsyncTestClient, raw: bytes, status: int, field: str
) -> None:
    response = await client.post("/v1/memories", content=raw, headers=JSON)
    assert response.status_code == status, response.text
    assert fields_of(response) == [field]


async def test_one_title_per_status(client: AsyncTestClient) -> None:
    """Whichever layer answers (Litestar's parameter checks, the body decoder, the services),
    a status has one title."""
    answers = [
        await client.post("/v1/memories", content=b"{bad", headers=JSON),
        await client.post("/v1/memories", content=b"", headers=JSON),
        await client.post("/v1/memories", content=b'{"a": 1, "a": 2}', headers=JSON),
        await client.get("/v1/agents", params={"limit": "x"}),
        await client.post("/v1/memories", json={"agent_id": "a"}),
        await client.post("/v1/memories/query", json={"text": "the"}),
        await client.get("/v1/nothing-here"),
        await client.get("/v1/agents/nobody"),
    ]
    for response in answers:
        assert response.json()["title"] == errors.title(response.status_code), response.text


# -- 13. tags, text and ids ------------------------------------------------------------------


async def test_tags_count_as_sent_and_are_kept_once(client: AsyncTestClient) -> None:
    """The limit is on the list as sent (JSON Schema can state it, so a client can check it
    before sending); repeats, also those equal in Unicode NFC, are then stored once."""
    too_many = await client.post(
        "/v1/memories", json={"agent_id": "a", "context": {}, "tags": ["t"] * 40}
    )
    assert too_many.status_code == 422 and fields_of(too_many) == ["tags"]
    assert "at most 32" in too_many.json()["detail"]
    decomposed, composed = "cafe\u0301", "caf\u00e9"
    stored = await client.post(
        "/v1/memories",
        json={"agent_id": "a", "context": {}, "tags": ["t"] * 32},
    )
    assert stored.status_code == 201 and stored.json()["tags"] == ["t"]
    nfc = await client.post(
        "/v1/memories", json={"agent_id": "a", "context": {}, "tags": [decomposed, composed]}
    )
    assert nfc.json()["tags"] == [composed]
    for tag in (decomposed, composed):
        found = await client.post("/v1/memories/query", json={"tags": [tag]})
        assert [m["tags"] for m in found.json()["items"]] == [[composed]]


@pytest.mark.parametrize(
    "tag", ["a\u202eb", "\u200b", "x\u0007", "a\nb", "   ", "\u3000", "\u2028", "\U000e0041"]
)
async def test_invisible_tags_are_422(
    client: AsyncTestClient, db_conn: psycopg.Connection, tag: str
) -> None:
    for path, data, field in (
        ("/v1/memories", {"agent_id": "a", "context": {}, "tags": ["ok", tag]}, "tags[1]"),
        ("/v1/memories/query", {"tags": ["ok", tag]}, "tags[1]"),
    ):
        response = await client.post(path, json=data)
        assert response.status_code == 422, (tag, response.text)
        assert fields_of(response) == [field]
    agent = await client.put("/v1/agents/a", json={"capabilities": [tag]})
    assert agent.status_code == 422 and fields_of(agent) == ["capabilities[0]"]
    assert count(db_conn, "memories") == count(db_conn, "agents") == 0


async def test_labels_refuse_control_and_format_characters(client: AsyncTestClient) -> None:
    for name in ("evil\u202etxt.exe", "a\x1bb"):
        response = await client.put("/v1/agents/a", json={"name": name})
        assert response.status_code == 422 and fields_of(response) == ["name"]
    ok = await client.put("/v1/agents/a", json={"name": "Ma\u0308rta", "role": "sales lead"})
    assert ok.json()["name"] == unicodedata.normalize("NFC", "Ma\u0308rta")


@pytest.mark.parametrize("text", ["   ", "\t\n", "\u3000"])
async def test_blank_text_is_422(client: AsyncTestClient, text: str) -> None:
    response = await client.post("/v1/memories/query", json={"text": text})
    assert response.status_code == 422 and fields_of(response) == ["text"]


@pytest.mark.parametrize("text", ["the and", "-", "a of to", "!!!"])
async def test_text_without_words_is_422(client: AsyncTestClient, text: str) -> None:
    """Only stop words or punctuation: PostgreSQL drops them all, and the query would match
    nothing, silently."""
    await client.post("/v1/memories", json={"agent_id": "a", "context": {"note": "the and"}})
    response = await client.post("/v1/memories/query", json={"text": text})
    assert response.status_code == 422, response.text
    assert fields_of(response) == ["text"]
    assert "stop words" in response.json()["detail"]


async def test_text_with_words_that_match_nothing_is_an_empty_page(
    client: AsyncTestClient,
) -> None:
    response = await client.post("/v1/memories/query", json={"text": "the zebra"})
    assert response.status_code == 200 and response.json()["items"] == []
