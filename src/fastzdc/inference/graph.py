"""Any model kind's whole sampler as one ONNX graph, with the rounding tail that makes photon counts.

The graph is ``log_image = sample(noise, conditions)`` with the kind's own
``kind.sample(net, conditions, noise, **sampler)``: the fixed number of ODE steps is a Python loop with
a static trip count, so the exporter unrolls it (for a latent kind the decoder is simply part of
``sample``). Inputs and output (``batch`` is a dynamic dimension)::

    noise                float32 (batch, *kind.noise_shape())   standard-normal noise, e.g. (batch, 1, 44, 44)
    conditions           float32 (batch, 9)                      scaled features (x - mean) / scale
    log_image            float32 (batch, nx, ny)   log1p(n) of the integer photon counts n per fibre (first output)
    log_image_unrounded  float32 (batch, nx, ny)   the sampler's continuous log1p image x >= 0 (second output)

``n = round(exp(x) - 1)`` (``floor`` for a dequantized kind), clipped to [0, 65535]: exactly what fastzdc's
Generators return. Rounding inside the graph makes a consumer that sums ``exp(log_image) - 1`` (O2's
``calculateChannels``) reproduce fastzdc's channel sums exactly; summing the unrounded image instead
changes the channel-sum distribution (measured: W +49 % on ZN, benchmarks/RESULTS.md).

Exporter: ``torch.onnx.export(..., dynamo=True)`` (the torch.export-based exporter, PyTorch's default
since 2.9; the TorchScript-based one is deprecated). On the shipped FM it gives half the nodes of the
TorchScript exporter (1,173 against 2,298), named dynamic dimensions and no duplicated weights.

:func:`with_count_output` appends the rounding tail that makes ``log_image`` from ``log_image_unrounded``
(after any float16 conversion, so the tail is float32 in every variant). The rewrites that only the
exporter makes (noise drawn in the graph, float16) are in :mod:`fastzdc.export.rewrite`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from ..conditions import N_FEATURES
from ..errors import FastZDCError
from ..models import ModelKind
from ..nn.sampler_graph import SamplerGraph

NOISE = "noise"
CONDITIONS = "conditions"
OUTPUT = "log_image"
RAW_OUTPUT = "log_image_unrounded"
MAX_COUNT = 65535
BATCH = "batch"
MIN_OPSET = 18
"""the dynamo exporter writes opset 18 natively; older opsets would need a lossy version conversion"""
DEFAULT_OPSET = 18


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's progress lines, warnings and log records (e.g. 'torchvision is not
    installed'): the CLI prints its own one-line summary."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lvl in zip(loggers, levels):
            lg.setLevel(lvl)


def sampler_module(kind: ModelKind, net: nn.Module, opts: dict[str, Any], noise_in: nn.Module | None = None, *,
                   candidates: int = 1, lit: nn.Module | None = None) -> SamplerGraph:
    """The module the exporter traces (a copy of ``net`` on the CPU, float32, eval mode; the caller's
    stays untouched): :class:`~fastzdc.nn.sampler_graph.SamplerGraph` of ``kind.sample`` with ``opts``."""
    net = copy.deepcopy(net).to("cpu", memory_format=torch.contiguous_format).float().eval()
    lit = None if lit is None else copy.deepcopy(lit).float().eval()
    return SamplerGraph(net, lambda n, c, z: kind.sample(n, c, z, **opts), kind.detector.shape, noise_in,
                        noise_shape=tuple(kind.noise_shape()), candidates=candidates, lit=lit).eval()


def export_sampler(
    kind: ModelKind, net: nn.Module, sampler: dict[str, Any], *, opset: int = DEFAULT_OPSET,
    noise_in: nn.Module | None = None, candidates: int = 1, lit: nn.Module | None = None,
) -> onnx.ModelProto:
    """Export ``kind.sample`` with the given network and sampler options as one float32 ONNX graph.

    ``noise_in``: a module applied to the ``noise`` input first, whose ``k`` attribute is its width (the
    graph's noise input is then ``(batch, k)``; the O2 drop-in, :mod:`fastzdc.export.dropin`).
    ``candidates``, ``lit``: with ``noise_in``, sample that many responses per particle and return the
    first non-empty one, and draw whether the particle is lit at all (:class:`~fastzdc.nn.sampler_graph.SamplerGraph`).

    The network is copied (contiguous memory format, CPU, eval mode); the caller's stays untouched.
    onnxscript's graph optimiser runs only for kinds with ``quick_export`` (the flow models): on the VQ
    prior's unrolled token loop (63k nodes for ZN) it ran 15 min of CPU without finishing, while the
    export without it takes 110 s and agrees with PyTorch to 2.4e-7 (docs/onnx_o2.md).
    Node-level debugging metadata of the exporter (stack traces, FX names) is stripped: it tripled the
    file size and means nothing to a consumer.
    """
    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise FastZDCError(f"--opset must be an integer >= {MIN_OPSET} (the exporter's native opset), got {opset!r}")
    opts = kind.sampler_options(sampler)
    module = sampler_module(kind, net, opts, noise_in, candidates=candidates, lit=lit)
    noise_shape = kind.noise_shape() if noise_in is None else (int(noise_in.k),)
    example = (torch.randn(2, *noise_shape), torch.randn(2, N_FEATURES))
    batch = torch.export.Dim(BATCH, min=1, max=1 << 24)
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                module, example, dynamo=True, input_names=[NOISE, CONDITIONS], output_names=[RAW_OUTPUT],
                dynamic_shapes=({0: batch}, {0: batch}), opset_version=opset, optimize=kind.quick_export, verbose=False,
            )
    except ImportError as err:  # onnxscript missing
        raise FastZDCError(f"the ONNX exporter needs the package onnxscript ({err}); pip install onnxscript") from None
    model = program.model_proto
    _strip_debug_metadata(model)
    model.producer_name = "fastzdc"
    model.doc_string = (f"fastzdc {kind.kind} sampler for {kind.detector.name.upper()}: "
                        f"{NOISE} + {CONDITIONS} (scaled features) -> {OUTPUT} (log1p of integer photon counts), "
                        f"{RAW_OUTPUT} (the sampler's continuous log1p image)")
    return model


def _strip_debug_metadata(model: onnx.ModelProto) -> None:
    def clean(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    clean(attr.g)
        for vi in (*graph.input, *graph.output, *graph.value_info):
            del vi.metadata_props[:]
        for init in graph.initializer:
            del init.metadata_props[:]

    clean(model.graph)
    for fn in model.functions:
        for node in fn.node:
            del node.metadata_props[:]


def with_count_output(model: onnx.ModelProto, dequantized: bool = False) -> onnx.ModelProto:
    """A copy of a sampler graph (output ``log_image_unrounded`` = x) with a first output
    ``log_image = log(1 + clip(round(exp(x) - 1), 0, 65535))`` (``floor`` instead of ``round`` for a
    dequantized kind), computed in float32."""
    out = copy.deepcopy(model)
    g = out.graph
    if [o.name for o in g.output] != [RAW_OUTPUT]:
        raise FastZDCError(f"the sampler graph must have the single output {RAW_OUTPUT!r}")
    raw = g.output[0]
    if raw.type.tensor_type.elem_type != TensorProto.FLOAT:
        raise FastZDCError(f"the {RAW_OUTPUT!r} output must be float32")
    p = "fastzdc_counts_"
    g.initializer.extend([numpy_helper.from_array(np.asarray(1.0, np.float32), p + "one"),
                          numpy_helper.from_array(np.asarray(0.0, np.float32), p + "lo"),
                          numpy_helper.from_array(np.asarray(float(MAX_COUNT), np.float32), p + "hi")])
    g.node.extend([
        helper.make_node("Exp", [RAW_OUTPUT], [p + "exp"], name=p + "exp"),
        helper.make_node("Sub", [p + "exp", p + "one"], [p + "expm1"], name=p + "expm1"),
        helper.make_node("Floor" if dequantized else "Round", [p + "expm1"], [p + "int"], name=p + "int"),
        helper.make_node("Clip", [p + "int", p + "lo", p + "hi"], [p + "counts"], name=p + "clip"),
        helper.make_node("Add", [p + "counts", p + "one"], [p + "plus1"], name=p + "plus1"),
        helper.make_node("Log", [p + "plus1"], [OUTPUT], name=p + "log1p"),
    ])
    counts, raw = copy.deepcopy(raw), copy.deepcopy(raw)
    counts.name = OUTPUT
    del g.output[:]
    g.output.extend([counts, raw])
    onnx.checker.check_model(out)
    return out
