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


# ------------------------------------------------------------------------- GhostNet ImageNet weights
# The key lists were written from the public implementations' module structure (tests/models/data/
# make_ghostnet_keys.py), independently of edgepose's modules; test_ghostnet_reference.py checks them against the
# public state dict itself (timm's ghostnet_100, run) and against the GhostNet paper's Table 1.
from pathlib import Path  # noqa: E402

from edgepose.models.backbones.ghostnet import GhostNetBackbone, ghostnet_pose_backbone  # noqa: E402
from edgepose.models.weights import (  # noqa: E402
    convert_ghostnet_state_dict,
    ghostnet_layout,
    load_backbone_part,
    load_ghostnet_weights,
)

DATA = Path(__file__).parent / "data"
LAYOUTS = ("official", "timm")


def _key_list(layout: str) -> dict[str, tuple[int, ...]]:
    keys: dict[str, tuple[int, ...]] = {}
    for line in (DATA / f"ghostnet_{layout}_keys.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape = line.split("\t")
            keys[name] = tuple(int(v) for v in shape.split(",")) if shape else ()
    return keys


def _public_state(layout: str, seed: int = 0, counters: bool = True) -> dict[str, torch.Tensor]:
    """Random tensors under the public key names and shapes (BN variances positive, counters int64)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in _key_list(layout).items():
        if name.endswith("num_batches_tracked"):
            if counters:
                state[name] = torch.tensor(1000, dtype=torch.long)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=g) + 0.5
        else:
            state[name] = torch.randn(shape, generator=g)
    return state


def test_key_lists_describe_ghostnet_1x():
    # GhostNet 1.0× has 5.2M parameters (GhostNet paper Table 7; 5,182,508 with the 1000-class head, as timm
    # 1.0.31's ghostnet_100 counts them: test_ghostnet_reference.py)
    for layout in LAYOUTS:
        keys = _key_list(layout)
        learned = sum(
            torch.Size(s).numel() for k, s in keys.items() if not k.endswith(("running_mean", "running_var", "tracked"))
        )
        assert learned == pytest.approx(5.18e6, rel=0.002), layout
        assert keys["blocks.9.0.conv.weight"] == (960, 160, 1, 1)
        assert keys["blocks.3.0.se.conv_reduce.weight"] == (20, 72, 1, 1)
    assert _key_list("official") == _key_list("timm")  # timm reuses the official module names


@pytest.mark.parametrize("layout", LAYOUTS)
def test_public_state_dict_loads_into_xfuse_ghostnet_strict(tmp_path, layout):
    state = _public_state(layout)
    path = tmp_path / f"ghostnet_{layout}.pth"
    torch.save(state, path)
    model = build_model("xfuse_ghostnet")
    report = load_ghostnet_weights(model, path, strict=True, layout_label=layout)
    assert report.layout == layout
    assert not report.missing and not report.unexpected and not report.shape_mismatch
    # the only model tensors not from the file: the new 112->512 projection of the R1 cut
    assert report.new_layers and all(k.startswith("backbone.final_conv.") for k in report.new_layers)
    backbone_keys = {k for k in model.state_dict() if k.startswith("backbone.")}
    assert set(report.loaded) | set(report.new_layers) == backbone_keys - {"backbone.final_conv.1.num_batches_tracked"}
    # stage 5 (our blocks 11..15 = official blocks.7/8), the 960 1×1 and the classifier are skipped, not unexpected
    assert "classifier.weight" in report.skipped and "conv_head.weight" in report.skipped
    assert "backbone.blocks.15.ghost2.primary_conv.0.weight" in report.skipped
    assert "backbone.final_conv.0.weight" in report.skipped
    # positions, not shapes, decide where a tensor goes: official blocks.6.2 is our flat block 8
    block8 = model.backbone.blocks[8].ghost1.primary_conv[0].weight
    assert torch.equal(block8, state["blocks.6.2.ghost1.primary_conv.0.weight"])
    # the re-strided stride-16 block keeps its dw layer and gets the ImageNet kernel
    assert torch.equal(model.backbone.blocks[5].conv_dw.weight, state["blocks.5.0.conv_dw.weight"])
    assert "every key matched" in report.summary() and "new, left at their initialisation" in report.summary()


def test_full_trunk_and_r2_cut_take_what_they_hold(tmp_path):
    state = _public_state("official", seed=1, counters=False)  # files without BN counters load too
    trunk = GhostNetBackbone()
    report = load_ghostnet_weights(trunk, state, strict=True)
    assert not report.new_layers  # the classification trunk's own 160->960 1×1 comes from blocks.9.0
    assert torch.equal(trunk.final_conv[0].weight, state["blocks.9.0.conv.weight"])
    assert sorted(report.skipped) == ["classifier.bias", "classifier.weight", "conv_head.bias", "conv_head.weight"]
    r2 = ghostnet_pose_backbone("R2")
    report = load_ghostnet_weights(r2, state, strict=True)
    assert torch.equal(r2.blocks[15].ghost1.primary_conv[0].weight, state["blocks.8.3.ghost1.primary_conv.0.weight"])
    assert all(k.startswith("final_conv.") for k in report.new_layers)


def test_timm_training_checkpoint_wrapping_and_ddp_prefix(tmp_path):
    state = {"module." + k: v for k, v in _public_state("timm").items()}
    path = tmp_path / "timm_ckpt.pth.tar"
    torch.save({"epoch": 3, "state_dict": state, "state_dict_ema": state}, path)
    report = load_ghostnet_weights(build_model("xfuse_ghostnet"), path, strict=True)
    assert report.layout == "official" and report.complete


def test_edgepose_naming_round_trips():
    src = ghostnet_pose_backbone("R1")
    assert ghostnet_layout(src.state_dict()) == "edgepose"
    ours, dropped = convert_ghostnet_state_dict({"backbone." + k: v for k, v in src.state_dict().items()})
    assert not dropped and ours.keys() == src.state_dict().keys()
    dst = build_model("xfuse_ghostnet")
    report = load_ghostnet_weights(dst, src.state_dict(), strict=True)
    assert not report.new_layers and torch.equal(dst.backbone.final_conv[0].weight, src.final_conv[0].weight)


def test_ghostnet_misfits_are_reported_and_strict_raises(tmp_path):
    state = _public_state("official")
    state["blocks.4.0.ghost1.primary_conv.0.weight"] = torch.zeros(7, 40, 1, 1)  # wrong width
    state["blocks.4.0.extra.weight"] = torch.zeros(1)  # a name the model lacks
    del state["blocks.2.0.ghost2.cheap_operation.1.bias"]
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    report = load_ghostnet_weights(build_model("xfuse_ghostnet"), path)
    assert report.shape_mismatch[0][0] == "backbone.blocks.4.ghost1.primary_conv.0.weight"
    assert report.unexpected == ["backbone.blocks.4.extra.weight"]
    assert report.missing == ["backbone.blocks.2.ghost2.cheap_operation.1.bias"]
    with pytest.raises(CheckpointError, match="odd.pth"):
        load_ghostnet_weights(build_model("xfuse_ghostnet"), path, strict=True)
    foreign = tmp_path / "resnet.pth"
    torch.save(resnet50().state_dict(), foreign)
    with pytest.raises(CheckpointError, match="not a GhostNet state dict"):
        load_ghostnet_weights(build_model("xfuse_ghostnet"), foreign)
    with pytest.raises(CheckpointError, match="no GhostNet backbone"):
        load_ghostnet_weights(build_model("xfuse_resnet18"), foreign)


def test_backbone_part_of_a_pose_model_from_a_trunk_checkpoint(tmp_path):
    src = _perturbed(build_model("flpn_sres50", blocks=[1, 1, 1, 1], width=0.25, input_size=SMALL))
    trunk = {k: v for k, v in src.state_dict().items() if k.startswith(("stem.", "layer"))}
    trunk["fc.weight"] = torch.zeros(2, 512)  # a classifier head: skipped, never loaded into the pose model
    path = tmp_path / "backbone.pt"
    torch.save({"model": trunk}, path)
    dst = build_model("flpn_sres50", blocks=[1, 1, 1, 1], width=0.25, input_size=SMALL)
    head_before = dst.final.weight.clone()
    report = load_backbone_part(dst, path, strict=True)
    assert report.skipped == ["fc.weight"] and not report.missing
    assert torch.equal(dst.layer4[0].module1.primary_conv[0].weight, src.layer4[0].module1.primary_conv[0].weight)
    assert torch.equal(dst.final.weight, head_before)
    wrong = build_model("flpn_sres50", blocks=[1, 1, 1, 1], width=0.5, input_size=SMALL)
    with pytest.raises(CheckpointError, match="backbone.pt"):
        load_backbone_part(wrong, path, strict=True)
