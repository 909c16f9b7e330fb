"""GhostNet backbone: the official width table, re-striding with kept dw layers, pose readings, weight loading."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgepose.errors import CheckpointError, EdgeposeError
from edgepose.models.backbones.ghostnet import (
    GHOSTNET_ROWS,
    GhostNetBackbone,
    ghostnet_pose_backbone,
    official_to_ours,
    ours_to_official,
)
from edgepose.models.weights import load_ghostnet_weights as load_backbone_weights  # the one weights module


def conv_macs(model: nn.Module, size: tuple[int, int]) -> int:
    """True MACs of every Conv2d/Linear (Cout·Cin/g·k²·H_out·W_out), counted with forward hooks."""
    total = 0

    def hook(m: nn.Module, _inp, out: torch.Tensor) -> None:
        nonlocal total
        total += m.weight.numel() * (out.shape[2] * out.shape[3] if out.dim() == 4 else 1)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, *size))
    for h in handles:
        h.remove()
    return total


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_width_table_is_the_official_one():
    assert len(GHOSTNET_ROWS) == 16
    assert [r.stage for r in GHOSTNET_ROWS].count(4) == 6
    assert [r.stride for r in GHOSTNET_ROWS].count(2) == 4
    assert (GHOSTNET_ROWS[-1].exp, GHOSTNET_ROWS[-1].out) == (960, 160)


def test_classification_trunk_matches_the_appendix_figures():
    # SPEC appendix: GhostNet trunk through the 960-channel 1×1 at 224×224: 2.671M params, 0.1386 GMACs.
    trunk = GhostNetBackbone()
    assert n_params(trunk) == pytest.approx(2.671e6, rel=0.01)
    assert conv_macs(trunk, (224, 224)) == pytest.approx(0.1386e9, rel=0.03)
    assert trunk(torch.zeros(1, 3, 64, 64)).shape == (1, 960, 2, 2)


# GhostNet 1.0× (Han et al. 2020, Table 1): (stage, kernel, expansion, out, SE, stride), typed in from the paper
PAPER_TABLE = [
    (1, 3, 16, 16, 0, 1), (2, 3, 48, 24, 0, 2), (2, 3, 72, 24, 0, 1), (3, 5, 72, 40, 1, 2), (3, 5, 120, 40, 1, 1),
    (4, 3, 240, 80, 0, 2), (4, 3, 200, 80, 0, 1), (4, 3, 184, 80, 0, 1), (4, 3, 184, 80, 0, 1),
    (4, 3, 480, 112, 1, 1), (4, 3, 672, 112, 1, 1), (5, 5, 672, 160, 1, 2), (5, 5, 960, 160, 0, 1),
    (5, 5, 960, 160, 1, 1), (5, 5, 960, 160, 0, 1), (5, 5, 960, 160, 1, 1),
]  # fmt: skip


def _count_by_hand(num_stages: int, out_channels: int) -> int:
    """Parameters of the GhostNet trunk from the paper's table and the official block design, counted without
    building anything: BN = 2 per channel; a Ghost module in→out is a 1×1 conv to m = ⌈out/2⌉ + BN and a 3×3
    depth-wise conv making m more + BN; a bottleneck is ghost(in→exp), a k×k depth-wise conv + BN where the
    paper's stride is 2 (kept when re-strided), SE (1×1 exp→r and r→exp with biases, r = exp/4 rounded to a
    multiple of 4), ghost(exp→out), and a shortcut k×k dw + BN + 1×1 + BN where the width changes."""

    def ghost(cin: int, cout: int) -> int:
        m = -(-cout // 2)
        return cin * m + 2 * m + 9 * m + 2 * m

    total = 3 * 16 * 9 + 2 * 16  # stem conv 3×3 (3→16) + BN
    cin = 16
    for stage, k, exp, cout, se, stride in PAPER_TABLE:
        if stage > num_stages:
            break
        total += ghost(cin, exp) + ghost(exp, cout)
        if stride == 2:
            total += k * k * exp + 2 * exp
        if se:
            r = int(exp / 4 + 2) // 4 * 4
            total += exp * r + r + r * exp + exp
        if cin != cout or stride == 2:
            total += k * k * cin + 2 * cin + cin * cout + 2 * cout
        cin = cout
    return total + cin * out_channels + 2 * out_channels  # final 1×1 ConvBnAct


def test_hand_count_reproduces_the_published_trunk_size():
    """The counter above against an outside figure: GhostNet 1.0× has 5.18M parameters (paper: 5.2M); without
    the 960→1280 head conv (1,230,080 with bias) and the 1280→1000 classifier (1,281,000) that is 2.671M."""
    assert _count_by_hand(5, 960) == pytest.approx(5.18e6 - 1_230_080 - 1_281_000, rel=0.005)
    assert n_params(GhostNetBackbone()) == _count_by_hand(5, 960)


@pytest.mark.parametrize(("reading", "gmacs"), [("R1", 0.674), ("R2", 2.351), ("R0", 0.156)])
def test_pose_readings_are_stride_8_with_512_channels(reading, gmacs):
    bb = ghostnet_pose_backbone(reading)
    assert bb.output_stride == 8
    assert bb(torch.zeros(1, 3, 64, 96)).shape == (1, 512, 8, 12)
    # a reading keeps the first 3 (R0), 4 (R1) or 5 (R2) stages of the table, then a 1×1 to 512 channels:
    # R1 = 0.644M, R2 = 2.599M, R0 = 0.0507M by the hand count (re-striding and dilation add no parameters)
    assert n_params(bb) == _count_by_hand({"R0": 3, "R1": 4, "R2": 5}[reading], 512)
    # GMACs at 368×368: measured by this repository's counter (no outside source); they guard against an
    # accidental change of strides or dilations, which change MACs but not parameters
    assert conv_macs(bb, (368, 368)) / 1e9 == pytest.approx(gmacs, rel=0.03)


def test_r1_restrides_stage4_but_keeps_its_dw_layer():
    bb = ghostnet_pose_backbone("R1", dilation=2)
    first4 = bb.blocks[5]  # first stage-4 block: stride 2 in ImageNet GhostNet
    assert first4.conv_dw.stride == (1, 1) and first4.conv_dw.weight.shape == (240, 1, 3, 3)
    assert first4.shortcut[0].stride == (1, 1)
    # the cheap ops behind the former stride point are dilated, as is every later block
    assert first4.ghost1.cheap_operation[0].dilation == (1, 1)
    assert first4.ghost2.cheap_operation[0].dilation == (2, 2)
    assert bb.blocks[6].ghost1.cheap_operation[0].dilation == (2, 2)
    assert not hasattr(bb.blocks[6], "conv_dw")  # stride-1 blocks have no dw layer, as in the official net
    undilated = ghostnet_pose_backbone("R1", dilation=1)
    assert undilated.blocks[6].ghost1.cheap_operation[0].dilation == (1, 1)


def test_unknown_reading_is_rejected():
    with pytest.raises(ValueError, match="R3"):
        ghostnet_pose_backbone("R3")


# ------------------------------------------------------------------------------------------ weights
# Official layout (huawei-noah/Efficient-AI-Backbones ghostnet.py): 9 groups of bottlenecks, then
# blocks.9.0 = ConvBnAct(160, 960) with conv/bn1, then conv_head + classifier.
OFFICIAL_KEYS = {
    "conv_stem.weight": (16, 3, 3, 3),
    "bn1.running_var": (16,),
    "blocks.0.0.ghost1.primary_conv.0.weight": (8, 16, 1, 1),
    "blocks.1.0.conv_dw.weight": (48, 1, 3, 3),
    "blocks.3.0.shortcut.0.weight": (24, 1, 5, 5),
    "blocks.3.0.se.conv_reduce.weight": (20, 72, 1, 1),
    "blocks.5.0.bn_dw.weight": (240,),
    "blocks.6.3.ghost2.cheap_operation.0.weight": (56, 1, 3, 3),
    "blocks.6.4.se.conv_expand.bias": (672,),
    "blocks.8.3.ghost1.primary_conv.1.running_mean": (480,),
    "blocks.9.0.conv.weight": (960, 160, 1, 1),
    "blocks.9.0.bn1.bias": (960,),
}


def official_state(trunk: GhostNetBackbone) -> dict[str, torch.Tensor]:
    state = {ours_to_official(k): v.clone() for k, v in trunk.state_dict().items()}
    state["conv_head.weight"] = torch.randn(1280, 960, 1, 1)
    state["conv_head.bias"] = torch.randn(1280)
    state["classifier.weight"] = torch.randn(1000, 1280)
    state["classifier.bias"] = torch.randn(1000)
    return state


def test_our_keys_map_onto_the_official_layout():
    state = official_state(GhostNetBackbone())
    for key, shape in OFFICIAL_KEYS.items():
        assert key in state, key
        assert tuple(state[key].shape) == shape, key
    assert official_to_ours("conv_head.weight") is None and official_to_ours("classifier.bias") is None
    assert official_to_ours("module.blocks.6.2.ghost1.primary_conv.0.weight") == "blocks.8.ghost1.primary_conv.0.weight"


def _randomise(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


def test_official_state_dict_round_trips(tmp_path):
    src = GhostNetBackbone()
    _randomise(src)
    path = tmp_path / "state_dict_73.98.pth"
    torch.save(official_state(src), path)

    dst = GhostNetBackbone()
    report = load_backbone_weights(dst, path)
    assert len(report.loaded) == len(src.state_dict())
    assert not report.missing and not report.shape_mismatch
    assert sorted(report.skipped) == ["classifier.bias", "classifier.weight", "conv_head.bias", "conv_head.weight"]
    x = torch.randn(2, 3, 64, 64)
    src.eval()
    dst.eval()
    with torch.no_grad():
        assert torch.equal(src(x), dst(x))


def test_imagenet_trunk_loads_into_the_r1_pose_backbone(tmp_path):
    path = tmp_path / "ghostnet.pth"
    src = GhostNetBackbone()
    torch.save({"state_dict": official_state(src)}, path)  # a wrapped dict is accepted too
    pose = ghostnet_pose_backbone("R1")
    report = load_backbone_weights(pose, path)
    # everything but the new 112->512 projection comes from the file, including the kept stride-16 dw layer
    assert report.new_layers and all(k.startswith("final_conv.") for k in report.new_layers)
    assert not report.missing and not report.shape_mismatch
    assert torch.equal(pose.blocks[5].conv_dw.weight, src.blocks[5].conv_dw.weight)
    assert any(k.startswith(f"blocks.{len(pose.blocks)}.") for k in report.skipped)  # stage 5 is not part of R1


def test_load_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match="nope.pth"):
        load_backbone_weights(GhostNetBackbone(), missing)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(EdgeposeError, match="garbage.pth"):
        load_backbone_weights(GhostNetBackbone(), garbage)
    foreign = tmp_path / "foreign.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pth.*not a GhostNet state dict"):
        load_backbone_weights(GhostNetBackbone(), foreign)
