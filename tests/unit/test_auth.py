"""API key secrets and principals (kit.auth), without a server."""

from __future__ import annotations

import uuid

import pytest

from brain.kit import auth, errors


def test_a_secret_names_its_workspace_and_hides_the_rest() -> None:
    secret, prefix, digest = auth.new_secret("acme.team-1")
    assert secret.startswith("brk_acme.team-1_") and len(secret) == len("brk_acme.team-1_") + 40
    assert auth.secret_workspace(secret) == "acme.team-1"
    assert prefix == secret[: len("brk_acme.team-1_") + auth.SHOWN_CHARS]
    assert digest == auth.digest(secret) and len(digest) == 32
    assert auth.new_secret("acme.team-1")[0] != secret  # 238 random bits each
    for bad in ["", "brk_", "brk__" + "a" * 40, secret[:-1], secret + "a", "ghp_" + secret[4:],
                secret[:-1] + "-", "brk_bad id_" + "a" * 40, "Bearer " + secret]:  # fmt: skip
        assert auth.secret_workspace(bad) is None, bad


def test_an_agent_bound_principal_acts_as_its_agent_only() -> None:
    bound = auth.Principal("acme", uuid.uuid4(), frozenset({"memories:write"}), agent_id="sales")
    bound.acting_as("sales", "agent_id")
    with pytest.raises(errors.Forbidden) as refused:
        bound.acting_as("support", "agent_id")
    assert refused.value.field == "agent_id"
    with pytest.raises(errors.Forbidden) as refused:
        bound.acting_as_any(["sales", "sales", "ops"], "items[{n}].agent_id")
    assert refused.value.field == "items[2].agent_id"
    anyone = auth.Principal("acme", uuid.uuid4(), frozenset(auth.SCOPES))
    anyone.acting_as("support", "agent_id")
    assert auth.Principal("default").is_admin_token and not anyone.is_admin_token


def test_every_scope_a_route_may_need_is_known() -> None:
    assert auth.needs("admin") == {"scope": "admin"}
    with pytest.raises(AssertionError):
        auth.needs("memories:delete")


def test_rate_limit_fields_follow_the_draft() -> None:
    from brain.kit import ratelimit

    assert ratelimit.headers(10, 20, 19.4, True) == {
        "RateLimit-Policy": '"key";q=20;w=2',
        "RateLimit": '"key";r=19;t=1',
    }
    refused = ratelimit.headers(0.5, 3, 0.2, False)
    assert refused["Retry-After"] == "2" and refused["RateLimit"] == '"key";r=0;t=6'
