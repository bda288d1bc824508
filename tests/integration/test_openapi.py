"""The OpenAPI document describes the API as it is: what a client generator and a fuzzer read."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import jsonschema_rs
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from brain.kit import errors, openapi

OPEN = {"/health/live", "/health/ready"}
STATUSES_WITHOUT_BODY = {"204"}


@pytest.fixture
async def document(client: AsyncTestClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json", headers={"Authorization": ""})
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in {"get", "put", "post", "delete", "patch"}
    ]


DOC_URI = "urn:brain:openapi"


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator of `schema` (a part of the document) that resolves the document's `$ref`s."""
    registry: Registry[Any] = Registry().with_resource(
        DOC_URI, Resource(contents=doc, specification=DRAFT202012)
    )
    return jsonschema.Draft202012Validator(
        _rebase(schema), registry=registry, format_checker=jsonschema.FormatChecker()
    )


def _rebase(value: Any) -> Any:
    """`#/components/...` as a reference into the document."""
    if isinstance(value, dict):
        return {
            k: (DOC_URI + v if k == "$ref" and v.startswith("#") else _rebase(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rebase(v) for v in value]
    return value


def test_info_and_security(document: dict[str, Any]) -> None:
    info = document["info"]
    assert info["description"] and info["contact"]["name"] and info["license"]["identifier"]
    assert document["openapi"].startswith("3.1")
    assert document["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The admin token (BRAIN_ADMIN_TOKEN).",
    }


def test_every_operation_is_described(document: dict[str, Any]) -> None:
    seen = set()
    for path, method, op in operations(document):
        where = f"{method.upper()} {path}"
        assert re.fullmatch(r"[a-z_]+", op["operationId"]), where
        assert op["operationId"] not in seen, where
        seen.add(op["operationId"])
        assert op["summary"] and op["description"] and op["tags"], where
        if path in OPEN:
            assert op["security"] == [], where
        else:
            assert "security" not in op, where  # the document's: the bearer scheme
            assert "401" in op["responses"], where
            assert "503" in op["responses"], where
        if "requestBody" in op:
            media = op["requestBody"]["content"]
            assert list(media) == ["application/json"], where
            assert media["application/json"]["example"], where
            assert {"400", "413", "415", "422"} <= set(op["responses"]), where
        for name, response in op["responses"].items():
            assert response["description"], (where, name)
            if name.startswith("2") or (path, name) == ("/health/ready", "503"):
                if name in STATUSES_WITHOUT_BODY:
                    assert "content" not in response, (where, name)
                else:
                    (media,) = response["content"].values()
                    assert "$ref" in media["schema"] or media["schema"] == {"type": "string"}
            else:
                assert list(response["content"]) == ["application/problem+json"], (where, name)
                media = response["content"]["application/problem+json"]
                assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
                assert media["example"]["status"] == int(name)
                assert media["example"]["title"] == errors.title(int(name))


def test_documented_headers(document: dict[str, Any]) -> None:
    for path, method, op in operations(document):
        responses = op["responses"]
        if "401" in responses:
            assert "WWW-Authenticate" in responses["401"]["headers"]
        if "503" in responses and path not in OPEN:
            assert "Retry-After" in responses["503"]["headers"]
        keyed = any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))
        success = next(v for k, v in responses.items() if k.startswith("2"))
        assert ("Idempotent-Replayed" in success.get("headers", {})) == keyed, (method, path)
    cached = document["paths"]["/v1/memories/query"]["post"]["responses"]["200"]["headers"]
    assert cached["X-Brain-Cache"]["schema"]["enum"] == ["hit", "miss", "bypass"]


