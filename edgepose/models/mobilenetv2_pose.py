"""Top-down heatmap networks on a MobileNetV2 trunk, so edgepose can start from published pretrained weights.

Two light heads on :class:`~edgepose.models.backbones.mobilenetv2.MobileNetV2Trunk`, both ending at stride 4:

- :class:`MobileNetV2FPN` -- MoveNet's layout (Google's MoveNet SinglePose, a CenterNet-style network): 1×1
  laterals on the 24/32/64-channel stages and on the 1280-channel top, merged top-down by ×2 bilinear
  up-sampling, addition and a separable conv (3×3 depth-wise + 1×1, ReLU) per level, then MoveNet's keypoint
  heatmap head (separable conv to 96, ReLU, 1×1 to K, sigmoid). Built this way, MoveNet's COCO-trained trunk,
  neck *and* heatmap head import as they are (``edgepose import movenet....tflite``), and a model of another
  keypoint set starts from the rows of the keypoints it shares by name (``model.pretrained``).
- :class:`MobileNetV2Deconv` -- the SimpleBaseline/FLPN recipe on a MobileNetV2 trunk: the 1280-channel top
  followed by FLPN's grouped deconvolution head (:class:`~edgepose.models.heads.DeconvHead`, ``grouped=True``)
  and a 1×1 conv to K heatmaps. For the ImageNet MobileNetV2 classifier's trunk.

Both output raw heatmaps for MSE training like every top-down model here; the FPN model ends in a sigmoid, as
MoveNet's head does (its targets peak at 1 too, so the pretrained head needs no recalibration).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgepose.models.backbones.mobilenetv2 import MobileNetV2Trunk, conv_act
from edgepose.models.heads import DeconvHead, check_input_size, check_num_keypoints, init_head, make_final
from edgepose.models.options import check_choice, check_flag
from edgepose.models.variants import variant

__all__ = ["MobileNetV2Deconv", "MobileNetV2FPN", "mobilenetv2_deconv", "mobilenetv2_fpn"]

STRIDE = 4
FPN_LATERALS = ((1, 24), (2, 32), (3, 64))
"""(trunk stage index, channels) of MoveNet's stride-4/8/16 laterals: the last block of each of those widths."""
FPN_WIDTHS = (64, 32, 24, 24)
"""Channels after the top lateral, and after the stride-16, stride-8 and stride-4 merges."""
HEAD_CHANNELS = 96


def separable(in_channels: int, out_channels: int, padding: str, act: str | None) -> nn.Sequential:
    """3×3 depth-wise (linear, biased) then 1×1 (+ act): Keras' ``SeparableConv2D`` as two convs."""
    return nn.Sequential(
        conv_act(in_channels, in_channels, 3, groups=in_channels, padding=padding, act=None),
        conv_act(in_channels, out_channels, 1, padding=padding, act=act),
    )


class _TopDownMobileNet(nn.Module):
    """What every top-down model of edgepose exposes: task, num_keypoints, input_size, stride, heatmap_size."""

    task = "topdown"
    input_normalization = "imagenet"  # the trunk's InputScaling maps it onto MobileNets' [-1, 1] inside the model

    def __init__(self, num_keypoints: int, input_size: Sequence[int], padding: str, batch_norm: bool) -> None:
        check_num_keypoints(num_keypoints)
        self.input_size = check_input_size(input_size)
        if self.input_size[0] % 32 or self.input_size[1] % 32:
            raise ValueError(f"input_size must be divisible by 32 (the trunk's stride), got {self.input_size}")
        check_choice("padding", padding, ("same", "symmetric"))
        check_flag("batch_norm", batch_norm)
        super().__init__()
        self.num_keypoints = num_keypoints
        self.stride = STRIDE

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """(H, W) of the heatmaps at ``input_size``."""
        return self.input_size[0] // STRIDE, self.input_size[1] // STRIDE

    def freeze(self, stages: int) -> None:
        """Keep the first ``stages`` trunk stages (0-7) at their pretrained weights: no gradients, so a CPU
        fine-tune skips their backward pass, the costliest per FLOP (large, depth-wise maps); generic edges
        and textures from ImageNet/COCO need no re-learning."""
        if not isinstance(stages, int) or isinstance(stages, bool) or not 0 <= stages <= len(self.backbone.stages):
            raise ValueError(f"frozen_stages must be an integer in 0..{len(self.backbone.stages)}, got {stages!r}")
        for stage in list(self.backbone.stages)[:stages]:
            stage.requires_grad_(False)

    def parts(self) -> dict[str, nn.Module]:
        """Complexity-report parts: ``stem`` (stride 2), ``layer1..4`` (strides 4..32), ``head``, ``final``."""
        s = self.backbone.stages
        layer4 = [s[5], s[6]] + ([self.backbone.last] if self.backbone.last is not None else [])
        return {
            "stem": s[0], "layer1": s[1], "layer2": s[2], "layer3": nn.Sequential(s[3], s[4]),
            "layer4": nn.Sequential(*layer4), "head": self.head, "final": self.final,
        }  # fmt: skip


