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

from collections.abc import Callable, Sequence

import torch
from torch import nn

from edgepose.models.backbones.resnet import ResNetStem
from edgepose.models.blocks import ConvBnAct, GCBlock, SmartModule, SqueezeExcite
from edgepose.models.heads import (
    DeconvHead,
    TopDownHeatmapNet,
    check_input_size,
    check_num_keypoints,
    init_head,
    make_final,
)
from edgepose.models.variants import depth_variant

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
]

DEPTHS: dict[int, tuple[int, int, int, int]] = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
"""Blocks per stage of (S)ResNet-50/101/152."""

STAGE_WIDTHS = (64, 128, 256, 512)
"""Hidden width M of each stage; the stage output is N = 4M (SPEC A.1.1)."""

EXPANSION = 4


def projection(in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    """ResNet's shortcut: None (identity) if shapes agree, else 1×1 conv (stride) + BN (keys ``0``, ``1``)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


def _gc(channels: int, enabled: bool) -> nn.Module | None:
    return GCBlock(channels) if enabled else None


class _Residual(nn.Module):
    """Shared tail of every bottleneck: optional GC on the branch, + shortcut, optional ReLU."""

    downsample: nn.Module | None
    gc: nn.Module | None

    def _finish(self, branch: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.gc is not None:
            branch = self.gc(branch)
        shortcut = x if self.downsample is None else self.downsample(x)
        out = branch + shortcut
        return torch.relu(out) if self.post_add_relu else out


class SmartBottleneck(_Residual):
    """FLPN's Smart bottleneck (SPEC A.1.3); children ``module1``, ``dwconv``, ``module2``, ``gc``, ``downsample``.

    Args:
        in_channels: N_in.
        mid_channels: M (hidden width of the depth-wise conv).
        out_channels: N.
        stride: stride of the depth-wise 3×3 conv and of the projection shortcut.
        ratio: Smart-module ratio t (1/t of the outputs are "intrinsic" maps from a 1×1 conv).
        gc: GC block (ratio 1/16) after the second module, before the add.
        se: optional SE on the hidden maps after the depth-wise conv (not in the paper; off by default).
        post_add_relu: ReLU after the residual add (ResNet/LPN); GhostNet has none.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        stride: int = 1,
        ratio: int = 2,
        gc: bool = True,
        se: bool = False,
        post_add_relu: bool = True,
    ) -> None:
        super().__init__()
        self.module1 = SmartModule(in_channels, mid_channels, ratio=ratio, relu=True)
        self.dwconv = ConvBnAct(mid_channels, mid_channels, 3, stride, groups=mid_channels, act=True)
        self.se = SqueezeExcite(mid_channels) if se else None
        self.module2 = SmartModule(mid_channels, out_channels, ratio=ratio, relu=False)
        self.gc = _gc(out_channels, gc)
        self.downsample = projection(in_channels, out_channels, stride)
        self.post_add_relu = post_add_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dwconv(self.module1(x))
        if self.se is not None:
            out = self.se(out)
        return self._finish(self.module2(out), x)


