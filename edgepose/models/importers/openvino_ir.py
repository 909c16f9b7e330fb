"""Intel's Lightweight OpenPose (Open Model Zoo ``human-pose-estimation-0001``, an OpenVINO IR) as an edgepose model.

The IR is read with OpenVINO's own reader (``pip install edgepose[import]``; the checkpoint written from the
result needs nothing but torch). Every convolution of the graph is collected with its float weights -- an
FP16-INT8 IR stores them as integer codes behind a ``FakeQuantize`` (or ``Convert`` / ``Subtract`` /
``Multiply``) subgraph of constants, which :func:`_fold` evaluates in numpy -- its bias (the ``Add`` of a
constant that follows it: the BatchNorm the IR folded in), its stride, padding, dilation, groups and the
activation after it. :data:`INTEL_LWOP_LAYERS` places each one in :func:`~edgepose.models.lwop.lwop_mobilenet_intel`;
anything that does not fit (a missing layer, a layer with no place, another shape, stride, padding or
activation) is a one-line :class:`CheckpointError` naming the layer.

Three conversions make the edgepose model reproduce the IR on edgepose's own pre-processing and decoder:

* **input scale**: the IR normalises BGR pixels as ``(x - 128) / 255`` (its Multiply/Add pair); edgepose's
  OpenPose normalisation is ``(x - 128) / 256``. The first convolution's weights are multiplied by
  ``256 / 255`` (exact: it is linear and its zero padding stays zero), so the runtime's pre-processing, ONNX
  export and padding (0 after normalising = pixel 128) apply unchanged;
* **PAF channels**: the IR's 38 PAF channels follow the Caffe OpenPose order, not edgepose's limb table.
  :data:`INTEL_PAF_CHANNELS` maps them (checked against PAFs rendered from COCO labels in the tests); the output
  convolutions of both stages are permuted so the model emits edgepose's order and the existing decoder works;
* **refinement input**: the IR concatenates ``[PAFs, heatmaps, features]``, edgepose ``[features, heatmaps,
  PAFs]`` in its own PAF order; the input channels of the refinement stage's first convolution are permuted
  to match.

BatchNorms of the edgepose model that the IR folded away get the identity (weight 1, bias = the folded bias,
mean 0, variance ``1 - eps``), so they compute exactly ``x + bias``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgepose.errors import CheckpointError
from edgepose.keypoints import NUM_OPENPOSE_HEATMAPS
from edgepose.models.importers.base import ImportedWeights

__all__ = ["INTEL_LWOP_LAYERS", "INTEL_PAF_CHANNELS", "IrConv", "import_openvino_ir", "read_ir_convolutions"]

MODEL_NAME = "lwop_mobilenet_intel"
INPUT_RESCALE = 256.0 / 255.0  # edgepose feeds (x-128)/256, the IR computes (x-128)/255

# Intel's PAF channels (x, y) of each limb of edgepose.keypoints.OPENPOSE_LIMBS, in that table's order: limb i of
# edgepose = IR channels INTEL_PAF_CHANNELS[i]. The Caffe OpenPose / Lightweight OpenPose channel map; both point
# from the limb's first keypoint to its second, as edgepose's do.
INTEL_PAF_CHANNELS: tuple[tuple[int, int], ...] = (
    (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7), (8, 9),
    (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27),
)  # fmt: skip


def paf_permutation() -> np.ndarray:
    """``perm`` with edgepose PAF channel ``c`` = IR PAF channel ``perm[c]``."""
    return np.asarray([c for pair in INTEL_PAF_CHANNELS for c in pair], dtype=np.int64)


@dataclass(frozen=True)
class Layer:
    """Where one IR convolution goes: the edgepose conv's key prefix, the BatchNorm after it (or ``None``: the
    bias goes to the conv), the activation that must follow it in the IR, and a channel fix-up."""

    conv: str
    bn: str | None
    act: str | None  # "relu" | "elu" | None
    fix: str = ""  # "input" (first conv) | "paf_out" | "refine_in"


def _intel_layers() -> dict[str, Layer]:
    table: dict[str, Layer] = {"conv1": Layer("backbone.0.0", "backbone.0.1", "relu", fix="input")}
    names = ["conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv4_1", "conv4_2",
             "conv5_1", "conv5_2", "conv5_3", "conv5_4", "conv5_5"]  # fmt: skip
    for i, name in enumerate(names, start=1):
        table[f"{name}/dw"] = Layer(f"backbone.{i}.0", f"backbone.{i}.1", "relu")
        table[f"{name}/sep"] = Layer(f"backbone.{i}.3", f"backbone.{i}.4", "relu")
    table["conv4_3_CPM/al"] = Layer("cpm.align.0", None, "elu")
    table["conv4_3_CPM/red"] = Layer("cpm.reduce.0", None, "elu")
    for k, (dw, pw) in enumerate([("dw1", "dw1/1x1"), ("dw2", "dw2/1x1"), ("dw3", "inc")]):
        table[f"conv4_3_CPM/{dw}"] = Layer(f"cpm.trunk.{k}.0", None, "elu")
        table[f"conv4_3_CPM/{pw}"] = Layer(f"cpm.trunk.{k}.2", None, "elu")
    table["conv4_4_CPM"] = Layer("cpm.conv.0", None, "relu")
    for k in range(3):
        table[f"conv5_{k + 1}_CPM_L1"] = Layer(f"initial_stage.trunk.{k}.0", None, "relu")
    table["conv5_4_CPM_L1"] = Layer("initial_stage.pafs.0.0", None, "relu")
    table["conv5_5_CPM_L1"] = Layer("initial_stage.pafs.1.0", None, None, fix="paf_out")
    table["conv5_4_CPM_L2"] = Layer("initial_stage.heatmaps.0.0", None, "relu")
    table["conv5_5_CPM_L2"] = Layer("initial_stage.heatmaps.1.0", None, None)
    for k in range(5):
        block = f"refinement_stages.0.trunk.{k}"
        table[f"Mconv{k + 1}_stage2_L1/sq"] = Layer(
            f"{block}.initial.0", None, "relu", fix="refine_in" if k == 0 else ""
        )
        table[f"Mconv{k + 1}_stage2_L1/3x3"] = Layer(f"{block}.trunk.0.0", f"{block}.trunk.0.1", "relu")
        table[f"Mconv{k + 1}_stage2_L1/3x3/2"] = Layer(f"{block}.trunk.1.0", f"{block}.trunk.1.1", "relu")
    table["Mconv6_stage2_L1"] = Layer("refinement_stages.0.pafs.0.0", None, "relu")
    table["Mconv7_stage2_L1"] = Layer("refinement_stages.0.pafs.1.0", None, None, fix="paf_out")
    table["Mconv6_stage2_L2"] = Layer("refinement_stages.0.heatmaps.0.0", None, "relu")
    table["Mconv7_stage2_L2"] = Layer("refinement_stages.0.heatmaps.1.0", None, None)
    return table


INTEL_LWOP_LAYERS: dict[str, Layer] = _intel_layers()
"""IR convolution name (``/WithoutBiases`` stripped) -> its place in ``lwop_mobilenet_intel``: all 58 of them."""


# ------------------------------------------------------------------------------------------ reading the IR
@dataclass
class IrConv:
    """One convolution of the IR, in float: OIHW weights (depth-wise: ``(C, 1, k, k)``), bias or None."""

    name: str
    weight: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, ...]
    pads: tuple[tuple[int, ...], tuple[int, ...]]  # (begin, end)
    dilation: tuple[int, ...]
    groups: int
    activation: str | None
    inputs: list[str]  # friendly names of the layers feeding it (through FakeQuantize nodes)


def _fake_quantize(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, out_lo: np.ndarray, out_hi: np.ndarray,
                   levels: int) -> np.ndarray:  # fmt: skip
    """OpenVINO's FakeQuantize (opset1), elementwise with numpy broadcasting."""
    x, lo, hi, out_lo, out_hi = (np.asarray(a, dtype=np.float64) for a in (x, lo, hi, out_lo, out_hi))
    span = np.where(hi > lo, hi - lo, 1.0)
    q = np.round((x - lo) / span * (levels - 1)) / (levels - 1) * (out_hi - out_lo) + out_lo
    return np.where(x <= np.minimum(lo, hi), out_lo, np.where(x > np.maximum(lo, hi), out_hi, q))


