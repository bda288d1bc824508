"""Request bodies: JSON, decoded once and strictly into the type the route declares.

Litestar's own JSON handling decodes a body into plain objects and then converts them leniently
(`"0.5"` for a number, `100.0` for an integer, a number for a date-time), keeps the last of two
equal keys and parses any content type as JSON. Every route with a body takes it through
`StrictJSON` instead (a Litestar DTO, set once on the /v1 router):

- `Content-Type` must be JSON (`application/json` or `application/*+json`, UTF-8) or absent: 415.
- At most `MAX_DEPTH` levels of nesting, counted from the body itself: 400 naming the limit.
- Types as documented, no coercion (msgspec's strict mode): 422 naming the field. A string is
  never a number, a number never a date-time. An integer may be written `100.0` or `1e2`: JSON,
  and JSON Schema's `integer`, do not tell those from `100`.
- A key given twice in one object: 400 naming it.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Generator
from typing import Any, ClassVar, TypeVar

import msgspec
from litestar.dto import AbstractDTO
from litestar.openapi.spec import Reference, Schema
from litestar.types import Scope
from litestar.typing import FieldDefinition

from brain.kit import errors

MAX_DEPTH = 64
"""Nesting levels of a request body (its own object is level 1; a memory's context starts at 2)."""

T = TypeVar("T")

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled: twice as fast
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def check_content_type(value: str | None) -> None:
    """415 unless the body is declared JSON in UTF-8 (or not declared at all)."""
    if not value:
        return
    media, *params = (part.strip().lower() for part in value.split(";"))
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise errors.UnsupportedMediaType(
            f"the body must be JSON (Content-Type: application/json), not {media}",
            field="Content-Type",
        )
    for param in params:
        name, _, charset = param.partition("=")
        if name.strip() == "charset" and charset.strip(' "') not in {"utf-8", "utf8"}:
            raise errors.UnsupportedMediaType(
                "a JSON body must be UTF-8 (charset=utf-8)", field="Content-Type"
            )


def depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (at most MAX_DEPTH + 1 is counted)."""
    if raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:  # an upper bound: brackets in strings too
        return MAX_DEPTH
    level = deepest = 0
    for byte in _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        level += 1 if byte in b"[{" else -1
        if level > deepest:
            deepest = level
            if deepest > MAX_DEPTH:
                break
    return deepest


class _Repeated(Exception):
    """An object gives a key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _Repeated
    return found


def _repeated_path(value: Any, path: str = "") -> str | None:
    """Where a key repeats, in a JSON value decoded with objects as lists of pairs."""
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, item in value.pairs:
            here = f"{path}.{key}" if path else key
            if key in seen:
                return here
            seen.add(key)
            found = _repeated_path(item, here)
            if found:
                return found
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found = _repeated_path(item, f"{path}[{n}]")
            if found:
                return found
    return None


class _Pairs:
    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def _no_repeated_keys(raw: bytes) -> None:
    """400 naming the first key that appears twice in one object (msgspec keeps the last)."""
    try:
        json.loads(raw, object_pairs_hook=_unique_keys)
    except _Repeated:
        where = _repeated_path(json.loads(raw, object_pairs_hook=_Pairs)) or "body"
        raise errors.Malformed(
            f"{where} is given more than once; each key may appear once per object", field=where
        ) from None
    except ValueError as exc:  # msgspec read it; Python's json module should too
        raise errors.malformed_json(exc) from None


def decode(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """A body as the route's type, strictly (see the module's docstring)."""
    if not raw.isascii():  # msgspec checks UTF-8 only in the strings it reaches
        try:
            raw.decode()
        except UnicodeDecodeError as exc:
            raise errors.malformed_json(exc) from None
    if depth(raw) > MAX_DEPTH:
        raise errors.Malformed(
            f"the body nests arrays and objects more than {MAX_DEPTH} levels deep", field="body"
        )
    try:
        value = decoder.decode(raw)
    except msgspec.ValidationError as exc:
        value = _with_integral_numbers(raw, decoder.type, exc)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise errors.malformed_json(exc) from None
    _no_repeated_keys(raw)
    return value


def _with_integral_numbers(raw: bytes, kind: Any, failure: msgspec.ValidationError) -> Any:
    """The body again, with integers written as `100.0` read as integers; 422 if it still
    breaks a rule (or broke one that has nothing to do with that)."""
    if "got `float`" not in str(failure):
        raise errors.invalid_field(str(failure)) from None
    tree = msgspec.json.decode(raw)
    if not _integral(tree, msgspec.inspect.type_info(kind)):
        raise errors.invalid_field(str(failure)) from None
    try:
        return msgspec.convert(tree, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise errors.invalid_field(str(exc)) from None


def _integral(value: Any, kind: msgspec.inspect.Type) -> bool:
    """Turn floats without a fraction into ints where `kind` wants an int, in place; whether
    there was one."""
    while isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    changed = False
    if isinstance(kind, msgspec.inspect.StructType) and isinstance(value, dict):
        for field in kind.fields:
            item = value.get(field.encode_name)
            if _wants_int(field.type) and isinstance(item, float) and item.is_integer():
                value[field.encode_name] = int(item)
                changed = True
            elif isinstance(item, dict | list):
                changed = _integral(item, field.type) or changed
    elif isinstance(kind, msgspec.inspect.ListType) and isinstance(value, list):
        for n, item in enumerate(value):
            if _wants_int(kind.item_type) and isinstance(item, float) and item.is_integer():
                value[n] = int(item)
                changed = True
            elif isinstance(item, dict | list):
                changed = _integral(item, kind.item_type) or changed
    elif isinstance(kind, msgspec.inspect.UnionType):
        for option in kind.types:
            changed = _integral(value, option) or changed
    return changed


def _wants_int(kind: msgspec.inspect.Type) -> bool:
    while isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    if isinstance(kind, msgspec.inspect.UnionType):
        return any(_wants_int(option) for option in kind.types)
    return isinstance(kind, msgspec.inspect.IntType)


def _content_type(scope: Scope) -> str | None:
    """The request's Content-Type, straight from the scope (no Headers object built for it)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1")
    return None


class StrictJSON(AbstractDTO[T]):
    """The DTO that decodes every /v1 request body with `decode` (see the module docstring); the
    OpenAPI schema of the body is that of the declared type."""

    _decoders: ClassVar[dict[str, msgspec.json.Decoder[Any]]] = {}
    _by_handler: ClassVar[weakref.WeakKeyDictionary[Any, msgspec.json.Decoder[Any]]] = (
        weakref.WeakKeyDictionary()
    )
    """The same decoders by route handler: Litestar's `handler_id` is a string it builds again
    on every call (the handler's name and its layers' ids), which the request path should not."""

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[Any, None, None]:
        yield from ()  # no transfer model: the declared type is decoded as it is

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        if field_definition.name == "data":
            cls._decoders[handler_id] = msgspec.json.Decoder(
                field_definition.annotation, strict=True
            )

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        schema: Reference | Schema = schema_creator.for_field_definition(
            FieldDefinition.from_annotation(field_definition.annotation)
        )
        return schema

    def decode_bytes(self, value: bytes) -> Any:
        connection = self.asgi_connection
        check_content_type(_content_type(connection.scope))
        handler = connection.route_handler
        decoder = self._by_handler.get(handler)
        if decoder is None:
            decoder = self._by_handler[handler] = self._decoders[handler.handler_id]
        return decode(value, decoder)

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        raise errors.UnsupportedMediaType(
            "the body must be JSON (Content-Type: application/json)", field="Content-Type"
        )
