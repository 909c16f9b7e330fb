"""The Lightweight Cross-fusion Network (Zhu, Zeng, Ma; IEEE Access) — bottom-up pose with PAFs.

    image ─► backbone (GhostNet-R1 / ResNet, stride 8, 512 ch) ─► Cpm ─► F⁰ (128 ch)
          ─► cross-fusion stage 0 (baseline) ─► F¹ ─► stage 1 (strengthen) ─► F² ...

One cross-fusion stage k (paper Eqs. 1–7, Algorithm 1; SPEC A.2.4), ⊕ = channel concat:

    A_h = h1(F),  A_p = p1(F)                      "before-cross" local features
    R_h = F − A_h,  R_p = F − A_p                  residuals ("remove noise")
    B_h = h2(A_h ⊕ R_p [⊕ B_h of stage k−1])       the cross step: heatmap branch takes the PAF residual,
    B_p = p2(A_p ⊕ R_h [⊕ B_p of stage k−1])       and vice versa (``residual_mode="cross"``)
    F_next = F ⊕ B_h ⊕ B_p
    outputs: heat_u = head(A_h), paf_u = head(A_p), heat_v = head(B_h), paf_v = head(B_p)

Readings chosen where the paper is silent or self-contradictory (SPEC A.2.10): cross residual in every
stage; channel-preserving h1/p1 (Cout = Cin, so F − A is defined; ``subtract_mode="preserve"``), or the
cheaper ``"align"`` variant (1×1 F→128 + ReLU first, subtract from the aligned tensor); every h/p is
``blocks_per_branch`` LWOP RefinementStageBlocks; 128-wide prediction heads (1×1 + ReLU, 1×1).

Outputs, in order: [heat_u0, paf_u0, heat_v0, paf_v0, heat_u1, paf_u1, heat_v1, paf_v1, ...], 19 heatmaps
and 38 PAF channels at stride 8; the last two are the final prediction. ``final_only`` returns just those
two (inference and ONNX export) and skips the unused heads.

Default ``xfuse_ghostnet()`` at 368×368: 8.845M params, 18.00 GMACs (paper: 18.02 GFLOPs).
Input convention: BGR, (img − 128) / 256 (``input_normalization = "openpose"``).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from edgepose.keypoints import NUM_OPENPOSE_HEATMAPS, NUM_OPENPOSE_PAFS
from edgepose.models.backbones.ghostnet import GHOST_READINGS, ghostnet_pose_backbone
from edgepose.models.blocks import ConvBnAct
from edgepose.models.bottomup import BottomUpPafNet
from edgepose.models.openpose_blocks import Cpm, PredictionHead, conv, refinement_blocks
from edgepose.models.variants import variant
from edgepose.models.weights import load_ghostnet_weights, load_trunk_weights

RESIDUAL_MODES = ("cross", "same")
SUBTRACT_MODES = ("preserve", "align")


class CrossFusionStage(nn.Module):
    """One cross-fusion stage (baseline if ``prev_channels == 0``, strengthen otherwise).

    Args:
        in_channels: channels of F entering the stage (128 for stage 0, 128 + 256·k for stage k).
        channels: width C of B_h / B_p (128).
        prev_channels: width of the previous stage's B_h (0 for the first stage: no skip).
        residual_mode: "cross" (B_h sees R_p) or "same" (B_h sees R_h; Eq. 7 / Algorithm 1 reading).
        subtract_mode: "preserve" (h1/p1 keep F's width) or "align" (1×1 F→C first, h1/p1 C→C).
        blocks_per_branch: RefinementStageBlocks in each of h1, p1, h2, p2.
        head_width: hidden width of the four prediction heads.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int = 128,
        prev_channels: int = 0,
        residual_mode: str = "cross",
        subtract_mode: str = "preserve",
        blocks_per_branch: int = 1,
        head_width: int = 128,
        num_heatmaps: int = NUM_OPENPOSE_HEATMAPS,
        num_pafs: int = NUM_OPENPOSE_PAFS,
    ) -> None:
        super().__init__()
        if residual_mode not in RESIDUAL_MODES:
            raise ValueError(f"residual_mode must be one of {RESIDUAL_MODES}, got {residual_mode!r}")
        if subtract_mode not in SUBTRACT_MODES:
            raise ValueError(f"subtract_mode must be one of {SUBTRACT_MODES}, got {subtract_mode!r}")
        self.residual_mode = residual_mode
        self.subtract_mode = subtract_mode
        self.align: nn.Module | None = None
        if subtract_mode == "align":
            self.align = conv(in_channels, channels, kernel_size=1)
            local = channels
        else:
            local = in_channels
        self.h1 = refinement_blocks(local, local, blocks_per_branch)
        self.p1 = refinement_blocks(local, local, blocks_per_branch)
        cross_in = 2 * local + prev_channels
        self.h2 = refinement_blocks(cross_in, channels, blocks_per_branch)
        self.p2 = refinement_blocks(cross_in, channels, blocks_per_branch)
        self.heat_u = PredictionHead(local, num_heatmaps, head_width)
        self.paf_u = PredictionHead(local, num_pafs, head_width)
        self.heat_v = PredictionHead(channels, num_heatmaps, head_width)
        self.paf_v = PredictionHead(channels, num_pafs, head_width)
        self.in_channels = in_channels
        self.out_channels = in_channels + 2 * channels
        self.channels = channels

    def forward(
        self,
        f: torch.Tensor,
        b_h_prev: torch.Tensor | None = None,
        b_p_prev: torch.Tensor | None = None,
        final_only: bool = False,
        need_next: bool = True,
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Returns (F_next or None, B_h, B_p, outputs); outputs = [heat_u, paf_u, heat_v, paf_v], or
        [heat_v, paf_v] with ``final_only``."""
        g = f if self.align is None else self.align(f)
        a_h, a_p = self.h1(g), self.p1(g)
        r_h, r_p = g - a_h, g - a_p
        if self.residual_mode == "cross":
            in_h, in_p = [a_h, r_p], [a_p, r_h]
        else:
            in_h, in_p = [a_h, r_h], [a_p, r_p]
        if b_h_prev is not None and b_p_prev is not None:
            in_h.append(b_h_prev)
            in_p.append(b_p_prev)
        b_h = self.h2(torch.cat(in_h, dim=1))
        b_p = self.p2(torch.cat(in_p, dim=1))
        f_next = torch.cat([f, b_h, b_p], dim=1) if need_next else None
        outputs = [self.heat_v(b_h), self.paf_v(b_p)]
        if not final_only:
            outputs = [self.heat_u(a_h), self.paf_u(a_p), *outputs]
        return f_next, b_h, b_p, outputs


class CrossFusionNet(BottomUpPafNet):
    """backbone (stride 8, ``backbone_channels``) → Cpm (→ ``channels``) → ``stages`` cross-fusion stages.

    The network around any backbone; the models are :class:`CrossFusionGhostNet` and :class:`CrossFusionResNet`.
    """

    loss_family = "crossfusion"
    stage_outputs = ("heat_u", "paf_u", "heat_v", "paf_v")

    def __init__(
        self,
        backbone: nn.Module,
        backbone_channels: int = 512,
        channels: int = 128,
        stages: int = 2,
        residual_mode: str = "cross",
        subtract_mode: str = "preserve",
        blocks_per_branch: int = 1,
        head_width: int = 128,
        final_only: bool = False,
    ) -> None:
        super().__init__()
        if stages < 1:
            raise ValueError(f"need at least one cross-fusion stage, got stages={stages}")
        self.backbone = backbone
        self.cpm = Cpm(backbone_channels, channels)
        self.stages = nn.ModuleList()
        in_channels, prev = channels, 0
        for _ in range(stages):
            stage = CrossFusionStage(
                in_channels, channels, prev, residual_mode, subtract_mode, blocks_per_branch, head_width,
                self.num_heatmaps, self.num_pafs,
            )  # fmt: skip
            self.stages.append(stage)
            in_channels, prev = stage.out_channels, channels
        self.num_stages = stages
        self.final_only = final_only

    # -------------------------------------------------------------------------------------------- info
    def parts(self) -> OrderedDict[str, nn.Module]:
        parts: OrderedDict[str, nn.Module] = OrderedDict([("backbone", self.backbone), ("cpm", self.cpm)])
        for k, stage in enumerate(self.stages):
            parts[f"stage{k}"] = stage
        return parts

    # ----------------------------------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f: torch.Tensor | None = self.cpm(self.backbone(x))
        b_h = b_p = None
        outputs: list[torch.Tensor] = []
        last = self.num_stages - 1
        for k, stage in enumerate(self.stages):
            assert f is not None
            f, b_h, b_p, out = stage(f, b_h, b_p, final_only=self.final_only and k == last, need_next=k < last)
            if not self.final_only:
                outputs.extend(out)
            elif k == last:
                outputs = out
        return outputs


# ------------------------------------------------------------------------------------------- backbones
class ResNetStride8(nn.Module):
    """A torchvision-layout ResNet with layer3 and layer4 dilated (stride 8), then ConvBnAct 1×1 → 512."""

    def __init__(self, depth: int = 18, out_channels: int = 512) -> None:
        super().__init__()
        from edgepose.models.backbones import resnet as resnet_module

        constructors = {18: resnet_module.resnet18, 50: resnet_module.resnet50}
        if depth not in constructors:
            raise ValueError(f"ResNet depth must be one of {sorted(constructors)}, got {depth}")
        self.trunk = constructors[depth](replace_stride_with_dilation=(False, True, True))
        self.proj = ConvBnAct(self.trunk.num_features, out_channels, 1)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.trunk(x))


def resnet_stride8_backbone(depth: int, weights: str | Path | None = None) -> ResNetStride8:
    """The stride-8, 512-channel ResNet of the Table 2 models, with torchvision weights loaded if given."""
    backbone = ResNetStride8(depth, out_channels=512)
    if weights:
        load_trunk_weights(backbone.trunk, weights)
    return backbone


# ----------------------------------------------------------------------------------------- constructors
class CrossFusionGhostNet(CrossFusionNet):
    """The paper's network: GhostNet (reading ``ghost_reading``: R1 default, R2, R0) + Cpm + cross-fusion.

    ``backbone_weights``: optional path to an official GhostNet ImageNet state dict; the load report is
    kept as ``model.backbone_load_report``.
    """

    def __init__(
        self,
        stages: int = 2,
        residual_mode: str = "cross",
        subtract_mode: str = "preserve",
        blocks_per_branch: int = 1,
        head_width: int = 128,
        ghost_reading: str = "R1",
        ghost_dilation: int = 2,
        channels: int = 128,
        final_only: bool = False,
        backbone_weights: str | None = None,
    ) -> None:
        if ghost_reading not in GHOST_READINGS:
            raise ValueError(f"ghost_reading must be one of {sorted(GHOST_READINGS)}, got {ghost_reading!r}")
        backbone = ghostnet_pose_backbone(ghost_reading, out_channels=512, dilation=ghost_dilation)
        super().__init__(
            backbone, 512, channels, stages, residual_mode, subtract_mode, blocks_per_branch, head_width, final_only
        )
        self.backbone_load_report = None
        if backbone_weights:
            self.backbone_load_report = load_ghostnet_weights(backbone, backbone_weights)


class CrossFusionResNet(CrossFusionNet):
    """Cross-fusion on a stride-8 (dilated layer3/layer4) ResNet-``depth`` + 1×1 → 512 (paper Table 2)."""

    def __init__(
        self,
        depth: int = 18,
        stages: int = 2,
        residual_mode: str = "cross",
        subtract_mode: str = "preserve",
        blocks_per_branch: int = 1,
        head_width: int = 128,
        channels: int = 128,
        final_only: bool = False,
        backbone_weights: str | None = None,
    ) -> None:
        backbone = resnet_stride8_backbone(depth, backbone_weights)
        super().__init__(
            backbone, 512, channels, stages, residual_mode, subtract_mode, blocks_per_branch, head_width, final_only
        )
        self.depth = depth


xfuse_ghostnet = variant(
    CrossFusionGhostNet,
    "xfuse_ghostnet",
    "The paper's network: GhostNet-R1 + Cpm + two cross-fusion stages; see :class:`CrossFusionGhostNet`.",
)
xfuse_resnet18 = variant(
    CrossFusionResNet,
    "xfuse_resnet18",
    "Cross-fusion on a stride-8 (dilated layer3/layer4) ResNet-18 + 1×1 → 512 (paper Table 2).",
    depth=18,
)
xfuse_resnet50 = variant(
    CrossFusionResNet,
    "xfuse_resnet50",
    "Cross-fusion on a stride-8 (dilated layer3/layer4) ResNet-50 + 1×1 (2048) → 512 (paper Table 2).",
    depth=50,
)
