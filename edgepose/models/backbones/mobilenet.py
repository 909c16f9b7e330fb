"""Dilated MobileNetV1 trunk of Lightweight OpenPose (Osokin 2018): stride 8, 512 channels.

MobileNetV1 up to conv5_5 with the stride-16 layer (conv4_2) built at stride 1 and the next layer dilated
by 2, written as a table of rows (in, out, stride, dilation) and a loop. 1.61M params, 3.65 GMACs at 368×368.

Two options exist for TensorFlow-trained MobileNetV1 weights (``edgepose import`` of the ImageNet MobileNetV1 in
``../shared/weights``, :mod:`edgepose.models.importers.tflite_mobilenet_v1`):

- ``padding="same"`` gives the stride-2 convs TensorFlow's "SAME" padding (:class:`~edgepose.models.backbones.
  mobilenetv2.TFConv2d`: on an even-sized input only right and bottom are padded). Symmetric padding shifts
  the features of a TF-trained network by half a pixel per stride-2 layer and costs it accuracy. Stride-1 convs
  pad symmetrically under both conventions, so only the stride-2 convs change; the state-dict keys do not.
- ``activation="relu6"``: TF's MobileNetV1 clips every activation at 6 and its BN-folded early layers reach far
  above it (measured on 3 COCO photos: with ReLU the imported features fall to cosine 0.85-0.91 of the file's
  after the second layer, with ReLU6 they stay >= 0.9998; benchmarks/results/mobilenet_v1_import_20261207.txt).
  ``"relu"`` is LWOP's own choice.
- ``dilated=False`` builds plain MobileNetV1 (conv4_2 at stride 2, no dilation; output stride 16): the network
  the published weights were trained as, used to check an import layer by layer. LWOP always uses the default.
"""

from __future__ import annotations

import torch
from torch import nn

from edgepose.models.backbones.mobilenetv2 import TFConv2d

PADDINGS = ("symmetric", "same")
ACTIVATIONS = ("relu", "relu6")

# (in, out, stride, dilation) of every depth-wise separable layer after the stem conv3×3(3→32, s2).
MOBILENET_ROWS: tuple[tuple[int, int, int, int], ...] = (
    (32, 64, 1, 1),
    (64, 128, 2, 1),
    (128, 128, 1, 1),
    (128, 256, 2, 1),
    (256, 256, 1, 1),
    (256, 512, 1, 1),  # conv4_2: stride 2 in MobileNetV1, stride 1 here
    (512, 512, 1, 2),  # dilated to keep the receptive field
    (512, 512, 1, 1),
    (512, 512, 1, 1),
    (512, 512, 1, 1),
    (512, 512, 1, 1),  # conv5_5
)
CONV4_2 = 5
"""Index in :data:`MOBILENET_ROWS` of the layer that is stride 2 in MobileNetV1 (the next one is dilated)."""


def _conv3x3(in_channels: int, out_channels: int, stride: int, dilation: int, groups: int, padding: str) -> nn.Conv2d:
    """3×3 conv without bias; TF "SAME" padding (computed per input size) for a stride-2 conv when asked."""
    if padding == "same" and stride > 1:
        return TFConv2d(in_channels, out_channels, 3, stride, dilation=dilation, groups=groups, bias=False)
    return nn.Conv2d(in_channels, out_channels, 3, stride, dilation, dilation=dilation, groups=groups, bias=False)


def _act(activation: str) -> nn.Module:
    return nn.ReLU6(inplace=True) if activation == "relu6" else nn.ReLU(inplace=True)


def conv_bn(
    in_channels: int, out_channels: int, stride: int = 1, padding: str = "symmetric", activation: str = "relu"
) -> nn.Sequential:
    """3×3 conv (no bias) + BN + ReLU (or ReLU6)."""
    return nn.Sequential(
        _conv3x3(in_channels, out_channels, stride, 1, 1, padding),
        nn.BatchNorm2d(out_channels),
        _act(activation),
    )


def conv_dw(
    in_channels: int,
    out_channels: int,
    stride: int = 1,
    dilation: int = 1,
    padding: str = "symmetric",
    activation: str = "relu",
) -> nn.Sequential:
    """Depth-wise 3×3 + BN + ReLU, point-wise 1×1 + BN + ReLU (no biases; ReLU6 with ``activation="relu6"``)."""
    return nn.Sequential(
        _conv3x3(in_channels, in_channels, stride, dilation, in_channels, padding),
        nn.BatchNorm2d(in_channels),
        _act(activation),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        _act(activation),
    )


class MobileNetV1Dilated(nn.Sequential):
    """The LWOP backbone as one Sequential: stem, then the rows of :data:`MOBILENET_ROWS`."""

    out_channels = 512

    def __init__(self, padding: str = "symmetric", dilated: bool = True, activation: str = "relu") -> None:
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        rows = list(MOBILENET_ROWS)
        if not dilated:  # MobileNetV1 as published: conv4_2 at stride 2, nothing dilated
            rows = [(i, o, 2 if k == CONV4_2 else s, 1) for k, (i, o, s, _) in enumerate(rows)]
        layers: list[nn.Module] = [conv_bn(3, 32, 2, padding, activation)]
        layers += [conv_dw(i, o, s, d, padding, activation) for i, o, s, d in rows]
        super().__init__(*layers)
        self.output_stride = 8 if dilated else 16
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)

    def convs(self) -> list[nn.Conv2d]:
        """Every conv in forward order: the order TensorFlow graphs list them in (importers map by it)."""
        return [m for m in self.modules() if isinstance(m, nn.Conv2d)]
