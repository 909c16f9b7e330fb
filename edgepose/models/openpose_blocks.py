"""The OpenPose-family blocks of Lightweight OpenPose (Osokin 2018), shared by LWOP and the cross-fusion net.

* :func:`conv` — k×k conv (bias) + optional BN + optional ReLU, LWOP's basic layer. Note LWOP keeps the
  conv bias even when a BN follows; the published parameter counts (4.09M) include those biases.
* :class:`Cpm` — 1×1 align to 128 + ReLU, a residual trunk of three (dw3×3 + ELU, pw1×1 + ELU), 3×3 + ReLU.
  ``layout="intel"``: Intel's Open Model Zoo variant (align + ELU, one more 1×1 + ELU opening the trunk,
  biases in the trunk: the BatchNorms it was trained with, folded).
* :class:`RefinementStageBlock` — 1×1 + ReLU, then [3×3 + BN + ReLU, 3×3 dil 2 + BN + ReLU] added back.
* :class:`PredictionHead` — 1×1 (in→hidden) + ReLU, 1×1 (hidden→out); no BN, no final activation.
* :class:`InitialStage`, :class:`RefinementStage` — LWOP's stages.
* :func:`param_groups` — LWOP's optimiser groups (lr multipliers, weight-decay exemptions) for any model
  that exposes ``parts()``.

All blocks are plain convolutions, so they run in channels_last unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn


def conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 1,
    bn: bool = False,
    relu: bool = True,
    bias: bool = True,
) -> nn.Sequential:
    """k×k conv with "same" padding (+ BN) (+ ReLU)."""
    padding = dilation * (kernel_size - 1) // 2
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=bias)]
    if bn:
        layers.append(nn.BatchNorm2d(out_channels))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def conv_dw_elu(channels: int, out_channels: int, bias: bool = False) -> nn.Sequential:
    """Depth-wise 3×3 + ELU, point-wise 1×1 + ELU, no BN (the Cpm trunk unit); biases only with ``bias``."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, 1, 1, groups=channels, bias=bias),
        nn.ELU(inplace=True),
        nn.Conv2d(channels, out_channels, 1, bias=bias),
        nn.ELU(inplace=True),
    )


CPM_LAYOUTS = ("reference", "intel")


