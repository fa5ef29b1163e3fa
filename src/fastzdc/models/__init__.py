"""Model kinds: one module each (network + loss + sampling), found through a registry.

The training loop, checkpoints and the Generator wrapper only use the :class:`ModelKind` interface.
"""

from __future__ import annotations

from .base import ModelKind, get_kind, register

from . import fm as _fm  # noqa: E402,F401  (registers "fm")
from . import vae as _vae  # noqa: E402,F401  (registers "vae")
from . import latent_fm as _latent_fm  # noqa: E402,F401  (registers "latent-fm")

__all__ = ["ModelKind", "get_kind", "register"]