_FOLDABLE = ("Constant", "Convert", "FakeQuantize", "Multiply", "Subtract", "Add", "Reshape", "Unsqueeze", "Squeeze")


def _fold(node: Any) -> np.ndarray:
    """The value of a subgraph of constants (how an IR stores compressed weights), in float64."""
    kind = node.get_type_name()
    if kind not in _FOLDABLE:
        raise ValueError(f"{node.get_friendly_name()} ({kind}) is not a constant subgraph")
    if kind == "Constant":
        return np.asarray(node.get_data(), dtype=np.float64)
    args = [_fold(i.get_source_output().get_node()) for i in node.inputs()]
    if kind == "Convert":
        return args[0]
    if kind == "FakeQuantize":
        return _fake_quantize(*args, levels=int(node.get_attributes()["levels"]))
    if kind == "Multiply":
        return args[0] * args[1]
    if kind == "Subtract":
        return args[0] - args[1]
    if kind == "Add":
        return args[0] + args[1]
    shape = tuple(int(d) for d in node.output(0).get_shape())
    return args[0].reshape(shape)


def _producer(node: Any, index: int = 0) -> Any:
    """The node feeding input ``index``, looking through activation FakeQuantize nodes (int8 simulation)."""
    src = node.input(index).get_source_output().get_node()
    while src.get_type_name() == "FakeQuantize":
        src = src.input(0).get_source_output().get_node()
    return src


