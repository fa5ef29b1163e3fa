"""The stages of ``fastzdc fit`` and their settings: presets, per-stage overrides, validation.

A plan is the ordered list of stages one ``fit`` runs for a detector and a model choice. Training stages
start from the shipped recipe (``configs/*.toml``), then the preset's changes (``quick``), then the
user's ``--config`` tables; links between stages (a student's teacher, a latent flow's VAE, ...) are
filled in by the plan, never by the user. Everything here is checked before any training starts.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checkpoint import check_values
from ..errors import FastZDCError
from ..models import get_kind
from ..training.config import TrainConfig

MODELS = {
    "fm": ("fm", "fm-distill"),
    "lfm": ("vae", "latent-fm", "latent-fm-energy"),
    "vq": ("vq", "vq-prior", "vq-decoder", "vq-final", "vq-energy"),
    "library": ("lookup",),
}
"""the stages each ``--model`` trains (``all``: every one of them)"""
MODEL_CHOICES = (*MODELS, "all")
PRESETS = ("default", "quick")


@dataclass(frozen=True)
class TrainingStage:
    """One training run: its kind, shipped config, links to earlier stages and the model it ships."""

    kind: str
    config: str
    """shipped config, ``{d}`` = detector"""
    links: dict[str, str] = field(default_factory=dict)
    """model option -> the stage whose ``best/`` checkpoint it names"""
    init_from: str = ""
    """a stage whose ``best/`` this run starts from (``init``)"""
    fixed: dict[str, Any] = field(default_factory=dict)
    """settings of the recipe beyond its config file"""
    product: str = ""
    """the shipped model's name (``{product}-{d}``), "" for an intermediate stage"""
    network_of: str = ""
    """a stage whose ``model`` and ``sampler`` settings this one shares (the final prior is the first prior's
    network), applied before this stage's own table"""
    detectors: tuple[str, ...] = ("zn", "zp")
    """the detectors whose recipe has this stage (a later stage's product replaces an earlier stage's)"""


TRAINING: dict[str, TrainingStage] = {
    "fm": TrainingStage("fm", "fm-{d}.toml", product="fm"),
    "fm-distill": TrainingStage("fm-distill", "fm-distill-{d}.toml", {"teacher": "fm"}, product="fmd"),
    "vae": TrainingStage("vae", "cvae-{d}.toml"),
    "latent-fm": TrainingStage("latent-fm", "lfm-cvae-{d}.toml", {"vae": "vae"}),
    # the flow, fine-tuned with the energy score of its channel sums (models/scoring.py)
    "latent-fm-energy": TrainingStage("latent-fm", "lfm-energy-{d}.toml", {"vae": "vae"}, init_from="latent-fm",
                                      product="lfm", network_of="latent-fm"),
    "vq": TrainingStage("vq", "vq-{d}.toml"),
    "vq-prior": TrainingStage("vq-prior", "vq-prior-{d}.toml", {"vq": "vq"}),
    "vq-decoder": TrainingStage("vq", "vq-dec-{d}.toml", {"tune_decoder": "vq"}),
    # the prior takes the tuned decoder: its tokens are unchanged, so a short run at a tiny learning rate
    # from the first prior only swaps the decoder in and re-validates
    "vq-final": TrainingStage("vq-prior", "vq-prior-{d}.toml", {"vq": "vq-decoder"}, init_from="vq-prior",
                              fixed={"epochs": 1, "lr": 1e-6, "max_train_rows": 2560}, product="vq", network_of="vq-prior"),
    # ZN: the decoder tuned with the energy score on the final prior's own token grids (models/vq_energy.py);
    # its product replaces the final prior's (on ZP the tuning measured no gain: docs/models.md)
    "vq-energy": TrainingStage("vq-energy", "vq-energy-{d}.toml", {"prior": "vq-final"}, product="vq", detectors=("zn",)),
}
PRODUCT_OF = {"lookup": "lookup", **{name: st.product for name, st in TRAINING.items() if st.product}}
"""stage -> the model it ships; where two stages of a plan ship the same model, the later one's is shipped"""
EXPORTABLE = ("fm", "fmd", "lfm", "vq")

STAGE_OPTIONS: dict[str, dict[str, Any]] = {
    "lookup": {"k": 8, "rescale": False},
    "evaluate": {"max_rows": 5000, "n_rep": 5, "seed": 0, "fidelity": True, "quick": False, "precision": "auto"},
    "export": {"models": ["fm", "fmd", "lfm"], "fp16": True, "opset": 18},
}
"""the non-training stages' options and their defaults (preset ``default``); the VQ-GAN's export unrolls
its token loop and takes minutes, so it is exported only when ``[export] models`` names ``vq``"""

