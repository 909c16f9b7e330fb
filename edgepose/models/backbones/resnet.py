"""ResNet trunk (He et al., "Deep Residual Learning for Image Recognition", 2016), written from the paper.

The parameter names follow torchvision's ``resnet*`` (``conv1``, ``bn1``, ``layer1``..``layer4``, each block's
``conv1/bn1/conv2/bn2[/conv3/bn3]`` and ``downsample.0`` / ``downsample.1``), so an ImageNet state dict
saved from torchvision loads key for key (its ``fc.*`` keys are reported as unexpected and ignored).

Blocks:

- :class:`BasicBlock` (ResNet-18/34): two 3×3 convs, expansion 1.
- :class:`Bottleneck` (ResNet-50/101/152): 1×1 reduce, 3×3, 1×1 expand (×4). The stride sits on the 3×3
  conv ("ResNet v1.5", as torchvision and SimpleBaseline do), not on the first 1×1 as in the original
  Caffe model.

The trunk has no classifier by default: ``forward(x)`` returns the last stage's map (stride 32, or less with
dilation), ``forward_features(x)`` returns a dict ``{"stem", "layer1", ..., "layer4"}`` of every stage
output, and ``out_channels`` / ``strides`` give each stage's channel count and stride.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "ResNetStem",
    "resnet18",
    "resnet50",
]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3×3 conv without bias, padding = dilation so the size only changes by the stride."""
    return nn.Conv2d(
        in_channels, out_channels, 3, stride=stride, padding=dilation, groups=groups, dilation=dilation, bias=False
    )


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1×1 conv without bias."""
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 conv+BN, identity or projection shortcut, ReLU after the add (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, planes, stride, dilation=dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, dilation=dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 (C→planes), 3×3 (planes, stride), 1×1 (planes→4·planes), each with BN; ReLU after the add."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = conv1x1(in_channels, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride, dilation=dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet trunk: stem, four stages of residual blocks; no classifier unless ``num_classes`` is given.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: number of blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        replace_stride_with_dilation: for layer2..layer4, keep stride 1 and dilate instead (output stride
            16 or 8), as torchvision does.
        stem: ``"standard"`` = 7×7 conv stride 2 + BN + ReLU + 3×3 max-pool stride 2 (the paper's);
            ``"two_conv"`` = two 3×3 stride-2 convs with BN + ReLU (3→64→64), FLPN's "beginning block".
        widths: the per-stage ``planes`` (default 64, 128, 256, 512).
        num_classes: if set, add global average pooling and an ``fc`` layer (ImageNet-style classifier).
        zero_init_residual: start each block's last BN at γ=0 (each block starts as the identity).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        replace_stride_with_dilation: Sequence[bool] = (False, False, False),
        stem: str = "standard",
        widths: Sequence[int] = (64, 128, 256, 512),
        num_classes: int | None = None,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or len(widths) != 4:
            raise ValueError(f"ResNet needs 4 stages, got layers={tuple(layers)} widths={tuple(widths)}")
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(
                f"replace_stride_with_dilation needs 3 flags (layer2..layer4), got {replace_stride_with_dilation}"
            )
        if stem not in ("standard", "two_conv"):
            raise ValueError(f"stem must be 'standard' or 'two_conv', got {stem!r}")
        self.block = block
        self.stem_type = stem
        self.in_channels = 64
        self.dilation = 1
        if stem == "standard":
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            # conv1/bn1 keep torchvision's names; the second conv gets conv2/bn2 (no maxpool).
            self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(64, 64, kernel_size=3, stride=2, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(64)
            self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2, dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2, dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2, dilate=replace_stride_with_dilation[2])

        exp = block.expansion
        self.out_channels: dict[str, int] = {
            "stem": 64,
            "layer1": widths[0] * exp,
            "layer2": widths[1] * exp,
            "layer3": widths[2] * exp,
            "layer4": widths[3] * exp,
        }
        strides = {"stem": 4, "layer1": 4}
        s = 4
        for name, dil in zip(("layer2", "layer3", "layer4"), replace_stride_with_dilation):
            if not dil:
                s *= 2
            strides[name] = s
        self.strides: dict[str, int] = strides
        self.num_features = self.out_channels["layer4"]

        self.avgpool: nn.Module | None = None
        self.fc: nn.Module | None = None
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(self.num_features, num_classes)

        self.reset_parameters(zero_init_residual)

    def _make_layer(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        planes: int,
        blocks: int,
        stride: int = 1,
        dilate: bool = False,
    ) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.in_channels != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.in_channels, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.in_channels, planes, stride, downsample, previous_dilation)]
        self.in_channels = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.in_channels, planes, dilation=self.dilation))
        return nn.Sequential(*layers)

    def reset_parameters(self, zero_init_residual: bool = False) -> None:
        """Kaiming-normal (fan_out, ReLU) convs, BN γ=1 β=0, as in the ResNet paper / torchvision."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The stride-4 stem output (64 channels)."""
        x = self.relu(self.bn1(self.conv1(x)))
        if self.stem_type == "two_conv":
            return self.relu(self.bn2(self.conv2(x)))
        return self.maxpool(x)

    def stem_modules(self) -> nn.Sequential:
        """The stem's modules as one Sequential view (shares parameters; for per-part reports)."""
        if self.stem_type == "two_conv":
            return nn.Sequential(self.conv1, self.bn1, self.relu, self.conv2, self.bn2, nn.ReLU(inplace=True))
        return nn.Sequential(self.conv1, self.bn1, self.relu, self.maxpool)

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every stage output: ``{"stem", "layer1", "layer2", "layer3", "layer4"}``."""
        feats: dict[str, torch.Tensor] = {}
        x = feats["stem"] = self.stem(x)
        x = feats["layer1"] = self.layer1(x)
        x = feats["layer2"] = self.layer2(x)
        x = feats["layer3"] = self.layer3(x)
        feats["layer4"] = self.layer4(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer4 map, or class logits when the trunk was built with ``num_classes``."""
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        if self.fc is not None and self.avgpool is not None:
            x = self.fc(torch.flatten(self.avgpool(x), 1))
        return x


