"""MPII readers (HRNet and CPM layouts) on the real mpii_small files, and the MPII top-down dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgepose.data.mpii import load_mpii
from edgepose.data.topdown import TopdownDataConfig, build_topdown_dataset
from edgepose.errors import DataError


def test_hrnet_layout(mpii_small):
    ann = load_mpii(mpii_small / "mmpose" / "test_mpii.json")
    assert len(ann.persons) == 5
    p = ann.persons[0]
    raw = json.loads((mpii_small / "mmpose" / "test_mpii.json").read_text())[0]
    # 1-based MATLAB -> 0-based; HRNet's crop adjustment (centre moves down 15·scale, scale ×1.25)
    np.testing.assert_allclose(p.joints[0, :2], np.array(raw["joints"][0]) - 1)
    np.testing.assert_allclose(p.center, [raw["center"][0] - 1, raw["center"][1] + 15 * raw["scale"] - 1])
    np.testing.assert_allclose(p.scale, [raw["scale"] * 1.25] * 2)
    # the 3rd person has unlabelled ankles
    assert ann.persons[2].joints[0, 2] == 0 and ann.persons[2].joints[0, 0] == 0
    top, neck = np.array(raw["joints"][9]), np.array(raw["joints"][8])
    assert p.head_size == pytest.approx(np.linalg.norm(top - neck))


def test_cpm_layout(mpii_small):
    ann = load_mpii(mpii_small / "bearpaw_mpii_annotations_subset.json")
    assert len(ann.persons) == 168
    assert sum(p.is_validation for p in ann.persons) == 16
    unlabelled = sum(int((p.joints[:, 2] == 0).sum()) for p in ann.persons)
    assert unlabelled > 0
    assert all(p.head_size > 0 for p in ann.persons if p.joints[8, 2] and p.joints[9, 2])


def test_headbox_uses_06_diagonal(tmp_path):
    rec = {
        "image": "a.jpg",
        "center": [100, 100],
        "scale": 1.0,
        "joints": [[50 + i, 60 + i] for i in range(16)],
        "joints_vis": [1] * 16,
        "headbox": [0, 0, 30, 40],
    }
    path = tmp_path / "m.json"
    path.write_text(json.dumps([rec]))
    assert load_mpii(path).persons[0].head_size == pytest.approx(0.6 * 50)


def test_bad_mpii_files(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps([{"image": "a.jpg", "center": [1, 2], "scale": 1.0, "joints": [[1, 2]] * 15}]))
    with pytest.raises(DataError, match=r"\[0\]: 'joints' must have shape"):
        load_mpii(path)
    path.write_text(json.dumps([{"foo": 1}]))
    with pytest.raises(DataError, match="neither 'joints'"):
        load_mpii(path)
    path.write_text(json.dumps({"a": 1}))
    with pytest.raises(DataError, match="JSON list"):
        load_mpii(path)


def test_mpii_dataset_items(mpii_small):
    cfg = TopdownDataConfig(dataset="mpii", input_size=[256, 256], scale_factor=0.25, rotation_factor=30)
    ds = build_topdown_dataset(
        cfg, "val", ann=mpii_small / "mmpose" / "test_mpii.json", images=mpii_small / "mmpose" / "images"
    )
    assert len(ds) == 5
    item = ds[0]
    assert item["image"].shape == (3, 256, 256) and item["target"].shape == (16, 64, 64)
    # the PCK normaliser an MPII item carries is the reader's head size of that person (PCKh)
    head = load_mpii(mpii_small / "mmpose" / "test_mpii.json").persons[0].head_size
    assert head > 0 and item["meta"]["norm_length"] == pytest.approx(head)
    train = build_topdown_dataset(
        cfg, "train", ann=mpii_small / "mmpose" / "test_mpii.json", images=mpii_small / "mmpose" / "images"
    )
    assert train[1]["target_weight"].sum() > 0
