"""FLPN — "Fast and Lightweight Human Pose Estimation" (Ren et al., IEEE Access 2021), top-down.

FLPN is SimpleBaseline with four changes (SPEC A.1.1): a two-conv 3×3 stem instead of 7×7 conv + max-pool,
*Smart bottlenecks* instead of ResNet bottlenecks, a GC block in every bottleneck, and a group-deconvolution
head. The trunk ("SResNet") keeps ResNet's stage widths (M = 64/128/256/512 hidden, N = 4M out) and block
counts (SResNet-50/101/152 = [3,4,6,3] / [3,4,23,3] / [3,8,36,3]).

Smart bottleneck (SPEC A.1.3)::

    x ─ SmartModule(N_in→M, t, ReLU) ─ DW3×3(M, stride s)+BN+ReLU ─ SmartModule(M→N, t, linear) ─ GC(N) ─(+)─ ReLU
    └──────────────── identity, or 1×1 conv stride s + BN on the first block of a stage ───────────────┘

A Smart module is GhostNet's Ghost module with ratio t (``edgepose.models.blocks.SmartModule``); the ratio per
stage is the paper's "SSIM-chosen" t, (2, 8, 2, 2) by the joint parameter/FLOP fit of SPEC A.1.5.

Ablations (paper Tables 5–8) are keyword arguments of the constructors, e.g. ``flpn_sres50(gc=False)``,
``flpn_sres50(bottleneck="standard")``; see ``docs/models.md`` for the table. Keys that default to ``None``
take the chosen bottleneck's own default (``gc``: on for smart/ghost/mobilenetv3, off for standard; ``se``: off;
``post_add_relu``: on for smart/standard, off for ghost/mobilenetv3). Those defaults are the readings whose
parameter counts land on the paper's Table 8 rows (docs/models.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import nn

from edgepose.models.blocks import GCBlock, GhostModuleBottleneck, ResidualBlock, SqueezeExcite, projection
from edgepose.models.options import check_choice, check_depth, check_flag, check_int_tuple
from edgepose.models.topdown import Stage, TopDownHeatmapNet, head_spec, make_layer
from edgepose.models.variants import variant

__all__ = [
    "BOTTLENECKS",
    "DEPTHS",
    "FLPN",
    "GhostBottleneck",
    "MobileNetV3Bottleneck",
    "SmartBottleneck",
    "StandardBottleneck",
    "flpn_sres50",
    "flpn_sres101",
    "flpn_sres152",
    "make_layer",
    "resnet_stages",
]

DEPTHS: dict[int, tuple[int, int, int, int]] = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
"""Blocks per stage of (S)ResNet-50/101/152."""

STAGE_WIDTHS = (64, 128, 256, 512)
"""Hidden width M of each stage; the stage output is N = 4M (SPEC A.1.1)."""

EXPANSION = 4


def _gc(channels: int, enabled: bool) -> nn.Module | None:
    return GCBlock(channels) if enabled else None


class SmartBottleneck(GhostModuleBottleneck):
    """FLPN's Smart bottleneck (SPEC A.1.3); children ``module1``, ``dwconv``, ``module2``, ``gc``, ``downsample``.

    Args:
        in_channels: N_in.
        mid_channels: M (hidden width of the depth-wise conv).
        out_channels: N.
        stride: stride of the depth-wise 3×3 conv and of the projection shortcut.
        ratio: Smart-module ratio t (1/t of the outputs are "intrinsic" maps from a 1×1 conv).
        gc: GC block (ratio 1/16) after the second module, before the add.
        se: optional SE on the hidden maps after the depth-wise conv (not in the paper; off by default).
        post_add_relu: ReLU after the residual add (ResNet/LPN; the default here); GhostNet has none.

    The depth-wise conv is in every block, with a ReLU after it.
    """

    dw_always = True
    dw_act = True
    default_post_add_relu = True


class GhostBottleneck(GhostModuleBottleneck):
    """GhostNet's bottleneck in FLPN's ResNet-shaped stages (paper Table 8, "Ours w/ ghost bottleneck").

    ``GhostModule(N_in→M, t, ReLU) → [DW3×3(M, stride 2) + BN, only when the block strides] → [SE(M)] →
    GhostModule(M→N, t, linear) → [GC(N)] → + shortcut → [ReLU]``. The difference from the Smart bottleneck is
    GhostNet's: the depth-wise conv exists only in down-sampling blocks and has no ReLU. Reading (docs/models.md):
    the shortcut stays ResNet's 1×1 projection, GC stays on, SE and the post-add ReLU are off (GhostNet's paper
    figure has no SE in its bottleneck), which lands on the paper's 10.1594M (ours 10.05M, A.1.6 reading).
    """

    dw_always = False
    dw_act = False
    default_post_add_relu = False


class StandardBottleneck(ResidualBlock):
    """ResNet's bottleneck 1×1 → 3×3 (stride) → 1×1, BN after each, with optional GC/SE.

    Keys match torchvision's ``Bottleneck`` (``conv1..conv3``, ``bn1..bn3``, ``downsample.0/.1``), so ImageNet
    ResNet weights load into SimpleBaseline and into FLPN's "w/ standard bottleneck" ablation layer for layer.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        stride: int = 1,
        ratio: int = 1,
        gc: bool = False,
        se: bool = False,
        post_add_relu: bool = True,
    ) -> None:
        super().__init__()
        del ratio  # no Ghost modules here; accepted so every bottleneck has one signature
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.se = SqueezeExcite(mid_channels) if se else None
        self.gc = _gc(out_channels, gc)
        self.downsample = projection(in_channels, out_channels, stride)
        self.post_add_relu = post_add_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        if self.se is not None:
            out = self.se(out)
        return self._finish(self.bn3(self.conv3(out)), x)


