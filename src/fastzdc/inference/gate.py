"""Loading the response gate and drawing from it.

:class:`Gate` holds a trained :class:`~fastzdc.nn.gate.GateNet` and its condition scaler.
``probabilities(conditions)`` gives P(none), P(ZN only), P(ZP only), P(both) per particle;
``draw(conditions, seed=..., given_lit=...)`` draws one state per particle, either from all four
(a raw particle list) or from the three lit states renormalised (particles O2's filter kept).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import CONFIG, WEIGHTS, load_checkpoint_weights, load_config, load_weights_into, resolve
from ..data.scaler import StandardScaler
from ..data.validate import validate_conditions
from ..errors import FastZDCError
from ..nn.gate import STATES, GateNet


class Gate:
    """The response gate: particle features -> which calorimeters respond."""

    def __init__(self, net: GateNet, scaler: StandardScaler, *, name: str = "gate", source: str = "") -> None:
        self.net = net.eval()
        self.scaler = scaler
        self.name = name
        self.source = source
        self.states = STATES

    def probabilities(self, conditions: np.ndarray, *, batch_size: int = 65536) -> np.ndarray:
        """``(N, 4)`` float64 probabilities of none, ZN only, ZP only, both (rows sum to 1)."""
        cond = validate_conditions(np.asarray(conditions, np.float32))
        out = np.empty((len(cond), len(STATES)), np.float64)
        with torch.no_grad():
            for s in range(0, len(cond), batch_size):
                x = torch.from_numpy(self.scaler.transform(cond[s : s + batch_size]).astype(np.float32))
                out[s : s + batch_size] = torch.softmax(self.net(x).double(), dim=1).numpy()
        return out

    def draw(self, conditions: np.ndarray, *, seed: int, given_lit: bool = False,
             probs: np.ndarray | None = None) -> np.ndarray:
        """One state per particle (0 none, 1 ZN only, 2 ZP only, 3 both), from ``seed`` only. With
        ``given_lit`` the state is drawn from the three lit states renormalised (what O2's filter keeps)."""
        p = self.probabilities(conditions) if probs is None else np.asarray(probs, np.float64)
        if given_lit:
            p = p.copy()
            p[:, 0] = 0.0
            lit = p.sum(axis=1, keepdims=True)
            p = np.where(lit > 0, p / np.maximum(lit, 1e-300), np.array([[0.0, 0.0, 0.0, 1.0]]))
        u = np.random.default_rng(np.random.SeedSequence([seed, 0x6A7E])).random(len(p))
        cdf = np.cumsum(p, axis=1)
        cdf[:, -1] = 1.0
        return (u[:, None] > cdf).sum(axis=1).astype(np.int64)


def is_gate_dir(path: str | Path) -> bool:
    """Whether ``path`` is a gate checkpoint folder (its config.json has kind ``gate``)."""
    try:
        return load_config(path).get("kind") == "gate"
    except FastZDCError:
        return False


def load_gate(path: str | Path) -> Gate:
    """A :class:`Gate` from its checkpoint folder (weights checked against their SHA-256)."""
    ckpt = resolve(path)
    cfg = load_config(ckpt)
    if cfg.get("kind") != "gate":
        raise FastZDCError(f"not a response gate (kind {cfg.get('kind')!r}); train one with 'fastzdc gate train'", ckpt / CONFIG)
    hp: dict[str, Any] = cfg["hparams"]
    try:
        net = GateNet(hidden=int(hp["hidden"]), depth=int(hp["depth"]))
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise FastZDCError(f"invalid gate hyper-parameters ({type(err).__name__}: {err})", ckpt / CONFIG) from None
    load_weights_into(net, load_checkpoint_weights(ckpt, cfg), ckpt / WEIGHTS)
    scaler = StandardScaler.from_dict(cfg["scaler"], ckpt / CONFIG)
    return Gate(net, scaler, name=str(cfg.get("name", "gate")), source=str(ckpt))