class Cpm(nn.Module):
    """LWOP's Cpm: 512-channel backbone features -> 128-channel F⁰ at the same resolution (SPEC A.2.3).

    ``layout="reference"`` (LWOP's PyTorch code): align (1×1 + ReLU) -> x + trunk(x) -> 3×3 + ReLU; no BN and
    no bias in the trunk. 0.27M params, 0.56 GMACs at 46×46.

    ``layout="intel"`` (Intel's ``human-pose-estimation-0001``, the Caffe original LWOP was distilled from):
    align (1×1 + ELU) -> x + trunk(reduce(x)) -> 3×3 + ReLU, where ``reduce`` is one more 1×1 + ELU and the
    trunk convolutions carry biases (their BatchNorms, folded). Its weights come from
    :mod:`edgepose.models.importers.openvino_ir`.
    """

    def __init__(self, in_channels: int = 512, out_channels: int = 128, layout: str = "reference") -> None:
        super().__init__()
        if layout not in CPM_LAYOUTS:
            raise ValueError(f"cpm_layout must be one of {', '.join(map(repr, CPM_LAYOUTS))}; got {layout!r}")
        intel = layout == "intel"
        self.layout = layout
        self.align = conv(in_channels, out_channels, kernel_size=1, relu=not intel)
        if intel:
            self.align.append(nn.ELU(inplace=True))
            self.reduce = nn.Sequential(nn.Conv2d(out_channels, out_channels, 1), nn.ELU(inplace=True))
        self.trunk = nn.Sequential(*(conv_dw_elu(out_channels, out_channels, bias=intel) for _ in range(3)))
        self.conv = conv(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.align(x)
        y = self.reduce(x) if self.layout == "intel" else x
        return self.conv(x + self.trunk(y))


class RefinementStageBlock(nn.Module):
    """1×1 (in→out) + ReLU = ``initial``; ``trunk`` = 3×3 + BN + ReLU, 3×3 (dilation 2) + BN + ReLU;
    output = initial + trunk(initial)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.initial = conv(in_channels, out_channels, kernel_size=1)
        self.trunk = nn.Sequential(
            conv(out_channels, out_channels, bn=True),
            conv(out_channels, out_channels, dilation=2, bn=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        initial = self.initial(x)
        return initial + self.trunk(initial)


def refinement_blocks(in_channels: int, out_channels: int, num_blocks: int = 1) -> nn.Sequential:
    """``num_blocks`` RefinementStageBlocks: the first in→out, the rest out→out."""
    if num_blocks < 1:
        raise ValueError(f"need at least one RefinementStageBlock, got {num_blocks}")
    return nn.Sequential(
        *(RefinementStageBlock(in_channels if i == 0 else out_channels, out_channels) for i in range(num_blocks))
    )


class PredictionHead(nn.Sequential):
    """1×1 (in→hidden) + ReLU, then 1×1 (hidden→out) with bias and no activation."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 128) -> None:
        super().__init__(
            conv(in_channels, hidden, kernel_size=1),
            conv(hidden, out_channels, kernel_size=1, relu=False),
        )


class InitialStage(nn.Module):
    """LWOP's initial stage: three 3×3 + ReLU convs at C, then heatmap and PAF heads with a 512-wide hidden
    layer. Returns [heatmaps, pafs]."""

    def __init__(self, channels: int = 128, num_heatmaps: int = 19, num_pafs: int = 38, head_width: int = 512):
        super().__init__()
        self.trunk = nn.Sequential(*(conv(channels, channels) for _ in range(3)))
        self.heatmaps = PredictionHead(channels, num_heatmaps, head_width)
        self.pafs = PredictionHead(channels, num_pafs, head_width)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.trunk(x)
        return [self.heatmaps(features), self.pafs(features)]


class RefinementStage(nn.Module):
    """LWOP's refinement stage: five RefinementStageBlocks (in→C, then C→C) and two C-wide heads."""

    def __init__(
        self, in_channels: int, channels: int = 128, num_heatmaps: int = 19, num_pafs: int = 38, num_blocks: int = 5
    ) -> None:
        super().__init__()
        self.trunk = refinement_blocks(in_channels, channels, num_blocks)
        self.heatmaps = PredictionHead(channels, num_heatmaps, channels)
        self.pafs = PredictionHead(channels, num_pafs, channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.trunk(x)
        return [self.heatmaps(features), self.pafs(features)]


# ------------------------------------------------------------------------------------ optimiser groups
# (weight lr multiplier, bias lr multiplier) per part, LWOP's train.py scheme (SPEC A.2.8). Every part not
# listed here (fusion stages "stage{k}", LWOP "refinement{k}") gets the refinement multipliers.
_PART_MULTIPLIERS: dict[str, tuple[float, float]] = {"backbone": (1.0, 2.0), "cpm": (1.0, 2.0), "initial": (1.0, 2.0)}
_STAGE_MULTIPLIERS = (4.0, 8.0)


def _is_depthwise(module: nn.Module) -> bool:
    return isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels


def param_groups(model: nn.Module, base_lr: float, weight_decay: float = 5e-4) -> list[dict[str, Any]]:
    """Optimiser parameter groups with LWOP's lr multipliers and weight-decay exemptions.

    For every part of ``model.parts()``:

    * conv/linear weights: lr × w_mult, with weight decay (backbone, Cpm, LWOP initial: ×1; cross-fusion
      stages and LWOP refinement stages: ×4);
    * conv/linear biases: lr × b_mult, no weight decay (×2, resp. ×8 in stages);
    * depth-wise conv weights: lr × w_mult, no weight decay;
    * BatchNorm (and other norm) weights: lr ×1, no weight decay; their biases: lr ×2, no weight decay.

    Each group carries a ``name`` ("stage1.conv_weight", ...) for logging. Every trainable parameter lands
    in exactly one group; parameters outside all parts go to a plain "other" group.
    """
    parts: OrderedDict[str, nn.Module] = model.parts()  # type: ignore[operator]
    groups: OrderedDict[str, dict[str, Any]] = OrderedDict()
    seen: set[int] = set()

    def add(name: str, param: nn.Parameter, lr_mult: float, wd: float) -> None:
        if not param.requires_grad or id(param) in seen:
            return
        seen.add(id(param))
        group = groups.setdefault(name, {"name": name, "params": [], "lr": base_lr * lr_mult, "weight_decay": wd})
        group["params"].append(param)

    for part_name, part in parts.items():
        w_mult, b_mult = _PART_MULTIPLIERS.get(part_name, _STAGE_MULTIPLIERS)
        for module in part.modules():
            direct = dict(module.named_parameters(recurse=False))
            if not direct:
                continue
            if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)):
                if "weight" in direct:
                    add(f"{part_name}.norm_weight", direct["weight"], 1.0, 0.0)
                if "bias" in direct:
                    add(f"{part_name}.norm_bias", direct["bias"], 2.0, 0.0)
                continue
            for pname, param in direct.items():
                if pname == "bias":
                    add(f"{part_name}.bias", param, b_mult, 0.0)
                elif _is_depthwise(module):
                    add(f"{part_name}.dw_weight", param, w_mult, 0.0)
                else:
                    add(f"{part_name}.weight", param, w_mult, weight_decay)
    for param in model.parameters():
        add("other", param, 1.0, weight_decay)
    return list(groups.values())
