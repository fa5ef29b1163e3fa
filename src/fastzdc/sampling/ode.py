"""Fixed-step solvers for ``dx/dt = v(x, t)`` from t = 0 (noise) to t = 1 (data).

The grid is ``t_k = s u_k / (1 + (s - 1) u_k)`` with ``u_k = k/n`` (the time shift of Esser et al.
2024): ``shift`` ``s = 1`` is uniform, ``s > 1`` takes long steps near the noise and short ones near the
data, ``s < 1`` the reverse. With ``h = t_{k+1} - t_k`` and ``t = t_k``:

* Euler:    ``x <- x + h v(x, t)``                                   (1 evaluation per step)
* midpoint: ``x <- x + h v(x + h/2 v(x, t), t + h/2)``               (2 evaluations per step)
* Heun:     ``x' = x + h v(x, t);  x <- x + h/2 (v(x, t) + v(x', t + h))``  (2 evaluations; the last
  step falls back to Euler as in Karras et al., so n steps cost 2n - 1 evaluations)

>>> x1 = integrate(lambda x, t: torch.ones_like(x), torch.zeros(3), steps=4, method="heun")
>>> torch.allclose(x1, torch.ones(3))
True
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import FastZDCError

METHODS = ("euler", "midpoint", "heun")
Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def evaluations(steps: int, method: str) -> int:
    """Network evaluations used by ``steps`` steps of ``method``."""
    return {"euler": steps, "midpoint": 2 * steps, "heun": 2 * steps - 1}[method]


def time_grid(steps: int, shift: float = 1.0) -> list[float]:
    """The ``steps + 1`` times ``t_0 = 0 < ... < t_n = 1`` of the shifted grid (module docstring).

    >>> time_grid(2, shift=3.0)
    [0.0, 0.75, 1.0]
    """
    if not shift > 0 or shift == float("inf"):
        raise FastZDCError(f"sampler shift must be a positive number, got {shift!r}")
    us = [k / steps for k in range(steps + 1)]
    return [shift * u / (1.0 + (shift - 1.0) * u) for u in us]


def integrate(v: Velocity, x: torch.Tensor, steps: int, method: str = "euler", shift: float = 1.0) -> torch.Tensor:
    """Integrate from t = 0 to 1 in ``steps`` steps on the grid of :func:`time_grid`; ``v(x, t)`` gets
    ``t`` as a ``(B,)`` tensor."""
    if method not in METHODS:
        raise FastZDCError(f"unknown sampler {method!r}; choose one of: {', '.join(METHODS)}")
    if steps < 1:
        raise FastZDCError(f"steps must be >= 1, got {steps}")
    grid = time_grid(steps, float(shift))
    b = x.shape[0]
    for k in range(steps):
        h = grid[k + 1] - grid[k]
        t = torch.full((b,), grid[k], dtype=x.dtype, device=x.device)
        v0 = v(x, t)
        if method == "euler":
            x = x + h * v0
        elif method == "midpoint":
            x = x + h * v(x + 0.5 * h * v0, t + 0.5 * h)
        else:
            if k == steps - 1:
                x = x + h * v0
            else:
                x1 = x + h * v0
                x = x + 0.5 * h * (v0 + v(x1, t + h))
    return x
