"""Imported TFLite networks against the original files, run by TFLite's own interpreter (``ai-edge-litert``).

The tests (``tests/models/test_import_tflite.py``) assert on these figures and ``benchmarks/import_checks.py``
prints them for the docs, so both read the same measurement:

- :func:`classifier_agreement`: how often edgepose's MobileNetV2 trunk + the imported classifier name the class the
  original file names. The original's output is uint8 softmax, so several classes can share its top value; any of
  them is the original's answer (``agree_with_ties``); ``agree_strict`` compares argmaxes.
- :func:`movenet_feature_cosines`: cosine similarity between edgepose's trunk features and the original's, per
  trunk stage (strides 4-32) and for the 1280-channel top.
- :func:`layer_cosines`: each imported conv fed the original's own (dequantised) input against the original's
  output: weights, layout, bias and padding checked layer by layer, free of the int8 arithmetic the file
  accumulates over its depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from edgepose.errors import CheckpointError
from edgepose.geometry import normalize_image

__all__ = [
    "MOVENET_STAGES",
    "classifier_agreement",
    "interpreter",
    "layer_cosines",
    "movenet_feature_cosines",
    "read_rgb",
]

MOVENET_STAGES = {1: "block_2_add", 2: "block_5_add", 3: "block_9_add", 4: "block_12_add", 5: "block_15_add"}
"""Index in :class:`MobileNetV2Trunk`'s outputs -> MoveNet's name for the end of that trunk stage."""
_MOVENET_PREFIX = "center_net_mobile_net_v2fpn_feature_extractor/model_1/model/"
_SKIPPED = ("center_0/", "kpt_offset_0/", "kpt_regress_0/")


def read_rgb(path: str | Path, size: int) -> np.ndarray:
    """An image file as ``size`` x ``size`` uint8 RGB (area-resized, as both sides of a check see it)."""
    import cv2

    bgr = cv2.imread(str(path))
    if bgr is None:
        raise CheckpointError("unreadable image", path)
    return cv2.cvtColor(cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def interpreter(path: str | Path, keep_all: bool = False):
    """TFLite's interpreter on ``path``; ``keep_all`` keeps every intermediate tensor (no delegate fusion)."""
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError:
        raise CheckpointError("checking against a .tflite file needs pip install 'edgepose[import]'", path) from None
    kwargs = {}
    if keep_all:
        kwargs = {"experimental_op_resolver_type": litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                  "experimental_preserve_all_tensors": True}  # fmt: skip
    it = litert.Interpreter(model_path=str(path), **kwargs)
    it.allocate_tensors()
    return it


def _tensor(it, key: str | int) -> np.ndarray:
    """A tensor by index, or by name (exact, or the first of a fused ``name;...`` list), dequantised."""
    detail = next(t for t in it.get_tensor_details() if t["index"] == key or t["name"] == key
                  or (isinstance(key, str) and t["name"].startswith((key + ";", key + "/"))))  # fmt: skip
    values = it.get_tensor(detail["index"]).astype(np.float32)
    scale, zero = detail["quantization"]
    return (values - zero) * scale if scale else values


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def classifier_agreement(path: str | Path, trunk: torch.nn.Module, classifier: dict[str, torch.Tensor],
                         images: Sequence[np.ndarray]) -> dict[str, int]:  # fmt: skip
    """``{"images", "agree_strict", "agree_with_ties"}`` of the imported classifier against the original."""
    it = interpreter(path)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    strict = ties = 0
    for rgb in images:
        it.set_tensor(inp["index"], rgb[None].astype(inp["dtype"]))
        it.invoke()
        reference = it.get_tensor(out["index"])[0]
        with torch.no_grad():
            pooled = trunk(torch.from_numpy(normalize_image(rgb))[None])[-1].mean((2, 3), keepdim=True)
            ours = int(F.conv2d(pooled, classifier["weight"], classifier["bias"]).flatten().argmax())
        strict += int(ours == int(reference.argmax()))
        ties += int(reference[ours] == reference.max())
    return {"images": len(images), "agree_strict": strict, "agree_with_ties": ties}


def movenet_feature_cosines(path: str | Path, model: torch.nn.Module, images: Sequence[np.ndarray]
                            ) -> dict[str, list[float]]:  # fmt: skip
    """``{"stages": [...], "top": [...]}``: cosines per image (stages: every stage of every image)."""
    it = interpreter(path, keep_all=True)
    inp = it.get_input_details()[0]
    stages, top = [], []
    for rgb in images:
        it.set_tensor(inp["index"], rgb[None])
        it.invoke()
        with torch.no_grad():
            feats = [f[0].numpy() for f in model.backbone(torch.from_numpy(normalize_image(rgb))[None])]
        for index, name in MOVENET_STAGES.items():
            stages.append(_cosine(feats[index], _tensor(it, _MOVENET_PREFIX + name)[0].transpose(2, 0, 1)))
        top.append(_cosine(feats[-1], _tensor(it, _MOVENET_PREFIX + "out_relu")[0].transpose(2, 0, 1)))
    return {"stages": stages, "top": top}


def layer_cosines(path: str | Path, model: torch.nn.Module, image: np.ndarray) -> list[float]:
    """Per imported conv (MoveNet's kept convs, in order), the cosine of edgepose's output on the original's
    input against the original's output, after whichever fused activation (none, ReLU, ReLU6) fits."""
    it = interpreter(path, keep_all=True)
    it.set_tensor(it.get_input_details()[0]["index"], image[None])
    it.invoke()
    names = {t["index"]: t["name"] for t in it.get_tensor_details()}
    ops = [o for o in it._get_ops_details() if o["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")
           and not names[o["outputs"][0]].startswith(_SKIPPED)]  # fmt: skip
    convs = model.convs()
    if len(ops) != len(convs):
        raise CheckpointError(f"{len(ops)} convs in the file, {len(convs)} in edgepose's model", path)
    out = []
    for op, conv in zip(ops, convs):
        x = torch.from_numpy(_tensor(it, int(op["inputs"][0])).transpose(0, 3, 1, 2).copy())
        reference = _tensor(it, int(op["outputs"][0])).transpose(0, 3, 1, 2)
        with torch.no_grad():
            y = conv(x).numpy()
        out.append(max(_cosine(y, reference), _cosine(np.clip(y, 0, None), reference),
                       _cosine(np.clip(y, 0, 6), reference)))  # fmt: skip
    return out