def _consumers(node: Any) -> list[Any]:
    return [t.get_node() for t in node.output(0).get_target_inputs()]


def _bias_and_activation(conv: Any) -> tuple[np.ndarray | None, str | None]:
    """The constant added right after ``conv`` (its bias) and the activation after that, if any."""
    nxt = _consumers(conv)
    bias = None
    if len(nxt) == 1 and nxt[0].get_type_name() == "Add":
        add = nxt[0]
        others = [add.input(i).get_source_output().get_node() for i in range(2)]
        const = [o for o in others if o.get_type_name() != "Convolution" and o.get_type_name() != "GroupConvolution"]
        try:
            bias = _fold(const[0]).reshape(-1) if const else None
        except ValueError:
            bias = None
        if bias is not None:
            nxt = _consumers(add)
    act = None
    if len(nxt) == 1 and nxt[0].get_type_name() in ("Relu", "Elu"):
        act = nxt[0].get_type_name().lower()
        if act == "elu" and abs(float(nxt[0].get_attributes().get("alpha", 1.0)) - 1.0) > 1e-6:
            act = f"elu(alpha={nxt[0].get_attributes()['alpha']})"
    return bias, act


def _layer_name(conv: Any) -> str:
    name = conv.get_friendly_name()
    return name[: -len("/WithoutBiases")] if name.endswith("/WithoutBiases") else name


def read_ir_convolutions(model: Any) -> dict[str, IrConv]:
    """Every (Group)Convolution of an ``openvino.Model`` with float weights, by layer name, in graph order."""
    convs: dict[str, IrConv] = {}
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind not in ("Convolution", "GroupConvolution"):
            continue
        name = _layer_name(op)
        try:
            weight = _fold(op.input(1).get_source_output().get_node())
        except ValueError as exc:
            raise ValueError(f"layer {name}: weights are not constants ({exc})") from None
        groups = 1
        if kind == "GroupConvolution":  # (G, O/G, I/G, k, k) -> (O, I/G, k, k)
            groups = weight.shape[0]
            weight = weight.reshape(-1, *weight.shape[2:])
        attrs = op.get_attributes()
        if attrs.get("auto_pad", "explicit") not in ("explicit", "notset"):
            raise ValueError(f"layer {name}: auto_pad={attrs['auto_pad']!r} (only explicit padding is mapped)")
        bias, act = _bias_and_activation(op)
        convs[name] = IrConv(
            name=name,
            weight=weight,
            bias=bias,
            stride=tuple(attrs["strides"]),
            pads=(tuple(attrs["pads_begin"]), tuple(attrs["pads_end"])),
            dilation=tuple(attrs["dilations"]),
            groups=groups,
            activation=act,
            inputs=[_producer(op, 0).get_friendly_name()],
        )
    return convs


