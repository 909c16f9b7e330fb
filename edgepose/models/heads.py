"""Top-down heatmap heads and the shared top-down network contract.

:class:`DeconvHead` is the up-sampling "regressor" of SimpleBaseline, LPN and FLPN: a stack of
``ConvTranspose2d(k=4, s=2, p=1)`` + BN + ReLU layers, each doubling the resolution.

- ``grouped=True`` gives the *group deconvolution* of LPN and FLPN: ``groups = gcd(C_in, C_out)``, so the
  first layer 2048→256 has 256 groups and the following 256→256 layers are depth-wise (SPEC A.1.1).
- ``pointwise=True`` adds LPN's 1×1 conv + BN + ReLU after every deconv (channel mixing that a depth-wise
  deconv lacks). FLPN has none (SPEC A.1.6); SimpleBaseline's plain deconvs need none.

:func:`init_head` is the SimpleBaseline/HRNet/LPN ``init_weights`` for the head (SPEC A.1.7): deconv and conv
weights N(0, 0.001), BN γ=1 β=0, final conv bias 0.

The network that puts a stem, four stages and this head together is
:class:`edgepose.models.topdown.TopDownHeatmapNet`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

__all__ = [
    "PART_NAMES",
    "DeconvHead",
    "check_input_size",
    "check_num_keypoints",
    "init_head",
    "make_final",
]

PART_NAMES = ("stem", "layer1", "layer2", "layer3", "layer4", "head", "final")
"""The named parts of every top-down model, in forward order (keys of ``parts()``)."""


def _deconv_padding(kernel_size: int) -> tuple[int, int]:
    """(padding, output_padding) that make a stride-2 transposed conv exactly double the size."""
    if kernel_size == 4:
        return 1, 0
    if kernel_size == 3:
        return 1, 1
    if kernel_size == 2:
        return 0, 0
    raise ValueError(f"deconv kernel size must be 2, 3 or 4, got {kernel_size}")


class DeconvHead(nn.Sequential):
    """``num_layers`` × [ConvTranspose2d(k, s2) + BN + ReLU (+ 1×1 conv + BN + ReLU)]: ×2 resolution each.

    Args:
        in_channels: channels of the trunk output.
        channels: filters of every deconv layer (a single int or one per layer), 256 in all three papers.
        num_layers: number of ×2 up-samplings (3 for SimpleBaseline/FLPN, 2 for LPN's stride-16 trunk).
        kernel_size: deconv kernel, 4 (padding 1), 3 (padding 1, output padding 1) or 2 (padding 0).
        grouped: group deconvolution with ``groups = gcd(C_in, C_out)`` (LPN/FLPN), else dense (SimpleBaseline).
        pointwise: add a 1×1 conv + BN + ReLU after each deconv (LPN).

    Children are numbered as in a Sequential (``0`` deconv, ``1`` BN, ``2`` ReLU, ...), like SimpleBaseline's
    ``deconv_layers``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int | Sequence[int] = 256,
        num_layers: int = 3,
        kernel_size: int = 4,
        grouped: bool = True,
        pointwise: bool = False,
    ) -> None:
        if num_layers < 0:
            raise ValueError(f"num_deconv_layers must be >= 0, got {num_layers}")
        widths = [channels] * num_layers if isinstance(channels, int) else list(channels)
        if len(widths) != num_layers or any(int(w) < 1 for w in widths):
            raise ValueError(f"deconv channels {channels!r} do not fit {num_layers} layers")
        padding, output_padding = _deconv_padding(kernel_size)
        layers: list[nn.Module] = []
        c_in = in_channels
        for width in widths:
            width = int(width)
            groups = math.gcd(c_in, width) if grouped else 1
            layers += [
                nn.ConvTranspose2d(
                    c_in, width, kernel_size, stride=2, padding=padding, output_padding=output_padding,
                    groups=groups, bias=False,
                ),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]  # fmt: skip
            if pointwise:
                layers += [nn.Conv2d(width, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            c_in = width
        super().__init__(*layers)
        self.in_channels = in_channels
        self.out_channels = c_in
        self.num_layers = num_layers
        self.upsample = 2**num_layers


def make_final(in_channels: int, num_keypoints: int, kernel_size: int = 1) -> nn.Conv2d:
    """The heatmap regressor: conv ``kernel_size``×``kernel_size`` (1 or 3, size-preserving) → K, with bias."""
    if kernel_size not in (1, 3):
        raise ValueError(f"final_conv_kernel must be 1 or 3, got {kernel_size}")
    return nn.Conv2d(in_channels, num_keypoints, kernel_size, padding=kernel_size // 2, bias=True)


def init_head(head: nn.Module, final: nn.Module | None = None, std: float = 0.001) -> None:
    """SimpleBaseline/LPN head init: deconv and conv weights N(0, std), biases 0, BN γ=1 β=0."""
    for module in [head] + ([final] if final is not None else []):
        for m in module.modules():
            if isinstance(m, nn.ConvTranspose2d | nn.Conv2d):
                nn.init.normal_(m.weight, std=std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def check_input_size(input_size: Sequence[int]) -> tuple[int, int]:
    """``input_size`` as an (H, W) tuple of positive ints, or ValueError."""
    try:
        h, w = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise ValueError(f"input_size must be (height, width), got {input_size!r}") from None
    if h < 1 or w < 1 or (h, w) != tuple(input_size):
        raise ValueError(f"input_size must be two positive integers (height, width), got {input_size!r}")
    return h, w


def check_num_keypoints(num_keypoints: int) -> int:
    """A positive integer K, or ValueError."""
    if isinstance(num_keypoints, bool) or not isinstance(num_keypoints, int) or num_keypoints < 1:
        raise ValueError(f"num_keypoints must be a positive integer, got {num_keypoints!r}")
    return num_keypoints
