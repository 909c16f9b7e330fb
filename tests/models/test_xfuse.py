"""Cross-fusion network: output order and shapes for every option, subtraction shapes, final-only export
mode, complexity of the paper's configuration, parameter groups."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from edgepose.errors import ConfigError
from edgepose.models import build_model, model_options
from edgepose.models.openpose_blocks import param_groups
from edgepose.models.xfuse import CrossFusionStage, xfuse_ghostnet, xfuse_resnet18, xfuse_resnet50

SIZE = 64  # 64×64 input -> 8×8 maps


def expected_names(stages: int) -> list[str]:
    return [f"{t}{k}" for k in range(stages) for t in ("heat_u", "paf_u", "heat_v", "paf_v")]


def check_outputs(model: nn.Module, outputs: list[torch.Tensor], stages: int, batch: int = 1) -> None:
    assert model.output_names == expected_names(stages)
    assert len(outputs) == 4 * stages
    for name, out in zip(model.output_names, outputs):
        channels = 19 if name.startswith("heat") else 38
        assert out.shape == (batch, channels, SIZE // 8, SIZE // 8), name


@pytest.mark.parametrize(
    ("stages", "residual_mode", "subtract_mode"),
    list(itertools.product((1, 2, 3), ("cross", "same"), ("preserve", "align"))),
)
def test_output_order_and_shapes_for_every_option(stages, residual_mode, subtract_mode):
    # channels=32 keeps the 12 builds cheap; the stage wiring is the same at every width
    model = xfuse_ghostnet(stages=stages, residual_mode=residual_mode, subtract_mode=subtract_mode, channels=32)
    # every subtraction F − A must see equal shapes: h1/p1 keep the width of their input in every stage
    seen: list[tuple[str, torch.Size, torch.Size]] = []

    def record(name):
        return lambda m, inp, out: seen.append((name, inp[0].shape, out.shape))

    for k, stage in enumerate(model.stages):
        stage.h1.register_forward_hook(record(f"h1.{k}"))
        stage.p1.register_forward_hook(record(f"p1.{k}"))
    with torch.no_grad():
        outputs = model.eval()(torch.zeros(1, 3, SIZE, SIZE))
    check_outputs(model, outputs, stages)
    assert len(seen) == 2 * stages
    for name, shape_in, shape_out in seen:
        assert shape_in == shape_out, name
    k_last = stages - 1
    width = 32 if subtract_mode == "align" else 32 + 64 * k_last
    assert seen[-1][2][1] == width


@pytest.mark.parametrize("subtract_mode", ["preserve", "align"])
def test_blocks_per_branch_and_head_width(subtract_mode):
    model = xfuse_ghostnet(stages=2, subtract_mode=subtract_mode, blocks_per_branch=2, head_width=64)
    stage1 = model.stages[1]
    assert len(stage1.h1) == len(stage1.p1) == len(stage1.h2) == len(stage1.p2) == 2
    assert stage1.heat_v[0][0].out_channels == 64
    with torch.no_grad():
        check_outputs(model, model.eval()(torch.zeros(2, 3, SIZE, SIZE)), 2, batch=2)


def test_stage_wiring_follows_the_equations():
    """Stage 1 h2 sees A_h ⊕ R_p ⊕ B_h⁰ = 384 + 384 + 128 channels; F² = F¹ ⊕ B_h ⊕ B_p."""
    model = xfuse_ghostnet()
    s0, s1 = model.stages
    assert (s0.in_channels, s0.out_channels, s1.in_channels, s1.out_channels) == (128, 384, 384, 640)
    assert s0.h2[0].initial[0].in_channels == 256
    assert s1.h2[0].initial[0].in_channels == 896
    assert s1.h1[0].initial[0].in_channels == s1.h1[0].initial[0].out_channels == 384


def test_cross_and_same_residual_modes_differ():
    """With equal weights, swapping R_p for R_h must change the after-cross outputs (and only those)."""
    torch.manual_seed(0)
    stage = CrossFusionStage(16, 8, residual_mode="cross", head_width=8).eval()
    same = CrossFusionStage(16, 8, residual_mode="same", head_width=8).eval()
    same.load_state_dict(stage.state_dict())
    f = torch.randn(1, 16, 6, 6)
    with torch.no_grad():
        _, _, _, out_cross = stage(f)
        _, _, _, out_same = same(f)
    assert torch.equal(out_cross[0], out_same[0]) and torch.equal(out_cross[1], out_same[1])  # before cross
    assert not torch.allclose(out_cross[2], out_same[2])  # heat_v sees the other residual


def test_final_only_equals_the_last_two_outputs():
    model = xfuse_ghostnet(stages=2).eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        full = model(x)
        model.set_final_only(True)
        assert model.output_names == ["heatmaps", "pafs"]
        final = model(x)
    assert len(final) == 2
    torch.testing.assert_close(final[0], full[-2], rtol=0, atol=0)
    torch.testing.assert_close(final[1], full[-1], rtol=0, atol=0)
    # a model built with final_only=True takes the same weights
    other = xfuse_ghostnet(final_only=True).eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(other(x)[0], full[-2])


def test_model_contract_attributes_and_parts():
    model = xfuse_ghostnet()
    assert (model.task, model.stride, model.input_size) == ("bottomup", 8, (368, 368))
    assert (model.num_heatmaps, model.num_pafs, model.input_normalization) == (19, 38, "openpose")
    assert list(model.parts()) == ["backbone", "cpm", "stage0", "stage1"]
    # the parts cover every parameter exactly once
    part_params = [p for part in model.parts().values() for p in part.parameters()]
    assert len({id(p) for p in part_params}) == len(part_params) == len(list(model.parameters()))


def test_channels_last_gives_the_same_outputs():
    model = xfuse_ghostnet(stages=1).eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        ref = model(x)
        out = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    for a, b in zip(ref, out):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def _macs(model: nn.Module, size: int) -> dict[str, float]:
    macs: dict[nn.Module, int] = {}

    def hook(m, _inp, out):
        macs[m] = m.weight.numel() * out.shape[2] * out.shape[3]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    result = {"total": sum(macs.values()) / 1e9}
    for name, part in model.parts().items():
        mods = set(part.modules())
        result[name] = sum(v for m, v in macs.items() if m in mods) / 1e9
    return result


def test_paper_configuration_complexity():
    """SPEC A.2.4: R1, channel-preserving, 1 block per h/p, 128-wide heads at 368×368: 8.845M params,
    18.00 GMACs (paper 18.02): GhostNet-R1 0.67, Cpm 0.56, stage0 2.87, stage1 13.90."""
    model = xfuse_ghostnet()
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(8.85e6, rel=0.02)
    macs = _macs(model, 368)
    assert macs["total"] == pytest.approx(18.02, rel=0.03)
    for part, expected in (("backbone", 0.67), ("cpm", 0.56), ("stage0", 2.87), ("stage1", 13.90)):
        assert macs[part] == pytest.approx(expected, rel=0.03), part


def test_resnet_variants_build_and_run():
    """Parameters from outside sources: torchvision's published ResNet sizes (resnet18 11,689,512, resnet50
    25,557,032) without their fc layer (512·1000 + 1000, 2048·1000 + 1000), plus the 1×1 ConvBnAct to 512 (no
    bias, BN 2·512), plus the Cpm and cross-fusion stages, the same as xfuse_ghostnet's (whose total is checked
    against the paper above). Totals: 19.64M and 32.76M."""

    def n_params(m: torch.nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    ghost = xfuse_ghostnet()
    heads = n_params(ghost) - n_params(ghost.backbone)
    for ctor, trunk, features in (
        (xfuse_resnet18, 11_689_512 - 513_000, 512),
        (xfuse_resnet50, 25_557_032 - 2_049_000, 2048),
    ):
        model = ctor()
        assert n_params(model.backbone) == trunk + features * 512 + 2 * 512
        assert n_params(model) == n_params(model.backbone) + heads
        with torch.no_grad():
            out = model.eval()(torch.zeros(1, 3, SIZE, SIZE))
        check_outputs(model, out, 2)
        assert list(model.parts()) == ["backbone", "cpm", "stage0", "stage1"]


def test_build_model_options_and_errors():
    opts = model_options("xfuse_ghostnet")
    for key in ("stages", "residual_mode", "subtract_mode", "blocks_per_branch", "head_width", "ghost_reading"):
        assert key in opts
    model = build_model("xfuse_ghostnet", stages=1, ghost_reading="R0")
    assert model.num_stages == 1 and model.model_name == "xfuse_ghostnet"
    with pytest.raises(ConfigError, match="residual_mode"):
        build_model("xfuse_ghostnet", residual_mode="diagonal")
    with pytest.raises(ConfigError, match="ghost_reading"):
        build_model("xfuse_ghostnet", ghost_reading="R9")
    with pytest.raises(ConfigError, match="nonsense"):
        build_model("xfuse_ghostnet", nonsense=1)


def test_param_groups_follow_lwop_multipliers():
    model = xfuse_ghostnet()
    groups = {g["name"]: g for g in param_groups(model, base_lr=1e-4, weight_decay=5e-4)}
    all_params = [p for g in groups.values() for p in g["params"]]
    assert len({id(p) for p in all_params}) == len(all_params) == len(list(model.parameters()))
    assert "other" not in groups

    def group_of(param):
        return next(g for g in groups.values() if any(p is param for p in g["params"]))

    s1 = model.stages[1]
    w = group_of(s1.h1[0].initial[0].weight)
    assert w["lr"] == pytest.approx(4e-4) and w["weight_decay"] == 5e-4
    b = group_of(s1.h1[0].initial[0].bias)
    assert b["lr"] == pytest.approx(8e-4) and b["weight_decay"] == 0
    bn = s1.h1[0].trunk[0][1]
    assert group_of(bn.weight)["lr"] == pytest.approx(1e-4) and group_of(bn.weight)["weight_decay"] == 0
    assert group_of(bn.bias)["lr"] == pytest.approx(2e-4) and group_of(bn.bias)["weight_decay"] == 0
    stem = model.backbone.conv_stem.weight
    assert group_of(stem)["lr"] == pytest.approx(1e-4) and group_of(stem)["weight_decay"] == 5e-4
    dw = model.backbone.blocks[1].conv_dw.weight
    assert group_of(dw)["weight_decay"] == 0
    cpm_bias = model.cpm.align[0].bias
    assert group_of(cpm_bias)["lr"] == pytest.approx(2e-4) and group_of(cpm_bias)["weight_decay"] == 0
    optimizer = torch.optim.Adam(param_groups(model, 4e-5), lr=4e-5)
    assert len(optimizer.param_groups) == len(groups)


def test_backbone_weights_option(tmp_path):
    from edgepose.errors import CheckpointError
    from edgepose.models.backbones.ghostnet import GhostNetBackbone, ours_to_official

    ghost = tmp_path / "ghostnet.pth"
    trunk = GhostNetBackbone()
    torch.save({ours_to_official(k): v for k, v in trunk.state_dict().items()}, ghost)
    model = xfuse_ghostnet(channels=32, backbone_weights=str(ghost))
    assert model.backbone_load_report.loaded and not model.backbone_load_report.shape_mismatch
    assert torch.equal(model.backbone.conv_stem.weight, trunk.conv_stem.weight)

    src = xfuse_resnet18(channels=32).backbone.trunk
    state = {**src.state_dict(), "fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    model = xfuse_resnet18(channels=32, backbone_weights=str(path))
    assert torch.equal(model.backbone.trunk.layer4[1].conv2.weight, src.layer4[1].conv2.weight)
    with pytest.raises(CheckpointError, match="missing.pth"):
        xfuse_resnet18(backbone_weights=str(tmp_path / "missing.pth"))