def _read_model(path: Path) -> Any:
    bin_path = path.with_suffix(".bin")
    if not bin_path.is_file():
        raise CheckpointError(f"its weights file {bin_path.name} is missing (an IR is an .xml and a .bin)", path)
    try:
        import openvino as ov
    except ImportError:
        raise CheckpointError("reading an OpenVINO IR needs openvino: pip install 'edgepose[import]'", path) from None
    try:
        return ov.Core().read_model(str(path), str(bin_path))
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses with multi-line messages
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise CheckpointError(f"not a readable OpenVINO IR ({first[:200]})", path) from None


# ------------------------------------------------------------------------------------------ mapping
def _expected(module: torch.nn.Conv2d) -> dict[str, Any]:
    pad = tuple(int(p) for p in module.padding)  # type: ignore[union-attr]
    return {"stride": tuple(module.stride), "pads": (pad, pad), "dilation": tuple(module.dilation),
            "groups": module.groups}  # fmt: skip


def _concat_parts(conv: IrConv, model: Any) -> list[tuple[str, int]]:
    """``(layer name, channels)`` of each input of the Concat feeding the refinement stage, in order."""
    ops = {op.get_friendly_name(): op for op in model.get_ordered_ops()}
    concat = ops.get(conv.inputs[0])
    if concat is None or concat.get_type_name() != "Concat":
        raise ValueError(f"layer {conv.name}: its input is not a Concat of the previous stage")
    return [
        (_producer(concat, i).get_friendly_name(), int(concat.input(i).get_partial_shape()[1].get_length()))
        for i in range(len(concat.inputs()))
    ]


def _refine_input_permutation(parts_sizes: list[tuple[str, int]]) -> np.ndarray:
    """Input channel ``j`` of edgepose's refinement stage ([features, heatmaps, PAFs in edgepose order]) = IR
    concat channel ``perm[j]``."""
    parts, sizes = [p for p, _ in parts_sizes], dict(parts_sizes)
    offsets, start = {}, 0
    for p in parts:
        offsets[p] = start
        start += sizes[p]
    feat = [p for p in parts if p not in ("conv5_5_CPM_L1", "conv5_5_CPM_L2")]
    if len(feat) != 1 or "conv5_5_CPM_L1" not in offsets or "conv5_5_CPM_L2" not in offsets:
        raise ValueError(f"refinement input joins {parts}, not [features, heatmaps, PAFs] of the initial stage")
    f0, h0, p0 = offsets[feat[0]], offsets["conv5_5_CPM_L2"], offsets["conv5_5_CPM_L1"]
    return np.concatenate([
        np.arange(f0, f0 + sizes[feat[0]]), np.arange(h0, h0 + NUM_OPENPOSE_HEATMAPS), p0 + paf_permutation(),
    ])  # fmt: skip


