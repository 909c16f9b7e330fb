"""Lightweight OpenPose (Osokin 2018), the bottom-up baseline: dilated MobileNetV1 + Cpm + initial stage +
refinement stages.

Outputs (list, LWOP order): [heat0, paf0, heat1, paf1, ...], 19 heatmaps (18 keypoints + background) and
38 PAF channels at stride 8. Each refinement stage sees Cpm features ⊕ the previous stage's two outputs.
With one refinement stage at 368×368: 4.09M params, 8.88 GMACs (backbone 3.65 / Cpm 0.56 / initial 1.28 /
refinement 3.39; SPEC A.0).

Input convention: BGR images, (img - 128) / 256 (``input_normalization = "openpose"``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from edgepose.models.backbones.mobilenet import MobileNetV1Dilated
from edgepose.models.bottomup import BottomUpPafNet
from edgepose.models.openpose_blocks import Cpm, InitialStage, RefinementStage
from edgepose.models.variants import variant

__all__ = ["LightweightOpenPose", "lwop_mobilenet", "lwop_mobilenet_intel"]


class LightweightOpenPose(BottomUpPafNet):
    """MobileNetV1 (dilated) → Cpm → InitialStage → ``num_refinement_stages`` × RefinementStage.

    ``cpm_layout`` picks the Cpm block (:class:`~edgepose.models.openpose_blocks.Cpm`): ``"reference"`` (LWOP's
    PyTorch code) or ``"intel"`` (Intel's Open Model Zoo ``human-pose-estimation-0001``: one more 1×1 conv, ELU
    after the align conv, biased trunk).
    """

    loss_family = "openpose"
    stage_outputs = ("heat", "paf")

    def __init__(
        self,
        num_refinement_stages: int = 1,
        channels: int = 128,
        initial_head_width: int = 512,
        final_only: bool = False,
        cpm_layout: str = "reference",
        padding: str = "symmetric",
        trunk_activation: str = "relu",
    ) -> None:
        super().__init__()
        if num_refinement_stages < 0:
            raise ValueError(f"num_refinement_stages must be >= 0, got {num_refinement_stages}")
        # padding="same", trunk_activation="relu6": TF's ImageNet MobileNetV1 (importers/tflite_mobilenet_v1)
        self.backbone = MobileNetV1Dilated(padding=padding, activation=trunk_activation)
        self.cpm = Cpm(self.backbone.out_channels, channels, layout=cpm_layout)
        self.initial_stage = InitialStage(channels, self.num_heatmaps, self.num_pafs, initial_head_width)
        self.refinement_stages = nn.ModuleList(
            RefinementStage(channels + self.num_heatmaps + self.num_pafs, channels, self.num_heatmaps, self.num_pafs)
            for _ in range(num_refinement_stages)
        )
        self.num_stages = num_refinement_stages + 1
        self.final_only = final_only

    # -------------------------------------------------------------------------------------------- info
    def parts(self) -> OrderedDict[str, nn.Module]:
        parts: OrderedDict[str, nn.Module] = OrderedDict(
            [("backbone", self.backbone), ("cpm", self.cpm), ("initial", self.initial_stage)]
        )
        for k, stage in enumerate(self.refinement_stages):
            parts[f"refinement{k}"] = stage
        return parts

    # ----------------------------------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.cpm(self.backbone(x))
        outputs = self.initial_stage(features)
        for stage in self.refinement_stages:
            outputs.extend(stage(torch.cat([features, outputs[-2], outputs[-1]], dim=1)))
        return outputs[-2:] if self.final_only else outputs


lwop_mobilenet = variant(
    LightweightOpenPose,
    "lwop_mobilenet",
    "Lightweight OpenPose with ``num_refinement_stages`` refinement stages (LWOP's default and paper: 1).",
)

lwop_mobilenet_intel = variant(
    LightweightOpenPose,
    "lwop_mobilenet_intel",
    "Lightweight OpenPose in the layout of Intel's Open Model Zoo human-pose-estimation-0001 (COCO-trained; "
    "weights: ``edgepose import human-pose-estimation-0001.xml``): Cpm with one more 1×1 conv and ELUs, one "
    "refinement stage.",
    cpm_layout="intel",
)
