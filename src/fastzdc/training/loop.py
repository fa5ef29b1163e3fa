"""The one training loop, for every model kind.

Per step: a batch of log1p images and scaled conditions, the kind's loss, AdamW with a one-cycle
(or cosine/constant) learning rate, gradient clipping, an EMA of the weights. Per epoch: validation
W (mean 5-channel Wasserstein) of the EMA weights on a fixed validation subset; ``last/`` (with the
exact training state) and ``best/`` (lowest validation W) checkpoints.

Optional kind capabilities (:class:`~fastzdc.models.base.ModelKind`): a *critic* (adversarial
discriminator) trained alongside with its own AdamW (peak ``critic_lr``), its state kept in ``last/``;
*training inputs* encoded once by a frozen pretrained network (latent FM trains on VAE latents, the
VQ prior on VQ tokens); *reconstruction* validation for autoencoders (W of the reconstructed
validation images); *training statistics* (VQ codebook usage and perplexity) shown beside the loss
and recorded per epoch. Parameters with ``requires_grad = False`` (frozen sub-networks) are neither
optimised nor averaged; buffers (running statistics such as an EMA-updated codebook) are not averaged
either: the EMA copy takes the trained network's buffers before every validation.

Determinism: the weights are initialised from ``seed``; epoch e visits the training rows in the order
``default_rng([seed, e]).permutation``; step s draws its noise from a generator seeded with
``seed * 1_000_003 + s``. Resuming from ``last/`` therefore continues exactly (same final weights as an
uninterrupted run on CPU).

Under ``torchrun`` the loop runs data-parallel (:mod:`fastzdc.training.distributed`): the global batch is
cut into parts, each process computes its parts on its own rows, gradients are averaged; process 0
validates and writes the checkpoints while the others wait.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._atomic import check_not_input
from ..checkpoint import (
    CONFIG,
    STATE,
    STATE_JSON,
    WEIGHTS,
    file_sha256,
    load_config,
    load_tensors,
    load_weights_into,
    resolve,
    save_checkpoint,
)
from ..data import load_dataset, published_split
from ..data.scaler import StandardScaler
from ..detector import get_detector
from ..devices import pick_device
from ..errors import FastZDCError
from ..evaluation.metrics import compare_counts
from ..nn.unet import n_params
from ..progress import progress_bar
from ..sampling.counts import counts_from_log_images, sample_counts
from ..sampling.noise import NoiseStream, TrainingRows
from . import distributed as ddp
from .config import TrainConfig
from .first_stage import first_stage_scaler, load_first_stage, make_kind

VAL_SEED = 12345
INPUT_BATCH = 512
"""rows per batch of a kind's pass over the training split before training (:meth:`ModelKind.training_inputs`)"""


def lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    """Learning rate at ``step`` of ``total``: one-cycle = cosine rise from lr/25 over ``warmup``,
    then cosine decay to lr/1e3; cosine = decay only; constant."""
    if cfg.schedule == "constant":
        return cfg.lr
    frac = step / max(total, 1)
    warm = cfg.warmup if cfg.schedule == "onecycle" else 0.0
    lo, end = cfg.lr / 25, cfg.lr / 1e3
    if frac < warm:
        return lo + (cfg.lr - lo) * 0.5 * (1 - math.cos(math.pi * frac / warm))
    p = (frac - warm) / max(1 - warm, 1e-9)
    return end + (cfg.lr - end) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0)))


