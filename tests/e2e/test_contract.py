"""The contract as a user meets it: a client generated from the served OpenAPI document, and the
README's examples run as written."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.api import TOKEN, repo_root, service_env
from tests.support.service import Service

BIN = Path(sys.executable).parent
CONFIG = {"content_type_overrides": {"application/x-ndjson": "application/octet-stream"}}


def test_a_generated_client_works(service: Service, tmp_path: Path) -> None:
    """openapi-python-client generates a client from the served document without a warning,
    and its calls parse real answers into the document's models (errors too)."""
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{service.url}/schema/openapi.json").content)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    # The generator knows no NDJSON (an agent's export): it is to read that answer as bytes.
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    generated = subprocess.run(
        [BIN / "openapi-python-client", "generate", "--path", document, "--meta", "none",
         "--output-path", tmp_path / "brain_api", "--fail-on-warning", "--config", config],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "warning" not in (generated.stdout + generated.stderr).lower(), generated.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        api = importlib.import_module("brain_api")
        agents = importlib.import_module("brain_api.api.agents.register_agent")
        store = importlib.import_module("brain_api.api.memories.store_memory")
        query = importlib.import_module("brain_api.api.memories.query_memories")
        share = importlib.import_module("brain_api.api.messages.share_message")
        take = importlib.import_module("brain_api.api.messages.take_messages")
        models = importlib.import_module("brain_api.models")
        with api.AuthenticatedClient(base_url=service.url, token=TOKEN) as client:
            for name in ("sales", "support"):
                registered = agents.sync(
                    client=client, agent_id=name, body=models.AgentIn(name=name)
                )
                assert isinstance(registered, models.Agent) and registered.id == name
            memory = store.sync(
                client=client,
                body=models.MemoryIn(agent_id="sales", context=models.MemoryInContext.from_dict(
                    {"note": "Acme prefers email"}), tags=["acme"], ttl_seconds=3600),
                idempotency_key="generated-1",
            )  # fmt: skip
            assert isinstance(memory, models.Memory)
            assert memory.context.to_dict() == {"note": "Acme prefers email"}
            assert memory.expires_at is not None and memory.created_at.tzinfo is not None
            page = query.sync(client=client, body=models.QueryIn(tags=["acme"]))
            assert isinstance(page, models.MemoryPage)
            assert [m.id for m in page.items] == [memory.id] and page.next_cursor is None
            message = share.sync(
                client=client,
                body=models.ShareIn(from_agent="sales", to_agent="support",
                                    context=models.ShareInContext.from_dict({"ticket": 1})),
            )  # fmt: skip
            assert isinstance(message, models.Message)
            inbox = take.sync(client=client, agent_id="support")
            assert isinstance(inbox, models.Inbox)
            assert [(m.id, m.delivery_count) for m in inbox.items] == [(message.id, 1)]
            refused = store.sync_detailed(
                client=client, body=models.MemoryIn(
                    agent_id="sales", context=models.MemoryInContext(), importance=7.0),
            )  # fmt: skip
            assert refused.status_code == 422 and isinstance(refused.parsed, models.Problem)
            assert [e.field for e in refused.parsed.errors] == ["importance"]
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "brain_api" or m.startswith("brain_api.")]:
            del sys.modules[name]


def readme_examples() -> str:
    """The quick start's shell block, as the README shows it."""
    text = (repo_root() / "README.md").read_text()
    block = re.search(r"Try it:\n\n```sh\n(?P<body>.*?)```", text, re.DOTALL)
    assert block is not None, "the README has no 'Try it:' block"
    return block["body"]


def test_the_readme_examples_work_as_written(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Every command of the quick start, run by bash against a real service with the local model
    (`make run`'s default; the token comes from the environment instead of .brain/admin_token,
    the port is the test's)."""
    script = readme_examples()
    assert "TOKEN=$(cat .brain/admin_token)" in script and script.count("curl ") == 4
    env = {**service_env(database_url, redis_url), "BRAIN_EMBEDDINGS": "local"}
    service = Service(env, log=tmp_path / "serve.log").start()
    try:
        script = script.replace("TOKEN=$(cat .brain/admin_token)", "").replace(
            "localhost:8080", f"127.0.0.1:{service.port}"
        )
        script = script.replace("curl ", "curl -sS --fail-with-body -w '\\n' ")
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**os.environ, "TOKEN": TOKEN}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        assert service.stop() == 0
    assert ran.returncode == 0, ran.stdout + ran.stderr
    agent, memory, page, meaning = (json.loads(line) for line in ran.stdout.splitlines() if line)
    assert agent["id"] == "sales" and agent["capabilities"] == ["crm"]
    assert memory["tags"] == ["acme"] and memory["importance"] == 0.8
    assert [m["id"] for m in page["items"]] == [memory["id"]]
    assert [m["id"] for m in meaning["items"]] == [memory["id"]] and meaning["items"][0][
        "score"
    ] > 0