class GhostBottleneck(_Residual):
    """GhostNet's bottleneck in FLPN's ResNet-shaped stages (paper Table 8, "Ours w/ ghost bottleneck").

    ``GhostModule(N_in→M, t, ReLU) → [DW3×3(M, stride 2) + BN, only when the block strides] → [SE(M)] →
    GhostModule(M→N, t, linear) → [GC(N)] → + shortcut → [ReLU]``. The difference from the Smart bottleneck is
    GhostNet's: the depth-wise conv exists only in down-sampling blocks and has no ReLU. Reading (docs/models.md):
    the shortcut stays ResNet's 1×1 projection, GC stays on, SE and the post-add ReLU are off (GhostNet's paper
    figure has no SE in its bottleneck), which lands on the paper's 10.1594M (ours 10.05M, A.1.6 reading).
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        stride: int = 1,
        ratio: int = 2,
        gc: bool = True,
        se: bool = False,
        post_add_relu: bool = False,
    ) -> None:
        super().__init__()
        self.module1 = SmartModule(in_channels, mid_channels, ratio=ratio, relu=True)
        self.dwconv = (
            ConvBnAct(mid_channels, mid_channels, 3, stride, groups=mid_channels, act=False) if stride > 1 else None
        )
        self.se = SqueezeExcite(mid_channels) if se else None
        self.module2 = SmartModule(mid_channels, out_channels, ratio=ratio, relu=False)
        self.gc = _gc(out_channels, gc)
        self.downsample = projection(in_channels, out_channels, stride)
        self.post_add_relu = post_add_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module1(x)
        if self.dwconv is not None:
            out = self.dwconv(out)
        if self.se is not None:
            out = self.se(out)
        return self._finish(self.module2(out), x)


class StandardBottleneck(_Residual):
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


class MobileNetV3Bottleneck(_Residual):
    """MobileNetV3's block in FLPN's stages (paper Table 8, "Ours w/ mobilenet-v3 bottleneck").

    ``1×1(N_in→M) + BN + h-swish → DW3×3(M, stride) + BN + h-swish → [SE(M, 1/4, hard-sigmoid)] → 1×1(M→N) + BN
    (linear) → [GC(N)] → + shortcut``. Reading (docs/models.md): the hidden width is the stage's M, as in every
    other variant, because an *inverted* expansion (hidden > N = 2048) would be far above the paper's 14.78M;
    no post-add activation (linear bottleneck); ResNet projection shortcut where shapes change. With GC kept
    and no SE (the defaults) SResNet-50 has 14.85M parameters against the paper's 14.7798M; with SE instead of
    GC 12.93M, with both 15.48M.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        stride: int = 1,
        ratio: int = 1,
        gc: bool = True,
        se: bool = False,
        post_add_relu: bool = False,
    ) -> None:
        super().__init__()
        del ratio
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride, 1, groups=mid_channels, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.act = nn.Hardswish(inplace=True)
        self.se = SqueezeExcite(mid_channels) if se else None
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.gc = _gc(out_channels, gc)
        self.downsample = projection(in_channels, out_channels, stride)
        self.post_add_relu = post_add_relu

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

BlockFactory = Callable[[int, int, int, int], nn.Module]


