"""TFLite importer: MobileNetV2 classifiers and MoveNet SinglePose as edgepose weights.

The flatbuffer is read with the schema reader that ships with ``ai-edge-litert`` (the TFLite interpreter's
package, the ``import`` extra): every CONV_2D / DEPTHWISE_CONV_2D operator in graph order, its weights
dequantised (int8 per-channel or uint8 per-tensor: ``(q - zero_point) * scale``), OHWI / 1HWC re-laid as
PyTorch's OIHW, and the folded batch-norm bias. Those convs are then matched, in order and by shape, to the
convs of the edgepose module that receives them (``convs()`` of the trunk or model), so a file whose layout
differs from what edgepose builds is refused at the first conv that does not fit, by name.

Which file is which is read from its graph, not its name:

- a MobileNetV2 1.0 classifier (52 trunk convs, then a 1×1 to 1001 classes) → ``kind="backbone"``: the trunk under
  ``backbone.`` (what ``mobilenetv2_fpn`` / ``mobilenetv2_deconv`` load through ``model.pretrained``) plus the
  classifier under ``classifier.`` (left out by the pose models; kept for checking the import);
- MoveNet SinglePose (a CenterNet on a MobileNetV2 FPN) → ``kind="model"``: ``mobilenetv2_fpn`` with COCO's 17
  keypoints at 192×192, trunk + neck + the keypoint-heatmap head; MoveNet's centre, offset and regression heads
  are not part of an edgepose top-down model and are left out (said in the notes).

Every conv of both files uses TensorFlow "SAME" padding, so the receiving models are built with
``padding="same"`` (:class:`~edgepose.models.backbones.mobilenetv2.TFConv2d`) and ``input_scaling="tf"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgepose.errors import CheckpointError
from edgepose.models.importers.base import ImportedWeights

__all__ = ["TFLiteConv", "import_tflite", "read_tflite_convs"]

_SKIPPED_HEADS = ("center_0/", "kpt_offset_0/", "kpt_regress_0/")
"""MoveNet heads that an edgepose top-down heatmap model has no place for (output-name prefixes)."""
_MOVENET_HEATMAP = "kpt_heatmap_0/"
_NUMPY_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 9: np.int8}


@dataclass
class TFLiteConv:
    """One conv of a TFLite graph, dequantised and in PyTorch's layout."""

    name: str
    """The conv's output tensor name (TF's layer path)."""
    weight: np.ndarray
    """(O, I/groups, kH, kW) float32."""
    bias: np.ndarray | None
    depthwise: bool
    stride: int
    same_padding: bool


def _schema():
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        raise CheckpointError(
            "reading .tflite files needs the TFLite schema reader: pip install 'edgepose[import]' (ai-edge-litert)"
        ) from None
    return schema_py_generated


def _tensor(model, graph, index: int) -> np.ndarray:
    """A constant tensor of the graph, dequantised to float32 when it is quantised."""
    tensor = graph.tensors[index]
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        raise ValueError(f"tensor {tensor.name!r} has no constant data")
    dtype = _NUMPY_TYPES.get(tensor.type)
    if dtype is None:
        raise ValueError(f"tensor {tensor.name!r} has an unsupported type code {tensor.type}")
    values = np.frombuffer(bytes(bytearray(data)), dtype=dtype).reshape([int(s) for s in tensor.shape])
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return values.astype(np.float32)
    shape = [1] * values.ndim
    if len(q.scale) > 1:
        shape[q.quantizedDimension] = len(q.scale)
    scale = np.asarray(q.scale, dtype=np.float64).reshape(shape)
    zero = np.asarray(q.zeroPoint if q.zeroPoint is not None else 0, dtype=np.float64).reshape(shape if np.size(
        q.zeroPoint) > 1 else [1] * values.ndim)
    return ((values.astype(np.float64) - zero) * scale).astype(np.float32)


