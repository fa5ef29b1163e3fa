"""Loading a model: the one place that reads a checkpoint or an ONNX export folder and decides the back
end and the precision it runs with.

>>> gen = load_generator("weights/fmd-zn")
>>> gen.name, gen.backend, gen.sampler["steps"]
('fm-distill-zn', 'torch', 3)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..checkpoint import CONFIG, WEIGHTS, check_values, load_checkpoint_weights, load_config, load_weights_into, resolve, tensor_shapes
from ..data.scaler import StandardScaler
from ..detector import get_detector
from ..errors import FastZDCError
from ..generator import Generator
from ..models import ModelKind, get_kind
from ..nn.unet import n_params
from .backend import choose_backend
from .card import is_export_dir
from .lookup import is_lookup_dir, load_lookup
from .model import ModelGenerator
from .onnx import OnnxGenerator, default_threads, onnx_from_export_dir, open_session
from .precision import PRECISIONS


def read_checkpoint(path: str | Path) -> tuple[ModelKind, torch.nn.Module, StandardScaler, dict[str, Any]]:
    """``(kind, network with its weights, condition scaler, config)`` of a checkpoint directory (or a run
    directory: its ``best/``). The checkpoint is self-contained: a two-stage kind's first stage is
    rebuilt from the hyper-parameters it recorded, its weights are in the same file."""
    ckpt = resolve(path)
    cfg = load_config(ckpt)
    where = ckpt / CONFIG
    try:
        cls = get_kind(cfg["kind"])
        check_values(cls.defaults, cfg["hparams"], where, prefix="hparams.")
        kind = cls(get_detector(cfg["detector"]), cfg["hparams"])
        with torch.device("meta"):  # shapes first, without memory: absurd sizes never allocate
            shapes = {k: tuple(v.shape) for k, v in kind.build().state_dict().items()}
    except FastZDCError as err:
        raise FastZDCError(str(err).removeprefix(f"{where}: "), where) from None
    except Exception as err:  # any failure to build the described network is a defect of config.json
        raise FastZDCError(f"invalid {cfg['kind']} hyper-parameters ({type(err).__name__}: "
                           f"{str(err).splitlines()[0] if str(err) else ''})", where) from None
    stored = tensor_shapes(ckpt / WEIGHTS)
    if stored != shapes:
        missing, extra = sorted(set(shapes) - set(stored)), sorted(set(stored) - set(shapes))
        if missing or extra:
            raise FastZDCError(f"weights do not match the model config.json describes (missing {missing[:3]}, "
                               f"unexpected {extra[:3]})", ckpt / WEIGHTS)
        k = sorted(k for k in shapes if stored[k] != shapes[k])[0]
        raise FastZDCError(f"weight {k} has shape {stored[k]}, the model config.json describes expects {shapes[k]}",
                           ckpt / WEIGHTS)
    try:
        net = kind.build()
    except Exception as err:
        raise FastZDCError(f"invalid {cfg['kind']} hyper-parameters ({type(err).__name__})", where) from None
    load_weights_into(net, load_checkpoint_weights(ckpt, cfg), ckpt / WEIGHTS)
    scaler = StandardScaler.from_dict(cfg["scaler"], ckpt)
    return kind, net, scaler, cfg


def sampler_overrides(sampler: dict[str, Any] | None, steps: int | None = None, method: str | None = None) -> dict[str, Any]:
    """Sampler options given as ``--sample-opt KEY=VALUE`` merged with the ``--steps``/``--method`` flags."""
    extra = {k: v for k, v in (("steps", steps), ("method", method)) if v is not None}
    merged = {**(sampler or {}), **extra}
    value = merged.get("steps")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_STEPS):
        raise FastZDCError(f"sampler option steps must be an integer in [1, {MAX_STEPS}], got {value!r}")
    return merged


MAX_STEPS = 10000


def load_generator(
    path: str | Path,
    *,
    device: Any = None,
    backend: str = "auto",
    precision: str = "float32",
    batch_size: int = 4096,
    threads: int | None = None,
    **sampler: Any,
) -> Generator:
    """A checkpoint directory (or a run directory: its ``best/``), an ONNX export folder or a shower-library
    folder (``fastzdc lookup``) as a Generator.

    Args:
        backend: ``torch``, ``onnx`` (ONNX Runtime, CPU; a checkpoint is exported in memory first) or
            ``auto`` (:func:`fastzdc.inference.backend.choose_backend`: ONNX Runtime for export folders and
            small CPU batches, PyTorch otherwise).
        precision: ``float32`` (default), ``bfloat16`` (PyTorch autocast) or ``auto``
            (:mod:`fastzdc.inference.precision`). ONNX Runtime runs the export's float32 graph; ``float16``
            picks the float16 graph of an export folder made with ``--fp16``.
        batch_size: the batch size the caller will use (only for the ``auto`` back-end choice).
        sampler: sampler options (``steps``, ``method``, ...) over the checkpoint's.
    """
    if is_lookup_dir(path):
        if any(v is not None for v in sampler.values()):
            raise FastZDCError(f"the look-up has no sampler options (got {', '.join(sampler)})", path)
        return load_lookup(path)
    if precision not in (*PRECISIONS, "float16"):
        raise FastZDCError(f"unknown precision {precision!r}; choose one of: {', '.join((*PRECISIONS, 'float16'))}")
    backend = choose_backend(path, backend, device=device, batch_size=batch_size, precision=precision)
    if backend == "onnx":
        if device is not None and str(device) not in ("cpu", "auto"):
            raise FastZDCError(f"the ONNX Runtime back end runs on the CPU, got device {device!r}", path)
        onnx_precision = "float32" if precision in ("auto", "float32") else precision
        if onnx_precision == "bfloat16":
            raise FastZDCError("the ONNX Runtime back end runs float32 or float16, not bfloat16", path)
        if is_export_dir(path):
            return onnx_from_export_dir(Path(path), onnx_precision, threads, **sampler)
        if onnx_precision != "float32":
            raise FastZDCError("a float16 ONNX model comes from an export folder (fastzdc export onnx --fp16); "
                               "give the folder, not the checkpoint", path)
        return onnx_from_checkpoint(path, threads=threads, **sampler)
    if precision == "float16":
        raise FastZDCError("float16 runs with ONNX Runtime from an export folder; PyTorch runs float32 or bfloat16", path)
    kind, net, scaler, cfg = read_checkpoint(path)
    name = cfg.get("name") or f"{cfg['kind']}-{cfg['detector']}"
    opts = {**cfg.get("sampler", {}), **{k: v for k, v in sampler.items() if v is not None}}
    return ModelGenerator(kind, net, scaler, opts, name=str(name), device=device, precision=precision,
                          source=str(resolve(path)), config=cfg)


def onnx_from_checkpoint(path: str | Path, *, threads: int | None = None, **sampler: Any) -> OnnxGenerator:
    """An ONNX Runtime Generator of a checkpoint, exported in memory with the requested sampler (seconds)."""
    from .graph import export_sampler, with_count_output

    threads = default_threads() if threads is None else int(threads)
    kind, net, scaler, cfg = read_checkpoint(path)
    opts = kind.sampler_options({**cfg.get("sampler", {}), **{k: v for k, v in sampler.items() if v is not None}})
    model = with_count_output(export_sampler(kind, net, opts), kind.dequantized)
    session = open_session(model.SerializeToString(), threads=threads, where=path)
    name = str(cfg.get("name") or f"{cfg['kind']}-{cfg['detector']}")
    return OnnxGenerator(session, kind.detector, scaler, kind.noise_shape(), name=name, sampler=opts,
                         n_params=n_params(net), dequantized=kind.dequantized, threads=threads, source=str(path))
