"""Classification pretraining as an engine task: ImageFolder data, top-k metrics, a checkpoint whose trunk loads
into the pose model (issue 14, item 1). Learning on real crops, resume and the pose start: test_pretrain.py."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from edgepose.engine.classification import BackboneClassifier, ImageFolderDataset
from edgepose.engine.config import load_experiment
from edgepose.errors import ConfigError, DataError
from edgepose.models import build_model
from edgepose.models.weights import load_backbone_part

TINY = {"blocks": [1, 1, 1, 1], "width": 0.125, "deconv_channels": 16}


def _image_folder(root: Path, n: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for name, colour in (("blue", (255, 0, 0)), ("red", (0, 0, 255))):  # BGR on disk
        (root / name).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 60, (40, 48, 3), dtype=np.uint8)
            img[8:32, 8:40] = colour
            cv2.imwrite(str(root / name / f"{i}.png"), img)
    return root


def test_image_folder_items_and_errors(tmp_path):
    root = _image_folder(tmp_path / "train")
    ds = ImageFolderDataset(root, 32, train=True)
    assert ds.classes == ["blue", "red"] and len(ds) == 12
    item = ds[7]
    assert item["image"].shape == (3, 32, 32) and int(item["label"]) == 1
    val = ImageFolderDataset(root, 32, train=False, classes=["red", "blue"])  # the training split's label order
    assert [val.samples[0][0].parent.name, int(val[0]["label"])] == ["red", 0]
    assert {label for _, label in val.samples if _.parent.name == "blue"} == {1}
    assert torch.equal(val[0]["image"], val[0]["image"])  # evaluation crops are deterministic
    with pytest.raises(DataError, match="not found"):
        ImageFolderDataset(tmp_path / "nope", 32, train=True)


def test_classifier_keeps_the_pose_models_trunk_names():
    pose = build_model("flpn_sres50", **TINY)
    clf = BackboneClassifier(pose, 3)
    trunk = {k for k in pose.state_dict() if k.startswith(("stem.", "layer"))}
    assert set(clf.state_dict()) == trunk | {"fc.weight", "fc.bias"}
    assert clf(torch.zeros(2, 3, 32, 32)).shape == (2, 3)
    ghost = BackboneClassifier(build_model("xfuse_ghostnet"), 2)
    assert all(k.startswith(("backbone.", "fc.")) for k in ghost.state_dict())


def test_training_run_and_the_pose_model_loads_its_trunk(tmp_path):
    from edgepose.engine.trainer import train_experiment

    _image_folder(tmp_path / "train")
    _image_folder(tmp_path / "val", n=3)
    cfg_path = tmp_path / "pretrain.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "task": "classification",
        "model": {"name": "flpn_sres50", "overrides": TINY},
        "data": {"dataset": "imagefolder", "train_dir": "train", "val_dir": "val", "input_size": 32},
        "train": {"epochs": 2, "batch_size": 4, "optimizer": "sgd", "lr": 0.05, "weight_decay": 1e-4,
                  "lr_milestones": [1], "workers": 0, "device": "cpu", "seed": 0, "log_every": 1},
    }))  # fmt: skip
    cfg = load_experiment(cfg_path)
    metrics = train_experiment(cfg, out_dir=tmp_path / "out", progress=False)
    assert {"top1", "val_ce"} <= set(metrics) and "top5" not in metrics  # top-5 of 2 classes says nothing
    # top-1 over the 6 validation images (3 per class): a whole number of them right, in percent
    correct = metrics["top1"] * 6 / 100
    assert correct == pytest.approx(round(correct), abs=1e-6) and 0 <= round(correct) <= 6
    assert metrics["val_ce"] > 0 and metrics["val_ce"] == pytest.approx(metrics["val_ce"])  # finite, not NaN
    pose = build_model("flpn_sres50", **TINY)
    report = load_backbone_part(pose, tmp_path / "out" / "last.pt", strict=True)
    assert report.skipped == ["fc.weight", "fc.bias"] and not report.missing
    from edgepose.engine.classification import ClassificationTask

    with pytest.raises(ConfigError, match="data.val_dir"):
        ClassificationTask(load_experiment(cfg_path, overrides=["data.val_dir=null"]))


def test_top5_counts_a_label_among_the_five_highest_logits():
    from edgepose.engine.classification import _classify

    logits = torch.tensor([[9.0, 8, 7, 6, 5, 4], [9.0, 8, 7, 6, 5, 4], [9.0, 8, 7, 6, 5, 4]])
    labels = [0, 4, 5]
    data = [{"image": torch.full((3, 4, 4), float(i)), "label": torch.tensor(t)} for i, t in enumerate(labels)]
    model = lambda x: logits[x[:, 0, 0, 0].long()]  # noqa: E731 - a fixed classifier by item index
    hits = _classify(model, data, [0, 1, 2], device=torch.device("cpu"), batch_size=2)
    assert [hits[i][:2] for i in range(3)] == [(1, 1), (0, 1), (0, 0)]
