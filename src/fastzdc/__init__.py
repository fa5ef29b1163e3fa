"""fastzdc: fast simulation of the ALICE Zero Degree Calorimeter responses with generative networks.

The public Python API is small:

* :func:`load` -- a trained model (checkpoint folder or ONNX export folder) as a :class:`Generator`;
* :func:`simulate` -- stand-in responses from the built-in Monte Carlo, as a :class:`~fastzdc.data.Dataset`;
* :class:`Generator` -- ``generate(conditions) -> photon counts``, implemented by every model, the Monte
  Carlo and the shower-library look-up;
* :data:`ZN`, :data:`ZP` -- the two calorimeters (image shape, channel map).

The stand-in data produced by :mod:`fastzdc.mc` is SYNTHETIC (a parametric Monte Carlo tuned to a
handful of published statistics), never real ALICE data.

>>> import fastzdc
>>> particles = fastzdc.simulate(200, detector="zn", seed=1)
>>> particles.conditions.shape, particles.responses.shape, particles.synthetic
((200, 9), (200, 44, 44), True)
>>> gen = fastzdc.load("weights/fmd-zn")
>>> counts = gen.generate(particles.conditions[:8], seed=0)
>>> counts.shape, counts.dtype.name
((8, 44, 44), 'uint16')
"""

from __future__ import annotations

__version__ = "0.1.0"

from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from .detector import DETECTORS, ZN, ZP, Detector, get_detector  # noqa: E402
from .errors import FastZDCError  # noqa: E402
from .generator import Generator  # noqa: E402

if TYPE_CHECKING:
    import numpy as np

    from .data import Dataset


def load(
    path: str | Path,
    *,
    device: Any = None,
    backend: str = "auto",
    precision: str = "float32",
    gate: str | Path | None = None,
    **sampler: Any,
) -> Generator:
    """A trained model as a :class:`Generator`.

    Args:
        path: a checkpoint folder (``weights.safetensors`` + ``config.json``), a training run folder (its
            ``best/``), or an ONNX export folder of ``fastzdc export onnx``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or None/``"auto"`` (CUDA when present).
        backend: ``"torch"``, ``"onnx"`` (ONNX Runtime, CPU) or ``"auto"`` (ONNX Runtime for export folders,
            PyTorch for checkpoints).
        precision: ``"float32"`` (exact, the default), ``"bfloat16"`` (PyTorch autocast; fast on CPUs with
            AMX and on GPUs), ``"auto"`` (bfloat16 where measured safe and native), or ``"float16"`` (the
            float16 graph of an export folder).
        gate: a response-gate checkpoint (e.g. ``"weights/gate"``): the gate draws whether the particle lights
            the model's detector (given O2's filter), the model draws the lit response (docs/joint.md).
        sampler: sampler options over the checkpoint's, e.g. ``steps=4``, ``method="midpoint"``.

    Raises:
        FastZDCError: a missing or defective file, an unknown option (one line naming the file).
    """
    from .inference import load_generator

    model = load_generator(path, device=device, backend=backend, precision=precision, **sampler)
    if gate is None:
        return model
    from .inference.gate import load_gate
    from .inference.gated import GatedGenerator

    return GatedGenerator(load_gate(gate), model)


def load_joint(
    gate: str | Path = "weights/gate",
    zn: str | Path = "weights/fmd-zn",
    zp: str | Path = "weights/fmd-zp",
    **options: Any,
) -> Any:
    """ZN and ZP of the same particles: the response gate in front of a ZN and a ZP model.

    ``load_joint().generate(conditions, seed=0, include_none=False)`` returns ``{"zn": (N, 44, 44),
    "zp": (N, 56, 30), "states": (N,)}`` (states 0 none, 1 ZN only, 2 ZP only, 3 both); ``include_none``
    True for a raw particle list (the gate may draw "no response"), False for particles O2's filter kept.
    ``options``: ``candidates``, ``copula`` and :func:`load` options (``precision``, ``device``, ...).
    See docs/joint.md.
    """
    from .inference.joint import load_joint as _load_joint

    return _load_joint(gate, zn, zp, **options)


def simulate(
    n: int | None = None,
    *,
    detector: str = "zn",
    conditions: np.ndarray | None = None,
    mode: str = "fast",
    seed: int = 0,
    o2_filter: bool | None = None,
) -> Dataset:
    """Stand-in responses of one calorimeter from the built-in parametric Monte Carlo (SYNTHETIC data).

    Args:
        n: number of events to sample (particles drawn from the built-in spectator model); or give
            ``conditions`` instead.
        detector: ``"zn"`` or ``"zp"``.
        conditions: ``(N, 9)`` particle features ``[E GeV, vx, vy, vz cm, px, py, pz GeV, mass MeV,
            charge e]`` to simulate instead of sampling.
        mode: ``"fast"`` (vectorised) or ``"detailed"`` (explicit cascade, about 700 times slower).
        seed: the same seed gives the same events.
        o2_filter: drop events where both ZN and ZP are empty, as O2 does (default: on for sampled
            particles, off for given conditions).

    Returns:
        a :class:`~fastzdc.data.Dataset`: ``conditions`` ``(N, 9)`` float32, ``responses`` ``(N, nx, ny)``
        uint16 photon counts, ``pdgid`` ``(N,)``, and provenance in ``attrs`` (``synthetic`` is True).
    """
    from . import mc
    from .data import Dataset
    from .workflows import mc_attrs

    det = get_detector(detector)
    if (n is None) == (conditions is None):
        raise FastZDCError("give either n (sampled particles) or conditions, not both")
    keep = (conditions is None) if o2_filter is None else bool(o2_filter)
    params = mc.default_params()
    batch = mc.simulate(n, conditions, detectors=(det.name,), mode=mode, seed=seed, params=params,
                        keep_nonempty_only=keep)
    return Dataset(batch.conditions, batch.responses[det.name], batch.pdgid, det,
                   mc_attrs(params, mode=mode, seed=seed, o2_filter=keep))


__all__ = [
    "DETECTORS", "ZN", "ZP", "Detector", "FastZDCError", "Generator", "__version__", "get_detector", "load", "load_joint",
    "simulate",
]
