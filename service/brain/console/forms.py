"""HTML forms into API bodies, and the API's problems back onto the forms' fields.

A form sends strings; the API wants JSON. What cannot even be put into JSON (a number that is
not one, a context that is not JSON) is refused here, next to its field, before any request;
everything else is the API's to judge, and its problem details come back as errors next to the
fields they name (`tags[2]` is the `tags` field's error)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import msgspec

from brain.kit.loopback import Answer

_FIELD = re.compile(r"^[A-Za-z_]+")


@dataclasses.dataclass(slots=True)
class Errors:
    """A form's errors: by field, and the form's own (`general`)."""

    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    general: str | None = None

    def __bool__(self) -> bool:
        return bool(self.fields) or self.general is not None

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, message)


def problem(answer: Answer, names: Mapping[str, str] | None = None) -> Errors:
    """The errors of a refused request: each of its problem's `errors[]` beside the form field
    it names (`names` maps an API field to a form field when they differ), the rest as the
    form's own."""
    found = Errors()
    try:
        body = msgspec.json.decode(answer.body) if answer.body else {}
    except msgspec.DecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = str(body.get("detail") or body.get("title") or f"HTTP {answer.status}")
    for item in body.get("errors") or ():
        field = str(item.get("field") or "")
        match = _FIELD.match(field.removeprefix("body."))
        name = match.group(0) if match else ""
        name = (names or {}).get(name, name)
        if name:
            found.add(name, f"{field}: {item.get('message') or detail}")
    if not found.fields:
        found.general = f"{answer.status}: {detail}"
    return found


def text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def words(form: Mapping[str, Any], name: str) -> list[str]:
    """A comma-separated list (tags, capabilities, agent ids)."""
    return [part.strip() for part in text(form, name).split(",") if part.strip()]


def number(form: Mapping[str, Any], name: str, errors: Errors, *, whole: bool = False) -> Any:
    """The field as a number, None when empty; an error beside it when it is not one."""
    raw = text(form, name)
    if not raw:
        return None
    try:
        return int(raw) if whole else float(raw)
    except ValueError:
        errors.add(name, f"{name}: {raw!r} is not {'a whole number' if whole else 'a number'}")
        return None


def json_object(form: Mapping[str, Any], name: str, errors: Errors, *, empty: Any = None) -> Any:
    """The field's JSON (the API judges its shape and size); an error beside it when it is not
    JSON at all. `empty`: what an empty field stands for (None: it is required)."""
    raw = text(form, name)
    if not raw:
        if empty is None:
            errors.add(name, f'{name}: required, a JSON object such as {{"note": "..."}}')
        return empty
    try:
        return msgspec.json.decode(raw.encode())
    except msgspec.DecodeError as exc:
        errors.add(name, f"{name}: not valid JSON ({exc})")
        return None


def compact(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body without the fields left empty (the API's defaults apply)."""
    return {k: v for k, v in body.items() if v is not None and v != [] and v != ""}
