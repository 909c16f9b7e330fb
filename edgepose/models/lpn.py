"""LPN — Lightweight Pose Network (Zhang et al., "Simple and Lightweight Human Pose Estimation",
arXiv 1911.10346), the lightweight top-down baseline FLPN compares with (SPEC A.0, B.3).

Reconstructed from the paper and the behaviour of the official zhang943/lpn-pytorch (read, not copied):

- stem: ResNet's 7×7 conv stride 2 + BN + ReLU + 3×3 max-pool stride 2;
- four stages of *lightweight bottlenecks* with **expansion 1** (widths 64/128/256/512 in and out):
  1×1 conv + BN + ReLU → depth-wise 3×3 (stride) + BN + ReLU → 1×1 conv + BN → GC block (1/16, at least 16
  hidden) → + shortcut (ResNet 1×1 projection on a stage's first block) → ReLU;
- ResNet depths [3,4,6,3] / [3,4,23,3] / [3,8,36,3]; layer2 and layer3 stride 2, **layer4 stride 1**, so the
  trunk ends at stride 16 (512 channels);
- head "gd256x2": two group deconvolutions (k4, s2, 256 filters, groups = gcd(C_in, 256)) each followed by
  BN + ReLU and a 1×1 conv (256→256) + BN + ReLU, back to stride 4; final 1×1 conv to K with bias.

At 256×192: LPN-50/101/152 have 2.911 / 5.354 / 7.378M parameters and 1.008 / 1.414 / 1.823 HR-1024
"GFLOPs" (papers: 2.9 / 5.3 / 7.4M and 1.0 / 1.4 / 1.8G); 1.068 / 1.505 / 1.943 true GMACs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from edgepose.models.backbones.resnet import ResNetStem
from edgepose.models.blocks import GCBlock
from edgepose.models.flpn import (
    DEPTHS,
    STAGE_WIDTHS,
    _check_choice,
    _check_flag,
    _check_positive_int,
    init_trunk,
    make_layer,
    projection,
)
from edgepose.models.heads import (
    DeconvHead,
    TopDownHeatmapNet,
    check_input_size,
    check_num_keypoints,
    init_head,
    make_final,
)
from edgepose.models.variants import depth_variant

__all__ = ["LPN", "LightweightBottleneck", "lpn50", "lpn101", "lpn152"]


class LightweightBottleneck(nn.Module):
    """LPN's bottleneck: 1×1 → depth-wise 3×3 (stride) → 1×1, BN after each, GC, + shortcut, ReLU."""

    def __init__(
        self, in_channels: int, mid_channels: int, out_channels: int, stride: int = 1, gc: bool = True
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride, 1, groups=mid_channels, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.gc = GCBlock(out_channels) if gc else None
        self.downsample = projection(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.gc is not None:
            out = self.gc(out)
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class LPN(TopDownHeatmapNet):
    """LPN on a depth-``depth`` lightweight ResNet; prefer ``lpn50/101/152``.

    Keyword options: ``num_keypoints``, ``input_size`` (stored), ``gc`` (the GC attention, LPN's
    ``ATTENTION: GC``), ``head`` ("group_deconv" or dense "deconv"), ``deconv_channels``,
    ``num_deconv_layers`` (2: the trunk is stride 16), ``head_pointwise`` (the 1×1 conv after each deconv),
    ``final_conv_kernel``.
    """

    def __init__(
        self,
        *,
        depth: int = 50,
        num_keypoints: int = 17,
        input_size: Sequence[int] = (256, 192),
        gc: bool = True,
        head: str = "group_deconv",
        deconv_channels: int = 256,
        num_deconv_layers: int = 2,
        head_pointwise: bool = True,
        final_conv_kernel: int = 1,
    ) -> None:
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth!r}")
        check_input_size(input_size)  # fail before building the layers
        check_num_keypoints(num_keypoints)
        head = _check_choice("head", head, ("group_deconv", "deconv"))
        deconv_channels = _check_positive_int("deconv_channels", deconv_channels)
        _check_flag("gc", gc)
        _check_flag("head_pointwise", head_pointwise)
        if num_deconv_layers not in (0, 1, 2, 3, 4) or isinstance(num_deconv_layers, bool):
            raise ValueError(f"num_deconv_layers must be an integer in 0..4, got {num_deconv_layers!r}")

        def block(cin: int, mid: int, cout: int, stride: int) -> LightweightBottleneck:
            return LightweightBottleneck(cin, mid, cout, stride, gc=bool(gc))

        stem_module = ResNetStem("maxpool")
        layers, in_channels = [], stem_module.out_channels
        for width, blocks, stride in zip(STAGE_WIDTHS, DEPTHS[depth], (1, 2, 2, 1)):
            layers.append(make_layer(block, in_channels, width, width, blocks, stride=stride))
            in_channels = width
        head_module = DeconvHead(
            in_channels, deconv_channels, num_deconv_layers, grouped=head == "group_deconv", pointwise=head_pointwise
        )
        super().__init__(
            stem=stem_module,
            layers=layers,
            head=head_module,
            final=make_final(head_module.out_channels, num_keypoints, final_conv_kernel),
            num_keypoints=num_keypoints,
            input_size=input_size,
            stride=16 // head_module.upsample,
        )
        self.depth = depth
        for part in (self.stem, self.layer1, self.layer2, self.layer3, self.layer4):
            init_trunk(part)
        init_head(self.head, self.final)


lpn50 = depth_variant(
    LPN, 50, "lpn50",
    "LPN-50: 2.911M params, 1.008 HR-1024 GFLOPs at 256×192 (paper 2.9M / 1.0G).",
)  # fmt: skip
lpn101 = depth_variant(
    LPN, 101, "lpn101", "LPN-101: 5.354M params, 1.414 HR-1024 GFLOPs at 256×192 (paper 5.3M / 1.4G)."
)
lpn152 = depth_variant(
    LPN, 152, "lpn152", "LPN-152: 7.378M params, 1.823 HR-1024 GFLOPs at 256×192 (paper 7.4M / 1.8G)."
)
