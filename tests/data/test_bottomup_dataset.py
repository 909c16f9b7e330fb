"""Bottom-up dataset: main-person selection, the single-warp augmentation, flips, masks and the masked loss."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from standins import standing_person

from edgepose.codecs.paf import flip_maps
from edgepose.data.bottomup import (
    BottomupDataConfig,
    BottomupDataset,
    augmentation_matrix,
    select_main_persons,
    transform_points,
)
from edgepose.data.coco import CocoPerson, load_coco_keypoints

W, H = 320, 240


def _coco_person(cx: float, cy: float, h: float) -> list[float]:
    return standing_person(cx, cy, h, decimals=0).reshape(-1).tolist()


def _square(x0: int, y0: int, x1: int, y1: int) -> list[list[float]]:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


@pytest.fixture()
def scene(tmp_path: Path) -> Path:
    """One image: a main person (left), a crowd region (top right), an unannotated person (bottom right)."""
    img = np.full((H, W, 3), 60, dtype=np.uint8)
    cv2.circle(img, (100, 120), 3, (255, 255, 255), -1)
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "1.png"), img)
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [60, 20, 80, 200], "area": 16000,
         "num_keypoints": 17, "keypoints": _coco_person(100, 120, 200), "segmentation": _square(60, 20, 140, 220)},
        {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 1, "bbox": [240, 10, 60, 60], "area": 3600,
         "num_keypoints": 0, "keypoints": [0] * 51,
         "segmentation": {"size": [H, W], "counts": _rle_square(240, 10, 300, 70)}},
        {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [240, 150, 60, 80], "area": 4800,
         "num_keypoints": 0, "keypoints": [0] * 51, "segmentation": _square(240, 150, 300, 230)},
    ]  # fmt: skip
    doc = {"images": [{"id": 1, "file_name": "1.png", "width": W, "height": H}], "annotations": anns,
           "categories": [{"id": 1, "name": "person"}]}  # fmt: skip
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    return tmp_path


def _rle_square(x0: int, y0: int, x1: int, y1: int) -> list[int]:
    """Uncompressed column-major RLE of a filled rectangle [x0, x1) x [y0, y1) in an H x W image."""
    m = np.zeros((H, W), dtype=np.uint8)
    m[y0:y1, x0:x1] = 1
    flat = m.T.reshape(-1)
    counts, cur, run = [], 0, 0
    for v in flat:
        if v == cur:
            run += 1
        else:
            counts.append(run)
            cur, run = v, 1
    counts.append(run)
    return counts


def _dataset(scene: Path, **cfg) -> BottomupDataset:
    return BottomupDataset.from_files(scene / "ann.json", scene / "images", BottomupDataConfig(**cfg), train=True)


def _neutral(ds: BottomupDataset, **kw) -> dict:
    p = ds.params(0)
    p.update(scale=1.0, rotation=0.0, jitter=(0.0, 0.0), flip=False)
    p.update(kw)
    return p


def test_main_person_selection_rules() -> None:
    def person(i, bbox, n=10, area=5000.0, crowd=False):
        return CocoPerson(i, 1, np.asarray(bbox, float), np.zeros((17, 3)), n, area, crowd)

    persons = [
        person(0, [0, 0, 100, 200]),  # chosen
        person(1, [20, 0, 100, 200]),  # centre 20 px away < 0.3 x 100: too close to person 0
        person(2, [40, 0, 100, 200]),  # 40 px away >= 30: chosen
        person(3, [300, 0, 100, 200], n=4),  # too few keypoints
        person(4, [500, 0, 30, 30], area=900.0),  # too small
        person(5, [700, 0, 100, 200], crowd=True),  # crowd
        person(6, [900, 0, 100, 200], n=5, area=1024.0),  # exactly at both limits: chosen
    ]
    assert select_main_persons(persons) == [0, 2, 6]


def test_dataset_item_shapes_and_normalisation(scene: Path) -> None:
    ds = _dataset(scene)
    assert len(ds) == 1
    item = ds[0]
    assert item["image"].shape == (3, 368, 368) and item["image"].dtype == np.float32
    assert item["heatmaps"].shape == (19, 46, 46) and item["pafs"].shape == (38, 46, 46)
    assert item["mask"].shape == (1, 46, 46)
    assert item["image"].min() >= -0.5 and item["image"].max() < 0.5  # (img - 128) / 256
    assert item["heatmaps"][:18].max() > 0.5, "the main person is in the crop"


@pytest.mark.parametrize("rotation,flip", [(0.0, False), (25.0, False), (-33.0, True)])
def test_one_affine_moves_image_and_keypoints_together(scene: Path, rotation: float, flip: bool) -> None:
    """The white dot drawn at (100, 120) lands where transform_points sends that point."""
    ds = _dataset(scene)
    params = _neutral(ds, scale=1.3, rotation=rotation, jitter=(7.0, -5.0), flip=flip)
    item = ds.make_item(0, params)
    img = item["image"][0] * 256 + 128
    y, x = np.unravel_index(np.argmax(cv2.GaussianBlur(img, (5, 5), 0)), img.shape)
    m = augmentation_matrix(params["center"], params["scale"], params["rotation"], params["jitter"], 368, flip)
    px, py = transform_points(np.array([[100.0, 120.0]]), m)[0]
    assert abs(px - x) <= 1.0 and abs(py - y) <= 1.0


def test_flipped_item_is_the_mirror_with_swapped_channels(scene: Path) -> None:
    ds = _dataset(scene)
    plain = ds.make_item(0, _neutral(ds, rotation=10.0, jitter=(4.0, 3.0)))
    flipped = ds.make_item(0, _neutral(ds, rotation=10.0, jitter=(4.0, 3.0), flip=True))
    # (OpenCV's fixed-point bilinear weights differ by a few grey levels between mirrored sampling positions)
    np.testing.assert_allclose(flipped["image"], plain["image"][:, :, ::-1], atol=4 / 256)
    assert np.abs(flipped["image"] - plain["image"][:, :, ::-1]).mean() < 1e-3
    np.testing.assert_allclose(flipped["mask"], plain["mask"][:, :, ::-1], atol=2e-3)
    heat_f, paf_f = flip_maps(plain["heatmaps"], plain["pafs"])
    np.testing.assert_allclose(flipped["heatmaps"], heat_f, atol=1e-4)
    np.testing.assert_allclose(flipped["pafs"], paf_f, atol=1e-4)


def test_mask_zeroes_crowd_and_unannotated_people_only(scene: Path) -> None:
    ds = _dataset(scene)
    params = _neutral(ds)
    m = augmentation_matrix(params["center"], params["scale"], 0.0, (0.0, 0.0), 368, False)
    mask = ds.make_item(0, params)["mask"][0]

    def cell(x: float, y: float) -> float:
        cx, cy = transform_points(np.array([[x, y]]), m)[0]
        return float(mask[int((cy - 3.5) / 8 + 0.5), int((cx - 3.5) / 8 + 0.5)])

    assert cell(270, 40) == pytest.approx(0.0)  # inside the crowd region
    assert cell(270, 190) == pytest.approx(0.0)  # inside the unannotated person
    assert cell(100, 120) == pytest.approx(1.0)  # the annotated person
    assert cell(180, 120) == pytest.approx(1.0)  # background
    unmasked = _dataset(scene, mask_crowd=False, mask_unannotated=False).make_item(0, params)["mask"]
    assert unmasked.min() == 1.0


def test_masked_loss_ignores_masked_regions(scene: Path) -> None:
    """Wrong predictions inside masked cells cost nothing; the same error outside costs."""
    torch = pytest.importorskip("torch")
    from edgepose.losses import CrossFusionLoss

    ds = _dataset(scene)
    item = ds.make_item(0, _neutral(ds))
    heat = torch.from_numpy(item["heatmaps"])[None]
    paf = torch.from_numpy(item["pafs"])[None]
    mask = torch.from_numpy(item["mask"])[None]
    zero = mask == 0
    assert zero.any()
    wrong_heat, wrong_paf = heat.clone(), paf.clone()
    wrong_heat[zero.expand_as(heat)] += 1.0
    wrong_paf[zero.expand_as(paf)] -= 1.0
    outputs = [wrong_heat, wrong_paf, wrong_heat, wrong_paf] * 2
    total, _ = CrossFusionLoss()(outputs, heat, paf, mask)
    assert float(total) == pytest.approx(0.0, abs=1e-6)
    unmasked, _ = CrossFusionLoss()(outputs, heat, paf, torch.ones_like(mask))
    assert float(unmasked) > 1.0


def test_real_coco_mini_items(coco_mini: Path) -> None:
    ann = coco_mini / "annotations" / "person_keypoints_val2017_mini.json"
    coco = load_coco_keypoints(ann)
    ds = BottomupDataset(coco, coco_mini / "images" / "val2017", BottomupDataConfig(), train=True)
    assert 50 < len(ds) < sum(len(p) for p in coco.persons.values())
    masked = 0
    for i in range(0, len(ds), 7):
        item = ds[i]
        assert np.isfinite(item["heatmaps"]).all() and np.isfinite(item["pafs"]).all()
        masked += int(item["mask"].min() < 1)
    assert masked > 0, "crowd regions / unannotated people of the mini set show up in some masks"
