from __future__ import annotations

import msgspec
import pytest

from brain.kit import cache, errors, fields, idempotency
from brain.memory.schemas import QueryIn


@pytest.mark.parametrize(
    ("key", "message", "field"),
    [
        ("agent_id", "Expected `str` matching regex", "agent_id"),
        ("data", "Expected `int` - at `$.tags[3]`", "tags[3]"),
        ("data", "Object missing required field `context`", "context"),
        ("data", "Object contains unknown field `colour`", "colour"),
        ("data", "Object missing required field `x` - at `$.inner`", "inner.x"),
        ("tags", "Expected `str` - at `$[1]`", "tags[1]"),
        ("limit", "Expected `int`", "limit"),
    ],
)
def test_field_names(key: str, message: str, field: str) -> None:
    assert errors._field_of(key, message)[0] == field


def test_context_size_limit() -> None:
    """Measured as PostgreSQL stores and serves it: `{"a": 1}` (a space after `:` and `,`)."""
    assert fields.context_size({"a": 1}, 8) == b'{"a":1}'
    with pytest.raises(errors.TooLarge) as caught:
        fields.context_size({"a": 1}, 7)
    assert caught.value.field == "context" and caught.value.status == 413


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (
            {"a": 1, "b": [1, 2, {"c": "x, y: z"}], "d": {}},
            '{"a": 1, "b": [1, 2, {"c": "x, y: z"}], "d": {}}',
        ),
        ({"n": 1e308}, '{"n": 1' + "0" * 308 + "}"),
        ({"n": [1.5e-300, -2e20]}, '{"n": [0.' + "0" * 299 + "15, -200000000000000000000]}"),
        ({"n": 1e16, "s": "1e16"}, '{"n": 10000000000000000, "s": "1e16"}'),
        ({"n": 0.1, "i": 10**30}, '{"n": 0.1, "i": 1' + "0" * 30 + "}"),
    ],
)
def test_stored_size_is_what_postgresql_writes(value: dict, stored: str) -> None:
    """The figure matches PostgreSQL's jsonb output (checked against a real server in
    integration/test_bad_input.py)."""
    assert fields.stored_size(msgspec.json.encode(value), value) == len(stored)


@pytest.mark.parametrize(
    "value",
    ["\x00", "a\x00", "\\\x00", "\\\\\x00", {"\x00": 1}, [1, {"k": ["x\x00y"]}]],
)
def test_context_with_nul_is_invalid(value: object) -> None:
    with pytest.raises(errors.Invalid) as caught:
        fields.context_size({"k": value}, 1000)
    assert caught.value.field == "context" and caught.value.status == 422


@pytest.mark.parametrize("value", ["\\u0000", "\\\\u0000", "u0000", "\\", "\x01"])
def test_context_with_backslash_u0000_text_is_fine(value: str) -> None:
    """A backslash followed by "u0000" is six ordinary characters, encoded as \\\\u0000."""
    encoded = fields.context_size({"k": value}, 1000)
    assert msgspec.json.decode(encoded) == {"k": value}


def test_agent_ids() -> None:
    assert fields.agent_id("a.B-c_9") == "a.B-c_9"
    for bad in ["", "a" * 65, "a b", "a/b", "é"]:
        with pytest.raises(errors.Invalid):
            fields.agent_id(bad)


def test_idempotency_key_rules() -> None:
    assert idempotency.check_key(None) is None
    assert idempotency.check_key("a" * 255) == "a" * 255
    for bad in ["", "a" * 256, "new\nline", "ключ"]:
        with pytest.raises(errors.Invalid):
            idempotency.check_key(bad)
    a, b = QueryIn(limit=1), QueryIn(limit=2)
    assert idempotency.fingerprint("r", a, "k") != idempotency.fingerprint("r", b, "k")
    assert idempotency.fingerprint("r", a, "k") != idempotency.fingerprint("s", a, "k")
    assert idempotency.fingerprint("r", a, None) == b""


def test_cache_entry_lives_no_longer_than_its_first_expiry() -> None:
    memo = cache.Cache(None, ttl_seconds=300)
    assert memo.ttl_for([None, None], now=1000.0) == 300_000
    assert memo.ttl_for([1002.5, None, 1100.0], now=1000.0) == 2500
    assert memo.ttl_for([999.0], now=1000.0) <= 0  # already expired: not cached at all


def test_problem_statuses() -> None:
    assert errors.Unavailable(retry_after=3).headers == {"Retry-After": "3"}
    assert errors.Unauthorized().headers["WWW-Authenticate"].startswith("Bearer")
    assert errors.NotFound().detail == "The resource does not exist."