class MobileNetV2FPN(_TopDownMobileNet):
    """MobileNetV2 trunk + MoveNet's FPN neck + MoveNet's heatmap head: K heatmaps at stride 4 (sigmoid)."""

    def __init__(
        self,
        *,
        num_keypoints: int = 17,
        input_size: Sequence[int] = (192, 192),
        padding: str = "same",
        batch_norm: bool = False,
        sigmoid: bool = True,
        frozen_stages: int = 0,
    ) -> None:
        super().__init__(num_keypoints, input_size, padding, batch_norm)
        check_flag("sigmoid", sigmoid)
        self.backbone = MobileNetV2Trunk(padding=padding, batch_norm=batch_norm, input_scaling="tf")
        opts = {"padding": padding, "act": None}
        self.top = conv_act(self.backbone.out_channels, FPN_WIDTHS[0], 1, **opts)
        # laterals from the finest (stride 4) to the coarsest (stride 16); merges from the coarsest down
        self.laterals = nn.ModuleList(conv_act(c, c, 1, **opts) for _, c in FPN_LATERALS)
        self.merges = nn.ModuleList(
            separable(FPN_WIDTHS[i], FPN_WIDTHS[i + 1], padding, "relu") for i in range(len(FPN_LATERALS))
        )
        self.head = separable(FPN_WIDTHS[-1], HEAD_CHANNELS, padding, "relu")
        self.final = make_final(HEAD_CHANNELS, num_keypoints, 1)
        self.sigmoid = sigmoid
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.constant_(self.final.bias, -4.0 if sigmoid else 0.0)  # sigmoid(-4) ~ 0.02: a quiet start
        self.freeze(frozen_stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) ImageNet-normalised RGB crops → (B, K, H/4, W/4) heatmaps."""
        feats = self.backbone(x)
        y = self.top(feats[-1])
        for level in reversed(range(len(FPN_LATERALS))):
            stage = FPN_LATERALS[level][0]
            y = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
            y = self.merges[len(FPN_LATERALS) - 1 - level](y + self.laterals[level](feats[stage]))
        y = self.final(self.head(y))
        return torch.sigmoid(y) if self.sigmoid else y

    def convs(self) -> list[nn.Conv2d]:
        """Every conv in the order of MoveNet's graph: trunk, laterals as the trunk reaches them, top, merges,
        head (importers map by this order)."""
        trunk = self.backbone
        out: list[nn.Conv2d] = []
        lateral_after = {stage: i for i, (stage, _) in enumerate(FPN_LATERALS)}
        for index, stage in enumerate(trunk.stages):
            out += [m for m in stage.modules() if isinstance(m, nn.Conv2d)]
            if index in lateral_after:
                out.append(self.laterals[lateral_after[index]][0])
        if trunk.last is not None:
            out.append(trunk.last[0])
        out.append(self.top[0])
        for merge in self.merges:
            out += [m for m in merge.modules() if isinstance(m, nn.Conv2d)]
        out += [m for m in self.head.modules() if isinstance(m, nn.Conv2d)]
        out.append(self.final)
        return out


class MobileNetV2Deconv(_TopDownMobileNet):
    """MobileNetV2 trunk (to 1280 channels, stride 32) + FLPN's grouped deconv head + 1×1 to K heatmaps."""

    def __init__(
        self,
        *,
        num_keypoints: int = 17,
        input_size: Sequence[int] = (192, 192),
        padding: str = "same",
        batch_norm: bool = False,
        deconv_channels: int = 128,
        num_deconv_layers: int = 3,
        frozen_stages: int = 0,
    ) -> None:
        super().__init__(num_keypoints, input_size, padding, batch_norm)
        if num_deconv_layers != 3:
            raise ValueError(f"num_deconv_layers must be 3 (stride 32 -> 4), got {num_deconv_layers}")
        self.backbone = MobileNetV2Trunk(padding=padding, batch_norm=batch_norm, input_scaling="tf")
        self.head = DeconvHead(self.backbone.out_channels, deconv_channels, num_deconv_layers, grouped=True)
        self.final = make_final(self.head.out_channels, num_keypoints, 1)
        init_head(self.head, self.final)
        self.freeze(frozen_stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) ImageNet-normalised RGB crops → (B, K, H/4, W/4) heatmaps."""
        return self.final(self.head(self.backbone(x)[-1]))


mobilenetv2_fpn = variant(
    MobileNetV2FPN,
    "mobilenetv2_fpn",
    "MoveNet-layout top-down model (MobileNetV2 trunk + FPN + heatmap head); keyword overrides as options.",
)
mobilenetv2_deconv = variant(
    MobileNetV2Deconv,
    "mobilenetv2_deconv",
    "MobileNetV2 trunk + FLPN's grouped-deconvolution head; keyword overrides as options.",
)
