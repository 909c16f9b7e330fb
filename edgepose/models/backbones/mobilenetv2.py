"""MobileNetV2 1.0 (Sandler et al. 2018) in the Keras layout, able to take TensorFlow-trained weights as they are.

Written as a table of rows (expansion t, out channels c, repeats n, first stride s) and a loop, like
``backbones/ghostnet.py``. Two options exist because published MobileNetV2 weights (the ImageNet classifier
and MoveNet's trunk in ``../shared/weights``) come from TensorFlow:

- ``padding="same"`` reproduces TensorFlow's "SAME" padding: a stride-2 3×3 conv on an even-sized input pads
  only right and bottom (0, 1, 0, 1). PyTorch's symmetric padding (1, 1, 1, 1) shifts every feature by half a
  pixel per stride-2 layer, which costs a TF-trained network much of its accuracy (SOURCES.md measured ImageNet
  top-1 agreement falling from 37/40 to 26/40). ``"symmetric"`` is the PyTorch convention.
- ``batch_norm=False`` builds each conv with a bias and no BN: TFLite files hold BN folded into the conv bias,
  and a BN re-initialised on top of folded weights would destroy the features in the first training steps.

The models of edgepose take RGB crops normalised with ImageNet statistics (the house convention,
:mod:`edgepose.geometry`). MobileNets were trained on RGB scaled to [-1, 1] (x / 127.5 - 1); ``input_scaling=
"tf"`` puts a fixed per-channel affine in front of the stem that maps the one onto the other exactly, so the
data pipeline, the runtime and every exported file keep one input convention.

Stages (``self.stages``): stem conv + the t=1 block (stride 2, 16 ch), then the blocks of each output width:
24 (s4), 32 (s8), 64 (s16), 96 (s16), 160 (s32), 320 (s32), then ``last`` (1×1 → 1280, stride 32).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from edgepose.geometry import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["MOBILENETV2_ROWS", "InvertedResidual", "MobileNetV2Trunk", "TFConv2d", "conv_act"]

MOBILENETV2_ROWS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
"""(expansion, out channels, repeats, stride of the first repeat) of MobileNetV2 1.0 after the 32-ch stem."""

STEM_CHANNELS = 32
LAST_CHANNELS = 1280
PADDINGS = ("same", "symmetric")


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's "SAME" (before, after) padding of one spatial axis."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class TFConv2d(nn.Conv2d):
    """A conv with TensorFlow's "SAME" padding: asymmetric (more after than before) when the total is odd.

    Where "SAME" is symmetric for every input size (stride 1, odd kernel) it is ordinary ``padding=k//2`` and
    costs nothing; otherwise the pads are computed from the input's size in ``forward`` (constants in an ONNX
    graph exported at a fixed size).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        k, s, d = self.kernel_size[0], self.stride[0], self.dilation[0]
        self._symmetric = s == 1 and k % 2 == 1
        self.padding = ((k - 1) * d // 2,) * 2 if self._symmetric else (0, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._symmetric:
            top, bottom = _same_pads(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
            left, right = _same_pads(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


def conv_act(
    in_channels: int,
    out_channels: int,
    kernel: int = 1,
    stride: int = 1,
    *,
    groups: int = 1,
    padding: str = "same",
    batch_norm: bool = False,
    act: str | None = "relu6",
) -> nn.Sequential:
    """conv (+ BN) (+ ReLU6 / ReLU): ``[conv, bn?, act?]``. Folded (``batch_norm=False``) convs carry a bias."""
    conv_cls = TFConv2d if padding == "same" else nn.Conv2d
    pad = {} if padding == "same" else {"padding": kernel // 2}
    layers: list[nn.Module] = [
        conv_cls(in_channels, out_channels, kernel, stride, groups=groups, bias=not batch_norm, **pad)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    if act == "relu6":
        layers.append(nn.ReLU6(inplace=True))
    elif act == "relu":
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1×1 expand (ReLU6) → 3×3 depth-wise (ReLU6) → 1×1 project (linear), residual when shapes allow."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, expansion: int, padding: str, batch_norm: bool
    ) -> None:
        super().__init__()
        mid = in_channels * expansion
        opts = {"padding": padding, "batch_norm": batch_norm}
        self.expand = conv_act(in_channels, mid, 1, **opts) if expansion != 1 else nn.Identity()
        self.depthwise = conv_act(mid, mid, 3, stride, groups=mid, **opts)
        self.project = conv_act(mid, out_channels, 1, act=None, **opts)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class InputScaling(nn.Module):
    """Maps an ImageNet-normalised RGB tensor onto the [-1, 1] scaling TF-trained MobileNets expect.

    ``x_tf = (x * std + mean) * 2 - 1`` per channel: a fixed affine (buffers, not parameters).
    """

    def __init__(self) -> None:
        super().__init__()
        std = torch.as_tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
        mean = torch.as_tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("scale", 2.0 * std, persistent=False)
        self.register_buffer("shift", 2.0 * mean - 1.0, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class MobileNetV2Trunk(nn.Module):
    """MobileNetV2 1.0 without its classifier: ``forward`` returns the output of every stage (a list).

    ``stages[0]`` = stem + t=1 block (stride 2); ``stages[1..6]`` = the 24/32/64/96/160/320-channel blocks;
    ``last`` (when ``with_last``) the 1×1 conv to 1280 channels, appended as the final list element.
    """

    STAGE_CHANNELS = tuple(c for _, c, _, _ in MOBILENETV2_ROWS)

    def __init__(
        self,
        padding: str = "same",
        batch_norm: bool = False,
        input_scaling: str = "tf",
        with_last: bool = True,
    ) -> None:
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        if input_scaling not in ("tf", "imagenet"):
            raise ValueError(f"input_scaling must be 'tf' or 'imagenet', got {input_scaling!r}")
        self.input_scaling = InputScaling() if input_scaling == "tf" else nn.Identity()
        opts = {"padding": padding, "batch_norm": batch_norm}
        stages: list[nn.Sequential] = []
        in_channels = STEM_CHANNELS
        for index, (t, c, n, s) in enumerate(MOBILENETV2_ROWS):
            blocks: list[nn.Module] = [conv_act(3, STEM_CHANNELS, 3, 2, **opts)] if index == 0 else []
            for i in range(n):
                blocks.append(InvertedResidual(in_channels, c, s if i == 0 else 1, t, **opts))
                in_channels = c
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.last = conv_act(in_channels, LAST_CHANNELS, 1, **opts) if with_last else None
        self.out_channels = LAST_CHANNELS if with_last else in_channels
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.input_scaling(x)
        outs: list[torch.Tensor] = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        if self.last is not None:
            outs.append(self.last(x))
        return outs

    def convs(self) -> list[nn.Conv2d]:
        """Every conv in forward order: the order TensorFlow graphs list them in (importers map by it)."""
        return [m for m in self.modules() if isinstance(m, nn.Conv2d)]
