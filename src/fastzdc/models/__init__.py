"""Model kinds: one module each (network + loss + sampling), found through a registry.

The training loop, checkpoints and the Generator wrapper only use the :class:`ModelKind` interface.
"""

from __future__ import annotations

from .base import ModelKind, get_kind, register

from . import fm as _fm  # noqa: E402,F401  (registers "fm")
from . import fm_distill as _fm_distill  # noqa: E402,F401  (registers "fm-distill")
from . import vae as _vae  # noqa: E402,F401  (registers "vae")
from . import latent_fm as _latent_fm  # noqa: E402,F401  (registers "latent-fm")
from . import vq as _vq  # noqa: E402,F401  (registers "vq")
from . import vq_prior as _vq_prior  # noqa: E402,F401  (registers "vq-prior")

__all__ = ["ModelKind", "get_kind", "register"]
