"""The int8 activation rounding of Intel's FP16-INT8 IR, applied to the imported ``lwop_mobilenet_intel``.

Why it exists: the importer (:mod:`edgepose.models.importers.openvino_ir`) dequantises the IR's weights into a
float model, which matches the IR computing in float exactly. The IR as OpenVINO runs it also rounds its
activations to 8 bits (``FakeQuantize`` nodes on the inputs of its convolutions, residual ``Add`` nodes and the
stage ``Concat``), which moves the PAFs away from the float model's (cosine 0.97-0.98, 0.40 on a photo with small
people). To check that the import reproduces the *original* model, a check needs that rounding too:
:func:`emulate_ir_activation_quantisation` hooks each activation FakeQuantize of the IR, with the IR's own ranges
and levels, into the torch model at the same tensor. It is for checks and tests only (it needs openvino); the
imported model stays float.

Where each FakeQuantize goes: if it feeds only convolutions, a pre-hook quantises the input of each of them. If
it also feeds an ``Add`` or the ``Concat``, a hook quantises the output of the torch module that makes the
tensor (the activation after a convolution, or a convolution with a bias and no activation), because the torch
model adds or concatenates that module's output. The importer's conversions carry over: the first convolution's
input is ``(x - 128) / 256`` where the IR's is ``(x - 128) / 255``, so its ranges are scaled by ``255 / 256``;
per-channel ranges on a PAF output follow :func:`~edgepose.models.importers.openvino_ir.paf_permutation`. The
initial stage's outputs come back quantised too, because the refinement stage reads them (the IR does not
output them).

OpenVINO's CPU plugin does not compute the FakeQuantize graph as written: its low-precision transformations
change two things, and both are reproduced here. Everything else follows the graph as written:

* all inputs of a ``Concat`` share one integer grid (:func:`_concat_aligned`). Without this, the refinement
  stage sees PAFs on a step three times finer and without the offset the plugin gives them, and on a photo with
  small people the final PAFs fall to cosine 0.38;
* the network input's FakeQuantize, which the plugin runs as a node of its own that outputs u8, gets a whole
  zero point (127.99 becomes 128). This removes the 0.1 % of first-layer outputs that otherwise land one step
  away.

What is left comes from float rounding. The int8 kernels and torch round a few values that lie within 1e-6 of a
step's midpoint (0.002 % of outputs at the third layer) to different sides, and the 63 requantisations amplify
this layer by layer. The PAFs of a photo of small people are weak and suffer most (cosine 0.985). OpenVINO varies
as much against itself: the same IR with every FakeQuantize output kept, which stops some fusions, moves those
PAFs to 0.990.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from edgepose.models.importers.openvino_ir import (
    INPUT_RESCALE,
    INTEL_LWOP_LAYERS,
    Layer,
    _fold,
    _layer_name,
    paf_permutation,
)

__all__ = ["emulate_ir_activation_quantisation", "fake_quantize"]

_CONVS = ("Convolution", "GroupConvolution")
_ACTIVATIONS = (nn.ReLU, nn.ELU)
Ranges = list[np.ndarray]  # [input_low, input_high, output_low, output_high]


def fake_quantize(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, out_lo: torch.Tensor, out_hi: torch.Tensor,
                  levels: int) -> torch.Tensor:  # fmt: skip
    """OpenVINO's FakeQuantize (opset1) in torch, ranges broadcast against ``x`` (the importer's numpy twin)."""
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    q = torch.round((x - lo) / span * (levels - 1)) / (levels - 1) * (out_hi - out_lo) + out_lo
    low, high = torch.minimum(lo, hi), torch.maximum(lo, hi)
    return torch.where(x <= low, out_lo.expand_as(x), torch.where(x > high, out_hi.expand_as(x), q))


class _Quantise:
    """One FakeQuantize as a hook; ranges as ``(1, C, 1, 1)`` (per channel) or scalar float32 tensors."""

    def __init__(self, ranges: Ranges, levels: int) -> None:
        self.ranges = [torch.tensor(np.asarray(r, np.float32).reshape((1, -1, 1, 1) if np.size(r) > 1 else ()))
                       for r in ranges]  # fmt: skip
        self.levels = levels

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi, out_lo, out_hi = (r.to(x.device, x.dtype) for r in self.ranges)
        return fake_quantize(x, lo, hi, out_lo, out_hi, self.levels)

    def pre_hook(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return (self(args[0]), *args[1:])

    def forward_hook(self, module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        return self(output)


def _ranges(fq: Any) -> tuple[Ranges, int]:
    ranges = [_fold(fq.input(i).get_source_output().get_node()) for i in range(1, 5)]
    return ranges, int(fq.get_attributes()["levels"])


def _is_activation_fq(op: Any) -> bool:
    """A FakeQuantize of a computed tensor (not of stored weights)."""
    if op.get_type_name() != "FakeQuantize":
        return False
    return op.input(0).get_source_output().get_node().get_type_name() not in ("Constant", "Convert")


def _concat_aligned(ir_model: Any) -> dict[str, tuple[Ranges, int]]:
    """The FakeQuantize nodes feeding a Concat, as OpenVINO's CPU plugin runs them, by friendly name.

    Its low-precision transformations put all inputs of a Concat on one 8-bit grid (``IntervalsAlignment`` and
    ``NetworkHelper::calculateLevels``): the combined output interval ``[min low, max high]`` in 255 steps with
    a whole zero point. Each input keeps its input range, but its output ends are rounded onto that grid, so it
    gets fewer levels, a coarser step, and a zero that moves when its range does not start on a grid point.
    Computed in float32, as the plugin does."""
    aligned: dict[str, tuple[Ranges, int]] = {}
    for concat in (op for op in ir_model.get_ordered_ops() if op.get_type_name() == "Concat"):
        fqs = [i.get_source_output().get_node() for i in concat.inputs()]
        if not all(map(_is_activation_fq, fqs)):
            continue
        ranges = {fq.get_friendly_name(): [r.astype(np.float32) for r in _ranges(fq)[0]] for fq in fqs}
        low = min(float(r[2].min()) for r in ranges.values())
        high = max(float(r[3].max()) for r in ranges.values())
        step = np.float32(high - low) / np.float32(255)
        shift = np.float32(low) + np.float32(128) * step  # the i8 grid [-128, 127]; u8 gives the same one
        zero = np.round(-shift / step)
        for name, (lo, hi, out_lo, out_hi) in ranges.items():
            q_lo, q_hi = (np.round((float(v.ravel()[0]) - shift) / step) for v in (out_lo, out_hi))
            aligned[name] = ([lo, hi, (q_lo - zero) * step, (q_hi - zero) * step], int(abs(q_hi - q_lo)) + 1)
    return aligned


def _whole_zero_point(ranges: Ranges, levels: int) -> Ranges:
    """The output grid moved so that 0 is on it: how the plugin feeds the network input to the first
    convolution (as u8 with a whole zero point)."""
    lo, hi, out_lo, out_hi = ranges
    step = (out_hi - out_lo) / (levels - 1)
    new_lo = -np.round(-out_lo / np.where(step > 0, step, 1.0)) * step
    return [lo, hi, new_lo, new_lo + (levels - 1) * step]


def _source_layer(node: Any) -> tuple[Layer, bool]:
    """The IR convolution whose biased (and maybe activated) output ``node`` is: its Layer, and whether an
    activation follows it."""
    activated = node.get_type_name() in ("Relu", "Elu")
    add = node.input(0).get_source_output().get_node() if activated else node
    if add.get_type_name() == "Add":
        convs = [add.input(i).get_source_output().get_node() for i in range(2)]
        convs = [c for c in convs if c.get_type_name() in _CONVS]
        if len(convs) == 1 and _layer_name(convs[0]) in INTEL_LWOP_LAYERS:
            return INTEL_LWOP_LAYERS[_layer_name(convs[0])], activated
    where = f"{node.get_friendly_name()} ({node.get_type_name()})"
    raise ValueError(f"FakeQuantize of {where}: no module of lwop_mobilenet_intel outputs it")


def _output_module(modules: dict[str, nn.Module], layer: Layer, activated: bool) -> nn.Module:
    """The module of ``lwop_mobilenet_intel`` that outputs a layer's result: its activation (after the conv and
    BatchNorm, in the same Sequential) or, with none, the BatchNorm or the conv itself."""
    last = layer.bn or layer.conv
    if not activated:
        return modules[last]
    parent, index = last.rsplit(".", 1)
    module = modules[parent][int(index) + 1]  # type: ignore[index]
    if not isinstance(module, _ACTIVATIONS):
        raise ValueError(f"{last}: no activation follows it in lwop_mobilenet_intel")
    return module


def emulate_ir_activation_quantisation(model: nn.Module, ir_model: Any) -> list[torch.utils.hooks.RemovableHandle]:
    """Hook every activation FakeQuantize of ``ir_model`` (an ``openvino.Model`` of Intel's IR) into ``model`` (the
    imported ``lwop_mobilenet_intel``), as OpenVINO's CPU plugin runs it. Returns the hook handles
    (``handle.remove()`` restores the float model); ValueError naming the node where a FakeQuantize has no place
    in the model."""
    modules = dict(model.named_modules())
    aligned = _concat_aligned(ir_model)
    handles = []
    for fq in filter(_is_activation_fq, ir_model.get_ordered_ops()):
        ranges, levels = aligned.get(fq.get_friendly_name()) or _ranges(fq)
        users = [t.get_node() for t in fq.output(0).get_target_inputs()]
        if all(u.get_type_name() in _CONVS for u in users):
            for user in users:
                layer = INTEL_LWOP_LAYERS[_layer_name(user)]
                if layer.fix == "refine_in":
                    raise ValueError(f"{fq.get_friendly_name()}: a quantised input of the permuted refinement input")
                at_conv = ranges
                if layer.fix == "input":
                    at_conv = [r / INPUT_RESCALE for r in _whole_zero_point(ranges, levels)]
                handles.append(modules[layer.conv].register_forward_pre_hook(_Quantise(at_conv, levels).pre_hook))
            continue
        layer, activated = _source_layer(fq.input(0).get_source_output().get_node())
        if layer.fix == "paf_out":
            ranges = [r.reshape(-1)[paf_permutation()] if np.size(r) > 1 else r for r in ranges]
        module = _output_module(modules, layer, activated)
        handles.append(module.register_forward_hook(_Quantise(ranges, levels).forward_hook))
    return handles
