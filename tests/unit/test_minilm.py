"""The numpy runtime of all-MiniLM-L6-v2 (kit/minilm.py) against sentence-transformers: the
reference vectors in tests/fixtures were made by sentence-transformers 6.2.0 on torch 2.13.0 (CPU)
from the same weights (an empty text, accents, emoji, and a text past the 256-token limit)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brain.kit import minilm

REFERENCE = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "minilm_reference.json").read_text()
)


@pytest.fixture(scope="module")
def model() -> minilm.MiniLM:
    return minilm.MiniLM(minilm.model_dir())


def test_vectors_equal_sentence_transformers(model: minilm.MiniLM) -> None:
    got = model.embed(REFERENCE["texts"])
    expected = np.array(REFERENCE["embeddings"], dtype=np.float32)
    assert got.shape == (len(REFERENCE["texts"]), minilm.DIMENSIONS) and got.dtype == np.float32
    assert float(np.abs(got - expected).max()) < 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_batching_and_order_do_not_change_a_vector(model: minilm.MiniLM) -> None:
    texts = REFERENCE["texts"]
    together = model.embed(texts)
    reversed_ = model.embed(texts[::-1])[::-1]
    alone = np.stack([model.embed([t])[0] for t in texts])
    assert float(np.abs(together - reversed_).max()) < 1e-5
    assert float(np.abs(together - alone).max()) < 1e-5
    assert model.embed([]).shape == (0, minilm.DIMENSIONS)
