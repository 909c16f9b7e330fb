"""The complexity counters against hand-computed figures on small hand-built modules."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from edgepose.analysis.complexity import HR_DIVISOR, count_complexity
from edgepose.models.blocks import GCBlock


def test_plain_conv_counts_output_resolution_and_no_bias():
    model = nn.Conv2d(3, 8, 3, stride=2, padding=1)  # 16×16 -> 8×8
    r = count_complexity(model, (16, 16))
    assert r.macs == 8 * 3 * 9 * 8 * 8  # Cout·Cin·k²·Hout·Wout, bias free
    assert r.hr1024_flops == 8 * 3 * 9 * 8 * 8  # for a plain conv both conventions agree
    assert r.params == 8 * 3 * 9 + 8  # the bias is a parameter though
    assert r.hr1024_gflops == pytest.approx(r.macs / HR_DIVISOR)


def test_grouped_and_depthwise_conv_divide_by_groups():
    grouped = nn.Conv2d(8, 16, 3, padding=1, groups=4, bias=False)
    assert count_complexity(grouped, (8, 6), in_channels=8).macs == 16 * (8 // 4) * 9 * 8 * 6
    depthwise = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
    r = count_complexity(depthwise, (8, 6), in_channels=16)
    assert r.macs == 16 * 1 * 9 * 8 * 6
    assert r.params == 16 * 9
    dilated_strided = nn.Conv2d(4, 4, 3, stride=2, padding=2, dilation=2, groups=4, bias=False)  # 10×10 -> 5×5
    assert count_complexity(dilated_strided, (10, 10), in_channels=4).macs == 4 * 9 * 5 * 5


def test_transposed_conv_true_macs_at_input_resolution_hr1024_at_output():
    deconv = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, bias=False)  # 8×6 -> 16×12
    r = count_complexity(deconv, (8, 6), in_channels=16)
    weight = 16 * 8 * 4 * 4
    assert r.macs == weight * 8 * 6
    assert r.hr1024_flops == weight * 16 * 12  # stride² = 4× over-count (HRNet issue #257)
    assert r.hr1024_flops == 4 * r.macs


def test_grouped_transposed_conv():
    deconv = nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1, groups=16, bias=False)  # gcd(32, 16) groups
    r = count_complexity(deconv, (4, 3), in_channels=32)
    assert deconv.weight.shape == (32, 1, 4, 4)
    assert r.macs == 32 * (16 // 16) * 16 * 4 * 3  # Cin·Cout/g·k²·Hin·Win
    assert r.hr1024_flops == 32 * 16 * 8 * 6


class _Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.conv(x)).flatten(1))


def test_linear_counts_in_times_out_and_pool_is_free():
    r = count_complexity(_Mlp(), (5, 7))
    assert r.macs == 3 * 4 * 5 * 7 + 4 * 10
    assert r.hr1024_flops == r.macs
    assert r.params == 12 + 40 + 10


class _TwoParts(nn.Module):
    """A model with parts(): stem (conv+BN+ReLU), head (deconv), final (1×1 conv); `extra` is outside parts."""

    input_size = (8, 8)

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.ConvTranspose2d(8, 8, 4, 2, 1, groups=8, bias=False)
        self.final = nn.Conv2d(8, 2, 1)
        self.extra = nn.Conv2d(2, 2, 1, bias=False)

    def parts(self) -> OrderedDict[str, nn.Module]:
        return OrderedDict(stem=self.stem, head=self.head, final=self.final)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extra(self.final(self.head(self.stem(x))))


def test_parts_sum_to_total_and_other_collects_the_rest():
    model = _TwoParts()
    model.train()
    model.stem[1].eval()  # a frozen BN must stay frozen
    r = count_complexity(model)  # input size from model.input_size
    assert r.input_size == (8, 8)
    assert list(r.parts) == ["stem", "head", "final", "other"]
    assert r.parts["stem"]["macs"] == 8 * 3 * 9 * 4 * 4
    assert r.parts["stem"]["params"] == 8 * 3 * 9 + 16  # conv + BN affine
    assert r.parts["head"]["macs"] == 8 * 16 * 4 * 4  # depthwise deconv at its 4×4 input
    assert r.parts["head"]["hr1024_gflops"] * HR_DIVISOR == pytest.approx(8 * 16 * 8 * 8)
    assert r.parts["final"]["macs"] == 2 * 8 * 8 * 8
    assert r.parts["other"] == {
        "params": 4,
        "macs": 2 * 2 * 8 * 8,
        "hr1024_gflops": 2 * 2 * 8 * 8 / HR_DIVISOR,
        "matmul_macs": 0,
    }
    assert sum(p["macs"] for p in r.parts.values()) == r.macs
    assert sum(p["params"] for p in r.parts.values()) == r.params
    # the pass leaves the model as it found it: training flag restored, no hooks left behind
    assert model.training and model.head.training and not model.stem[1].training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    d = r.to_dict()
    assert {"model", "input_size", "params", "macs", "hr1024_gflops", "parts"} <= set(d)


def test_gc_block_matmul_is_separate_and_layernorm_missed_by_hr_params():
    c, h, w = 32, 6, 5
    block = GCBlock(c)  # hidden = max(32 // 16, 16) = 16
    r = count_complexity(block, (h, w), in_channels=c)
    assert r.macs == c * h * w + c * 16 + 16 * c  # conv_mask at H×W, two 1×1 convs on the 1×1 context
    assert r.matmul_macs == c * h * w  # the attention-weighted sum: B×C×HW @ B×HW×1
    assert r.params == (c + 1) + (c * 16 + 16) + 2 * 16 + (16 * c + c)
    assert r.params_hr1024 == r.params - 2 * 16  # HRNet's tool skips LayerNorm


def test_model_without_parts_uses_children():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.Conv2d(4, 4, 1, bias=False))
    r = count_complexity(model, (4, 4))
    assert list(r.parts) == ["0", "1"]
    assert r.parts["0"]["macs"] == 4 * 3 * 9 * 16 and r.parts["1"]["macs"] == 16 * 16


def test_missing_input_size_is_an_error():
    with pytest.raises(ValueError, match="input_size"):
        count_complexity(nn.Conv2d(3, 3, 1))


def test_report_round_trips_through_json_dict():
    import json

    from edgepose.analysis.complexity import report_from_dict

    r = count_complexity(_TwoParts())
    back = report_from_dict(json.loads(json.dumps(r.to_dict())))
    assert (back.params, back.macs, back.hr1024_flops, back.input_size, back.parts) == (
        r.params, r.macs, r.hr1024_flops, r.input_size, r.parts)  # fmt: skip