def read_tflite_convs(path: str | Path) -> list[TFLiteConv]:
    """Every CONV_2D / DEPTHWISE_CONV_2D of ``path``'s main graph, in operator order, dequantised."""
    path = Path(path)
    schema = _schema()
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)
        graph = model.subgraphs[0]
    except Exception as exc:  # a flatbuffer that does not parse: say so, with the file
        raise CheckpointError(f"not a readable TFLite model ({type(exc).__name__}: {exc})", path) from None
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    convs: list[TFLiteConv] = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        kind = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")
        if kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        opts = op.builtinOptions
        name = graph.tensors[op.outputs[0]].name.decode("utf-8", "replace").split(";")[0]
        try:
            weight = _tensor(model, graph, op.inputs[1])
            bias = _tensor(model, graph, op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        except ValueError as exc:
            raise CheckpointError(f"conv {name!r}: {exc}", path) from None
        depthwise = kind == "DEPTHWISE_CONV_2D"
        # TFLite: conv OHWI, depth-wise 1HW(C) -> PyTorch OIHW / (C, 1, H, W)
        weight = weight.transpose(3, 0, 1, 2) if depthwise else weight.transpose(0, 3, 1, 2)
        convs.append(TFLiteConv(name, np.ascontiguousarray(weight), bias, depthwise, int(opts.strideH),
                                same_padding=opts.padding == schema.Padding.SAME))  # fmt: skip
    if not convs:
        raise CheckpointError("a TFLite model without any convolution: not a network edgepose can map", path)
    return convs


def _assign(targets: list[nn.Conv2d], sources: list[TFLiteConv], prefix_of: dict[int, str], path: Path
            ) -> dict[str, torch.Tensor]:  # fmt: skip
    """Copy ``sources[i]`` into ``targets[i]``'s names; the first conv whose shape or kind differs is an error."""
    if len(sources) < len(targets):
        raise CheckpointError(
            f"the file has {len(sources)} convolutions where edgepose's model needs {len(targets)}: "
            "not a network edgepose can map", path
        )  # fmt: skip
    state: dict[str, torch.Tensor] = {}
    for i, (conv, src) in enumerate(zip(targets, sources)):
        expected = tuple(conv.weight.shape)
        padding_differs = not src.same_padding and max(expected[2:]) > 1  # VALID and SAME agree for 1x1
        if src.weight.shape != expected or src.depthwise != (conv.groups > 1) or padding_differs:
            raise CheckpointError(
                f"conv {i} ({src.name!r}) is {'depth-wise ' if src.depthwise else ''}{src.weight.shape} "
                f"where edgepose's model has {expected}: not a network edgepose can map", path
            )  # fmt: skip
        name = prefix_of[id(conv)]
        state[f"{name}.weight"] = torch.from_numpy(src.weight)
        if conv.bias is not None:
            bias = src.bias if src.bias is not None else np.zeros(expected[0], np.float32)
            state[f"{name}.bias"] = torch.from_numpy(bias)
    return state


def _prefixes(module: nn.Module) -> dict[int, str]:
    return {id(m): name for name, m in module.named_modules() if isinstance(m, nn.Conv2d)}


def _import_movenet(path: Path, convs: list[TFLiteConv]) -> ImportedWeights:
    from edgepose.models import build_model

    kept = [c for c in convs if not c.name.startswith(_SKIPPED_HEADS)]
    overrides = {"input_size": [192, 192], "padding": "same", "sigmoid": True}
    model = build_model("mobilenetv2_fpn", keypoints="coco", **overrides)
    state = _assign(model.convs(), kept, _prefixes(model), path)
    return ImportedWeights(
        kind="model", model_name="mobilenetv2_fpn", overrides=overrides, state_dict=state, source=str(path),
        keypoints="coco",
        notes=[f"MoveNet SinglePose: MobileNetV2 trunk, FPN and keypoint-heatmap head ({len(kept)} convs, COCO-17 "
               f"at 192x192); its centre, offset and regression heads ({len(convs) - len(kept)} convs) are left out"],
    )  # fmt: skip


def _import_classifier(path: Path, convs: list[TFLiteConv]) -> ImportedWeights:
    from edgepose.models.backbones.mobilenetv2 import MobileNetV2Trunk

    trunk = MobileNetV2Trunk(padding="same", input_scaling="tf")
    targets = trunk.convs()
    state = {f"backbone.{k}": v for k, v in _assign(targets, convs, _prefixes(trunk), path).items()}
    rest = convs[len(targets):]
    if len(rest) != 1 or rest[0].weight.shape[1:] != (trunk.out_channels, 1, 1):
        raise CheckpointError(
            f"after the MobileNetV2 trunk the file has {len(rest)} more convolutions where a classifier has one "
            f"1x1 conv from {trunk.out_channels} channels: not a network edgepose can map", path
        )  # fmt: skip
    state["classifier.weight"] = torch.from_numpy(rest[0].weight)
    state["classifier.bias"] = torch.from_numpy(rest[0].bias if rest[0].bias is not None else
                                                np.zeros(rest[0].weight.shape[0], np.float32))  # fmt: skip
    return ImportedWeights(
        kind="backbone", model_name="mobilenetv2_deconv", overrides={"padding": "same"}, state_dict=state,
        source=str(path),
        notes=[f"MobileNetV2 1.0 classifier: trunk ({len(targets)} convs) under 'backbone.', the "
               f"{rest[0].weight.shape[0]}-class classifier under 'classifier.' (not loaded by pose models)"],
    )  # fmt: skip


def import_tflite(path: str | Path) -> ImportedWeights:
    """Import a MobileNetV2 classifier or MoveNet SinglePose ``.tflite`` (see the module docstring)."""
    path = Path(path)
    convs = read_tflite_convs(path)
    if any(c.name.startswith(_MOVENET_HEATMAP) for c in convs):
        return _import_movenet(path, convs)
    if convs[0].weight.shape == (32, 3, 3, 3) and convs[-1].weight.shape[1:] == (1280, 1, 1):
        return _import_classifier(path, convs)
    from edgepose.models.importers.tflite_mobilenet_v1 import import_mobilenet_v1, is_mobilenet_v1

    if is_mobilenet_v1(convs):  # ImageNet MobileNetV1 (27 convs, 1024 channels at the end): LWOP's trunk
        return import_mobilenet_v1(path, convs)
    first = convs[0]
    raise CheckpointError(
        f"a TFLite network edgepose cannot map: neither a MobileNetV2 classifier nor MoveNet (first conv "
        f"{first.name!r} {first.weight.shape}, last {convs[-1].name!r} {convs[-1].weight.shape})", path
    )  # fmt: skip
