"""load_weights: round trips, checkpoint layouts, prefixes, mismatch reports and the errors users can cause."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgepose.errors import CheckpointError, EdgeposeError
from edgepose.models import build_model
from edgepose.models.backbones.resnet import resnet50
from edgepose.models.weights import TORCHVISION_RESNET_RENAME, LoadReport, load_weights

SMALL = (64, 32)


def _perturbed(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_()
    return model


def _same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def lpn_pair():
    return _perturbed(build_model("lpn50", input_size=SMALL)), build_model("lpn50", input_size=SMALL)


def test_round_trip_raw_state_dict(tmp_path, lpn_pair):
    src, dst = lpn_pair
    path = tmp_path / "lpn50.pt"
    torch.save(src.state_dict(), path)
    report = load_weights(dst, path, strict=True)
    assert isinstance(report, LoadReport) and report.complete
    assert len(report.loaded) == len(src.state_dict())
    assert _same_state(src, dst)
    x = torch.randn(1, 3, *SMALL)
    with torch.no_grad():
        assert torch.equal(src.eval()(x), dst.eval()(x))
    assert "every key matched" in report.summary()


@pytest.mark.parametrize("layout", ["model", "state_dict"])
def test_checkpoint_dict_and_module_prefix(tmp_path, layout):
    src = _perturbed(build_model("flpn_sres50", input_size=SMALL, bottleneck="ghost"))
    dst = build_model("flpn_sres50", input_size=SMALL, bottleneck="ghost")
    wrapped = {f"module.{k}": v for k, v in src.state_dict().items()}  # DataParallel / DDP
    path = tmp_path / "ckpt.pth"
    torch.save({layout: wrapped, "epoch": 7, "optimizer": {"lr": 1e-3}}, path)
    report = load_weights(dst, path)
    assert report.complete and _same_state(src, dst)


def test_shape_mismatch_is_reported_and_the_rest_loads(tmp_path):
    src = _perturbed(build_model("lpn50", input_size=SMALL, num_keypoints=16))
    dst = build_model("lpn50", input_size=SMALL)
    before = dst.final.weight.detach().clone()
    path = tmp_path / "mpii.pt"
    torch.save(src.state_dict(), path)
    report = load_weights(dst, path)
    assert {k for k, _, _ in report.shape_mismatch} == {"final.weight", "final.bias"}
    _, in_file, in_model = next(m for m in report.shape_mismatch if m[0] == "final.weight")
    assert in_file == (16, 256, 1, 1) and in_model == (17, 256, 1, 1)
    assert not report.missing and not report.unexpected and not report.complete
    assert torch.equal(dst.final.weight, before)  # mis-shaped tensors are left alone
    assert torch.equal(dst.layer3[1].conv1.weight, src.layer3[1].conv1.weight)  # the rest loaded
    summary = report.summary()
    assert "final.weight (16, 256, 1, 1) in file vs (17, 256, 1, 1) in model" in summary
    assert str(path) in summary


def test_strict_raises_listing_keys_and_shapes(tmp_path):
    src = build_model("lpn50", input_size=SMALL, num_keypoints=16)
    state = src.state_dict()
    state["extra.weight"] = torch.zeros(3)
    del state["layer1.0.conv1.weight"]
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    dst = build_model("lpn50", input_size=SMALL)
    before = dst.layer2[0].conv1.weight.detach().clone()
    with pytest.raises(CheckpointError) as info:
        load_weights(dst, path, strict=True)
    message = str(info.value)
    assert str(path) in message
    assert "layer1.0.conv1.weight" in message and "extra.weight" in message
    assert "final.weight (16, 256, 1, 1) in file vs (17, 256, 1, 1) in model" in message
    assert torch.equal(dst.layer2[0].conv1.weight, before)  # strict loads nothing on failure
    report = load_weights(dst, path)  # non-strict: reported, not raised
    assert report.missing == ["layer1.0.conv1.weight"] and report.unexpected == ["extra.weight"]


def test_torchvision_resnet_into_simplebaseline(tmp_path):
    trunk = _perturbed(resnet50(num_classes=1000))  # torchvision layout, classifier included
    path = tmp_path / "resnet50.pth"
    torch.save(trunk.state_dict(), path)
    model = build_model("simplebaseline_r50", input_size=SMALL)
    report = load_weights(model, path, rename=TORCHVISION_RESNET_RENAME)
    assert report.unexpected == ["fc.weight", "fc.bias"]
    assert not report.shape_mismatch
    assert all(k.startswith(("head.", "final.")) for k in report.missing)
    assert torch.equal(model.stem.conv1.weight, trunk.conv1.weight)
    assert torch.equal(model.layer4[2].conv3.weight, trunk.layer4[2].conv3.weight)
    # FLPN's two-conv stem: the 7×7 conv does not fit and is reported, the 1×1 downsamples still load
    flpn = build_model("flpn_sres50", input_size=SMALL, bottleneck="standard")
    report = load_weights(flpn, path, rename=TORCHVISION_RESNET_RENAME)
    assert ("stem.conv1.weight", (64, 3, 7, 7), (64, 3, 3, 3)) in report.shape_mismatch
    assert torch.equal(flpn.layer2[0].downsample[0].weight, trunk.layer2[0].downsample[0].weight)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="nope.pt") as info:
        load_weights(build_model("lpn50", input_size=SMALL), path)
    assert isinstance(info.value, EdgeposeError) and info.value.path == str(path)
    with pytest.raises(CheckpointError, match="not a file"):
        load_weights(build_model("lpn50", input_size=SMALL), tmp_path)


def test_unreadable_and_non_state_dict_files(tmp_path):
    model = build_model("lpn50", input_size=SMALL)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a torch file")
    with pytest.raises(CheckpointError, match="garbage.pt.*cannot read"):
        load_weights(model, garbage)
    listing = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], listing)
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_weights(model, listing)
    mixed = tmp_path / "mixed.pt"
    torch.save({"model": {"a.weight": torch.zeros(1), "note": 3}}, mixed)
    with pytest.raises(CheckpointError, match="'note'"):
        load_weights(model, mixed)
    empty = tmp_path / "empty.pt"
    torch.save({}, empty)
    with pytest.raises(CheckpointError, match="empty.pt"):
        load_weights(model, empty)


def test_pickled_modules_are_refused(tmp_path):
    """weights_only=True: a file holding a whole pickled module is refused, not executed."""
    path = tmp_path / "module.pt"
    torch.save(nn.Linear(2, 2), path)
    with pytest.raises(CheckpointError, match="module.pt"):
        load_weights(build_model("lpn50", input_size=SMALL), path)
