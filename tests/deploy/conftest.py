"""Fixtures of the Helm chart tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.chart import VALUE_SETS, render


@pytest.fixture(scope="session")
def rendered_sets() -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {name: render(values) for name, values in VALUE_SETS.items()}
