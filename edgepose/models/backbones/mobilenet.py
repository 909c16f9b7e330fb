"""Dilated MobileNetV1 trunk of Lightweight OpenPose (Osokin 2018): stride 8, 512 channels.

MobileNetV1 up to conv5_5 with the stride-16 layer (conv4_2) built at stride 1 and the next layer dilated
by 2, written as a table of rows (in, out, stride, dilation) and a loop. 1.61M params, 3.65 GMACs at 368×368.
"""

from __future__ import annotations

import torch
from torch import nn

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


def conv_bn(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3×3 conv (no bias) + BN + ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def conv_dw(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """Depth-wise 3×3 + BN + ReLU, point-wise 1×1 + BN + ReLU (no biases)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, stride, dilation, dilation=dilation, groups=in_channels, bias=False),
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class MobileNetV1Dilated(nn.Sequential):
    """The LWOP backbone as one Sequential: stem, then the rows of :data:`MOBILENET_ROWS`."""

    out_channels = 512
    output_stride = 8

    def __init__(self) -> None:
        layers: list[nn.Module] = [conv_bn(3, 32, stride=2)]
        layers += [conv_dw(i, o, s, d) for i, o, s, d in MOBILENET_ROWS]
        super().__init__(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)