def map_intel_lwop(convs: dict[str, IrConv], model: Any) -> dict[str, torch.Tensor]:
    """The state dict of ``lwop_mobilenet_intel`` from the IR's convolutions; ValueError naming a layer that
    does not fit."""
    from edgepose.models import build_model

    net = build_model(MODEL_NAME)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    modules = dict(net.named_modules())
    unknown = [n for n in convs if n not in INTEL_LWOP_LAYERS]
    if unknown:
        raise ValueError(f"layer {unknown[0]} has no place in {MODEL_NAME} ({len(unknown)} such layers)")
    missing = [n for n in INTEL_LWOP_LAYERS if n not in convs]
    paf_perm = paf_permutation()
    for name, layer in INTEL_LWOP_LAYERS.items():  # the layers present first: a misfit says more than a gap
        if name in missing:
            continue
        conv, module = convs[name], modules[layer.conv]
        weight = conv.weight
        if layer.fix == "input":
            weight = weight * INPUT_RESCALE
        elif layer.fix == "refine_in":
            weight = weight[:, _refine_input_permutation(_concat_parts(conv, model))]
        bias = conv.bias
        if layer.fix == "paf_out":
            weight = weight[paf_perm]
            bias = None if bias is None else bias[paf_perm]
        want = tuple(module.weight.shape)  # type: ignore[union-attr]
        if tuple(weight.shape) != want:
            raise ValueError(f"layer {name}: weights {tuple(weight.shape)}, {MODEL_NAME} needs {want} at {layer.conv}")
        got = {"stride": conv.stride, "pads": conv.pads, "dilation": conv.dilation, "groups": conv.groups}
        exp = _expected(module)  # type: ignore[arg-type]
        for key in got:
            if tuple(np.ravel(got[key])) != tuple(np.ravel(exp[key])):
                raise ValueError(f"layer {name}: {key} {got[key]}, {MODEL_NAME} has {exp[key]} at {layer.conv}")
        if conv.activation != layer.act:
            raise ValueError(f"layer {name}: followed by {conv.activation or 'no activation'}, "
                             f"{MODEL_NAME} has {layer.act or 'none'} there")  # fmt: skip
        if bias is None:
            raise ValueError(f"layer {name}: no bias follows it; {MODEL_NAME} needs one")
        state[f"{layer.conv}.weight"] = torch.from_numpy(weight.astype(np.float32))
        if layer.bn is None:
            state[f"{layer.conv}.bias"] = torch.from_numpy(bias.astype(np.float32))
        else:
            bn = modules[layer.bn]
            n = bias.shape[0]
            state[f"{layer.bn}.weight"] = torch.ones(n)
            state[f"{layer.bn}.bias"] = torch.from_numpy(bias.astype(np.float32))
            state[f"{layer.bn}.running_mean"] = torch.zeros(n)
            state[f"{layer.bn}.running_var"] = torch.full((n,), 1.0 - float(bn.eps))  # type: ignore[arg-type]
            if f"{layer.conv}.bias" in state:  # refinement convs keep a bias before their BN (LWOP's layout)
                state[f"{layer.conv}.bias"] = torch.zeros(n)
    if missing:
        raise ValueError(f"layer {missing[0]} of {MODEL_NAME} is not in the IR ({len(missing)} missing)")
    return state


def import_openvino_ir(xml_path: str | Path) -> ImportedWeights:
    """Import Intel's ``human-pose-estimation-0001`` IR (``.xml`` + ``.bin``) as ``lwop_mobilenet_intel`` weights.

    Raises :class:`CheckpointError` naming the file: no ``.bin`` beside the ``.xml``, openvino not installed, not
    a readable IR, or a network whose layers do not fit the model (the message names the first such layer).
    """
    path = Path(xml_path)
    if not path.is_file():
        raise CheckpointError("not found", path)
    model = _read_model(path)
    try:
        convs = read_ir_convolutions(model)
        if not convs:
            raise ValueError("it has no convolutions")
        state = map_intel_lwop(convs, model)
    except ValueError as exc:
        raise CheckpointError(f"not Intel's Lightweight OpenPose (human-pose-estimation-0001): {exc}", path) from None
    outputs = sorted(o.get_any_name() for o in model.outputs)
    notes = [
        f"{len(convs)} convolutions dequantised to float from {path.name}",
        "input rescaled 256/255 into conv1: the IR normalises (x-128)/255, edgepose (x-128)/256",
        f"PAF channels permuted to edgepose's limb table (IR outputs {', '.join(outputs)})",
    ]
    return ImportedWeights(kind="model", model_name=MODEL_NAME, overrides={}, state_dict=state, source=str(path),
                           notes=notes)  # fmt: skip
