"""GhostNet (Han et al., CVPR 2020) as a classification trunk and as a stride-8 pose backbone.

The architecture is the official width table (:data:`GHOSTNET_ROWS`: one row per Ghost bottleneck) and a
loop that builds it. Two things the official code cannot do are added:

* **Re-striding.** A stride-2 bottleneck can be built at stride 1 while *keeping* its depth-wise layer
  (``conv_dw``/``bn_dw``), so ImageNet weights still load key for key. (The official bottleneck creates
  that layer only when its stride is 2.)
* **Dilation.** Every spatial conv after a removed stride can be dilated (DeepLab style) so that the
  receptive field the ImageNet weights were trained with is kept. Dilation changes no weight shape and
  no MAC count.

Pose readings (SPEC A.2.2, A.2.10-1), selected by :func:`ghostnet_pose_backbone`:

=====  ===========================================================  ==========================
R1     stages 1-4; the stride-16 block (first of stage 4) at         default; 0.64M params,
       stride 1; ConvBnAct 1×1 112→512                               0.67 GMACs at 368×368
R2     all 5 stages; stage 4 and stage 5 first blocks at stride 1;   2.58M params, 2.31 GMACs
       ConvBnAct 1×1 160→512
R0     stages 1-3 (stride 8 already); ConvBnAct 1×1 40→512
=====  ===========================================================  ==========================

Our module names follow the official ones (``conv_stem``, ``bn1``, ``ghost1.primary_conv``,
``conv_dw``, ``bn_dw``, ``se.conv_reduce``, ``ghost2.cheap_operation``, ``shortcut``) except that the
bottlenecks sit in one flat ``blocks`` sequence instead of the official nine groups, and the final 1×1 is
``final_conv``; :func:`official_to_ours` translates the keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from edgepose.models.blocks import ConvBnAct, GhostModule, SqueezeExcite, init_conv_bn, make_divisible


@dataclass(frozen=True)
class GhostRow:
    """One Ghost bottleneck of the width table: paper stage, dw kernel, expansion width, output width,
    SE ratio (0 = no SE) and stride."""

    stage: int
    kernel: int
    exp: int
    out: int
    se: float
    stride: int


# The official GhostNet 1.0× table. The stride after each stage: 2 (stem) -> stage1 2, stage2 4,
# stage3 8, stage4 16, stage5 32.
GHOSTNET_ROWS: tuple[GhostRow, ...] = (
    GhostRow(1, 3, 16, 16, 0.0, 1),
    GhostRow(2, 3, 48, 24, 0.0, 2),
    GhostRow(2, 3, 72, 24, 0.0, 1),
    GhostRow(3, 5, 72, 40, 0.25, 2),
    GhostRow(3, 5, 120, 40, 0.25, 1),
    GhostRow(4, 3, 240, 80, 0.0, 2),
    GhostRow(4, 3, 200, 80, 0.0, 1),
    GhostRow(4, 3, 184, 80, 0.0, 1),
    GhostRow(4, 3, 184, 80, 0.0, 1),
    GhostRow(4, 3, 480, 112, 0.25, 1),
    GhostRow(4, 3, 672, 112, 0.25, 1),
    GhostRow(5, 5, 672, 160, 0.25, 2),
    GhostRow(5, 5, 960, 160, 0.0, 1),
    GhostRow(5, 5, 960, 160, 0.25, 1),
    GhostRow(5, 5, 960, 160, 0.0, 1),
    GhostRow(5, 5, 960, 160, 0.25, 1),
)
STEM_CHANNELS = 16
TRUNK_CHANNELS = 960  # the official 1×1 after stage 5 (before the classifier head)
# The official code groups the 16 rows into 9 ``blocks.{i}`` sequences of these sizes (then blocks.9 is the
# 160->960 ConvBnAct). Needed only to translate state-dict keys.
OFFICIAL_GROUP_SIZES: tuple[int, ...] = (1, 1, 1, 1, 1, 1, 5, 1, 4)

GHOST_READINGS: dict[str, int] = {"R0": 3, "R1": 4, "R2": 5}
"""Reading name -> number of stages kept (all at stride 8)."""


class GhostBottleneck(nn.Module):
    """GhostModule(in→exp, ReLU) → [dw k×k (stride) + BN] → [SE] → GhostModule(exp→out, linear) + shortcut.

    ``keep_dw`` builds the depth-wise layer even at stride 1: that is how a stride-2 block of the official
    net is re-strided without losing its weights. The shortcut is the identity when shapes allow it, else
    dw k×k(stride) + BN + 1×1 + BN. There is no activation after the add (as in the official code).

    ``dilation`` dilates the spatial convs that run *after* the block's (former) stride point: the cheap
    operations of both Ghost modules run behind the dw layer except ``ghost1``'s, so ``dilation_in`` is used
    for ``ghost1`` and the shortcut/dw layer, ``dilation`` for the rest.
    """

    def __init__(
        self,
        in_channels: int,
        exp_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        se_ratio: float = 0.0,
        keep_dw: bool = False,
        dilation_in: int = 1,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.ghost1 = GhostModule(in_channels, exp_channels, relu=True, dilation=dilation_in)
        self.has_dw = stride > 1 or keep_dw
        if self.has_dw:
            pad = dilation_in * (kernel_size - 1) // 2
            self.conv_dw = nn.Conv2d(
                exp_channels, exp_channels, kernel_size, stride, pad, dilation=dilation_in,
                groups=exp_channels, bias=False,
            )  # fmt: skip
            self.bn_dw = nn.BatchNorm2d(exp_channels)
        self.se = SqueezeExcite(exp_channels, se_ratio) if se_ratio > 0 else None
        self.ghost2 = GhostModule(exp_channels, out_channels, relu=False, dilation=dilation)
        if in_channels == out_channels and stride == 1:
            self.shortcut: nn.Module = nn.Identity()
        else:
            pad = dilation_in * (kernel_size - 1) // 2
            self.shortcut = nn.Sequential(
                nn.Conv2d(
                    in_channels, in_channels, kernel_size, stride, pad, dilation=dilation_in,
                    groups=in_channels, bias=False,
                ),
                nn.BatchNorm2d(in_channels),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
            )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ghost1(x)
        if self.has_dw:
            y = self.bn_dw(self.conv_dw(y))
        if self.se is not None:
            y = self.se(y)
        return self.ghost2(y) + self.shortcut(x)


class GhostNetBackbone(nn.Module):
    """GhostNet trunk: stem conv3×3(3→16, s2)+BN+ReLU, the first ``num_stages`` stages of the table, and a
    ConvBnAct 1×1 to ``out_channels``.

    ``output_stride`` (8, 16 or 32) sets every stride-2 block past that point to stride 1 (keeping its dw
    layer) and, if ``dilation > 1``, multiplies the dilation of every later spatial conv by ``dilation``
    per removed stride. ``GhostNetBackbone()`` with the defaults is the official classification trunk
    through the 960-channel 1×1 (2.671M params, 0.1386 GMACs at 224×224), without the classifier head.
    """

    def __init__(
        self,
        num_stages: int = 5,
        output_stride: int = 32,
        out_channels: int = TRUNK_CHANNELS,
        dilation: int = 1,
        width: float = 1.0,
        rows: tuple[GhostRow, ...] = GHOSTNET_ROWS,
    ) -> None:
        super().__init__()
        if not 1 <= num_stages <= 5:
            raise ValueError(f"num_stages must be in 1..5, got {num_stages}")
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        if dilation < 1:
            raise ValueError(f"dilation must be >= 1, got {dilation}")
        stem = make_divisible(STEM_CHANNELS * width, 4)
        self.conv_stem = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.act1 = nn.ReLU(inplace=True)

        blocks: list[nn.Module] = []
        in_ch, current_stride, current_dilation = stem, 2, 1
        self.rows = tuple(r for r in rows if r.stage <= num_stages)
        for row in self.rows:
            exp = make_divisible(row.exp * width, 4)
            out = make_divisible(row.out * width, 4)
            stride, keep_dw, dil_in = row.stride, False, current_dilation
            if row.stride > 1 and current_stride >= output_stride:
                stride, keep_dw = 1, True  # re-strided: keep the dw layer so official weights still load
                current_dilation *= dilation
            elif row.stride > 1:
                current_stride *= row.stride
            blocks.append(
                GhostBottleneck(
                    in_ch, exp, out, row.kernel, stride, row.se, keep_dw=keep_dw,
                    dilation_in=dil_in, dilation=current_dilation,
                )
            )  # fmt: skip
            in_ch = out
        self.blocks = nn.Sequential(*blocks)
        self.final_conv = ConvBnAct(in_ch, out_channels, 1)
        self.trunk_channels = in_ch
        self.out_channels = out_channels
        self.output_stride = current_stride
        self.num_stages = num_stages
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_stem(x)))
        return self.final_conv(self.blocks(x))


def ghostnet_pose_backbone(reading: str = "R1", out_channels: int = 512, dilation: int = 2) -> GhostNetBackbone:
    """The stride-8, 512-channel GhostNet of the cross-fusion network under reading R0, R1 or R2."""
    if reading not in GHOST_READINGS:
        raise ValueError(f"unknown GhostNet reading {reading!r}; choose from {sorted(GHOST_READINGS)}")
    return GhostNetBackbone(
        num_stages=GHOST_READINGS[reading], output_stride=8, out_channels=out_channels, dilation=dilation
    )


# ------------------------------------------------------------------------------------ official weights
def _official_block_index() -> dict[tuple[int, int], int]:
    """(official group i, position j) -> our flat block index."""
    index, flat = {}, 0
    for i, size in enumerate(OFFICIAL_GROUP_SIZES):
        for j in range(size):
            index[(i, j)] = flat
            flat += 1
    return index


_BLOCK_KEY = re.compile(r"^blocks\.(\d+)\.(\d+)\.(.+)$")
_OFFICIAL_FINAL = len(OFFICIAL_GROUP_SIZES)  # blocks.9.0 = ConvBnAct(160, 960)
_FINAL_RENAME = {"conv": "0", "bn1": "1"}
_SKIPPED_PREFIXES = ("conv_head.", "classifier.", "global_pool.", "act2.")


def official_to_ours(key: str) -> str | None:
    """Translate one official GhostNet state-dict key to ours; None for keys we drop (classifier head)."""
    if key.startswith("module."):
        key = key[len("module.") :]
    if key.startswith(_SKIPPED_PREFIXES):
        return None
    m = _BLOCK_KEY.match(key)
    if not m:
        return key  # conv_stem.*, bn1.*
    i, j, rest = int(m.group(1)), int(m.group(2)), m.group(3)
    if i == _OFFICIAL_FINAL:
        head, _, tail = rest.partition(".")
        return f"final_conv.{_FINAL_RENAME.get(head, head)}.{tail}"
    flat = _official_block_index().get((i, j))
    return None if flat is None else f"blocks.{flat}.{rest}"


def ours_to_official(key: str) -> str:
    """Inverse of :func:`official_to_ours` (used to save our weights under official names)."""
    inverse = {v: k for k, v in _official_block_index().items()}
    m = re.match(r"^blocks\.(\d+)\.(.+)$", key)
    if m:
        i, j = inverse[int(m.group(1))]
        return f"blocks.{i}.{j}.{m.group(2)}"
    m = re.match(r"^final_conv\.(\d+)\.(.+)$", key)
    if m:
        name = {v: k for k, v in _FINAL_RENAME.items()}[m.group(1)]
        return f"blocks.{_OFFICIAL_FINAL}.0.{name}.{m.group(2)}"
    return key
