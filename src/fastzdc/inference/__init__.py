"""Inference: the only layer that loads a checkpoint or an ONNX export folder.

* :mod:`.load`      -- :func:`load_generator` (back end and precision chosen here), :func:`read_checkpoint`
* :mod:`.model`     -- :class:`ModelGenerator`: a network in PyTorch as a Generator
* :mod:`.onnx`      -- :class:`OnnxGenerator`: an ONNX graph in ONNX Runtime as a Generator; sessions
* :mod:`.graph`     -- the sampler of any model kind as one ONNX graph
* :mod:`.card`      -- the export folder's layout and model card
* :mod:`.backend`   -- PyTorch or ONNX Runtime (``--backend auto``)
* :mod:`.precision` -- float32 or bfloat16 (``--precision auto``)
"""

from __future__ import annotations

from .load import load_generator, read_checkpoint, sampler_overrides
from .model import ModelGenerator
from .onnx import OnnxGenerator

__all__ = ["ModelGenerator", "OnnxGenerator", "load_generator", "read_checkpoint", "sampler_overrides"]
