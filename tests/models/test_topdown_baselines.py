"""SimpleBaseline and LPN (the baselines FLPN is measured against) and the ResNet trunk they share."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgepose.errors import ConfigError
from edgepose.models import build_model
from edgepose.models.backbones.resnet import BasicBlock, Bottleneck, ResNetStem, resnet18, resnet50
from edgepose.models.blocks import GCBlock
from edgepose.models.heads import PART_NAMES, DeconvHead
from edgepose.models.lpn import LightweightBottleneck

SMALL = (64, 32)  # multiple of 32: every trunk map divides exactly


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def complexity(model: nn.Module, size: tuple[int, int] = SMALL) -> tuple[float, float]:
    """(true GMACs, HR-1024 GFLOPs) at 256×192, counted at ``size`` and scaled exactly (see test_flpn)."""
    scale = (256 * 192) // (size[0] * size[1])
    macs = hr = 0

    def hook(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal macs, hr
        out_hw = out.shape[2] * out.shape[3]
        in_hw = inp[0].shape[2] * inp[0].shape[3]
        s_out = scale if out_hw > 1 else 1  # GC fusion convs run on the 1×1 context
        macs += m.weight.numel() * (in_hw if isinstance(m, nn.ConvTranspose2d) else out_hw) * s_out
        hr += m.weight.numel() * out_hw * s_out  # HR-1024: weight.numel() × H_out × W_out for any *Conv*

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, *size))
    for h in hooks:
        h.remove()
    return macs / 1e9, hr / 1024**3


@pytest.mark.parametrize(
    ("name", "paper_params", "spec_params", "paper_hr", "spec_hr", "spec_macs"),
    [
        ("simplebaseline_r50", 34.0e6, 33.9997e6, 8.9, 8.991, 5.426),
        ("lpn50", 2.9e6, 2.911e6, 1.0, 1.008, 1.068),
        ("lpn101", 5.3e6, 5.354e6, 1.4, 1.414, 1.505),
        ("lpn152", 7.4e6, 7.378e6, 1.8, 1.823, 1.943),
    ],
)
def test_baselines_match_their_papers(name, paper_params, spec_params, paper_hr, spec_hr, spec_macs):
    model = build_model(name)
    p = n_params(model)
    assert abs(p / paper_params - 1) < 0.02
    assert abs(p / spec_params - 1) < 0.001
    macs, hr = complexity(model)
    assert abs(hr / paper_hr - 1) < 0.03
    assert hr == pytest.approx(spec_hr, rel=0.002)
    assert macs == pytest.approx(spec_macs, rel=0.002)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "params"), [("simplebaseline_r101", 52.99e6), ("simplebaseline_r152", 68.64e6)])
def test_deeper_simplebaselines(name, params):
    model = build_model(name)
    assert abs(n_params(model) / params - 1) < 0.001  # papers: 53.0M / 68.6M


@pytest.mark.parametrize(
    "name",
    [
        "simplebaseline_r50",
        pytest.param("simplebaseline_r101", marks=pytest.mark.slow),
        pytest.param("simplebaseline_r152", marks=pytest.mark.slow),
        "lpn50",
        "lpn101",
        "lpn152",
    ],
)
def test_contract_and_default_output_shape(name):
    model = build_model(name)
    assert model.task == "topdown" and model.stride == 4
    assert model.num_keypoints == 17 and model.input_size == (256, 192)
    parts = model.parts()
    assert tuple(parts) == PART_NAMES
    assert sum(n_params(p) for p in parts.values()) == n_params(model)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 256, 192)).shape == (1, 17, 64, 48)


def test_simplebaseline_layout():
    model = build_model("simplebaseline_r50", input_size=SMALL)
    assert model.stem.kind == "maxpool" and model.stem.conv1.kernel_size == (7, 7)
    deconvs = [m for m in model.head if isinstance(m, nn.ConvTranspose2d)]
    shapes = [(d.in_channels, d.out_channels, d.groups) for d in deconvs]
    assert shapes == [(2048, 256, 1), (256, 256, 1), (256, 256, 1)]
    assert not any(isinstance(m, GCBlock) for m in model.modules())
    assert float(model.final.weight.detach().std()) == pytest.approx(0.001, rel=0.3)
    assert torch.all(model.final.bias == 0)


def test_lpn_layout():
    model = build_model("lpn50", input_size=SMALL)
    assert isinstance(model.layer1[0], LightweightBottleneck)
    # expansion 1: stage widths 64/128/256/512, layer4 keeps stride 16
    assert [layer[-1].conv3.out_channels for layer in (model.layer1, model.layer2, model.layer3, model.layer4)] == [
        64, 128, 256, 512,
    ]  # fmt: skip
    assert model.layer4[0].conv2.stride == (1, 1) and model.layer3[0].conv2.stride == (2, 2)
    assert model.layer2[0].conv2.groups == 128  # depth-wise 3×3
    assert isinstance(model.layer4[2].gc, GCBlock)
    assert model.layer1[0].gc.channel_add_conv[0].out_channels == 16  # max(64 // 16, 16)
    head = model.head
    assert isinstance(head, DeconvHead) and head.num_layers == 2
    deconvs = [m for m in head if isinstance(m, nn.ConvTranspose2d)]
    assert [(d.in_channels, d.groups) for d in deconvs] == [(512, 256), (256, 256)]
    assert sum(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) for m in head) == 2  # the 1×1 after each
    with torch.no_grad():
        feats = model.forward_features(torch.randn(1, 3, *SMALL))
    assert feats["layer4"].shape == (1, 512, 4, 2) and feats["final"].shape == (1, 17, 16, 8)


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("simplebaseline_r50", {"head": "group_deconv"}),
        ("simplebaseline_r50", {"stem": "two_conv"}),
        ("simplebaseline_r50", {"gc": True}),
        ("simplebaseline_r50", {"num_keypoints": 16, "final_conv_kernel": 3}),
        ("simplebaseline_r50", {"head_pointwise": True, "deconv_channels": 64}),
        ("lpn50", {"gc": False}),
        ("lpn50", {"head": "deconv"}),
        ("lpn50", {"head_pointwise": False}),
        ("lpn50", {"num_keypoints": 16}),
    ],
)
def test_baseline_overrides_keep_the_output_shape(name, overrides):
    model = build_model(name, input_size=SMALL, **overrides)
    with torch.no_grad():
        out = model.eval()(torch.randn(2, 3, *SMALL))
    assert out.shape == (2, overrides.get("num_keypoints", 17), 16, 8)


def test_lpn_mpii_config_and_stride_with_three_deconvs():
    model = build_model("lpn50", num_keypoints=16, input_size=(256, 256))
    assert model.input_size == (256, 256)
    deeper = build_model("lpn50", num_deconv_layers=3, input_size=SMALL)
    assert deeper.stride == 2
    with torch.no_grad():
        assert deeper.eval()(torch.randn(1, 3, *SMALL)).shape == (1, 17, 32, 16)


@pytest.mark.parametrize("name", ["simplebaseline_r50", "lpn50"])
def test_baseline_unknown_and_bad_keys(name):
    with pytest.raises(ConfigError, match="bottleneck"):
        build_model(name, bottleneck="smart")
    with pytest.raises(ConfigError, match="head"):
        build_model(name, head="bilinear")


def test_gradients_reach_the_lpn_stem():
    model = build_model("lpn50", input_size=SMALL).train()
    model(torch.randn(2, 3, *SMALL)).square().mean().backward()
    assert float(model.stem.conv1.weight.grad.abs().sum()) > 0


# --- ResNet trunk -------------------------------------------------------------------------------------------


def test_resnet_trunk_sizes_and_torchvision_keys():
    # torchvision resnet18/50 minus their fc layers (513,000 and 2,049,000 parameters)
    assert n_params(resnet18()) == 11_689_512 - 513_000
    r50 = resnet50()
    assert n_params(r50) == 25_557_032 - 2_049_000
    keys = set(r50.state_dict())
    for key in (
        "conv1.weight", "bn1.running_var", "layer1.0.conv3.weight", "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.bias", "layer4.2.bn3.weight", "layer3.5.conv2.weight",
    ):  # fmt: skip
        assert key in keys, key
    assert not any(k.startswith("fc.") for k in keys)
    assert isinstance(r50.layer2[0], Bottleneck) and r50.layer2[0].conv2.stride == (2, 2)  # stride on the 3×3
    assert isinstance(resnet18().layer1[0], BasicBlock)


def test_resnet_forward_features_strides_and_dilation():
    r18 = resnet18().eval()
    with torch.no_grad():
        feats = r18.forward_features(torch.randn(1, 3, 64, 32))
    assert {k: tuple(v.shape[1:]) for k, v in feats.items()} == {
        "stem": (64, 16, 8), "layer1": (64, 16, 8), "layer2": (128, 8, 4), "layer3": (256, 4, 2),
        "layer4": (512, 2, 1),
    }  # fmt: skip
    assert r18.out_channels["layer4"] == 512 and r18.strides["layer4"] == 32
    dilated = resnet18(replace_stride_with_dilation=(False, True, True)).eval()
    assert dilated.strides == {"stem": 4, "layer1": 4, "layer2": 8, "layer3": 8, "layer4": 8}
    with torch.no_grad():
        assert dilated(torch.randn(1, 3, 64, 32)).shape == (1, 512, 8, 4)
    two = resnet18(stem="two_conv", num_classes=10).eval()
    with torch.no_grad():
        assert two(torch.randn(2, 3, 64, 32)).shape == (2, 10)


def test_resnet_stem_kinds():
    assert n_params(ResNetStem("two_conv")) == 3 * 64 * 9 + 64 * 64 * 9 + 4 * 64
    with pytest.raises(ValueError, match="stem"):
        ResNetStem("3x3")
