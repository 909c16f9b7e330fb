"""Lightweight OpenPose on a ResNet-18 / ResNet-50 backbone: the cross-fusion paper's Table 2 baselines.

Zhu et al. (Table 2, "self-comparison on backbone selection") compare their cross-fusion stages against Lightweight
OpenPose's Cpm + initial + refinement stages *on the same backbones*: ResNet-18 (38.4 AP) and ResNet-50 (35.2 AP).
The paper does not describe how the ResNets are cut; edgepose uses the cut of its own ``xfuse_resnet18/50``
(:class:`edgepose.models.xfuse.ResNetStride8`: torchvision-layout ResNet, layer3 and layer4 dilated so the trunk
ends at stride 8, then ConvBnAct 1×1 → 512), so that the LWOP and cross-fusion rows of Table 2 differ only in the
stages, as the table intends. Everything after the backbone is :class:`LightweightOpenPose`'s.
"""

from __future__ import annotations

from edgepose.models.lwop import LightweightOpenPose
from edgepose.models.variants import variant

__all__ = ["LightweightOpenPoseResNet", "lwop_resnet18", "lwop_resnet50"]


class LightweightOpenPoseResNet(LightweightOpenPose):
    """:class:`LightweightOpenPose` with a stride-8, 512-channel ResNet backbone instead of dilated MobileNetV1.

    Input convention as the ResNet cross-fusion models: (img − 128) / 256 (``input_normalization = "openpose"``).
    """

    def __init__(
        self,
        depth: int = 18,
        num_refinement_stages: int = 1,
        channels: int = 128,
        initial_head_width: int = 512,
        final_only: bool = False,
        backbone_weights: str | None = None,
    ) -> None:
        from edgepose.models.xfuse import resnet_stride8_backbone

        super().__init__(num_refinement_stages, channels, initial_head_width, final_only)
        self.backbone = resnet_stride8_backbone(depth, backbone_weights)  # replaces MobileNetV1 (Cpm takes 512)
        self.depth = depth


lwop_resnet18 = variant(
    LightweightOpenPoseResNet, "lwop_resnet18",
    "Lightweight OpenPose stages on a stride-8 ResNet-18 + 1×1 → 512 (cross-fusion paper Table 2: 38.4 AP).",
    depth=18,
)  # fmt: skip
lwop_resnet50 = variant(
    LightweightOpenPoseResNet, "lwop_resnet50",
    "Lightweight OpenPose stages on a stride-8 ResNet-50 + 1×1 (2048) → 512 (cross-fusion paper Table 2: 35.2 AP).",
    depth=50,
)  # fmt: skip
