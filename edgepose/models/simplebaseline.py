"""SimpleBaseline (Xiao et al., "Simple Baselines for Human Pose Estimation and Tracking", ECCV 2018).

ResNet trunk (7×7 conv + max-pool stem, standard bottlenecks, stride 32), three dense
``ConvTranspose2d(256, k4, s2)`` + BN + ReLU layers, and a final 1×1 conv to K heatmaps at stride 4. The
reference model FLPN is measured against (SPEC A.0): SimpleBaseline-R50 at 256×192 has 34.00M parameters,
5.43 true GMACs and 8.99 "GFLOPs" under the HR-1024 convention (paper: 34.0M, 8.9G).

The trunk's keys match torchvision's ResNet inside ``layer1..layer4``; its stem lives under ``stem.``
(``stem.conv1``, ``stem.bn1``), so ImageNet weights load with
``load_weights(model, path, rename=TORCHVISION_RESNET_RENAME)`` (``edgepose.models.weights``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from edgepose.models.flpn import DEPTHS, StandardBottleneck, resnet_stages
from edgepose.models.options import check_depth, check_flag
from edgepose.models.topdown import TopDownHeatmapNet, head_spec
from edgepose.models.variants import variant

__all__ = ["SimpleBaseline", "simplebaseline_r50", "simplebaseline_r101", "simplebaseline_r152"]


class SimpleBaseline(TopDownHeatmapNet):
    """SimpleBaseline on ResNet-``depth``; prefer the constructors ``simplebaseline_r50/101/152``.

    Keyword options: ``num_keypoints``, ``input_size`` (the crop size of its metadata), ``stem`` ("maxpool" =
    ResNet's, or FLPN's "two_conv"), ``head`` ("deconv" = dense deconvs, or "group_deconv"), ``deconv_channels``,
    ``num_deconv_layers``, ``head_pointwise`` (1×1 conv after each deconv), ``final_conv_kernel`` (1 or 3),
    ``gc`` (a GC block in every bottleneck; not in SimpleBaseline).
    """

    def __init__(
        self,
        *,
        depth: int = 50,
        num_keypoints: int = 17,
        input_size: Sequence[int] = (256, 192),
        stem: str = "maxpool",
        head: str = "deconv",
        deconv_channels: int = 256,
        num_deconv_layers: int = 3,
        head_pointwise: bool = False,
        final_conv_kernel: int = 1,
        gc: bool = False,
    ) -> None:
        check_depth(depth, DEPTHS)
        check_flag("gc", gc)
        super().__init__(
            stem=stem,
            stages=resnet_stages(partial(StandardBottleneck, gc=bool(gc)), DEPTHS[depth]),
            head=head_spec(head, deconv_channels, num_deconv_layers, head_pointwise, final_conv_kernel),
            num_keypoints=num_keypoints,
            input_size=input_size,
        )
        self.depth = depth


simplebaseline_r50 = variant(
    SimpleBaseline,
    "simplebaseline_r50",
    "SimpleBaseline-R50: 34.00M params, 5.43 GMACs, 8.99 HR-1024 GFLOPs at 256×192 (paper 34.0M / 8.9G).",
    depth=50,
)
simplebaseline_r101 = variant(
    SimpleBaseline,
    "simplebaseline_r101",
    "SimpleBaseline-R101: 52.99M params, 12.38 HR-1024 GFLOPs at 256×192 (paper 53.0M / 12.4G).",
    depth=101,
)
simplebaseline_r152 = variant(
    SimpleBaseline,
    "simplebaseline_r152",
    "SimpleBaseline-R152: 68.64M params, 15.76 HR-1024 GFLOPs at 256×192 (paper 68.6M / 15.7G).",
    depth=152,
)