QUICK: dict[str, dict[str, Any]] = {
    "train": {"max_train_rows": 4000, "val_rows": 500},
    "fm": {"epochs": 4, "batch_size": 128, "max_train_rows": 8000,
           "model": {"widths": [8, 16, 32], "blocks": [1, 1, 1], "emb_dim": 32}},
    "fm-distill": {"epochs": 3, "model": {"teacher_steps": 4, "steps": 2}},
    "vae": {"epochs": 2, "batch_size": 128, "model": {"dec_hidden": 128, "z_dim": 32}},
    "latent-fm": {"epochs": 10, "model": {"hidden": 128, "depth": 2}},
    "latent-fm-energy": {"epochs": 1},
    "vq": {"epochs": 1, "model": {"n_codes": 64}},
    "vq-prior": {"epochs": 1, "model": {"d_model": 32, "n_layers": 1, "d_ff": 64, "cond_hidden": 32}},
    "vq-decoder": {"epochs": 1},
    "vq-final": {"max_train_rows": 256},
    "vq-energy": {"epochs": 1, "max_train_rows": 1000},
    "evaluate": {"max_rows": 500, "n_rep": 2, "quick": True},
    "export": {"models": ["fmd", "lfm"], "fp16": False},
}
"""preset ``quick``: small networks and budgets for a first look (``fm`` and ``lfm`` end to end in minutes
on 2 cores); the rows are capped, so the time hardly grows with the file"""

TRAIN_ALL = "train"
"""the ``--config`` table applied to every training stage (before the stage's own table)"""


def configs_dir() -> Path:
    """The shipped recipes: ``configs/`` of the source tree."""
    return Path(__file__).resolve().parents[3] / "configs"