class ResNetStem(nn.Module):
    """A stride-4 stem that outputs 64 channels, as a module of its own (for networks built part by part).

    ``kind="maxpool"`` is ResNet's: 7×7 conv stride 2 + BN + ReLU + 3×3 max-pool stride 2 (children ``conv1``,
    ``bn1``, ``maxpool``, so torchvision's ``conv1.*`` / ``bn1.*`` map onto ``stem.conv1.*`` / ``stem.bn1.*``).
    ``kind="two_conv"`` is FLPN's "beginning block": 3×3 conv stride 2 (3→64) + BN + ReLU, then 3×3 conv
    stride 2 (64→64) + BN + ReLU (children ``conv1``, ``bn1``, ``conv2``, ``bn2``).
    """

    KINDS = ("two_conv", "maxpool")

    def __init__(self, kind: str = "maxpool", in_channels: int = 3, out_channels: int = 64) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"stem must be one of {self.KINDS}, got {kind!r}")
        self.kind = kind
        self.out_channels = out_channels
        if kind == "maxpool":
            self.conv1 = nn.Conv2d(in_channels, out_channels, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(out_channels)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(out_channels)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(out_channels)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        if self.kind == "maxpool":
            return self.maxpool(x)
        return self.relu(self.bn2(self.conv2(x)))


def resnet18(**kwargs) -> ResNet:
    """ResNet-18 trunk (BasicBlock, [2, 2, 2, 2]); 11.2M params without the classifier."""
    return ResNet(BasicBlock, (2, 2, 2, 2), **kwargs)


def resnet50(**kwargs) -> ResNet:
    """ResNet-50 trunk (Bottleneck, [3, 4, 6, 3]); 23.5M params without the classifier."""
    return ResNet(Bottleneck, (3, 4, 6, 3), **kwargs)