def _log1p_batch(resp: np.ndarray, idx: np.ndarray, device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(resp[idx].astype(np.float32))
    return torch.log1p(x)[:, None].to(device)


def train(
    cfg: TrainConfig,
    data: str | Path,
    out: str | Path,
    *,
    resume: bool = False,
    stop_after: int = 0,
    progress: bool = True,
    log: Callable[[str], None] = lambda s: None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train ``cfg.kind`` on the training split of ``data``; checkpoints under ``out``.

    Args:
        resume: continue exactly from ``out/last`` (same config and data required).
        overwrite: replace an existing run in ``out`` (without it, and without ``resume``, a non-empty
            ``out`` is refused); the previous run stays until this one has saved a checkpoint, and comes
            back if this one fails before that. A failed fresh run leaves no run folder behind.
        stop_after: stop after this many epochs in this call (0 = run to ``cfg.epochs``); the run
            is then resumable, so long trainings can be split into pieces.

    Returns a summary: best validation W, epochs, steps, seconds, checkpoint paths.
    """
    out = Path(out)
    cfg.validate()
    if resume and overwrite:
        raise FastZDCError("give --resume or --overwrite, not both", out)
    check_not_input(out, [data, cfg.init or None])
    if out.exists() and not out.is_dir():
        raise FastZDCError("exists and is not a run folder", out)
    existing = out.is_dir() and any(out.iterdir())
    if existing and not (resume or overwrite):
        raise FastZDCError("the run folder exists and is not empty: continue it with --resume, or replace it with "
                           "--overwrite", out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise FastZDCError(f"cannot create the run folder (folder {parent} does not exist)", out)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    world, device = ddp.start(pick_device(cfg.device))
    try:
        if not world.main:  # process 0 prepares the run folder; the others wait for it, then train
            ddp.barrier(world)
            return _train(cfg, data, out, device, world, resume=resume, stop_after=stop_after, progress=False,
                          log=lambda s: None)
        return _train_main(cfg, data, out, device, world, resume=resume, stop_after=stop_after, progress=progress,
                           log=log, overwrite=overwrite, existing=existing)
    finally:
        ddp.stop(world)


def _train_main(cfg: TrainConfig, data: str | Path, out: Path, device: torch.device, world: ddp.World, *, resume: bool,
                stop_after: int, progress: bool, log: Callable[[str], None], overwrite: bool, existing: bool) -> dict[str, Any]:
    created = not out.exists()
    try:
        out.mkdir(exist_ok=True)
    except OSError as err:
        raise FastZDCError(f"cannot create the run folder ({err.strerror})", out) from None
    if not os.access(out, os.W_OK):
        raise FastZDCError("run folder is not writable", out)
    old = None
    if overwrite and existing:  # the previous run is kept aside until this one has saved a checkpoint
        old = out.with_name(f".{out.name}.{os.getpid()}.overwritten.old")
        os.replace(out, old)
        out.mkdir()
        created = True
    try:
        ddp.barrier(world)
        result = _train(cfg, data, out, device, world, resume=resume, stop_after=stop_after, progress=progress, log=log)
    except BaseException:
        saved = out.is_dir() and any((out / sub / CONFIG).exists() for sub in ("best", "last"))
        if created and not saved:  # a failed run leaves no empty run folder
            shutil.rmtree(out, ignore_errors=True)
            if old is not None:
                os.replace(old, out)
                old = None
        raise
    finally:
        if old is not None and old.exists() and (out / "last" / CONFIG).exists():
            shutil.rmtree(old, ignore_errors=True)
    return result


def _train(cfg: TrainConfig, data: str | Path, out: Path, device: torch.device, world: ddp.World, *, resume: bool,
           stop_after: int, progress: bool, log: Callable[[str], None]) -> dict[str, Any]:
    use_bf16 = cfg.precision == "bfloat16" or (cfg.precision == "auto" and device.type == "cuda")

    data_in = _TrainingData(data, world)
    detector = data_in.detector if cfg.detector == "auto" else get_detector(cfg.detector)
    if data_in.detector.name != detector.name:
        raise FastZDCError(f"data are {data_in.detector.name.upper()} responses, config says {detector.name.upper()}", data)
    split = published_split(data_in.n)
    train_idx = split.train if not cfg.max_train_rows else split.train[: cfg.max_train_rows]
    val_idx = np.sort(split.val[: cfg.val_rows])
    init = _read_init(cfg, detector) if cfg.init else None
    all_cond = data_in.conditions
    kind = make_kind(cfg.kind, detector, cfg.model)
    if init is not None:
        scaler = StandardScaler.from_dict(init[1]["scaler"], init[0])
    else:  # a second stage scales the particles as its first stage was trained to see them
        scaler = first_stage_scaler(kind)
        if scaler is None:
            scaler = StandardScaler.fit(all_cond[train_idx])
    n_train = len(train_idx)
    bs = min(cfg.batch_size, n_train)
    parts = _batch_parts(cfg, out, world, resume)
    if bs % parts:
        raise FastZDCError(f"batch_size {bs} is not a multiple of batch_parts {parts} (the global batch is cut into "
                           "equal parts, one or more per process)")
    part_bs = bs // parts
    blocks = ddp.part_blocks(n_train, parts)
    mine = ddp.my_parts(world, parts)
    offsets, pos = {}, 0
    for p in mine:
        offsets[p] = pos
        pos += blocks[p][1] - blocks[p][0]
    held = ddp.held_positions(world, parts, n_train)
    local_rows = train_idx[held]
    resp = data_in.responses(local_rows)
    cond = torch.from_numpy(scaler.transform(all_cond[local_rows]))
    val_cond, val_resp = (all_cond[val_idx], data_in.responses(val_idx)) if world.main else (None, None)
    steps_per_epoch = max(min(b - a for a, b in blocks) // part_bs, 1)
    total = steps_per_epoch * cfg.epochs

    sampler = kind.sampler_options(cfg.sampler)
    torch.manual_seed(cfg.seed)
    try:
        net = kind.build().to(device)
        kind.bind_scaler(net, scaler.mean, scaler.scale)
        critic = kind.build_critic()
    except (TypeError, ValueError, RuntimeError) as err:
        raise FastZDCError(f"invalid {cfg.kind} model options {cfg.model}: {err}") from None
    if init is not None:
        load_weights_into(net, load_tensors(init[0] / WEIGHTS, init[1].get("weights_sha256")), init[0] / WEIGHTS)
        log(f"starting from the weights and scaler of {init[0]}")
    first_stage = load_first_stage(kind)
    if init is None:
        kind.start_weights(net, first_stage)
    inputs = kind.training_inputs(net, _training_batches(resp, cond, device, f"{cfg.kind}-{detector.name} preparing inputs", progress),
                                  first_stage, TrainingRows(held, n_train, INPUT_BATCH))
    del first_stage
    if kind.inputs_report:
        log("first stage: " + _stats_text(kind.inputs_report, ", ")[2:])
    trainable = [name for name, p in net.named_parameters() if p.requires_grad]
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    params = [dict(net.named_parameters())[n] for n in trainable]
    ema_params = [dict(ema.named_parameters())[n] for n in trainable]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay,
                            fused=device.type == "cuda")
    critic_opt = None
    if critic is not None:
        critic = critic.to(device)
        critic_opt = torch.optim.AdamW(critic.parameters(), lr=cfg.critic_lr or cfg.lr, betas=(cfg.beta1, cfg.beta2),
                                       weight_decay=cfg.weight_decay, fused=device.type == "cuda")
    critic_scale = (cfg.critic_lr or cfg.lr) / cfg.lr
    aux = {"critic": critic} if critic is not None else {}
    check_every = 1 if device.type == "cpu" else 32

    meta_data = {
        "path": str(data),
        "sha256": file_sha256(data),
        "rows": data_in.n,
        "train_rows": n_train,
        "synthetic": data_in.synthetic,
        "generator": str(data_in.attrs.get("generator", "unknown")),
        "split": "published 70/10/20 (random_state 42, 43)",
    }
    state = {"epoch": 0, "step": 0, "best_w": float("inf"), "history": []}
    if resume:
        last = out / "last"
        if not (last / STATE_JSON).exists():
            raise FastZDCError("nothing to resume (no last/train_state.json)", out)
        import json

        st = json.loads((last / STATE_JSON).read_text())
        if _resume_key(st.get("config", {})) != _resume_key(cfg.to_dict()) or st.get("data_sha256") != meta_data["sha256"]:
            raise FastZDCError("cannot resume: config or data differ from the interrupted run", out)
        tensors = load_tensors(last / STATE)
        load_weights_into(net, {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}, last / STATE)
        load_weights_into(ema, load_tensors(last / WEIGHTS, load_config(last).get("weights_sha256")), last / WEIGHTS)
        _load_optimizer(opt, tensors, st["optimizer"])
        if critic is not None:
            load_weights_into(critic, {k[7:]: v for k, v in tensors.items() if k.startswith("critic.")}, last / STATE)
            _load_optimizer(critic_opt, tensors, st["critic_optimizer"], prefix="copt.")
        state = {k: st[k] for k in ("epoch", "step", "best_w", "history")}
        log(f"resuming at epoch {state['epoch']}, step {state['step']}")
    ddp.sync_parameters(world, [net, ema] + ([critic] if critic is not None else []))
    synced = params + (list(critic.parameters()) if critic is not None else [])

    base_config = {
        "kind": cfg.kind,
        "detector": detector.name,
        "name": f"{cfg.kind}-{detector.name}",
        "hparams": kind.hparams,
        "sampler": sampler,
        "scaler": scaler.to_dict(),
        "data": meta_data,
        "n_params": n_params(net),
        "train": cfg.to_dict(),
        **({"inputs_report": kind.inputs_report} if kind.inputs_report else {}),
    }
    t_start = time.perf_counter()
    last_epoch = cfg.epochs if not stop_after else min(cfg.epochs, state["epoch"] + stop_after)
    prev_w = state["history"][-1]["val_w"] if state["history"] else None
    for epoch in range(state["epoch"], last_epoch):
        net.train()
        perms = {p: ddp.part_order(cfg.seed, epoch, p, parts, blocks[p][1] - blocks[p][0]) for p in mine}
        loss_sum = torch.zeros((), device=device)
        shown = 0
        desc = f"{cfg.kind}-{detector.name} epoch {epoch + 1}/{cfg.epochs}"
        with progress_bar(desc, steps_per_epoch, progress) as advance:
            for b in range(steps_per_epoch):
                step = state["step"]
                for group in opt.param_groups:
                    group["lr"] = lr_at(cfg, step, total)
                if critic_opt is not None:
                    for group in critic_opt.param_groups:
                        group["lr"] = critic_scale * lr_at(cfg, step, total)
                losses = []
                for p in mine:  # sorted rows: contiguous-ish reads, same rows
                    idx = offsets[p] + np.sort(perms[p][b * part_bs : (b + 1) * part_bs])
                    x = _log1p_batch(resp, idx, device) if inputs is None else inputs[idx].to(device, non_blocking=True)
                    c = cond[idx].to(device, non_blocking=True)
                    gen = torch.Generator(device=device).manual_seed(ddp.part_seed(cfg.seed, step, p, parts))
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                        losses.append(kind.loss(net, x, c, gen, **aux))
                loss = losses[0] if len(losses) == 1 else torch.stack(losses).mean()
                loss_sum += ddp.mean_over(world, loss.detach())
                # reading the loss waits for the device: every step on CPU (before the update, so a
                # NaN never reaches the weights), every `check_every` steps on a GPU
                if (b + 1) % check_every == 0 or b == steps_per_epoch - 1:
                    mean_loss = float(loss_sum) / (b + 1)
                    if not math.isfinite(mean_loss):
                        raise FastZDCError(
                            f"training stopped: loss is {float(loss.detach())} at epoch {epoch + 1}, step {step}; "
                            f"the last good checkpoint is kept in {out / 'last'}"
                        )
                    info = f"loss {mean_loss:.4f}" + _stats_text(kind.train_metrics(net))
                    info += f" | val W {prev_w:.3f}" if prev_w is not None else ""
                    advance(b + 1 - shown, info)
                    shown = b + 1
                opt.zero_grad(set_to_none=True)
                if critic_opt is not None:
                    critic_opt.zero_grad(set_to_none=True)
                loss.backward()
                ddp.average_gradients(world, synced)
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                if critic_opt is not None:
                    if cfg.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(critic.parameters(), cfg.grad_clip)
                    critic_opt.step()
                with torch.no_grad():
                    d = min(cfg.ema_decay, (1 + step) / (10 + step))
                    torch._foreach_mul_(ema_params, d)
                    torch._foreach_add_(ema_params, params, alpha=1 - d)
                ddp.sync_buffers(world, [net] + ([critic] if critic is not None else []))
                state["step"] = step + 1
        loss_sum = float(loss_sum)
        stats = kind.train_metrics(net, reset=True)
        with torch.no_grad():  # running statistics kept in buffers (the VQ codebook) are not averaged
            for b_ema, b_net in zip(ema.buffers(), net.buffers()):
                b_ema.copy_(b_net)
        if not world.main:  # process 0 validates and writes the checkpoints; the others wait for it
            state["epoch"] = epoch + 1
            ddp.barrier(world)
            continue
        val = validate(kind, ema, scaler, base_config["sampler"], val_cond, val_resp, device)
        state["epoch"] = epoch + 1
        prev_w = val["val_w"]
        state["history"].append({"epoch": epoch + 1, "loss": loss_sum / steps_per_epoch, **stats, **val})
        log(f"epoch {epoch + 1}: loss {loss_sum / steps_per_epoch:.4f}{_stats_text(stats, ', ')}, "
            f"val W {val['val_w']:.3f}, val MAE {val['val_mae']:.2f}")
        metrics = {"val_w": val["val_w"], "val_mae": val["val_mae"], "epoch": epoch + 1, **stats}
        ema_weights = ema.state_dict()
        if val["val_w"] < state["best_w"]:
            state["best_w"] = val["val_w"]
            save_checkpoint(out / "best", ema_weights, {**base_config, "metrics": metrics})
        tensors = {f"net.{k}": v for k, v in net.state_dict().items()}
        opt_tensors, opt_meta = _optimizer_state(opt)
        tensors.update(opt_tensors)
        extra_meta = {}
        if critic is not None:
            tensors.update({f"critic.{k}": v for k, v in critic.state_dict().items()})
            copt_tensors, extra_meta["critic_optimizer"] = _optimizer_state(critic_opt, prefix="copt.")
            tensors.update(copt_tensors)
        save_checkpoint(
            out / "last",
            ema_weights,
            {**base_config, "metrics": metrics},
            (tensors, {**state, "optimizer": opt_meta, **extra_meta, "config": cfg.to_dict(), "data_sha256": meta_data["sha256"],
                       "batch_parts": parts, "processes": world.size}),
        )
        ddp.barrier(world)
    return {
        "out": str(out),
        "best": str(out / "best"),
        "last": str(out / "last"),
        "best_val_w": state["best_w"],
        "epochs": state["epoch"],
        "steps": state["step"],
        "seconds": round(time.perf_counter() - t_start, 2),
        "history": state["history"],
        "n_params": base_config["n_params"],
        "processes": world.size,
        "rank": world.rank,
        "batch_parts": parts,
    }


class _TrainingData:
    """The training file as one process needs it: every row's features, the responses of chosen rows.

    In one process the whole file is read once (HDF5 or an ALICE npz pair); under torchrun each process
    reads only the responses of its own rows from an HDF5 file (:mod:`fastzdc.data.rows`)."""

    def __init__(self, data: str | Path, world: ddp.World) -> None:
        self.path = Path(data)
        if world.size == 1:
            self._ds = load_dataset(data)
            self.conditions, self.detector, self.attrs = self._ds.conditions, self._ds.detector, self._ds.attrs
        else:
            from ..data import file_format
            from ..data.rows import read_h5_features

            if file_format(data) != "h5":
                raise FastZDCError("training on several processes reads HDF5: convert the npz pair with "
                                   "'fastzdc convert' first", data)
            self._ds = None
            self.conditions, self.detector, self.attrs = read_h5_features(data)
        self.n = len(self.conditions)
        self.synthetic = bool(self.attrs.get("synthetic", False))

    def responses(self, rows: np.ndarray) -> np.ndarray:
        if self._ds is not None:
            return self._ds.responses[rows]
        from ..data.rows import read_h5_responses

        return read_h5_responses(self.path, rows)


def _batch_parts(cfg: TrainConfig, out: Path, world: ddp.World, resume: bool) -> int:
    """The parts of the global batch: ``cfg.batch_parts``, else the resumed run's, else the process count."""
    if cfg.batch_parts:
        return cfg.batch_parts
    if resume:
        import json

        try:
            return int(json.loads((out / "last" / STATE_JSON).read_text()).get("batch_parts", 1))
        except (OSError, ValueError):
            pass
    return world.size


def _stats_text(stats: dict[str, float], sep: str = " | ") -> str:
    """``" | usage 0.93 | perplexity 412"``: a kind's training statistics for the progress line and log."""
    return "".join(f"{sep}{k} {v:.3g}" for k, v in stats.items())


def _training_batches(resp: np.ndarray, cond: torch.Tensor, device: torch.device, desc: str, progress: bool,
                      batch: int = INPUT_BATCH):
    """``(log1p images, scaled conditions)`` of all rows in order, ``batch`` rows at a time,
    with a progress bar (a kind's first-stage pass over the training split can take minutes)."""
    with progress_bar(desc, len(resp), progress) as advance:
        for start in range(0, len(resp), batch):
            stop = min(start + batch, len(resp))
            yield _log1p_batch(resp, np.arange(start, stop), device), cond[start:stop].to(device)
            advance(stop - start)


@torch.no_grad()
def validate(kind, net, scaler, sampler, cond, resp, device) -> dict[str, float]:
    if kind.reconstructs:  # autoencoders: W of the reconstructed validation images
        net.eval()
        scaled = torch.from_numpy(scaler.transform(cond))
        fake = np.concatenate([counts_from_log_images(kind.reconstruct(net, x, c))
                               for x, c in _training_batches(resp, scaled, device, "", False, batch=1024)])
        scores = compare_counts(kind.detector, resp, fake, n_rep=1)
        return {"val_w": scores["w_mean"], "val_mae": scores["mae"]}
    net.eval()
    fake = sample_counts(lambda c, z: kind.sample(net, c, z, **sampler), scaler.transform(cond),
                         NoiseStream(VAL_SEED, kind.noise_shape()), kind.detector.shape, batch_size=1024, device=device,
                         dequantized=kind.dequantized)
    scores = compare_counts(kind.detector, resp, fake, n_rep=1)
    return {"val_w": scores["w_mean"], "val_mae": scores["mae"]}


def _read_init(cfg: TrainConfig, detector) -> tuple[Path, dict[str, Any]]:
    """The checkpoint named by ``cfg.init`` and its config, checked against the run (kind, detector)."""
    ckpt = resolve(cfg.init)
    conf = load_config(ckpt)
    if conf["kind"] != cfg.kind or conf["detector"] != detector.name:
        raise FastZDCError(
            f"init must be a {cfg.kind} checkpoint for {detector.name.upper()}, this one is "
            f"{conf['kind']} for {conf['detector'].upper()}", ckpt
        )
    return ckpt, conf


def _resume_key(cfg: dict[str, Any]) -> dict[str, Any]:
    """What must not change for an exact resume (device and thread count may)."""
    return {k: v for k, v in cfg.items() if k not in ("device", "threads")}


def _optimizer_state(opt: torch.optim.Optimizer, prefix: str = "opt.") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, float]] = {}
    for pid, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"{prefix}{pid}.{key}"] = val
            else:
                scalars.setdefault(str(pid), {})[key] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any], prefix: str = "opt.") -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, val in tensors.items():
        if name.startswith(prefix):
            pid, key = name[len(prefix):].split(".", 1)
            state.setdefault(int(pid), {})[key] = val
    for pid, sc in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(sc)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
