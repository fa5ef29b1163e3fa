"""Model kinds: one module each (network + loss + sampling), found through a registry.

The training loop, checkpoints and the Generator wrapper only use the :class:`ModelKind` interface.
"""

from __future__ import annotations

from . import fm as _fm  # noqa: E402,F401  (registers "fm")
from . import fm_distill as _fm_distill  # noqa: E402,F401  (registers "fm-distill")
from . import latent_fm as _latent_fm  # noqa: E402,F401  (registers "latent-fm")
from . import vae as _vae  # noqa: E402,F401  (registers "vae")
from . import vq as _vq  # noqa: E402,F401  (registers "vq")
from . import vq_prior as _vq_prior  # noqa: E402,F401  (registers "vq-prior")
from . import vq_energy as _vq_energy  # noqa: E402,F401  (registers "vq-energy")
from .base import FirstStage, ModelKind, get_kind, register

__all__ = ["FirstStage", "ModelKind", "get_kind", "register"]