class MobileNetV3Bottleneck(ResidualBlock):
    """MobileNetV3's block in FLPN's stages (paper Table 8, "Ours w/ mobilenet-v3 bottleneck").

    ``1×1(N_in→M) + BN + h-swish → DW3×3(M, stride) + BN + h-swish → [SE(M, 1/4, hard-sigmoid)] → 1×1(M→N) + BN
    (linear) → [GC(N)] → + shortcut``. Reading (docs/models.md): the hidden width is the stage's M, as in every
    other variant, because an *inverted* expansion (hidden > N = 2048) would be far above the paper's 14.78M;
    no post-add activation (linear bottleneck); ResNet projection shortcut where shapes change. With GC kept
    and no SE (the defaults) SResNet-50 has 14.85M parameters against the paper's 14.7798M; with SE instead of
    GC 12.93M, with both 15.48M.

    The activation is the class attribute ``act_layer`` (LPN's bottleneck is this block with ReLU and a
    post-add ReLU, :class:`edgepose.models.lpn.LightweightBottleneck`).
    """

    act_layer: type[nn.Module] = nn.Hardswish
    default_post_add_relu = False

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        stride: int = 1,
        ratio: int = 1,
        gc: bool = True,
        se: bool = False,
        post_add_relu: bool | None = None,
    ) -> None:
        super().__init__()
        del ratio  # no Ghost modules here; accepted so every bottleneck has one signature
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride, 1, groups=mid_channels, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.act = self.act_layer(inplace=True)
        self.se = SqueezeExcite(mid_channels) if se else None
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.gc = _gc(out_channels, gc)
        self.downsample = projection(in_channels, out_channels, stride)
        self.post_add_relu = self.default_post_add_relu if post_add_relu is None else post_add_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        if self.se is not None:
            out = self.se(out)
        return self._finish(self.bn3(self.conv3(out)), x)


BOTTLENECKS: dict[str, type[nn.Module]] = {
    "smart": SmartBottleneck,
    "standard": StandardBottleneck,
    "ghost": GhostBottleneck,
    "mobilenetv3": MobileNetV3Bottleneck,
}

