"""The one builder of every top-down network: a stage table, one stage loop, one deconv head, one init.

FLPN, SimpleBaseline and LPN are the same machine with different tables (the GhostNet-table style of
``backbones/ghostnet.py``): a ResNet stem, four stages of bottlenecks, a :class:`~edgepose.models.heads.
DeconvHead` and a final conv to K heatmaps. A model says *what* it is as a list of :class:`Stage` rows and a
:class:`HeadSpec`; :class:`TopDownHeatmapNet` builds, checks and initialises it, so a fix to the loop, the
head or the init reaches all three models at once.

State-dict keys are the ones every checkpoint uses: ``stem.*``, ``layer1..layer4.{i}.*``, ``head.{i}.*``,
``final.*``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from edgepose.models.backbones.resnet import ResNetStem
from edgepose.models.blocks import GCBlock, init_conv_bn
from edgepose.models.heads import (
    PART_NAMES,
    DeconvHead,
    check_input_size,
    check_num_keypoints,
    init_head,
    make_final,
)
from edgepose.models.options import check_choice, check_flag, check_num_deconv_layers, check_positive_int

__all__ = [
    "STEM_STRIDE",
    "BlockFactory",
    "HeadSpec",
    "Stage",
    "TopDownHeatmapNet",
    "head_spec",
    "init_trunk",
    "make_layer",
]

STEM_STRIDE = 4
"""Every stem here (ResNet's 7×7 + max-pool, FLPN's two 3×3 convs) ends at stride 4."""

BlockFactory = Callable[[int, int, int, int], nn.Module]
"""``block(in_channels, mid_channels, out_channels, stride)`` → one bottleneck."""


@dataclass(frozen=True)
class Stage:
    """One row of a trunk table: ``blocks`` bottlenecks ``block(in, mid, out, stride)``; only the first strides."""

    blocks: int
    mid_channels: int
    out_channels: int
    stride: int
    block: BlockFactory


@dataclass(frozen=True)
class HeadSpec:
    """The deconv head: ``num_layers`` ×2 deconvs of ``channels`` filters (grouped: ``gcd(C_in, C_out)``
    groups, LPN/FLPN; pointwise: LPN's 1×1 conv after each), then a ``final_kernel`` conv to K heatmaps."""

    channels: int = 256
    num_layers: int = 3
    grouped: bool = True
    pointwise: bool = False
    final_kernel: int = 1


def head_spec(
    head: str, deconv_channels: int, num_deconv_layers: int, head_pointwise: bool, final_conv_kernel: int
) -> HeadSpec:
    """The :class:`HeadSpec` of the models' shared head options (``head`` is "group_deconv" or "deconv")."""
    head = check_choice("head", head, ("group_deconv", "deconv"))
    check_flag("head_pointwise", head_pointwise)
    return HeadSpec(deconv_channels, num_deconv_layers, head == "group_deconv", head_pointwise, final_conv_kernel)


def make_layer(stage: Stage, in_channels: int) -> nn.Sequential:
    """The bottlenecks of one stage; the first one strides / projects, the others keep the shape."""
    mid, out = stage.mid_channels, stage.out_channels
    layers = [stage.block(in_channels, mid, out, stage.stride)]
    layers += [stage.block(out, mid, out, 1) for _ in range(1, stage.blocks)]
    return nn.Sequential(*layers)


def init_trunk(module: nn.Module) -> None:
    """ResNet init for a trunk part: Kaiming-normal (fan_out) convs, BN γ=1 β=0; GC blocks back to identity."""
    init_conv_bn(module)
    for m in module.modules():
        if isinstance(m, GCBlock):
            m.reset_parameters()  # conv_mask Kaiming fan_in, last channel_add conv zero (identity at start)


class TopDownHeatmapNet(nn.Module):
    """``stem → layer1 → layer2 → layer3 → layer4 → head → final``: K heatmaps per person crop.

    Built from a table: ``stem`` (a ResNetStem kind) of ``stem_width`` channels, four :class:`Stage` rows
    and a :class:`HeadSpec`. Attributes: ``task = "topdown"``, ``num_keypoints`` (K), ``input_size`` ((H, W)
    the model was configured for: the crop size written into its ``model_info``; the layers work at any size
    divisible by the trunk stride), ``stride``
    (input pixels per heatmap pixel). ``parts()`` maps ``PART_NAMES`` to the submodules, for per-part
    complexity reports.

    All tensors are handled with ``reshape``/``cat``/slicing only, so channels_last inputs and weights work
    (``model.to(memory_format=torch.channels_last)``), which is the fast path of PyTorch's CPU convolutions.
    """

    task = "topdown"
    input_normalization = "imagenet"  # a row of edgepose.meta.NORMALISATIONS

    def __init__(
        self,
        *,
        stem: str,
        stages: Sequence[Stage],
        head: HeadSpec,
        num_keypoints: int,
        input_size: Sequence[int],
        stem_width: int = 64,
    ) -> None:
        if len(stages) != 4:
            raise ValueError(f"a top-down trunk has 4 stages, got {len(stages)}")
        trunk_stride = STEM_STRIDE * math.prod(s.stride for s in stages)
        self._check(stem, head, num_keypoints, input_size, trunk_stride)  # fail before building the layers
        super().__init__()
        self.stem = ResNetStem(stem, out_channels=stem_width)
        in_channels = self.stem.out_channels
        layers = []
        for stage in stages:
            layers.append(make_layer(stage, in_channels))
            in_channels = stage.out_channels
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.head = DeconvHead(
            in_channels, head.channels, head.num_layers, grouped=head.grouped, pointwise=head.pointwise
        )
        self.final = make_final(self.head.out_channels, num_keypoints, head.final_kernel)
        self.num_keypoints = num_keypoints
        self.input_size = check_input_size(input_size)
        self.stride = trunk_stride // self.head.upsample
        for part in (self.stem, self.layer1, self.layer2, self.layer3, self.layer4):
            init_trunk(part)  # part by part: the order of the random draws is part of the model
        init_head(self.head, self.final)

    @staticmethod
    def _check(stem: str, head: HeadSpec, num_keypoints: int, input_size: Sequence[int], trunk_stride: int) -> None:
        check_input_size(input_size)
        check_num_keypoints(num_keypoints)
        check_choice("stem", stem, ResNetStem.KINDS)
        check_positive_int("deconv_channels", head.channels)
        check_num_deconv_layers(head.num_layers, trunk_stride.bit_length() - 1)

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """(H, W) of the heatmaps at ``input_size``."""
        h, w = self.input_size
        return h // self.stride, w // self.stride

    def parts(self) -> dict[str, nn.Module]:
        """``{"stem", "layer1", ..., "layer4", "head", "final"}`` → submodule (forward order)."""
        return {name: getattr(self, name) for name in PART_NAMES}

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every part's output, keyed like ``parts()``."""
        out: dict[str, torch.Tensor] = {}
        for name in PART_NAMES:
            x = out[name] = getattr(self, name)(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised RGB crops → (B, K, H/stride, W/stride) heatmaps."""
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.final(self.head(x))
