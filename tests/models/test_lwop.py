"""Lightweight OpenPose baseline: outputs, final-only mode, the published complexity, Cpm, parameter groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgepose.models import build_model
from edgepose.models.lwop import lwop_mobilenet
from edgepose.models.openpose_blocks import Cpm, RefinementStageBlock, param_groups


def _macs_by_part(model: nn.Module, size: int) -> dict[str, float]:
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


def test_outputs_and_names():
    model = lwop_mobilenet(num_refinement_stages=2).eval()
    with torch.no_grad():
        outs = model(torch.zeros(2, 3, 64, 96))
    assert model.output_names == ["heat0", "paf0", "heat1", "paf1", "heat2", "paf2"]
    assert [o.shape for o in outs] == [(2, 19, 8, 12), (2, 38, 8, 12)] * 3
    assert list(model.parts()) == ["backbone", "cpm", "initial", "refinement0", "refinement1"]
    assert (model.task, model.stride, model.input_normalization) == ("bottomup", 8, "openpose")


def test_final_only_equals_the_last_two_outputs():
    model = lwop_mobilenet().eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        full = model(x)
        final = model.set_final_only(True)(x)
    assert model.output_names == ["heatmaps", "pafs"]
    assert torch.equal(final[0], full[-2]) and torch.equal(final[1], full[-1])


def test_published_complexity():
    """SPEC A.0: 4.0917M params, 8.882 true GMACs at 368×368 (paper: 4.1M, 9 GFLOPs);
    per part backbone 3.65 / Cpm 0.56 / initial 1.28 / refinement 3.39."""
    model = lwop_mobilenet()
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(4.0917e6, rel=0.02)
    macs = _macs_by_part(model, 368)
    assert macs["total"] == pytest.approx(9.0, rel=0.03)
    assert macs["total"] == pytest.approx(8.882, rel=0.005)
    for part, expected in (("backbone", 3.65), ("cpm", 0.56), ("initial", 1.28), ("refinement0", 3.39)):
        assert macs[part] == pytest.approx(expected, rel=0.01), part


def test_cpm_and_refinement_block():
    cpm = Cpm(512, 128)
    assert sum(p.numel() for p in cpm.parameters()) == pytest.approx(0.27e6, rel=0.02)
    assert cpm(torch.randn(1, 512, 5, 7)).shape == (1, 128, 5, 7)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in cpm.modules())
    block = RefinementStageBlock(185, 128)
    assert block.trunk[1][0].dilation == (2, 2)
    assert block(torch.randn(1, 185, 6, 6)).shape == (1, 128, 6, 6)


def test_build_model_and_param_groups():
    model = build_model("lwop_mobilenet", num_refinement_stages=0)
    assert model.output_names == ["heat0", "paf0"]
    groups = {g["name"]: g for g in param_groups(model, 4e-5)}
    assert groups["initial.bias"]["lr"] == pytest.approx(8e-5) and groups["initial.bias"]["weight_decay"] == 0
    assert groups["backbone.dw_weight"]["weight_decay"] == 0
    model = lwop_mobilenet()
    groups = {g["name"]: g for g in param_groups(model, 4e-5)}
    assert groups["refinement0.weight"]["lr"] == pytest.approx(1.6e-4)
    assert groups["refinement0.bias"]["lr"] == pytest.approx(3.2e-4)
    assert sum(len(g["params"]) for g in groups.values()) == len(list(model.parameters()))