# Per-bottleneck defaults for the keys whose constructor default is None.
_BOTTLENECK_DEFAULTS: dict[str, dict[str, bool]] = {
    "smart": {"gc": True, "se": False, "post_add_relu": True},
    "standard": {"gc": False, "se": False, "post_add_relu": True},
    "ghost": {"gc": True, "se": False, "post_add_relu": False},
    "mobilenetv3": {"gc": True, "se": False, "post_add_relu": False},
}


def resnet_stages(
    block: type[nn.Module] | partial,
    blocks: Sequence[int],
    widths: Sequence[int] = STAGE_WIDTHS,
    expansion: int = EXPANSION,
    strides: Sequence[int] = (1, 2, 2, 2),
) -> list[Stage]:
    """The ResNet stage table: stage i has ``blocks[i]`` blocks of hidden width ``widths[i]``, output
    ``expansion × widths[i]`` and stride ``strides[i]``, every block made by ``block(in, mid, out, stride)``."""
    return [Stage(n, m, m * expansion, s, block) for n, m, s in zip(blocks, widths, strides)]


def _bottleneck_options(bottleneck: str, gc: object, se: object, post_add_relu: object) -> dict[str, bool]:
    """gc / se / post_add_relu with ``None`` replaced by the bottleneck's own default."""
    opts = {"gc": gc, "se": se, "post_add_relu": post_add_relu}
    defaults = _BOTTLENECK_DEFAULTS[bottleneck]
    return {k: defaults[k] if check_flag(k, v) is None else bool(v) for k, v in opts.items()}


