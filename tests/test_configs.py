"""The shipped training configs (configs/*.toml) parse, name known options only and build their networks."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastzdc.detector import get_detector
from fastzdc.models.base import get_kind
from fastzdc.training.config import TrainConfig

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.toml"))
FIRST_STAGE = ("teacher", "vae", "vq", "tune_decoder", "prior")
"""model keys naming a trained first stage: such kinds are only checked for known option names"""


def test_configs_exist():
    assert len(CONFIGS) >= 10


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds(path):
    cfg = TrainConfig.from_toml(path)
    kind_cls = get_kind(cfg.kind)
    assert set(cfg.model) <= set(kind_cls.defaults), f"{path.name}: unknown model keys"
    assert set(cfg.sampler) <= set(kind_cls.sampler_defaults), f"{path.name}: unknown sampler keys"
    if any(key in cfg.model for key in FIRST_STAGE):
        return
    kind = kind_cls(get_detector(cfg.detector), cfg.model)
    assert sum(p.numel() for p in kind.build().parameters()) > 1000
    kind.sampler_options(cfg.sampler)
