"""umt5 text encoder (the Wan T5 port's layout) and the tokenizers that feed it.

Parameter names follow the released `models_t5_umt5-xxl-enc-bf16` weights: `token_embedding`,
`blocks.N.{norm1,attn.{q,k,v,o},norm2,ffn.{gate.0,fc1,fc2},pos_embedding.embedding}`, `norm`.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from harness.api.errors import MissingDependencyError
from policies.fastwam.config import TextEncoderConfig


class T5Norm(nn.Module):
    """RMS norm without a mean: statistics in float32, the result cast to the weight's dtype."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return self.weight * normed.to(self.weight.dtype)


class RelativePositionBias(nn.Module):
    """Bidirectional bucketed relative positions -> one additive bias per head."""

    def __init__(self, num_buckets: int, num_heads: int, max_distance: int):
        super().__init__()
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.embedding = nn.Embedding(num_buckets, num_heads)

    def buckets(self, length: int, device) -> torch.Tensor:
        positions = torch.arange(length, device=device)
        relative = positions.unsqueeze(0) - positions.unsqueeze(1)  # key - query
        half = self.num_buckets // 2
        bucket = (relative > 0).long() * half
        distance = relative.abs()
        exact = half // 2
        # log-spaced buckets beyond `exact`; clamp(min=1) only avoids log(0) where `exact` wins anyway
        far = exact + (
            torch.log(distance.clamp(min=1).float() / exact) / math.log(self.max_distance / exact) * (half - exact)
        ).long()
        far = far.clamp(max=half - 1)
        return bucket + torch.where(distance < exact, distance, far)

    def forward(self, length: int) -> torch.Tensor:
        bias = self.embedding(self.buckets(length, self.embedding.weight.device))  # (L, L, heads)
        return bias.permute(2, 0, 1).unsqueeze(0)


class T5Attention(nn.Module):
    def __init__(self, dim: int, dim_attn: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim_attn, bias=False)
        self.k = nn.Linear(dim, dim_attn, bias=False)
        self.v = nn.Linear(dim, dim_attn, bias=False)
        self.o = nn.Linear(dim_attn, dim, bias=False)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        q, k, v = (proj(x).view(b, s, self.num_heads, -1).transpose(1, 2) for proj in (self.q, self.k, self.v))
        # T5 does not scale its attention logits.
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=1.0)
        return self.o(out.transpose(1, 2).reshape(b, s, -1))


class T5FeedForward(nn.Module):
    def __init__(self, dim: int, dim_ffn: int):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(dim, dim_ffn, bias=False), nn.GELU(approximate="tanh"))
        self.fc1 = nn.Linear(dim, dim_ffn, bias=False)
        self.fc2 = nn.Linear(dim_ffn, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x) * self.gate(x))


class T5Block(nn.Module):
    def __init__(self, config: TextEncoderConfig):
        super().__init__()
        self.norm1 = T5Norm(config.dim, config.eps)
        self.attn = T5Attention(config.dim, config.dim_attn, config.num_heads)
        self.norm2 = T5Norm(config.dim, config.eps)
        self.ffn = T5FeedForward(config.dim, config.dim_ffn)
        self.pos_embedding = RelativePositionBias(config.num_buckets, config.num_heads, config.max_distance)

    def forward(self, x: torch.Tensor, padding_bias: torch.Tensor) -> torch.Tensor:
        bias = self.pos_embedding(x.shape[1]) + padding_bias
        x = x + self.attn(self.norm1(x), bias)
        return x + self.ffn(self.norm2(x))


class UMT5Encoder(nn.Module):
    def __init__(self, config: TextEncoderConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.dim)
        self.blocks = nn.ModuleList(T5Block(config) for _ in range(config.num_layers))
        self.norm = T5Norm(config.dim, config.eps)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(ids)
        blocked = torch.finfo(x.dtype).min
        padding_bias = torch.zeros(attention_mask.shape, dtype=torch.float32, device=ids.device)
        padding_bias = padding_bias.masked_fill(attention_mask == 0, blocked).view(ids.shape[0], 1, 1, -1)
        for block in self.blocks:
            x = block(x, padding_bias)
        return self.norm(x)


@dataclass(frozen=True)
class TokenBatch:
    ids: torch.Tensor  # (B, max_length) int64
    mask: torch.Tensor  # (B, max_length) 1 for real tokens (EOS included), 0 for padding


class Tokenizer(Protocol):
    max_length: int

    def __call__(self, texts: Sequence[str]) -> TokenBatch: ...


def clean_whitespace(text: str) -> str:
    """The released 'whitespace' cleaning, less ftfy's mojibake repair (a no-op on plain text)."""
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


class UMT5Tokenizer:
    """The umt5 tokenizer from a local `tokenizer.json` (never fetched from a hub)."""

    def __init__(self, directory: str | Path, max_length: int):
        try:
            from tokenizers import Tokenizer as RustTokenizer
        except ImportError as exc:
            raise MissingDependencyError("the umt5 tokenizer needs the `tokenizers` package: pip install tokenizers") from exc
        path = Path(directory) / "tokenizer.json"
        if not path.is_file():
            raise MissingDependencyError(f"no tokenizer.json in {directory} (expected the umt5-xxl tokenizer files)")
        self.path = path
        self.max_length = int(max_length)
        self._tok = RustTokenizer.from_file(str(path))
        pad_id = self._tok.token_to_id("<pad>")
        if pad_id is None:
            raise MissingDependencyError(f"{path} defines no <pad> token; is it a T5 tokenizer?")
        self._tok.enable_truncation(max_length=self.max_length)
        self._tok.enable_padding(length=self.max_length, pad_id=pad_id, pad_token="<pad>")
        self.vocab_size = self._tok.get_vocab_size()

    def __call__(self, texts: Sequence[str]) -> TokenBatch:
        encodings = self._tok.encode_batch([clean_whitespace(t) for t in texts], add_special_tokens=True)
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        return TokenBatch(ids=ids, mask=mask)


class ByteTokenizer:
    """UTF-8 bytes as ids (pad 0, EOS 1, byte b -> b + 3): for untrained tiny models run without
    a tokenizer directory, so the demo needs no downloaded files."""

    vocab_size = 259

    def __init__(self, max_length: int):
        self.max_length = int(max_length)

    def __call__(self, texts: Sequence[str]) -> TokenBatch:
        ids = torch.zeros(len(texts), self.max_length, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, text in enumerate(texts):
            tokens = [b + 3 for b in clean_whitespace(text).encode("utf-8")][: self.max_length - 1] + [1]
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
        return TokenBatch(ids=ids, mask=mask)


def encode_prompts(encoder: UMT5Encoder, tokenizer: Tokenizer, prompts: Sequence[str], device, dtype) -> torch.Tensor:
    """(B, max_length, dim) T5 features with padding positions zeroed.

    The released pipeline zeroes the features past each prompt and then lets cross-attention see
    all max_length positions, so the zeros (not a mask) are what the DiT was trained with.
    """
    batch = tokenizer(prompts)
    if int(batch.ids.max()) >= encoder.config.vocab_size:
        raise ValueError(f"token id {int(batch.ids.max())} is outside the text encoder's vocabulary ({encoder.config.vocab_size})")
    ids = batch.ids.to(device)
    mask = batch.mask.to(device)
    features = encoder(ids, mask).to(dtype)
    return features * mask.unsqueeze(-1).to(dtype)
