"""Graph rewrites of an exported sampler (pure ONNX, no second export).

* :func:`with_graph_noise`: the ``noise`` input replaced by ``RandomNormalLike`` inside the graph, so
  the file takes the conditions alone (for consumers that make no noise of their own);
* :func:`to_float16`: weights and arithmetic in float16, inputs and output kept float32;
* :func:`set_metadata`: key/value strings stored in the file.
"""

from __future__ import annotations

import copy
import logging
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import FastZDCError
from ..inference.graph import CONDITIONS, NOISE


def set_metadata(model: onnx.ModelProto, meta: dict[str, str]) -> None:
    """Key/value strings in the ONNX file itself (ONNX Runtime: ``session.get_modelmeta().custom_metadata_map``)."""
    del model.metadata_props[:]
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = str(k), str(v)


def with_graph_noise(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose float32 ``noise`` input is drawn inside the graph.

    ``noise = RandomNormalLike(ConstantOfShape(concat(shape(conditions)[:1], noise_dims)))`` with mean 0,
    scale 1 and no seed attribute: ONNX Runtime seeds the kernel once per session (``onnxruntime.set_seed``
    fixes it) and every run draws fresh noise. The only input left is ``conditions``.
    """
    out = copy.deepcopy(model)
    g = out.graph
    noise = next((i for i in g.input if i.name == NOISE), None)
    if noise is None or not any(i.name == CONDITIONS for i in g.input):
        raise FastZDCError(f"the graph needs inputs {NOISE!r} and {CONDITIONS!r} to move the noise inside")
    tt = noise.type.tensor_type
    if tt.elem_type != TensorProto.FLOAT:
        raise FastZDCError(f"the {NOISE!r} input must be float32 to be drawn inside the graph")
    dims = [d.dim_value for d in tt.shape.dim[1:]]
    if not dims or any(d <= 0 for d in dims):
        raise FastZDCError(f"the {NOISE!r} input needs static dimensions after the batch, got {dims}")
    g.input.remove(noise)
    prefix = "fastzdc_noise_"
    g.initializer.append(numpy_helper.from_array(np.asarray(dims, np.int64), prefix + "dims"))
    new_nodes = [
        helper.make_node("Shape", [CONDITIONS], [prefix + "batch"], start=0, end=1, name=prefix + "shape"),
        helper.make_node("Concat", [prefix + "batch", prefix + "dims"], [prefix + "full_shape"], axis=0, name=prefix + "concat"),
        helper.make_node("ConstantOfShape", [prefix + "full_shape"], [prefix + "zeros"],
                         value=helper.make_tensor("value", TensorProto.FLOAT, [1], [0.0]), name=prefix + "zeros"),
        helper.make_node("RandomNormalLike", [prefix + "zeros"], [NOISE], dtype=TensorProto.FLOAT, mean=0.0,
                         scale=1.0, name=prefix + "draw"),
    ]
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(new_nodes + nodes)
    onnx.checker.check_model(out)
    return out


def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Weights and arithmetic in float16; the inputs and the output stay float32 (``Cast`` at the edges),
    so a consumer feeds and reads the same tensors as for the float32 file."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("onnxruntime.transformers.float16").setLevel(logging.ERROR)
        out = convert_float_to_float16(copy.deepcopy(model), keep_io_types=True)
    _toposort(out.graph)
    onnx.checker.check_model(out)
    out.doc_string = model.doc_string + " [float16 weights and arithmetic; float32 inputs and output]"
    return out


def _toposort(graph: onnx.GraphProto) -> None:
    """Order the nodes so that every input is produced before it is used (the float16 converter appends
    its edge casts at the end; ONNX Runtime copes, but the ONNX checker and other consumers do not)."""
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise FastZDCError("the graph has a cycle or an undefined tensor: " + ", ".join(
                sorted({i for n in pending for i in n.input if i not in known})[:3]))
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
        for n in ready:
            ordered.append(n)
            known.update(n.output)
    del graph.node[:]
    graph.node.extend(ordered)