@dataclass
class Plan:
    """Ordered stages with their resolved settings and hashes."""

    detector: str
    model: str
    preset: str
    stages: list[str]
    train: dict[str, TrainConfig]
    """training stage -> its config, links still as stage names (``@stage``)"""
    options: dict[str, dict[str, Any]]
    """non-training stage -> its options"""
    products: dict[str, str]
    """product name (``fmd``) -> the stage that makes it"""
    init_sha256: str = ""

    def stage_hash(self, stage: str) -> str:
        """SHA-256 of everything that decides a stage's outcome (settings of this stage and the stages it
        depends on, through their hashes)."""
        if stage in self.train:
            body: Any = self.train[stage].to_dict()
            deps = [v[1:] for v in body["model"].values() if isinstance(v, str) and v.startswith("@")]
            deps += [body["init"][1:]] if body["init"].startswith("@") else []
            extra = {"init_sha256": self.init_sha256} if body["init"] and not body["init"].startswith("@") else {}
            body = {"train": body, "deps": {d: self.stage_hash(d) for d in deps}, **extra}
        elif stage == "split":
            body = {"split": "published 70/10/20"}
        elif stage in ("evaluate", "export"):
            body = {stage: self.options[stage], "models": {p: self.stage_hash(s) for p, s in self.products.items()}}
        else:
            body = {stage: self.options[stage]}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def read_overrides(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """The ``--config`` file: a TOML of per-stage tables (``[fm]``, ``[fm.model]``, ``[evaluate]``, ...,
    ``[train]`` for every training stage). Unknown tables and keys are refused when the plan is made; the
    tables of stages that the chosen ``--model`` does not run are checked too, then left unused (one file
    can hold the settings of every model)."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as err:
        raise FastZDCError(f"cannot read the config ({err.strerror})", path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise FastZDCError(f"invalid TOML ({err})", path) from None
    known = (TRAIN_ALL, "split", *TRAINING, *STAGE_OPTIONS)
    for key, value in data.items():
        if key not in known:
            raise FastZDCError(f"unknown stage [{key}]; the tables are: {', '.join(known)}", path)
        if not isinstance(value, dict):
            raise FastZDCError(f"{key} must be a table [{key}] of settings, got {value!r}", path)
        if key == "split" and value:
            raise FastZDCError("[split] takes no settings (the split is the published 70/10/20)", path)
    return data


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if key in ("model", "sampler") and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = copy.deepcopy(value)
    return out


def make_plan(detector: str, model: str, preset: str, overrides: dict[str, dict[str, Any]],
              config_path: str | Path | None = None) -> Plan:
    """The stages of ``model`` for ``detector`` with the preset and the ``--config`` tables applied; every
    setting validated (one-line errors naming the stage and the key)."""
    if model not in MODEL_CHOICES:
        raise FastZDCError(f"unknown --model {model!r}; choose one of: {', '.join(MODEL_CHOICES)}")
    if preset not in PRESETS:
        raise FastZDCError(f"unknown --preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    chosen = [s for m, stages in MODELS.items() if model in (m, "all") for s in stages
              if s not in TRAINING or detector in TRAINING[s].detectors]
    layers = [QUICK] if preset == "quick" else []
    layers.append(overrides)
    train: dict[str, TrainConfig] = {}
    options: dict[str, dict[str, Any]] = {}
    for stage, spec in TRAINING.items():  # every table is checked, also of stages this plan does not run
        cfg = _training_config(stage, spec, detector, layers, config_path)
        if stage in chosen:
            train[stage] = cfg
    for stage, defaults in STAGE_OPTIONS.items():
        opts = dict(defaults)
        for layer in layers:
            given = layer.get(stage, {})
            unknown = sorted(set(given) - set(defaults))
            if unknown:
                raise FastZDCError(f"unknown option {unknown[0]!r} in [{stage}]; known: {', '.join(defaults)}", config_path)
            opts.update(given)
        _check_options(stage, opts, config_path)
        options[stage] = opts
    products = {PRODUCT_OF[s]: s for s in chosen if s in PRODUCT_OF}
    options["export"]["models"] = [m for m in options["export"]["models"] if m in products]  # of the models made
    stages = ["split", *chosen, "evaluate", "export"]
    return Plan(detector, model, preset, stages, train, options, products)


def _training_config(stage: str, spec: TrainingStage, detector: str, layers: list[dict[str, Any]],
                     config_path: str | Path | None) -> TrainConfig:
    shipped = configs_dir() / spec.config.format(d=detector)
    if not shipped.is_file():
        raise FastZDCError("the shipped recipe is missing (fit runs from the source tree, which holds configs/)", shipped)
    base = TrainConfig.from_toml(shipped).to_dict()
    base = _merge(base, spec.fixed)
    base["threads"] = 1  # the recipes' setting (one thread per run); [train] threads = 0 uses every core
    for layer in layers:
        for table in (TRAIN_ALL, spec.network_of, stage):
            given = layer.get(table, {}) if table else {}
            if table == spec.network_of:
                given = {k: v for k, v in given.items() if k in ("model", "sampler")}
            for key in ("kind", "detector"):
                if key in given:
                    raise FastZDCError(f"[{table}] sets {key!r}: the plan decides it", config_path)
            base = _merge(base, given)
    for option, source in spec.links.items():
        base["model"][option] = f"@{source}"
    if spec.init_from:
        base["init"] = f"@{spec.init_from}"
    try:
        cfg = TrainConfig.from_dict(base, config_path)
    except FastZDCError as err:
        raise FastZDCError(f"[{stage}]: {err}") from None
    kind = get_kind(spec.kind)
    for table, defaults in (("model", kind.defaults), ("sampler", kind.sampler_defaults)):
        unknown = sorted(set(getattr(cfg, table)) - set(defaults))
        if unknown:
            raise FastZDCError(f"[{stage}] unknown {spec.kind} {table} option {unknown[0]!r}", config_path)
        check_values(defaults, getattr(cfg, table), config_path, prefix=f"[{stage}] {table}.")
    return cfg


def _check_options(stage: str, opts: dict[str, Any], where: str | Path | None) -> None:
    def bad(msg: str) -> FastZDCError:
        return FastZDCError(f"[{stage}] {msg}", where)

    ints = {"k": 1, "max_rows": 0, "n_rep": 1, "seed": 0, "opset": 18}
    for key, lo in ints.items():
        if key in opts and (not isinstance(opts[key], int) or isinstance(opts[key], bool) or opts[key] < lo):
            raise bad(f"{key} must be an integer >= {lo}, got {opts[key]!r}")
    for key in ("rescale", "fidelity", "quick", "fp16"):
        if key in opts and not isinstance(opts[key], bool):
            raise bad(f"{key} must be true or false, got {opts[key]!r}")
    if "precision" in opts and opts["precision"] not in ("auto", "float32", "bfloat16"):
        raise bad(f"precision must be auto, float32 or bfloat16, got {opts['precision']!r}")
    if "models" in opts:
        models = opts["models"]
        if not isinstance(models, list) or any(m not in EXPORTABLE for m in models):
            raise bad(f"models must be a list of {', '.join(EXPORTABLE)}, got {models!r}")


def assign_init(plan: Plan, init_kind: str, init_path: str, init_sha256: str) -> str:
    """``--init CKPT``: the first stage of the plan training ``init_kind`` starts from it; returns that stage."""
    for stage, cfg in plan.train.items():
        if cfg.kind == init_kind and not cfg.init:
            plan.train[stage] = cfg.with_overrides({"init": init_path})
            plan.init_sha256 = init_sha256
            return stage
    raise FastZDCError(f"--init is a {init_kind} checkpoint, and --model {plan.model} trains no {init_kind} stage "
                       f"to start from it", init_path)
