"""The quick starts of the client, in the project's README and the client's own, run as written
against a real service (its URL and token put in, output captured)."""

from __future__ import annotations

import contextlib
import io
import re
import uuid
from pathlib import Path

import pytest

from tests.support.api import TOKEN, repo_root
from tests.support.service import Service

READMES = [repo_root() / "README.md", repo_root() / "clients" / "python" / "README.md"]


def first_python_block(path: Path, after: str) -> str:
    text = path.read_text()
    start = text.index(after)
    found = re.search(r"```python\n(?P<body>.*?)```", text[start:], re.DOTALL)
    assert found is not None, f"{path} has no python block after {after!r}"
    return found["body"]


@pytest.mark.parametrize(
    ("readme", "after"), [(READMES[0], "## Python client"), (READMES[1], "# brain-client")]
)
def test_the_quick_start_runs_as_written(api_service: Service, readme: Path, after: str) -> None:
    code = first_python_block(readme, after)
    assert 'token="..."' in code and "http://localhost:8080" in code
    # Agents of their own, so that the example's inbox sees its own message only.
    suffix = uuid.uuid4().hex[:8]
    code = code.replace('token="..."', f"token={TOKEN!r}")
    code = code.replace("http://localhost:8080", api_service.url)
    code = code.replace('"sales"', f'"sales-{suffix}"').replace('"support"', f'"support-{suffix}"')
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(readme), "exec"), {})  # noqa: S102 (the README's own code)
    printed = out.getvalue()
    assert "Acme prefers email" in printed  # found by meaning, its score beside it
    assert "4521" in printed  # the message the inbox handled
