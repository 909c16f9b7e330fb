"""Top-down datasets on the real COCO mini set: crops land keypoints on the right pixels, targets, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgepose.config import from_dict
from edgepose.data.topdown import TopdownDataConfig, build_topdown_dataset, worker_init_fn
from edgepose.data.transforms import read_image_rgb
from edgepose.errors import ConfigError, DataError
from edgepose.geometry import affine_points, denormalize_image, get_affine_transform

VAL_ANN = "annotations/person_keypoints_val2017_mini.json"
DETS = "person_detection_results/mmpose_test_coco_det_AP_H_56.json"


def _ds(coco_mini: Path, split: str, **cfg):
    c = TopdownDataConfig(**cfg)
    return build_topdown_dataset(c, split, ann=coco_mini / VAL_ANN, images=coco_mini / "images" / "val2017")


def _interior(item) -> np.ndarray:
    """Joints whose target peak is a full Gaussian away from the heatmap border (int() truncates near 0)."""
    t = item["target"]
    _, hh, hw = t.shape
    peaks = np.array([np.unravel_index(np.argmax(m), (hh, hw)) for m in t])
    return (
        (t.max(axis=(1, 2)) > 0.99)
        & (peaks[:, 0] > 0)
        & (peaks[:, 1] > 0)
        & (peaks[:, 0] < hh - 1)
        & (peaks[:, 1] < hw - 1)
    )


def _inverse_map(item) -> np.ndarray:
    """Crop-space joints of the target peaks, mapped back to image pixels through the inverse affine."""
    meta = item["meta"]
    h, w = item["image"].shape[1:]
    inv = get_affine_transform(meta["center"], meta["scale"], float(meta["rotation"]), (w, h), inv=True)
    _, hh, hw = item["target"].shape
    peaks = np.array([np.unravel_index(np.argmax(t), (hh, hw))[::-1] for t in item["target"]], dtype=np.float64)
    return affine_points(peaks * (w / hw), inv)


def test_val_items_put_keypoints_on_the_right_pixels(coco_mini):
    ds = _ds(coco_mini, "val")
    assert len(ds) == 134  # the non-crowd people with at least one labelled keypoint
    for idx in (0, 7, 50):
        item = ds[idx]
        assert item["image"].shape == (3, 256, 192) and item["image"].dtype == np.float32
        assert item["target"].shape == (17, 64, 48) and item["target_weight"].shape == (17, 1)
        gt = item["meta"]["joints"]
        vis = (gt[:, 2] > 0) & _interior(item)
        assert vis.any()
        back = _inverse_map(item)
        # MSRA rounds to the heatmap grid: error <= half a heatmap pixel (2 input px) back in image pixels
        px_per_input = item["meta"]["scale"][0] * 200 / 192
        err = np.abs(back[vis] - gt[vis, :2]).max()
        assert err <= 2.0 * px_per_input + 1e-3


def test_crop_pixels_come_from_the_image(coco_mini):
    ds = _ds(coco_mini, "val")
    item = ds[3]
    rec = ds.records[3]
    image = read_image_rgb(rec.image_path)
    crop = denormalize_image(item["image"])
    meta = item["meta"]
    inv = get_affine_transform(meta["center"], meta["scale"], 0.0, (192, 256), inv=True)
    x, y = affine_points(np.array([96.0, 128.0]), inv).round().astype(int)
    # the crop centre shows the image pixel at the box centre (RGB order kept)
    assert np.abs(crop[128, 96].astype(int) - image[y, x].astype(int)).max() <= 12


def test_train_augmentation_is_consistent_and_reproducible(coco_mini):
    import torch

    ds = _ds(coco_mini, "train", rotation_prob=1.0, half_body_prob=0.5)
    torch.manual_seed(3)
    items = [ds[i] for i in range(8)]
    torch.manual_seed(3)
    again = [ds[i] for i in range(8)]
    for a, b in zip(items, again):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["target"], b["target"])
    assert any(it["meta"]["flipped"] for it in items) and any(not it["meta"]["flipped"] for it in items)
    assert all(abs(float(it["meta"]["rotation"])) <= 80 for it in items)
    # augmented crops still put every labelled joint where the (possibly mirrored) image has it
    for idx, it in enumerate(items):
        rec = ds.records[idx]
        joints = rec.joints.copy()
        if it["meta"]["flipped"]:
            from edgepose.geometry import flip_joints

            width = read_image_rgb(rec.image_path).shape[1]
            joints = flip_joints(joints, width, ds.flip_index)
        vis = (joints[:, 2] > 0) & _interior(it)
        back = _inverse_map(it)
        px_per_input = it["meta"]["scale"][0] * 200 / 192
        assert np.abs(back[vis] - joints[vis, :2]).max() <= 2.0 * np.sqrt(2) * px_per_input + 1e-3


def test_detection_boxes_for_evaluation(coco_mini):
    c = TopdownDataConfig()
    ds = build_topdown_dataset(
        c,
        "val",
        ann=coco_mini / VAL_ANN,
        images=coco_mini / "images" / "val2017",
        det_file=coco_mini / DETS,
        det_score_threshold=0.5,
    )
    scores = [r.score for r in ds.records]
    assert len(ds) > 0 and min(scores) >= 0.5
    assert {r.image_id for r in ds.records} <= {785, 40083, 196141, 197388}
    assert ds[0]["target_weight"].sum() == 0  # no ground truth attached to detector crops


def test_max_images_and_worker_seed(coco_mini):
    ds = _ds(coco_mini, "train", max_images=5)
    assert len({r.image_id for r in ds.records}) <= 5
    assert len(ds.image_ids) == 5
    # a worker's python and legacy numpy RNGs are seeded from its torch seed (outside a worker: the main seed)
    import random

    import torch

    torch.manual_seed(123)
    worker_init_fn(0)
    assert np.random.random() == np.random.RandomState(123).random()  # noqa: NPY002
    assert random.random() == random.Random(123).random()


def test_config_rejects_unknown_and_bad_values():
    with pytest.raises(ConfigError, match="data.input_sise"):
        from_dict(TopdownDataConfig, {"input_sise": [256, 192]}, prefix="data.")
    with pytest.raises(ConfigError, match="heatmap_stride"):
        TopdownDataConfig(input_size=[250, 192])
    with pytest.raises(ConfigError, match="dataset"):
        TopdownDataConfig(dataset="lsp")
    with pytest.raises(ConfigError, match="rotation_prob"):
        TopdownDataConfig(rotation_prob=1.5)


def _write_ann(tmp_path: Path, coco_mini: Path, mutate) -> Path:
    data = json.loads((coco_mini / VAL_ANN).read_text())
    mutate(data)
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


def test_missing_images_name_the_file(coco_mini, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    first = sorted((coco_mini / "images" / "val2017").iterdir())[0]
    shutil.copy(first, images / first.name)
    with pytest.raises(DataError, match=r"image files are missing, first: .*\.jpg"):
        build_topdown_dataset(TopdownDataConfig(), "train", ann=coco_mini / VAL_ANN, images=images)


def test_bad_annotations(coco_mini, tmp_path):
    def nan(d):
        d["annotations"][0]["keypoints"][0] = float("nan")

    with pytest.raises(DataError, match="NaN"):
        build_topdown_dataset(
            TopdownDataConfig(), "train", ann=_write_ann(tmp_path, coco_mini, nan), images=coco_mini / "images/val2017"
        )
    truncated = tmp_path / "trunc.json"
    truncated.write_text((coco_mini / VAL_ANN).read_text()[:500])
    with pytest.raises(DataError, match="malformed JSON"):
        build_topdown_dataset(TopdownDataConfig(), "train", ann=truncated, images=coco_mini / "images/val2017")

    def no_keypoints(d):
        for a in d["annotations"]:
            a["keypoints"] = [0] * 51
            a["num_keypoints"] = 0

    with pytest.raises(DataError, match="empty"):
        build_topdown_dataset(
            TopdownDataConfig(),
            "train",
            ann=_write_ann(tmp_path, coco_mini, no_keypoints),
            images=coco_mini / "images/val2017",
        )


def test_out_of_image_keypoints_and_zero_boxes_are_counted(coco_mini, tmp_path, caplog):
    def mutate(d):
        a = next(a for a in d["annotations"] if a.get("num_keypoints", 0) > 3 and not a["iscrowd"])
        a["keypoints"][-3:] = [1e6, 10, 2]  # far outside the image
        b = next(b for b in d["annotations"] if b is not a and b.get("num_keypoints", 0) > 0 and not b["iscrowd"])
        b["bbox"] = [10, 10, 0, 0]

    ann = _write_ann(tmp_path, coco_mini, mutate)
    with caplog.at_level("INFO"):
        ds = build_topdown_dataset(TopdownDataConfig(), "train", ann=ann, images=coco_mini / "images/val2017")
    assert len(ds) == 133  # 134 people, one zero-area box dropped
    assert all(np.all(r.joints[:, 0] < 1e5) for r in ds.records)
    text = caplog.text
    assert "outside the image" in text and "zero-area box" in text