def test_every_schema_is_the_decoders_own(
    client: AsyncTestClient, document: dict[str, Any]
) -> None:
    """The paths point only at msgspec's schemas of the routes' types (none of Litestar's
    lossier ones is left over), with examples and exclusions added."""
    models = openapi._models(client.app)
    _, expected = msgspec.json.schema_components(models, ref_template="#/components/schemas/{name}")
    served = document["components"]["schemas"]
    assert set(served) == set(expected)
    for name, schema in expected.items():
        extra = {k: v for k, v in served[name].items() if k not in schema}
        assert set(extra) <= {"examples", "allOf"}, name
        assert _ecma(schema) == {k: v for k, v in served[name].items() if k in schema}, name


def _ecma(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (v[:-2] + "$" if k == "pattern" and v.endswith("\\Z") else _ecma(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_ecma(v) for v in value]
    return value


def test_request_models_are_closed_and_constrained(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("MemoryIn", "BatchIn", "QueryIn", "AgentIn", "ShareIn", "BroadcastIn", "AckIn"):
        assert schemas[name]["additionalProperties"] is False, name
    memory = schemas["MemoryIn"]["properties"]
    assert memory["agent_id"]["pattern"].endswith("$") and memory["agent_id"]["maxLength"] == 64
    assert memory["tags"]["maxItems"] == 32 and memory["tags"]["items"]["maxLength"] == 64
    assert memory["importance"] == {
        "type": "number", "minimum": 0.0, "maximum": 1.0, "default": 0.5,
    }  # fmt: skip
    exclusive = jsonschema.Draft202012Validator(_rebase(schemas["QueryIn"]), registry=Registry())
    assert exclusive.is_valid({"agent_id": "a"}) and exclusive.is_valid({"agent_ids": ["a"]})
    assert exclusive.is_valid({"agent_id": "a", "agent_ids": None})
    assert not exclusive.is_valid({"agent_id": "a", "agent_ids": ["b"]})
    assert schemas["MemoryIn"]["allOf"][0]["not"]["required"] == ["ttl_seconds", "expires_at"]
    ttl = memory["ttl_seconds"]["anyOf"][0]
    assert (ttl["minimum"], ttl["maximum"]) == (1, 10 * 365 * 24 * 3600)
    limit = next(
        p for p in document["paths"]["/v1/agents"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["schema"] == {
        "type": "integer", "minimum": 1, "maximum": 500, "default": 500,
        "description": limit["schema"]["description"],
    }  # fmt: skip


def test_patterns_are_ecma_262(document: dict[str, Any]) -> None:
    """Every pattern compiles in an ECMA 262 engine (Rust's fancy-regex, as schemathesis and
    many validators use), and none keeps Python's `\\Z`."""
    patterns = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "pattern" and isinstance(item, str):
                    patterns.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    assert patterns
    for pattern in patterns:
        assert "\\Z" not in pattern
        jsonschema_rs.validator_for({"type": "string", "pattern": pattern})  # raises if not


def test_examples_match_their_schemas(document: dict[str, Any]) -> None:
    checked = 0
    for _, _, op in operations(document):
        bodies = [op.get("requestBody", {}).get("content", {})]
        bodies += [response.get("content", {}) for response in op["responses"].values()]
        for content in bodies:
            for media in content.values():
                if "example" in media:
                    validator(document, media["schema"]).validate(media["example"])
                    checked += 1
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            validator(document, {"$ref": f"#/components/schemas/{name}"}).validate(example)
    assert checked > 40


async def test_real_answers_match_the_document(
    client: AsyncTestClient, document: dict[str, Any]
) -> None:
    """A tour of the API, each answer checked against the schema the document gives for its
    operation and status (schemathesis does this at scale in CI: `make fuzz`)."""

    def check(response: Any, path: str, method: str) -> Any:
        status = str(response.status_code)
        documented = document["paths"][path][method]["responses"]
        assert status in documented, (method, path, status, response.text)
        content = documented[status].get("content")
        if content is None:
            assert not response.content
            return None
        ((media_type, media),) = content.items()
        assert response.headers["content-type"].startswith(media_type)
        body = response.json()
        validator(document, media["schema"]).validate(body)
        return body

    for agent in ("sales", "support"):
        check(
            await client.put(f"/v1/agents/{agent}", json={"name": agent}),
            "/v1/agents/{agent_id}",
            "put",
        )
    check(await client.put("/v1/agents/sales", json={}), "/v1/agents/{agent_id}", "put")
    check(await client.get("/v1/agents"), "/v1/agents", "get")
    check(await client.get("/v1/agents/sales"), "/v1/agents/{agent_id}", "get")
    check(await client.get("/v1/agents/nobody"), "/v1/agents/{agent_id}", "get")
    memory = check(
        await client.post(
            "/v1/memories",
            json={"agent_id": "sales", "context": {"n": 1}, "tags": ["x"], "ttl_seconds": 60},
            headers={"Idempotency-Key": "tour"},
        ),
        "/v1/memories",
        "post",
    )
    check(
        await client.post("/v1/memories/batch", json={"items": [{"agent_id": "a", "context": {}}]}),
        "/v1/memories/batch",
        "post",
    )
    check(await client.get(f"/v1/memories/{memory['id']}"), "/v1/memories/{memory_id}", "get")
    check(await client.post("/v1/memories/query", json={"limit": 1}), "/v1/memories/query", "post")
    check(await client.get("/v1/agents/sales/memories"), "/v1/agents/{agent_id}/memories", "get")
    message = check(
        await client.post(
            "/v1/messages", json={"from_agent": "sales", "to_agent": "support", "context": {}}
        ),
        "/v1/messages",
        "post",
    )
    check(
        await client.post("/v1/messages/broadcast", json={"from_agent": "sales", "context": {}}),
        "/v1/messages/broadcast",
        "post",
    )
    check(await client.get("/v1/agents/support/messages"), "/v1/agents/{agent_id}/messages", "get")
    check(
        await client.post("/v1/agents/support/messages/ack", json={"ids": [message["id"]]}),
        "/v1/agents/{agent_id}/messages/ack",
        "post",
    )
    check(
        await client.get("/v1/messages/history", params={"agent": "sales", "peer": "support"}),
        "/v1/messages/history",
        "get",
    )
    check(
        await client.get(
            "/v1/agents/support/messages/replay", params={"since": "2020-01-01T00:00:00Z"}
        ),
        "/v1/agents/{agent_id}/messages/replay",
        "get",
    )
    check(await client.get("/v1/stats"), "/v1/stats", "get")
    check(await client.post("/v1/admin/cleanup"), "/v1/admin/cleanup", "post")
    check(await client.get("/health/live"), "/health/live", "get")
    check(await client.get("/health/ready"), "/health/ready", "get")
    check(await client.delete(f"/v1/memories/{memory['id']}"), "/v1/memories/{memory_id}", "delete")
    # Errors
    check(
        await client.post(
            "/v1/memories", content=b"{", headers={"Content-Type": "application/json"}
        ),
        "/v1/memories",
        "post",
    )
    check(
        await client.post("/v1/memories", content=b"{}", headers={"Content-Type": "text/plain"}),
        "/v1/memories",
        "post",
    )
    check(await client.post("/v1/memories", json={"agent_id": "a"}), "/v1/memories", "post")
    check(
        await client.post("/v1/memories", json={"agent_id": "a", "context": {"x": "y" * 70000}}),
        "/v1/memories",
        "post",
    )
    check(
        await client.post(
            "/v1/memories",
            json={"agent_id": "b", "context": {}},
            headers={"Idempotency-Key": "tour"},
        ),
        "/v1/memories",
        "post",
    )
    check(
        await client.get("/v1/stats", headers={"Authorization": "Bearer wrong"}), "/v1/stats", "get"
    )
    check(
        await client.post("/v1/messages", json={"from_agent": "x", "to_agent": "y", "context": {}}),
        "/v1/messages",
        "post",
    )
    check(
        await client.post("/v1/admin/clear", json={"confirm": "delete all data"}),
        "/v1/admin/clear",
        "post",
    )
