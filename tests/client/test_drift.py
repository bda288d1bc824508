"""The client cannot drift from the service: every operation it calls, each parameter it sends
and each Struct it sends or decodes is checked against the OpenAPI document the service serves,
and the requests it really makes (every method, called once) against the same document."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import httpx
import msgspec

from brain_client import AsyncBrain, Brain, _core, models
from tests.client.tour import API_EXTRAS, async_tour, public_methods, tour
from tests.support.service import Service

Doc = dict[str, Any]
STANDARD_HEADERS = {
    "authorization", "user-agent", "content-type", "content-length", "accept", "accept-encoding",
    "connection", "host", "x-brain-workspace",
}  # fmt: skip
"""Headers of every request, not parameters of an operation (X-Brain-Workspace is the admin
token's, described with the security scheme)."""


def operation(doc: Doc, op: _core.Operation) -> Doc:
    item = doc["paths"].get(op.path)
    assert item is not None, f"{op.name}: no path {op.path} in the document"
    found = item.get(op.method.lower())
    assert found is not None, f"{op.name}: no {op.method} {op.path} in the document"
    return found


def parameters(spec: Doc, where: str) -> set[str]:
    return {p["name"] for p in spec.get("parameters", []) if p["in"] == where}


def component(doc: Doc, schema: Doc) -> str:
    """The component a `$ref` schema names."""
    ref = schema.get("$ref", "")
    assert ref.startswith("#/components/schemas/"), schema
    return ref.rsplit("/", 1)[-1]


def structs(kind: type) -> set[type[msgspec.Struct]]:
    """`kind` and every Struct its fields hold, however deep."""
    return nested(msgspec.inspect.type_info(kind))


def nested(info: msgspec.inspect.Type) -> set[type[msgspec.Struct]]:
    """The Structs a type holds, however deep (itself too, when it is one)."""
    found: set[type[msgspec.Struct]] = set()

    def walk(info: msgspec.inspect.Type) -> None:
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls in found:
                return
            found.add(info.cls)
            for field in info.fields:
                walk(field.type)
        for child in ("item_type", "key_type", "value_type"):
            if hasattr(info, child):
                walk(getattr(info, child))
        for each in getattr(info, "types", ()):
            walk(each)

    walk(info)
    return found


def held_structs(info: msgspec.inspect.Type) -> set[type[msgspec.Struct]]:
    """The Structs a field holds itself (in a list, a union...), not those they hold."""
    if isinstance(info, msgspec.inspect.StructType):
        return {info.cls}
    children = [getattr(info, c) for c in ("item_type", "value_type") if hasattr(info, c)]
    return set().union(*(held_structs(c) for c in [*children, *getattr(info, "types", ())]))


def refs(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        own = {schema["$ref"].rsplit("/", 1)[-1]} if "$ref" in schema else set()
        return own.union(*(refs(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(refs(v) for v in schema))
    return set()


def check_struct(doc: Doc, cls: type[msgspec.Struct]) -> None:
    """The Struct's fields are exactly its component's properties, the same ones required, and
    each nested Struct is the component its property refers to."""
    schema = doc["components"]["schemas"].get(cls.__name__)
    assert schema is not None, f"no component {cls.__name__} in the document"
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    fields = {f.name: f for f in info.fields}
    assert set(fields) == set(schema["properties"]), cls.__name__
    required = {name for name, f in fields.items() if f.required}
    assert required == set(schema.get("required", [])), cls.__name__
    for name, field in fields.items():
        held = {kind.__name__ for kind in held_structs(field.type)}
        assert held <= refs(schema["properties"][name]), f"{cls.__name__}.{name}"


def test_every_operation_exists_with_its_parameters(document: Doc) -> None:
    served = {
        op["operationId"]
        for item in document["paths"].values()
        for method, op in item.items()
        if method in {"get", "put", "post", "delete", "patch"}
    }
    assert set(_core.OPERATIONS) == served  # a new route needs the client too
    for op in _core.OPERATIONS.values():
        spec = operation(document, op)
        assert spec["operationId"] == op.name
        assert set(re.findall(r"{(\w+)}", op.path)) == parameters(spec, "path"), op.name
        assert set(op.query) == parameters(spec, "query"), op.name
        assert set(op.headers) == parameters(spec, "header"), op.name
        assert op.keyed == ("Idempotency-Key" in parameters(spec, "header")), op.name
        assert (op.retries == "safe") == (
            op.keyed or op.method in ("GET", "PUT", "DELETE") or op.name in SAFE_POSTS
        ), op.name


SAFE_POSTS = {"query_memories", "ack_messages"}
"""POSTs retried without a key: a read, and an ack (acknowledged now or before: idempotent)."""


def test_every_body_and_result_is_its_schema(document: Doc) -> None:
    checked: set[type[msgspec.Struct]] = set()
    for op in _core.OPERATIONS.values():
        spec = operation(document, op)
        body = spec.get("requestBody")
        if op.body is None:
            assert body is None, op.name
        else:
            schema = body["content"]["application/json"]["schema"]
            assert component(document, schema) == op.body.__name__, op.name
            checked |= structs(op.body)
        success = {s: r for s, r in spec["responses"].items() if s.startswith("2")}
        for status, response in success.items():
            content = response.get("content", {})
            if op.media == "":
                assert status == "204" and not content, op.name
            elif op.result is None:
                assert list(content) == [op.media], op.name
            else:
                assert component(document, content[op.media]["schema"]) == op.result.__name__
        if op.result is not None:
            checked |= structs(op.result)
    checked |= structs(models.Problem)
    for cls in sorted(checked, key=lambda c: c.__name__):
        check_struct(document, cls)


def test_each_method_is_on_both_clients_with_one_signature() -> None:
    """`METHODS` lists the public methods of both clients, each with the operations it calls;
    the two clients' methods take the same parameters."""
    methods = set(_core.METHODS)
    assert public_methods(Brain) - API_EXTRAS == methods
    assert public_methods(AsyncBrain) - API_EXTRAS == methods
    used = {name for ops in _core.METHODS.values() for name in ops}
    assert used == set(_core.OPERATIONS)
    for name in methods:
        sync, async_ = (
            inspect.signature(getattr(Brain, name)),
            inspect.signature(getattr(AsyncBrain, name)),
        )
        assert list(sync.parameters.values()) == list(async_.parameters.values()), name


class Sent(msgspec.Struct):
    method: str
    path: str
    query: list[str]
    headers: list[str]
    status: int
    body: Any


def recording(sent: list[Sent]) -> dict[str, list[Any]]:
    def answered(response: httpx.Response) -> None:
        request = response.request
        body = None
        if response.headers.get("content-type", "").startswith("application/json"):
            response.read()
            body = json.loads(response.content)
        sent.append(
            Sent(
                request.method,
                request.url.path,
                list(request.url.params.keys()),
                [k.lower() for k in request.headers],
                response.status_code,
                body,
            )
        )

    return {"response": [answered]}


def matching(doc: Doc, request: Sent) -> _core.Operation:
    for op in _core.OPERATIONS.values():
        pattern = re.sub(r"{\w+}", "[^/]+", op.path)
        if op.method == request.method and re.fullmatch(pattern, request.path):
            operation(doc, op)
            return op
    raise AssertionError(f"{request.method} {request.path} is no operation of the client")


def extra_keys(value: Any, info: msgspec.inspect.Type, at: str = "$") -> list[str]:
    """Keys of a decoded JSON answer that its Struct has no field for (ignored when decoding:
    a field the client would silently lose)."""
    if isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        fields = {f.name: f.type for f in info.fields}
        out = [f"{at}.{k}" for k in value if k not in fields]
        for key, item in value.items():
            if key in fields:
                out += extra_keys(item, fields[key], f"{at}.{key}")
        return out
    if isinstance(info, msgspec.inspect.ListType) and isinstance(value, list):
        return [k for n, v in enumerate(value) for k in extra_keys(v, info.item_type, f"{at}[{n}]")]
    if isinstance(info, msgspec.inspect.UnionType):
        return min((extra_keys(value, t, at) for t in info.types), key=len)
    return []


def check_requests(doc: Doc, sent: list[Sent]) -> None:
    assert sent
    for request in sent:
        op = matching(doc, request)
        assert set(request.query) <= set(op.query), (op.name, request.query)
        extra = set(request.headers) - STANDARD_HEADERS
        assert extra <= {h.lower() for h in op.headers}, (op.name, extra)
        if op.keyed:
            assert "idempotency-key" in request.headers, op.name
        if op.result is not None and 200 <= request.status < 300:
            extra_fields = extra_keys(request.body, msgspec.inspect.type_info(op.result))
            assert extra_fields == [], (op.name, extra_fields)


def test_every_sync_request_is_in_the_document(
    api_service: Service, document: Doc, token: str
) -> None:
    sent: list[Sent] = []
    http = httpx.Client(event_hooks=recording(sent))
    with http, Brain(api_service.url, token, http=http) as brain:
        called = tour(brain, "drift-sync")
    assert called - API_EXTRAS == set(_core.METHODS)
    check_requests(document, sent)


async def test_every_async_request_is_in_the_document(
    api_service: Service, document: Doc, token: str
) -> None:
    sent: list[Sent] = []
    hooks = recording(sent)

    async def answered(response: httpx.Response) -> None:  # the async client awaits its hooks
        if response.headers.get("content-type", "").startswith("application/json"):
            await response.aread()
        hooks["response"][0](response)

    async with httpx.AsyncClient(event_hooks={"response": [answered]}) as http:
        async with AsyncBrain(api_service.url, token, http=http) as brain:
            called = await async_tour(brain, "drift-async")
    assert called - API_EXTRAS == set(_core.METHODS)
    check_requests(document, sent)


def test_stats_answer_is_its_schema(api_service: Service, token: str) -> None:
    raw = httpx.get(
        f"{api_service.url}/v1/stats", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert extra_keys(raw, msgspec.inspect.type_info(models.Stats)) == []
