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

from edgepose.models.backbones.resnet import ResNetStem
from edgepose.models.flpn import (
    DEPTHS,
    EXPANSION,
    STAGE_WIDTHS,
    StandardBottleneck,
    _check_choice,
    _check_flag,
    _check_positive_int,
    init_trunk,
    make_layer,
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

__all__ = ["SimpleBaseline", "simplebaseline_r50", "simplebaseline_r101", "simplebaseline_r152"]


class SimpleBaseline(TopDownHeatmapNet):
    """SimpleBaseline on ResNet-``depth``; prefer the constructors ``simplebaseline_r50/101/152``.

    Keyword options: ``num_keypoints``, ``input_size`` (stored), ``stem`` ("maxpool" = ResNet's, or FLPN's
    "two_conv"), ``head`` ("deconv" = dense deconvs, or "group_deconv"), ``deconv_channels``,
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
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth!r}")
        check_input_size(input_size)  # fail before building the layers
        check_num_keypoints(num_keypoints)
        stem = _check_choice("stem", stem, ResNetStem.KINDS)
        head = _check_choice("head", head, ("deconv", "group_deconv"))
        deconv_channels = _check_positive_int("deconv_channels", deconv_channels)
        _check_flag("gc", gc)
        _check_flag("head_pointwise", head_pointwise)
        if num_deconv_layers not in (0, 1, 2, 3, 4, 5) or isinstance(num_deconv_layers, bool):
            raise ValueError(f"num_deconv_layers must be an integer in 0..5, got {num_deconv_layers!r}")

        def block(cin: int, mid: int, cout: int, stride: int) -> StandardBottleneck:
            return StandardBottleneck(cin, mid, cout, stride, gc=bool(gc))

        stem_module = ResNetStem(stem)
        layers, in_channels = [], stem_module.out_channels
        for i, (mid, blocks) in enumerate(zip(STAGE_WIDTHS, DEPTHS[depth])):
            layers.append(make_layer(block, in_channels, mid, mid * EXPANSION, blocks, stride=1 if i == 0 else 2))
            in_channels = mid * EXPANSION
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
            stride=32 // head_module.upsample,
        )
        self.depth = depth
        for part in (self.stem, self.layer1, self.layer2, self.layer3, self.layer4):
            init_trunk(part)
        init_head(self.head, self.final)


simplebaseline_r50 = depth_variant(
    SimpleBaseline,
    50,
    "simplebaseline_r50",
    "SimpleBaseline-R50: 34.00M params, 5.43 GMACs, 8.99 HR-1024 GFLOPs at 256×192 (paper 34.0M / 8.9G).",
)
simplebaseline_r101 = depth_variant(
    SimpleBaseline,
    101,
    "simplebaseline_r101",
    "SimpleBaseline-R101: 52.99M params, 12.38 HR-1024 GFLOPs at 256×192 (paper 53.0M / 12.4G).",
)
simplebaseline_r152 = depth_variant(
    SimpleBaseline,
    152,
    "simplebaseline_r152",
    "SimpleBaseline-R152: 68.64M params, 15.76 HR-1024 GFLOPs at 256×192 (paper 68.6M / 15.7G).",
)
