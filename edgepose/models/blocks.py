"""Building blocks shared by every network: conv+BN+act, Ghost/Smart module, SE, GC block, the residual
tail and shortcut of every bottleneck, the Ghost-module bottleneck body FLPN's Smart and Ghost variants share,
and the Kaiming/BN initialisation every trunk uses.

The submodule names follow the official GhostNet code (``primary_conv``, ``cheap_operation``, ``conv_reduce``,
``conv_expand``) and GCNet/mmcv (``conv_mask``, ``channel_add_conv``) so that published state dicts map onto
ours key for key.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def make_divisible(value: float, divisor: int = 4, min_value: int | None = None) -> int:
    """Round ``value`` to a multiple of ``divisor`` without going more than 10% below it (GhostNet/MobileNet)."""
    min_value = min_value or divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """relu6(x + 3) / 6, GhostNet's gate; exports to ONNX HardSigmoid."""
    return F.hardsigmoid(x)


class ConvBnAct(nn.Sequential):
    """k×k conv (no bias) + BatchNorm + optional ReLU, padding chosen to keep the size at stride 1."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        dilation: int = 1,
        act: bool = True,
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class GhostModule(nn.Module):
    """Ghost module (GhostNet) = FLPN's Smart module with ratio ``t``.

    A primary conv makes ``m = ceil(out/t)`` intrinsic maps; a cheap depth-wise ``dw_size``×``dw_size`` conv
    makes ``m·(t-1)`` "ghost" maps from them; the concatenation is sliced to exactly ``out_channels``. The
    ratio t is FLPN's knob: the more redundant a stage's feature maps (high SSIM between channels), the
    larger t can be, i.e. the fewer intrinsic maps it needs.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        ratio: int = 2,
        dw_size: int = 3,
        stride: int = 1,
        relu: bool = True,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        if ratio < 1:
            raise ValueError(f"ghost ratio must be >= 1, got {ratio}")
        self.out_channels = out_channels
        init_channels = math.ceil(out_channels / ratio)
        new_channels = init_channels * (ratio - 1)
        act = [nn.ReLU(inplace=True)] if relu else []
        self.primary_conv = nn.Sequential(
            nn.Conv2d(in_channels, init_channels, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(init_channels),
            *act,
        )
        if new_channels > 0:
            act = [nn.ReLU(inplace=True)] if relu else []
            pad = dilation * (dw_size // 2)
            self.cheap_operation: nn.Module | None = nn.Sequential(
                nn.Conv2d(
                    init_channels, new_channels, dw_size, 1, pad, dilation=dilation,
                    groups=init_channels, bias=False,
                ),
                nn.BatchNorm2d(new_channels),
                *act,
            )  # fmt: skip
        else:
            self.cheap_operation = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        intrinsic = self.primary_conv(x)
        if self.cheap_operation is None:
            return intrinsic[:, : self.out_channels]
        ghosts = self.cheap_operation(intrinsic)
        return torch.cat([intrinsic, ghosts], dim=1)[:, : self.out_channels]


SmartModule = GhostModule
"""FLPN's name for the ratio-``t`` Ghost module (paper Sec. III-A)."""


class SqueezeExcite(nn.Module):
    """GhostNet's SE: global pool, 1×1 reduce (to make_divisible(C·se_ratio, 4)), ReLU, 1×1, hard-sigmoid."""

    def __init__(self, channels: int, se_ratio: float = 0.25, divisor: int = 4) -> None:
        super().__init__()
        reduced = make_divisible(channels * se_ratio, divisor)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act1 = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.conv_expand(self.act1(self.conv_reduce(self.avg_pool(x))))
        return x * hard_sigmoid(gate)


class GCBlock(nn.Module):
    """Global Context block (GCNet): 'att' pooling + 'channel_add' fusion.

    A 1×1 conv scores every position, a softmax over H·W turns the scores into attention weights, and the
    attention-weighted sum of the features is one C-vector of global context. A bottleneck transform
    (1×1 C→P, LayerNorm, ReLU, 1×1 P→C) of that vector is added to every position. The last conv starts at
    zero, so the block is the identity at initialisation and a pretrained trunk is not disturbed.
    """

    def __init__(self, channels: int, ratio: float = 1 / 16, min_hidden: int = 16) -> None:
        super().__init__()
        hidden = max(int(channels * ratio), min_hidden)
        self.conv_mask = nn.Conv2d(channels, 1, kernel_size=1)
        self.channel_add_conv = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.LayerNorm([hidden, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_normal_(self.conv_mask.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(self.conv_mask.bias)
        last = self.channel_add_conv[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def spatial_pool(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        weights = torch.softmax(self.conv_mask(x).reshape(b, 1, h * w), dim=-1)  # B×1×HW
        context = torch.matmul(x.reshape(b, c, h * w), weights.transpose(1, 2))  # B×C×1
        return context.reshape(b, c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.channel_add_conv(self.spatial_pool(x))


def init_conv_bn(module: nn.Module) -> None:
    """ResNet/GhostNet init: Kaiming-normal (fan_out) conv weights, zero conv biases, BN γ=1 β=0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def projection(in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    """ResNet's shortcut: None (identity) if shapes agree, else 1×1 conv (stride) + BN (keys ``0``, ``1``)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class ResidualBlock(nn.Module):
    """Shared tail of every ResNet-shaped bottleneck: optional GC on the branch, + shortcut, optional ReLU.

    Subclasses build their branch, then call :meth:`_finish` so the GC/shortcut/activation order is written
    once (GCNet places GC on the branch, before the add).
    """

    downsample: nn.Module | None
    gc: nn.Module | None
    post_add_relu: bool

    def _finish(self, branch: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.gc is not None:
            branch = self.gc(branch)
        shortcut = x if self.downsample is None else self.downsample(x)
        out = branch + shortcut
        return torch.relu(out) if self.post_add_relu else out


class GhostModuleBottleneck(ResidualBlock):
    """``Ghost(N_in→M, t, ReLU) → [DW3×3(M, stride) + BN (+ReLU)] → [SE(M)] → Ghost(M→N, t, linear) → [GC] → +``.

    The body FLPN's Smart and Ghost bottlenecks share; children ``module1``, ``dwconv``, ``se``, ``module2``,
    ``gc``, ``downsample``. The two differ only in the depth-wise layer, set by class attributes:
    ``dw_always`` (Smart: every block has it; Ghost: only striding blocks) and ``dw_act`` (Smart: ReLU after
    it; Ghost: linear), and in the default of ``post_add_relu`` (``None`` = :attr:`default_post_add_relu`).
    """

    dw_always = True
    dw_act = True
    default_post_add_relu = True

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        stride: int = 1,
        ratio: int = 2,
        gc: bool = True,
        se: bool = False,
        post_add_relu: bool | None = None,
    ) -> None:
        super().__init__()
        self.module1 = GhostModule(in_channels, mid_channels, ratio=ratio, relu=True)
        has_dw = self.dw_always or stride > 1
        self.dwconv = (
            ConvBnAct(mid_channels, mid_channels, 3, stride, groups=mid_channels, act=self.dw_act) if has_dw else None
        )
        self.se = SqueezeExcite(mid_channels) if se else None
        self.module2 = GhostModule(mid_channels, out_channels, ratio=ratio, relu=False)
        self.gc = GCBlock(out_channels) if gc else None
        self.downsample = projection(in_channels, out_channels, stride)
        self.post_add_relu = self.default_post_add_relu if post_add_relu is None else post_add_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module1(x)
        if self.dwconv is not None:
            out = self.dwconv(out)
        if self.se is not None:
            out = self.se(out)
        return self._finish(self.module2(out), x)
