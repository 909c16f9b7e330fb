"""TFLite importer for the ImageNet MobileNetV1 1.0 (uint8 QAT) as Lightweight OpenPose's trunk.

The file (``mobilenet_v1_1.0_224_quant_embedding_extractor.tflite``; no classifier) holds 27 convs: the stem
``Conv2d_0`` and 13 depth-wise separable layers ``Conv2d_1..13`` (a depth-wise 3×3 then a point-wise 1×1). LWOP's
trunk (:class:`~edgepose.models.backbones.mobilenet.MobileNetV1Dilated`) is MobileNetV1 up to conv5_5
(``Conv2d_11``) with conv4_2 (``Conv2d_6``) at stride 1 and the next layer dilated, as LWOP itself did when it
started from ImageNet MobileNetV1 weights: the first 23 convs map onto it in order, and the last 4
(``Conv2d_12`` / ``Conv2d_13``: conv5_6 and conv6, 1024 channels at stride 32) have no place in it and are left
out (said in the notes).

What the receiving trunk gets, and why:

- **Batch norm.** The file's convs have BN folded into their weights and bias; LWOP's trunk has bias-free convs
  each followed by a BN. Each BN is set to the identity plus the folded bias in eval mode (weight 1, bias = the
  folded bias, running mean 0, running variance ``1 - eps``), so ``conv → BN`` computes exactly the folded conv.
  In training mode the BN normalises with batch statistics again: fine-tuning starts from these weights, not
  from a frozen copy.
- **Padding.** Every conv of the file uses TensorFlow "SAME" padding; build the model with ``padding="same"``
  (``lwop_mobilenet`` takes it as a model option, written into the returned overrides).
- **Input.** MobileNets take RGB in [-1, 1]; the file's uint8 input is ``(q - 128) / 128``. LWOP takes BGR
  ``(x - 128) / 256``: that is the file's input with the channels reversed and halved, a linear map, so it is
  folded into the stem conv (its input channels reversed, its weights doubled) — exactly, zero padding included
  (0 means the same pixel, 128, in both conventions). The imported trunk therefore takes LWOP's own input as it
  is: no input-scaling module and no fine-tuning for the input convention (``fold_input=False`` keeps the
  file's RGB [-1, 1] weights instead).
- **Activation.** The file's activations are ReLU6 (LWOP's are ReLU). Its BN-folded early layers reach far above
  6, so the trunk must clip too: ``trunk_activation="relu6"`` (also in the returned overrides). Measured on 3
  COCO photos, conv5_5's features match the file's with cosine 0.9990-0.9993 with ReLU6 and 0.91-0.96 with ReLU
  (``benchmarks/mobilenet_v1_import_check.py``, raw output in benchmarks/results/mobilenet_v1_import_20261207.txt).

So the checkpoint is used with ``model: {name: lwop_mobilenet, pretrained: CKPT, padding: same,
trunk_activation: relu6}``; the Cpm and stages still start from random weights and need training.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from edgepose.models.importers.base import ImportedWeights
from edgepose.models.importers.tflite import TFLiteConv, _assign, _prefixes

__all__ = ["import_mobilenet_v1", "is_mobilenet_v1"]


def is_mobilenet_v1(convs: list[TFLiteConv]) -> bool:
    """The dispatch test: a 3→32 stride-2 stem, 13 separable layers (27 convs), 1024 channels at the end."""
    return (len(convs) == 27 and convs[0].weight.shape == (32, 3, 3, 3) and not convs[0].depthwise
            and convs[1].depthwise and convs[-1].weight.shape == (1024, 1024, 1, 1))  # fmt: skip


def _fold_openpose_input(stem: np.ndarray) -> np.ndarray:
    """Stem weights for BGR ``(x - 128) / 256`` input from weights for RGB ``(x - 128) / 128``: ``2 W[:, ::-1]``."""
    return np.ascontiguousarray(2.0 * stem[:, ::-1])


def import_mobilenet_v1(path: str | Path, convs: list[TFLiteConv], *, fold_input: bool = True) -> ImportedWeights:
    """The ImageNet MobileNetV1 file's trunk as ``lwop_mobilenet`` backbone weights (see the module docstring).

    Keys are ``backbone.*`` (the prefix ``lwop_mobilenet`` and ``model.pretrained`` use): every trunk conv
    weight and every BN's weight, bias, running mean and variance. A file whose first 23 convs do not fit the
    trunk in order, shape and kind is a :class:`CheckpointError` naming the first conv that does not.
    """
    from edgepose.models.backbones.mobilenet import MobileNetV1Dilated

    path = Path(path)
    trunk = MobileNetV1Dilated(padding="same", activation="relu6")
    targets = trunk.convs()
    if fold_input:
        convs = [TFLiteConv(convs[0].name, _fold_openpose_input(convs[0].weight), convs[0].bias, False,
                            convs[0].stride, convs[0].same_padding), *convs[1:]]  # fmt: skip
    state = _assign(targets, convs, _prefixes(trunk), path)
    bn_of = _following_bn(trunk)
    for conv, src in zip(targets, convs):
        bn_name, bn = bn_of[id(conv)]
        channels = conv.weight.shape[0]
        bias = src.bias if src.bias is not None else np.zeros(channels, np.float32)
        state[f"{bn_name}.weight"] = torch.ones(channels)
        state[f"{bn_name}.bias"] = torch.from_numpy(np.asarray(bias, np.float32).copy())
        state[f"{bn_name}.running_mean"] = torch.zeros(channels)
        state[f"{bn_name}.running_var"] = torch.full((channels,), 1.0 - bn.eps)
    left_out = convs[len(targets) :]
    return ImportedWeights(
        kind="backbone", model_name="lwop_mobilenet", overrides={"padding": "same", "trunk_activation": "relu6"},
        state_dict={f"backbone.{k}": v for k, v in state.items()}, source=str(path),
        notes=[f"MobileNetV1 1.0 ImageNet: the first {len(targets)} convs (stem .. conv5_5 = Conv2d_11) as LWOP's "
               "dilated trunk, BN folded into identity-plus-bias BNs; build the model with padding='same', "
               "trunk_activation='relu6'",
               f"left out: {len(left_out)} convs ({', '.join(_layer(c.name) for c in left_out[::2])}: conv5_6 and "
               "conv6, 1024 channels at stride 32) that LWOP's stride-8 trunk does not have",
               "input: LWOP's BGR (x - 128) / 256 is folded into the stem conv" if fold_input else
               "input: the file's RGB (x - 128) / 128, as it is (not LWOP's BGR (x - 128) / 256)"],
    )  # fmt: skip


def _layer(name: str) -> str:
    """``MobilenetV1/MobilenetV1/Conv2d_12_depthwise/Relu6`` → ``Conv2d_12``."""
    part = next((p for p in name.split("/") if p.startswith("Conv2d_")), name)
    return part.replace("_depthwise", "").replace("_pointwise", "")


def _following_bn(trunk: torch.nn.Module) -> dict[int, tuple[str, torch.nn.BatchNorm2d]]:
    """``{id(conv): (name, bn)}``: the BN right after each conv in its Sequential (every trunk conv has one)."""
    out: dict[int, tuple[str, torch.nn.BatchNorm2d]] = {}
    for name, seq in trunk.named_modules():
        children = list(seq.named_children())
        for (_, a), (b_name, b) in itertools.pairwise(children):
            if isinstance(a, torch.nn.Conv2d) and isinstance(b, torch.nn.BatchNorm2d):
                out[id(a)] = (f"{name}.{b_name}" if name else b_name, b)
    missing = [c for c in trunk.modules() if isinstance(c, torch.nn.Conv2d) and id(c) not in out]
    if missing:
        raise RuntimeError(f"{len(missing)} convs of {type(trunk).__name__} without a BN after them: cannot fold")
    return out
