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
from functools import partial

from torch import nn

from edgepose.models.flpn import DEPTHS, MobileNetV3Bottleneck, resnet_stages
from edgepose.models.options import check_depth, check_flag
from edgepose.models.topdown import TopDownHeatmapNet, head_spec
from edgepose.models.variants import variant

__all__ = ["LPN", "LightweightBottleneck", "lpn50", "lpn101", "lpn152"]


class LightweightBottleneck(MobileNetV3Bottleneck):
    """LPN's bottleneck: 1×1 → depth-wise 3×3 (stride) → 1×1, BN after each, GC, + shortcut, ReLU.

    FLPN's MobileNetV3 block with ReLU instead of h-swish and a ReLU after the add (keys ``conv1..conv3``,
    ``bn1..bn3``, ``gc``, ``downsample``).
    """

    act_layer = nn.ReLU
    default_post_add_relu = True


class LPN(TopDownHeatmapNet):
    """LPN on a depth-``depth`` lightweight ResNet; prefer ``lpn50/101/152``.

    Keyword options: ``num_keypoints``, ``input_size`` (the crop size of its metadata), ``gc`` (the GC attention, LPN's
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
        check_depth(depth, DEPTHS)
        check_flag("gc", gc)
        block = partial(LightweightBottleneck, gc=bool(gc))
        super().__init__(
            stem="maxpool",
            stages=resnet_stages(block, DEPTHS[depth], expansion=1, strides=(1, 2, 2, 1)),
            head=head_spec(head, deconv_channels, num_deconv_layers, head_pointwise, final_conv_kernel),
            num_keypoints=num_keypoints,
            input_size=input_size,
        )
        self.depth = depth


lpn50 = variant(LPN, "lpn50", "LPN-50: 2.911M params, 1.008 HR-1024 GFLOPs at 256×192 (paper 2.9M / 1.0G).", depth=50)
lpn101 = variant(
    LPN, "lpn101", "LPN-101: 5.354M params, 1.414 HR-1024 GFLOPs at 256×192 (paper 5.3M / 1.4G).", depth=101
)
lpn152 = variant(
    LPN, "lpn152", "LPN-152: 7.378M params, 1.823 HR-1024 GFLOPs at 256×192 (paper 7.4M / 1.8G).", depth=152
)
