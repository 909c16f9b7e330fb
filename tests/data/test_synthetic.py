"""The synthetic people generator: determinism, COCO validity, visibility, left/right convention."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgepose.data.coco import load_coco_keypoints
from edgepose.data.synthetic import (
    JOINT_PARTS,
    PARTS_PER_PERSON,
    SynthConfig,
    annotate_keypoints,
    generate_dataset,
    image_rng,
    render_person,
    render_scene,
    rle_encode,
    sample_pose,
    sample_style,
    standing_pose,
)
from edgepose.errors import ConfigError
from edgepose.keypoints import COCO_KEYPOINTS

IDX = {name: i for i, name in enumerate(COCO_KEYPOINTS)}
SMALL = {"width": 160, "height": 128}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(images=24, seed=7, crowd_prob=0.5, occluder_prob=0.5, partial_prob=0.5, **SMALL)
    return out, generate_dataset(out, cfg)


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(tmp_path: Path) -> None:
    cfg = SynthConfig(images=6, seed=3, **SMALL)
    generate_dataset(tmp_path / "a", cfg)
    generate_dataset(tmp_path / "b", cfg)
    generate_dataset(tmp_path / "c", SynthConfig(images=6, seed=4, **SMALL))
    a, b, c = (_files(tmp_path / x) for x in "abc")
    assert a == b
    assert set(a) == set(c)
    assert a["annotations/person_keypoints_train.json"] != c["annotations/person_keypoints_train.json"]
    assert all(a[k] != c[k] for k in a if k.endswith(".jpg"))


@pytest.mark.slow
def test_output_does_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    generate_dataset(tmp_path / "one", SynthConfig(images=16, seed=5, workers=1, **SMALL))
    generate_dataset(tmp_path / "two", SynthConfig(images=16, seed=5, workers=2, **SMALL))
    assert _files(tmp_path / "one") == _files(tmp_path / "two")


def test_splits_layout_and_counts(dataset: tuple[Path, dict]) -> None:
    out, summary = dataset
    assert set(summary["annotations"]) == {"train", "val"}
    assert summary["counts"]["train"]["images"] == 19 and summary["counts"]["val"]["images"] == 5
    ids = []
    for split in ("train", "val"):
        doc = json.loads(Path(summary["annotations"][split]).read_text())
        ids += [im["id"] for im in doc["images"]]
        for im in doc["images"]:
            assert (out / "images" / im["file_name"]).is_file()
        cat = doc["categories"][0]
        assert cat["keypoints"] == list(COCO_KEYPOINTS)
        assert min(min(link) for link in cat["skeleton"]) == 1  # 1-based, as COCO
    assert sorted(ids) == list(range(1, 25))


def test_single_split_when_val_fraction_is_zero(tmp_path: Path) -> None:
    summary = generate_dataset(tmp_path, SynthConfig(images=3, val_fraction=0.0, **SMALL))
    assert set(summary["annotations"]) == {"train"}
    assert not (tmp_path / "annotations" / "person_keypoints_val.json").exists()


def test_loads_with_our_reader_and_pycocotools(dataset: tuple[Path, dict]) -> None:
    pycocotools = pytest.importorskip("pycocotools.coco")
    _, summary = dataset
    path = summary["annotations"]["train"]
    ours = load_coco_keypoints(path)
    assert not ours.skipped
    persons = [p for ps in ours.persons.values() for p in ps if not p.iscrowd]
    assert len(persons) == summary["counts"]["train"]["persons"] > 0
    coco = pycocotools.COCO(path)
    assert len(coco.getImgIds()) == 19
    crowd = coco.loadAnns(coco.getAnnIds(iscrowd=True))
    assert crowd, "the fixture asks for crowd regions with probability 0.5"
    for ann in crowd + coco.loadAnns(coco.getAnnIds(iscrowd=False))[:10]:
        mask = coco.annToMask(ann)
        assert mask.sum() > 0
        x, y, w, h = ann["bbox"]
        ys, xs = np.nonzero(mask)
        assert xs.min() >= x - 1 and xs.max() <= x + w and ys.min() >= y - 1 and ys.max() <= y + h
        if ann["iscrowd"]:
            assert mask.sum() == ann["area"]
            assert ann["num_keypoints"] == 0


def test_keypoints_in_frame_are_labelled_and_inside_the_box(dataset: tuple[Path, dict]) -> None:
    _, summary = dataset
    n_out = n_occluded = n_visible = 0
    for split in ("train", "val"):
        doc = json.loads(Path(summary["annotations"][split]).read_text())
        size = {im["id"]: (im["width"], im["height"]) for im in doc["images"]}
        for ann in doc["annotations"]:
            if ann["iscrowd"]:
                continue
            w, h = size[ann["image_id"]]
            kp = np.asarray(ann["keypoints"], dtype=float).reshape(17, 3)
            bx, by, bw, bh = ann["bbox"]
            assert bw > 0 and bh > 0 and 0 <= bx and bx + bw <= w and 0 <= by and by + bh <= h
            assert 0 < ann["area"] <= bw * bh
            assert ann["num_keypoints"] == int((kp[:, 2] > 0).sum())
            for x, y, v in kp:
                if v == 0:
                    n_out += 1
                    assert x == 0 and y == 0
                else:
                    assert 0 <= x <= w - 1 and 0 <= y <= h - 1
                    assert bx <= x <= bx + bw and by <= y <= by + bh
                    n_visible += v == 2
                    n_occluded += v == 1
    assert n_out > 0 and n_occluded > 0 and n_visible > 0


def test_joints_outside_the_image_have_v0(tmp_path: Path) -> None:
    labels = np.zeros((100, 100), np.uint16)
    pose = standing_pose(160, (50, 150))  # the upper body is above... the head is inside, the feet below
    render_person(None, labels, pose, sample_style(np.random.default_rng(0)), PARTS_PER_PERSON)
    kp = annotate_keypoints(pose, labels, PARTS_PER_PERSON)
    ankles = kp[[IDX["left_ankle"], IDX["right_ankle"]]]
    assert np.all(ankles == 0)
    assert np.all(kp[IDX["nose"], 2] == 2)


def test_a_later_person_covering_joints_makes_them_v1() -> None:
    rng = np.random.default_rng(0)
    image = np.full((200, 200, 3), 128, np.uint8)
    labels = np.zeros((200, 200), np.uint16)
    front_of = standing_pose(180, (100, 100))
    cover = standing_pose(180, (100, 100)).translated(12, 0)  # a second figure right over the first
    render_person(image, labels, front_of, sample_style(rng), PARTS_PER_PERSON)
    alone = annotate_keypoints(front_of, labels, PARTS_PER_PERSON)
    assert np.all(alone[:, 2] == 2), "an upright frontal figure on its own shows all 17 joints"
    render_person(image, labels, cover, sample_style(rng), 2 * PARTS_PER_PERSON)
    after = annotate_keypoints(front_of, labels, PARTS_PER_PERSON)
    covered = np.flatnonzero(after[:, 2] == 1)
    assert len(covered) >= 3
    for k in covered:  # the pixel there belongs to the second figure
        x, y = np.round(after[k, :2]).astype(int)
        assert 2 * PARTS_PER_PERSON < labels[y, x] < 3 * PARTS_PER_PERSON
    assert np.all(after[:, :2] == alone[:, :2])  # positions unchanged, only visibility


def test_frontal_figure_has_its_right_side_on_the_image_left() -> None:
    kp = standing_pose(200, (150, 150)).joints
    for part in ("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
        assert kp[IDX[f"right_{part}"], 0] < kp[IDX[f"left_{part}"], 0], part
    # and vertical order: nose above shoulders above hips above knees above ankles
    ys = [kp[IDX[n], 1] for n in ("nose", "left_shoulder", "left_hip", "left_knee", "left_ankle")]
    assert ys == sorted(ys)
    # a figure turned 180 deg in the image plane (upside down) keeps anatomical names: right is now image right
    flipped = standing_pose(200, (150, 150), roll_deg=180).joints
    assert flipped[IDX["right_shoulder"], 0] > flipped[IDX["left_shoulder"], 0]


def test_random_poses_keep_plausible_proportions() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        pose = sample_pose(rng, 100.0)
        j = pose.joints
        for a, b, lo, hi in (("left_shoulder", "left_elbow", 11, 23), ("left_elbow", "left_wrist", 9, 21),
                             ("left_hip", "left_knee", 16, 33), ("right_knee", "right_ankle", 16, 33)):  # fmt: skip
            seg = np.linalg.norm(j[IDX[a]] - j[IDX[b]])  # 3-D length: invariant to the view
            assert lo <= seg <= hi, (a, b, seg)
        sho = np.linalg.norm(j[IDX["left_shoulder"]] - j[IDX["right_shoulder"]])
        assert 20 <= sho <= 30


def test_visible_joint_pixels_are_drawn_not_background() -> None:
    cfg = SynthConfig(noise=0, crowd_prob=0.0, occluder_prob=0.0, **SMALL)
    bg = np.zeros((cfg.height, cfg.width, 3), np.uint8)
    bg[:] = (0, 255, 0)
    checked = 0
    for i in range(10):
        scene = render_scene(image_rng(11, i), cfg, background=bg)
        for ann in scene.annotations:
            kp = np.asarray(ann["keypoints"]).reshape(17, 3)
            for k in np.flatnonzero(kp[:, 2] == 2):
                x, y = np.round(kp[k, :2]).astype(int)
                assert tuple(scene.image[y, x]) != (0, 255, 0)
                assert (int(scene.labels[y, x]) % PARTS_PER_PERSON) in JOINT_PARTS[k]
                checked += 1
    assert checked > 100


def test_rle_matches_pycocotools() -> None:
    mask_utils = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(0)
    for first in (0, 1):
        mask = rng.random((13, 17)) < 0.3
        mask[0, 0] = bool(first)
        rle = rle_encode(mask)
        compressed = mask_utils.frPyObjects(rle, 13, 17)
        assert np.array_equal(mask_utils.decode(compressed).astype(bool), mask)


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ConfigError, match="crowd_prob"):
        SynthConfig(crowd_prob=1.5).validate()
    with pytest.raises(ConfigError, match="val_fraction"):
        SynthConfig(val_fraction=1.0).validate()
    with pytest.raises(ConfigError, match="max_people"):
        SynthConfig(min_people=3, max_people=2).validate()


def test_cli_writes_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from edgepose.cli.main import main

    rc = main(["synth", str(tmp_path), "--images", "4", "--seed", "2", "--size", "96", "64", "--max-people", "2",
               "--crowd-prob", "0", "--val-fraction", "0.25", "--json"])  # fmt: skip
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["train"]["images"] == 3 and summary["counts"]["val"]["images"] == 1
    doc = json.loads((tmp_path / "annotations" / "person_keypoints_val.json").read_text())
    assert doc["images"][0]["width"] == 96 and doc["images"][0]["height"] == 64
    assert 1 <= len(doc["annotations"]) <= 2


def test_bbox_area_mode_and_cache_reuse(tmp_path: Path) -> None:
    from edgepose.data.synthetic import dataset_matches, ensure_dataset

    cfg = SynthConfig(images=4, seed=1, area="bbox", **SMALL)
    first = ensure_dataset(tmp_path, cfg)
    assert first["cached"] is False and dataset_matches(tmp_path, cfg)
    doc = json.loads(Path(first["annotations"]["train"]).read_text())
    persons = [a for a in doc["annotations"] if not a["iscrowd"]]
    assert persons and all(a["area"] == a["bbox"][2] * a["bbox"][3] for a in persons)
    assert ensure_dataset(tmp_path, cfg)["cached"] is True
    assert not dataset_matches(tmp_path, SynthConfig(images=4, seed=2, area="bbox", **SMALL))
