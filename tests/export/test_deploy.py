"""The deployment graph (edgepose.export.deploy) computes what the training graph computes, with less.

Parity is measured on real photos, with BN statistics, GC weights and the heatmap scale made non-trivial (a
random-init head outputs ~1e-3, which would make a 1e-4 tolerance meaningless).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from torch import nn

from edgepose.export.deploy import DeployGC, DeployGhost, deploy_model, fold_bn_into, trim_ghost
from edgepose.export.onnx import export_onnx
from edgepose.models import build_model
from edgepose.models.blocks import GCBlock, GhostModule

PHOTOS = Path(__file__).resolve().parents[2] / "edgepose" / "assets" / "photos"
SMALL = {"input_size": (160, 160), "blocks": (1, 1, 1, 1), "width": 0.5, "deconv_channels": 128, "keypoints": "lsp"}
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def photos(h: int, w: int, bgr_openpose: bool = False) -> torch.Tensor:
    """The shipped photos resized to (h, w), normalised like the model expects, as one batch."""
    batch = []
    for path in sorted(PHOTOS.glob("*.jpg"))[:2]:
        img = cv2.resize(cv2.imread(str(path)), (w, h), interpolation=cv2.INTER_AREA).astype(np.float64)
        x = (img - 128) / 256 if bgr_openpose else (img[..., ::-1] / 255 - MEAN) / STD
        batch.append(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).float())
    return torch.stack(batch)


@torch.no_grad()
def trained_like(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Non-trivial BN statistics and GC weights, and outputs rescaled to unit standard deviation on ``x``."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.weight.uniform_(0.5, 1.5, generator=g)
            m.bias.uniform_(-0.2, 0.2, generator=g)
        elif isinstance(m, GCBlock):
            m.conv_mask.bias.normal_(0, 1.0, generator=g)
            m.channel_add_conv[-1].weight.normal_(0, 0.05, generator=g)
            m.channel_add_conv[-1].bias.normal_(0, 0.05, generator=g)
    model.eval()
    out = model(x)
    outs = out if isinstance(out, (list, tuple)) else [out]
    scale = float(torch.cat([o.flatten() for o in outs]).std())
    last = [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]
    last.weight /= scale
    last.bias /= scale
    return model


def _bn(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels).eval()
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.3, 3.0)
        bn.weight.normal_()
        bn.bias.normal_()
    return bn


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(8, 12, 3, padding=1, groups=4),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=True),  # depth-wise, with a bias of its own
        nn.ConvTranspose2d(8, 12, 4, stride=2, padding=1, groups=4, bias=False),  # grouped deconvolution
        nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1, groups=8, bias=False),  # depth-wise deconvolution
        nn.ConvTranspose2d(6, 10, 3, stride=2, padding=1, output_padding=1, bias=True),
    ],
)
def test_bn_folds_into_grouped_and_transposed_convolutions(conv):
    torch.manual_seed(0)
    bn = _bn(conv.out_channels)
    x = torch.randn(2, conv.in_channels, 9, 7)
    with torch.no_grad():
        want = bn(conv(x))
        fold_bn_into(conv, bn)
        got = conv(x)
    assert conv.bias is not None
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("out_channels, ratio", [(16, 2), (13, 3), (10, 8), (5, 4), (3, 8)])
def test_ghost_module_computes_only_the_channels_it_keeps(out_channels, ratio):
    torch.manual_seed(0)
    ghost = GhostModule(8, out_channels, ratio=ratio, relu=True).eval()
    x = torch.randn(2, 8, 11, 9)
    with torch.no_grad():
        want = ghost(x)
        trimmed = trim_ghost(ghost)
        got = trimmed(x)
    torch.testing.assert_close(got, want)
    init = ghost.primary_conv[0].out_channels
    ghosts = trimmed.cheap(torch.zeros(1, trimmed.used_intrinsic or init, 3, 3)).shape[1] if trimmed.cheap else 0
    produced = min(init, out_channels) + ghosts
    assert produced == out_channels  # no channel computed only to be sliced away


def test_gc_block_rewrite_is_exact_and_drops_the_score_bias():
    torch.manual_seed(0)
    gc = GCBlock(32).eval()
    with torch.no_grad():
        gc.conv_mask.bias.fill_(5.0)
        gc.channel_add_conv[-1].weight.normal_(0, 0.1)
        x = torch.randn(2, 32, 7, 5)
        want = gc(x)
        got = DeployGC(gc)(x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def _deployed_parity(name: str, overrides: dict, bgr: bool = False) -> tuple[nn.Module, float, float]:
    torch.manual_seed(0)
    model = build_model(name, **overrides)
    if hasattr(model, "set_final_only"):
        model.set_final_only(True)
    h, w = overrides.get("input_size", (256, 192)) if model.task == "topdown" else (184, 184)
    x = photos(h, w, bgr_openpose=bgr)
    trained_like(model, x)
    deployed, report = deploy_model(model, x[:1])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deployed.modules()), report.unfolded_bn
    assert not any(isinstance(m, GhostModule | GCBlock) for m in deployed.modules())
    with torch.no_grad():
        want, got = model(x), deployed(x)
    want = want if isinstance(want, list) else [want]
    got = got if isinstance(got, list) else [got]
    diff = max(float((a - b).abs().max()) for a, b in zip(want, got, strict=True))
    scale = max(float(a.abs().max()) for a in want)
    return deployed, diff, scale


@pytest.fixture(scope="module")
def small():
    """The shipped small FLPN configuration, made trained-like, and two real photos at its input size."""
    torch.manual_seed(0)
    x = photos(160, 160)
    return trained_like(build_model("flpn_sres50", **SMALL), x), x


def test_small_flpn_deployment_graph_matches_on_real_photos_and_leaves_the_model_alone(small):
    model, x = small
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    deployed, report = deploy_model(model, x[:1])
    assert model.training and not deployed.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()
    assert not any(isinstance(m, nn.BatchNorm2d | GhostModule | GCBlock) for m in deployed.modules())
    assert sum(isinstance(m, DeployGhost) for m in deployed.modules()) == 8
    assert sum(isinstance(m, DeployGC) for m in deployed.modules()) == 4
    assert report.folded_bn > 0 and not report.unfolded_bn
    with torch.no_grad():
        want, got = model(x), deployed(x)
    assert float(want.abs().max()) > 1.0  # outputs of order 1: the tolerance means something
    assert float((want - got).abs().max()) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, overrides, bgr",
    [("flpn_sres50", {}, False), ("simplebaseline_r50", {}, False), ("lpn50", {}, False), ("xfuse_ghostnet", {}, True)],
)
def test_full_models_deployment_graph_matches_on_real_photos(name, overrides, bgr):
    _, diff, scale = _deployed_parity(name, overrides, bgr)
    assert scale > 1.0
    assert diff < 1e-4


def test_exported_small_flpn_has_no_slice_or_batchnorm_and_matches_the_training_graph(tmp_path, small):
    model, x = small
    result = export_onnx(model, tmp_path / "small.onnx")
    assert result.deploy is not None and result.deploy.folded_bn > 0
    assert result.max_abs_diff < 1e-4 and result.max_abs_output > 1.0  # ORT on the rewrite vs torch original
    ops = {n.op_type for n in onnx.load(str(result.path)).graph.node}
    assert "BatchNormalization" not in ops and "Slice" not in ops

    from edgepose.runtime.session import create_session

    with torch.no_grad():
        want = model(x).numpy()
    got = create_session(result.path, threads=1).run(None, {"image": x.numpy()})[0]
    assert np.abs(got - want).max() < 1e-4  # on real photos as well as on the parity check's noise


def test_training_graph_export_is_still_available(tmp_path, small):
    model, _ = small
    result = export_onnx(model, tmp_path / "train.onnx", deploy=False, slim=False, check=False)
    assert result.deploy is None
    assert "Slice" in {n.op_type for n in onnx.load(str(result.path)).graph.node}