def _scaled_widths(width: float) -> tuple[int, tuple[int, ...]]:
    """(stem width, stage widths M) for a width multiplier: multiples of 8 so Smart ratios and groups divide."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0.0 < width <= 4.0:
        raise ValueError(f"width must be a number in (0, 4], got {width!r}")
    if width == 1.0:
        return 64, STAGE_WIDTHS

    def scale(c: int) -> int:
        return max(8, round(c * width / 8) * 8)

    return scale(64), tuple(scale(m) for m in STAGE_WIDTHS)


def _flpn_stages(
    bottleneck: str, ratios: Sequence[int], blocks: Sequence[int], widths: Sequence[int], opts: dict[str, bool]
) -> list[Stage]:
    """FLPN's table: ResNet stages whose blocks carry the stage's Smart ratio t."""
    block_cls = BOTTLENECKS[bottleneck]
    return [
        Stage(n, m, m * EXPANSION, s, partial(block_cls, ratio=t, **opts))
        for n, m, s, t in zip(blocks, widths, (1, 2, 2, 2), ratios)
    ]


class FLPN(TopDownHeatmapNet):
    """FLPN on an SResNet trunk (or an ablation of it). Prefer the constructors ``flpn_sres50/101/152``.

    Args (all keyword; the constructors' keyword arguments with the same names):
        depth: 50, 101 or 152 (block counts of :data:`DEPTHS`).
        num_keypoints: K heatmaps (17 COCO, 16 MPII).
        input_size: (H, W) of the crops, (256, 192) COCO or (256, 256) MPII: the crop size of the model's
            metadata (``model_info``), which checkpoints and ONNX files carry; the layers work at any multiple of
            the stride.
        bottleneck: "smart" (FLPN), "standard" (ResNet), "ghost" (GhostNet), "mobilenetv3".
        gc, se, post_add_relu: bottleneck options; None = the bottleneck's default.
        stem: "two_conv" (FLPN) or "maxpool" (ResNet 7×7 + max-pool).
        head: "group_deconv" (FLPN, groups = gcd(C_in, C_out)) or "deconv" (SimpleBaseline's dense deconvs).
        ratios: Smart/Ghost module ratio t for layer1..layer4.
        deconv_channels: filters of each deconv layer.
        num_deconv_layers: ×2 up-samplings in the head (3 → stride 4).
        head_pointwise: LPN's 1×1 conv + BN + ReLU after each deconv (FLPN: none).
        final_conv_kernel: 1 or 3.
        blocks: bottlenecks per stage, overriding the depth's (e.g. ``(1, 1, 1, 1)``); None = :data:`DEPTHS`.
            A quickstart / edge option for small CPU budgets, not a model of the paper.
        width: multiplier of the stem width (64) and the stage widths M (64/128/256/512), each rounded to a
            multiple of 8 (at least 8); N stays 4M. 1.0 = the paper. A quickstart / edge option, not a paper model.
    """

    def __init__(
        self,
        *,
        depth: int = 50,
        num_keypoints: int = 17,
        input_size: Sequence[int] = (256, 192),
        bottleneck: str = "smart",
        gc: bool | None = None,
        se: bool | None = None,
        stem: str = "two_conv",
        head: str = "group_deconv",
        ratios: Sequence[int] = (2, 8, 2, 2),
        deconv_channels: int = 256,
        num_deconv_layers: int = 3,
        head_pointwise: bool = False,
        post_add_relu: bool | None = None,
        final_conv_kernel: int = 1,
        blocks: Sequence[int] | None = None,
        width: float = 1.0,
    ) -> None:
        check_depth(depth, DEPTHS)
        bottleneck = check_choice("bottleneck", bottleneck, tuple(BOTTLENECKS))
        ratios = check_int_tuple("ratios", ratios, 4, "one Smart-module ratio t per stage")
        stage_blocks = DEPTHS[depth] if blocks is None else check_int_tuple("blocks", blocks, 4, "blocks per stage")
        stem_width, stage_widths = _scaled_widths(width)
        opts = _bottleneck_options(bottleneck, gc, se, post_add_relu)
        super().__init__(
            stem=stem,
            stem_width=stem_width,
            stages=_flpn_stages(bottleneck, ratios, stage_blocks, stage_widths, opts),
            head=head_spec(head, deconv_channels, num_deconv_layers, head_pointwise, final_conv_kernel),
            num_keypoints=num_keypoints,
            input_size=input_size,
        )
        self.depth = depth
        self.bottleneck = bottleneck
        self.config = {
            "depth": depth, "bottleneck": bottleneck, "stem": stem, "head": head, "ratios": ratios,
            "deconv_channels": deconv_channels, "num_deconv_layers": num_deconv_layers,
            "head_pointwise": head_pointwise, "final_conv_kernel": final_conv_kernel, **opts,
        }  # fmt: skip
        if blocks is not None or width != 1.0:  # reduced (quickstart/edge) variants only: paper configs unchanged
            self.config.update(blocks=tuple(stage_blocks), width=width)


flpn_sres50 = variant(
    FLPN, "flpn_sres50",
    """FLPN with SResNet-50 ([3, 4, 6, 3]): 10.08M params, 1.258 GMACs at 256×192 (paper 10.19M / 1.26G).

    MPII: ``flpn_sres50(num_keypoints=16, input_size=(256, 256))``. Ablations: see :class:`FLPN` and
    docs/models.md. ``blocks`` / ``width`` give reduced SResNets for CPU budgets (``edgepose quickstart`` uses
    ``blocks=(1, 1, 1, 1), width=0.5``); they are quickstart/edge options, not the paper's models.
    """,
    depth=50,
)  # fmt: skip
flpn_sres101 = variant(
    FLPN, "flpn_sres101",
    "FLPN with SResNet-101 ([3, 4, 23, 3]): 16.99M params, 2.15 GMACs at 256×192 (paper 17.0M / 2.0G).",
    depth=101,
)  # fmt: skip
flpn_sres152 = variant(
    FLPN, "flpn_sres152",
    "FLPN with SResNet-152 ([3, 8, 36, 3]): 22.51M params, 2.90 GMACs at 256×192 (paper 22.5M / 2.8G).",
    depth=152,
)  # fmt: skip
