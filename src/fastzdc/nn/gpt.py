"""A small decoder-only transformer over token sequences, with a continuous prefix and KV-cached decoding.

Sequence: ``P`` prefix vectors (the embedded conditions), then the tokens ``t_0 .. t_{T-1}``; position
``j`` sees positions ``<= j`` (causal self-attention). The output at position ``P - 1 + i`` gives the
logits of token ``i``:

    p(t_i | prefix, t_<i) = softmax(LN(h_{P-1+i}) E^T)         (E: the token embedding, weight-tied head)

Blocks are pre-LN: ``h <- h + Attn(LN(h))``, ``h <- h + W_2 gelu(W_1 LN(h))``. Attention may share its
keys and values between groups of heads (``n_kv_heads < n_heads``, grouped-query attention): at
sampling time the KV cache, read once per generated token, is the memory traffic that bounds a CPU,
and it shrinks by ``n_heads / n_kv_heads``.

Decoding (:meth:`GPT.generate`) runs the prefix once, then one position per token, each attending to the
cached keys and values of all earlier positions: ``T`` steps of cost ``O(position)`` instead of ``T``
full forward passes (identical logits up to float rounding; tested).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Keys and values of one attention layer, ``(B, n_kv_heads, max_len, head_dim)`` each, allocated at
    the first :meth:`put` with the keys' dtype (bfloat16 under autocast)."""

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def put(self, pos: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k, v`` of positions ``[pos, pos + L)``; return the keys and values of ``[0, pos + L)``."""
        if self.k is None or self.v is None:
            b, h, _, dh = k.shape
            self.k = k.new_empty(b, h, self.max_len, dh)
            self.v = v.new_empty(b, h, self.max_len, dh)
        end = pos + k.shape[2]
        self.k[:, :, pos:end] = k
        self.v[:, :, pos:end] = v
        return self.k[:, :, :end], self.v[:, :, :end]


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads or n_heads % n_kv_heads:
            raise ValueError(f"d_model ({d_model}) must divide by n_heads ({n_heads}), n_heads by n_kv_heads ({n_kv_heads})")
        self.h, self.h_kv, self.dh = n_heads, n_kv_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, (n_heads + 2 * n_kv_heads) * self.dh, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, pos: int = 0) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).split([self.h * self.dh, self.h_kv * self.dh, self.h_kv * self.dh], dim=2)
        k = k.view(b, n, self.h_kv, self.dh).transpose(1, 2)
        v = v.view(b, n, self.h_kv, self.dh).transpose(1, 2)
        if cache is not None:
            k, v = cache.put(pos, k, v)
        if n == 1:
            # one new position attends to every cached one: the query heads of a key/value group become
            # that group's queries (no copy of the cache per head)
            y = F.scaled_dot_product_attention(q.reshape(b, self.h_kv, self.h // self.h_kv, self.dh), k, v)
            return self.proj(y.reshape(b, 1, d))
        # a run of new positions (training, the prefix) starts at position 0: causal mask
        q = q.view(b, n, self.h, self.dh).transpose(1, 2)
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0, enable_gqa=self.h_kv != self.h
        )
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, n_kv_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, pos: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache, pos)
        return x + self.ff(self.ln2(x))


class GPT(nn.Module):
    """Tokens ``(B, T)`` in ``[0, vocab)`` after ``P`` prefix vectors ``(B, P, d_model)``.

    Args:
        vocab: number of token values (the codebook size).
        n_prefix, n_tokens: prefix length ``P`` and token count ``T`` (positions ``P + T - 1``: the last
            token is predicted, never fed).
    """

    def __init__(
        self,
        vocab: int,
        n_prefix: int,
        n_tokens: int,
        d_model: int = 96,
        n_layers: int = 3,
        n_heads: int = 4,
        n_kv_heads: int = 4,
        d_ff: int = 256,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.vocab, self.n_prefix, self.n_tokens = vocab, n_prefix, n_tokens
        self.tok_emb = nn.Embedding(vocab, d_model)
        self.pos_emb = nn.Parameter(torch.zeros(n_prefix + n_tokens - 1, d_model))
        nn.init.normal_(self.tok_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb, std=0.02)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, n_kv_heads, d_ff, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.ln_f(h) @ self.tok_emb.weight.t()

    def forward(self, prefix: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``(B, T, vocab)``: ``[:, i]`` predicts ``tokens[:, i]`` (one full pass)."""
        p = prefix.shape[1]
        x = torch.cat([prefix, self.tok_emb(tokens[:, :-1])], dim=1) + self.pos_emb[: p + tokens.shape[1] - 1]
        for block in self.blocks:
            x = block(x)
        return self._logits(x[:, p - 1 :])

    def generate(self, prefix: torch.Tensor, pick: Callable[[torch.Tensor, int], torch.Tensor]) -> torch.Tensor:
        """Autoregressive decoding with a KV cache: ``pick(logits (B, vocab), i) -> token i (B,)``.
        Returns the tokens ``(B, T)``."""
        p = prefix.shape[1]
        caches = [KVCache(self.pos_emb.shape[0]) for _ in self.blocks]
        x, pos = prefix + self.pos_emb[:p], 0
        out = []
        for i in range(self.n_tokens):
            for block, cache in zip(self.blocks, caches):
                x = block(x, cache, pos)
            token = pick(self._logits(x[:, -1]), i)
            out.append(token)
            if i + 1 < self.n_tokens:
                pos += x.shape[1]
                x = self.tok_emb(token)[:, None] + self.pos_emb[pos]
        return torch.stack(out, dim=1)
