"""Training the response gate (:class:`fastzdc.nn.gate.GateNet`) on a ZN/ZP file pair of *unfiltered*
particles (``fastzdc simulate --detector both --no-filter``): which calorimeters each particle lit.

Steps: the lit flags of both files are read (the images are not kept); a seeded ``val_fraction`` of the
particles is held out; the condition scaler is fitted on the rest; the MLP is trained with AdamW on the
cross-entropy of the 4 states (cosine learning rate); then temperature scaling: the one scalar T that
minimises the validation negative log-likelihood of ``softmax(logits / T)`` (a search over log T), so
that the probabilities are calibrated. The checkpoint is a checkpoint folder like every model's
(``weights.safetensors`` + ``config.json``, kind ``gate``, detector ``both``) with the validation scores.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import save_checkpoint
from ..data import StandardScaler
from ..data.pair import LitPair
from ..errors import FastZDCError
from ..nn.gate import STATES, GateNet
from ..progress import progress_bar

KIND = "gate"
DEFAULTS: dict[str, Any] = {"hidden": 128, "depth": 3, "epochs": 12, "batch_size": 1024, "lr": 3e-3,
                            "weight_decay": 1e-4, "val_fraction": 0.1, "seed": 0}


def check_unfiltered(pair: LitPair, where: str | Path) -> None:
    """The gate learns P(no response): refuse data made with O2's filter (no such particles in it)."""
    if bool(pair.attrs.get("o2_filter", False)) or not (pair.states == 0).any():
        raise FastZDCError("holds no particle without a response (O2's filter was on): train the gate on "
                           "unfiltered particles, 'fastzdc simulate --detector both --no-filter'", where)


def fit_temperature(logits: torch.Tensor, states: torch.Tensor) -> float:
    """The temperature minimising the negative log-likelihood of ``softmax(logits / T)`` (golden-section
    search over log T in [-3, 3])."""

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(logits / math.exp(log_t), states))

    lo, hi = -3.0, 3.0
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return math.exp(0.5 * (lo + hi))


def fit_gate(pair: LitPair, where: str | Path, *, progress: bool = True, **options: Any) -> dict[str, Any]:
    """Train and calibrate a gate on ``pair``. Returns ``net`` (eval mode, temperature set), ``scaler``,
    ``hparams``, ``val`` (the held-out row indices), ``val_logits_raw`` (before temperature scaling),
    ``temperature`` and ``steps``."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise FastZDCError(f"unknown gate option(s): {', '.join(sorted(unknown))}")
    hp = {**DEFAULTS, **options}
    if not 0 < hp["val_fraction"] < 0.5:
        raise FastZDCError(f"val_fraction must be in (0, 0.5), got {hp['val_fraction']}")
    check_unfiltered(pair, where)
    n = len(pair)
    perm = np.random.default_rng(hp["seed"]).permutation(n)
    n_val = max(1, round(hp["val_fraction"] * n))
    val, train = perm[:n_val], perm[n_val:]
    scaler = StandardScaler.fit(pair.conditions[train])
    x = torch.from_numpy(scaler.transform(pair.conditions).astype(np.float32))
    y = torch.from_numpy(pair.states)
    torch.manual_seed(hp["seed"])
    net = GateNet(hidden=hp["hidden"], depth=hp["depth"])
    net.set_scaler(scaler.mean, scaler.scale)
    opt = torch.optim.AdamW(net.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    steps_per_epoch = max(1, math.ceil(len(train) / hp["batch_size"]))
    total = hp["epochs"] * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=hp["lr"], total_steps=total, pct_start=0.1)
    gen = torch.Generator().manual_seed(hp["seed"])
    train_t = torch.from_numpy(train)
    net.train()
    with progress_bar(f"train gate ({len(train)} particles)", total, progress) as advance:
        for _ in range(hp["epochs"]):
            order = train_t[torch.randperm(len(train_t), generator=gen)]
            for k in range(steps_per_epoch):
                idx = order[k * hp["batch_size"] : (k + 1) * hp["batch_size"]]
                loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                advance(1)
            if not math.isfinite(loss.item()):
                raise FastZDCError("the gate's loss is not finite: lower lr", where)
    net.eval()
    with torch.no_grad():
        logits = net(x[val])
    temperature = fit_temperature(logits, y[val])
    net.temperature.fill_(temperature)
    return {"net": net, "scaler": scaler, "hparams": hp, "val": val, "val_logits_raw": logits,
            "temperature": temperature, "steps": total}


def save_gate(out: str | Path, net: GateNet, scaler: StandardScaler, hparams: dict[str, Any], metrics: dict[str, Any],
              data: dict[str, Any], train: dict[str, Any]) -> Path:
    """The gate's checkpoint folder (kind ``gate``, detector ``both``)."""
    config = {"kind": KIND, "detector": "both", "name": "gate", "hparams": hparams, "states": list(STATES),
              "scaler": scaler.to_dict(), "metrics": metrics, "data": data, "train": train}
    return save_checkpoint(out, dict(net.state_dict()), config)