def make_layer(block: BlockFactory, in_channels: int, mid: int, out: int, blocks: int, stride: int) -> nn.Sequential:
    """``blocks`` bottlenecks ``block(in, mid, out, stride)``; only the first one strides / projects."""
    layers = [block(in_channels, mid, out, stride)]
    layers += [block(out, mid, out, 1) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def init_trunk(module: nn.Module) -> None:
    """ResNet init for a trunk: Kaiming-normal (fan_out) convs, BN γ=1 β=0; GC blocks back to identity."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in module.modules():
        if isinstance(m, GCBlock):
            m.reset_parameters()  # conv_mask Kaiming fan_in, last channel_add conv zero (identity at start)


def _check_choice(key: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{key} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return str(value)


def _check_flag(key: str, value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")
    return value


def _check_ratios(ratios: Sequence[int]) -> tuple[int, int, int, int]:
    try:
        values = tuple(ratios)
    except TypeError:
        values = ()
    if len(values) != 4 or any(isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in values):
        raise ValueError(f"ratios must be 4 positive integers (one Smart-module ratio t per stage), got {ratios!r}")
    return values  # type: ignore[return-value]


def _check_positive_int(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer, got {value!r}")
    return value


def _check_blocks(blocks: Sequence[int]) -> tuple[int, int, int, int]:
    try:
        values = tuple(blocks)
    except TypeError:
        values = ()
    if len(values) != 4 or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in values):
        raise ValueError(f"blocks must be 4 positive integers (bottlenecks per stage), got {blocks!r}")
    return values  # type: ignore[return-value]


def _scaled_widths(width: float) -> tuple[int, tuple[int, ...]]:
    """(stem width, stage widths M) for a width multiplier: multiples of 8 so Smart ratios and groups divide."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0.0 < width <= 4.0:
        raise ValueError(f"width must be a number in (0, 4], got {width!r}")
    if width == 1.0:
        return 64, STAGE_WIDTHS

    def scale(c: int) -> int:
        return max(8, round(c * width / 8) * 8)

    return scale(64), tuple(scale(m) for m in STAGE_WIDTHS)


class FLPN(TopDownHeatmapNet):
    """FLPN on an SResNet trunk (or an ablation of it). Prefer the constructors ``flpn_sres50/101/152``.

    Args (all keyword; the constructors' keyword arguments with the same names):
        depth: 50, 101 or 152 (block counts of :data:`DEPTHS`).
        num_keypoints: K heatmaps (17 COCO, 16 MPII).
        input_size: (H, W) of the crops, (256, 192) COCO or (256, 256) MPII. Stored, not used by the layers.
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
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth!r}")
        check_input_size(input_size)  # fail before building the layers
        check_num_keypoints(num_keypoints)
        bottleneck = _check_choice("bottleneck", bottleneck, tuple(BOTTLENECKS))
        stem = _check_choice("stem", stem, ResNetStem.KINDS)
        head = _check_choice("head", head, ("group_deconv", "deconv"))
        ratios = _check_ratios(ratios)
        deconv_channels = _check_positive_int("deconv_channels", deconv_channels)
        if isinstance(num_deconv_layers, bool) or not isinstance(num_deconv_layers, int) or num_deconv_layers < 0:
            raise ValueError(f"num_deconv_layers must be a non-negative integer, got {num_deconv_layers!r}")
        stage_blocks = DEPTHS[depth] if blocks is None else _check_blocks(blocks)
        stem_width, stage_widths = _scaled_widths(width)
        defaults = _BOTTLENECK_DEFAULTS[bottleneck]
        opts = {
            "gc": _check_flag("gc", gc),
            "se": _check_flag("se", se),
            "post_add_relu": _check_flag("post_add_relu", post_add_relu),
        }
        opts = {k: defaults[k] if v is None else v for k, v in opts.items()}
        _check_flag("head_pointwise", head_pointwise)
        block_cls = BOTTLENECKS[bottleneck]

        stem_module = ResNetStem(stem, out_channels=stem_width)
        layers = []
        in_channels = stem_module.out_channels
        for i, (mid, n_blocks, ratio) in enumerate(zip(stage_widths, stage_blocks, ratios)):
            out = mid * EXPANSION

            def factory(cin: int, m: int, cout: int, s: int, _ratio: int = ratio) -> nn.Module:
                return block_cls(cin, m, cout, s, ratio=_ratio, **opts)

            layers.append(make_layer(factory, in_channels, mid, out, n_blocks, stride=1 if i == 0 else 2))
            in_channels = out
        head_module = DeconvHead(
            in_channels, deconv_channels, num_deconv_layers, grouped=head == "group_deconv", pointwise=head_pointwise
        )
        if 32 % head_module.upsample:
            raise ValueError(f"num_deconv_layers={num_deconv_layers} up-samples past the input resolution")
        final = make_final(head_module.out_channels, num_keypoints, final_conv_kernel)
        super().__init__(
            stem=stem_module,
            layers=layers,
            head=head_module,
            final=final,
            num_keypoints=num_keypoints,
            input_size=input_size,
            stride=32 // head_module.upsample,
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
        for part in (self.stem, self.layer1, self.layer2, self.layer3, self.layer4):
            init_trunk(part)
        init_head(self.head, self.final)


flpn_sres50 = depth_variant(
    FLPN, 50, "flpn_sres50",
    """FLPN with SResNet-50 ([3, 4, 6, 3]): 10.08M params, 1.258 GMACs at 256×192 (paper 10.19M / 1.26G).

    MPII: ``flpn_sres50(num_keypoints=16, input_size=(256, 256))``. Ablations: see :class:`FLPN` and
    docs/models.md. ``blocks`` / ``width`` give reduced SResNets for CPU budgets (``edgepose quickstart`` uses
    ``blocks=(1, 1, 1, 1), width=0.5``); they are quickstart/edge options, not the paper's models.
    """,
)  # fmt: skip
flpn_sres101 = depth_variant(
    FLPN, 101, "flpn_sres101",
    "FLPN with SResNet-101 ([3, 4, 23, 3]): 16.99M params, 2.15 GMACs at 256×192 (paper 17.0M / 2.0G).",
)  # fmt: skip
flpn_sres152 = depth_variant(
    FLPN, 152, "flpn_sres152",
    "FLPN with SResNet-152 ([3, 8, 36, 3]): 22.51M params, 2.90 GMACs at 256×192 (paper 22.5M / 2.8G).",
)  # fmt: skip
