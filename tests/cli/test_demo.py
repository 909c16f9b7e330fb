"""`edgepose demo`: the shipped model on the bundled photos, and the photos' licences.

These tests run the real shipped model (``edgepose/assets/model/``; a few tens of milliseconds per photo). They
read its keypoint set and input size from its metadata and check what the demo says, draws and records -- the
counts, the faint drawing of poses below ``--threshold``, the JSON schema -- not one model's accuracy, so they
hold when a better model is shipped.
"""

from __future__ import annotations

import json
import os
import re

import cv2
import numpy as np
import pytest

import edgepose.assets as assets
from edgepose.cli.main import main
from edgepose.runtime.estimator import default_refine
from edgepose.runtime.session import OnnxNetwork

MAX_PHOTO_BYTES = 1_000_000  # all bundled photos together
ATTRIBUTION = assets.PHOTOS_DIR / "ATTRIBUTION.md"
HOG_FINDS_NOBODY = "skateboard_trick_431848.jpg"  # OpenCV's HOG detector finds no upright person here
HOG_FINDS_HER = "skier_785.jpg"


@pytest.fixture(scope="module")
def info():
    """The shipped model's metadata, read from the file (not from the command under test)."""
    return OnnxNetwork(assets.shipped_onnx(), threads=1).info


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2)


def test_demo_on_the_bundled_photos_writes_drawings_and_json(tmp_path, info, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--threads", "1"]) == 0
    stdout = capsys.readouterr().out
    photos = assets.demo_photos()
    assert len(photos) >= 3
    payload = json.loads((out / "poses.json").read_text())
    assert payload["keypoint_set"] == info.keypoints and len(payload["keypoint_names"]) == info.num_keypoints
    assert payload["model"] == str(assets.shipped_onnx()) and payload["boxes"] == "detector"  # the shipped one
    assert payload["flip_test"] is True and payload["refine"] == default_refine(info) and payload["threshold"] == 0.3
    assert [r["file"] for r in payload["images"]] == [p.name for p in photos]
    for photo, record in zip(photos, payload["images"]):
        image = cv2.imread(str(photo))
        drawn = cv2.imread(record["drawn"])
        assert record["drawn"] == str(out / f"{photo.stem}_pose.jpg") and record["source"] == str(photo)
        assert drawn.shape == image.shape and (record["height"], record["width"]) == image.shape[:2]
        assert (_changed(drawn, image) > 60).sum() > 100, f"{photo.name}: nothing drawn"
        assert len(record["people"]) == 1, "the shipped detector finds the one person of each bundled photo"
        person = record["people"][0]
        kp = np.array(person["keypoints"], dtype=float)
        assert kp.shape == (info.num_keypoints, 3) and np.isfinite(kp).all()
        assert person["joints_drawn"] == int((kp[:, 2] >= 0.3).sum())
        x, y, w, h = person["box"]  # the detector's padded box of the person, inside the photo's frame (+ padding)
        assert record["boxes"] == "detector" and w > 32 and h > 32
        assert -0.25 * w <= x and x + w <= image.shape[1] + 0.25 * w and y + h <= image.shape[0] + 0.25 * h
        assert record["seconds"] > 0
        line = re.search(rf"{re.escape(photo.name)}\s+\d+x\d+\s+1 person(.*?)\s+[\d.]+ ms", stdout)
        assert line, stdout
        # never a silent blank: a pose with no joint at the threshold is said, and drawn (faintly, above)
        faint = person["joints_drawn"] == 0
        assert ("every joint is below the drawing threshold 0.3" in line.group(1)) == faint, line.group(0)
    assert payload["seconds_per_image"] == pytest.approx(np.mean([r["seconds"] for r in payload["images"]]), abs=1e-3)
    assert "ms per image" in stdout and str(out / "poses.json") in stdout


def test_poses_below_the_threshold_are_said_and_drawn_faintly(tmp_path, capsys):
    """--threshold 5: no joint reaches it (heatmap maxima are about 1 at most), yet every photo shows its pose."""
    photo = assets.PHOTOS_DIR / HOG_FINDS_HER
    out = tmp_path / "faint"
    assert main(["demo", "--images", str(photo), "--out", str(out), "--threshold", "5", "--threads", "1"]) == 0
    stdout = capsys.readouterr().out
    assert "1 person, but every joint is below the drawing threshold 5 (best 0." in stdout
    record = json.loads((out / "poses.json").read_text())["images"][0]
    assert record["people"][0]["joints_drawn"] == 0 and len(record["people"][0]["keypoints"]) > 0
    drawn, image = cv2.imread(record["drawn"]), cv2.imread(str(photo))
    assert (_changed(drawn, image) > 20).sum() > 100, "the faint pose is drawn"


def test_demo_on_a_users_image_and_folder_with_hog_boxes(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    image = assets.PHOTOS_DIR / HOG_FINDS_HER  # HOG finds her at this size (not at COCO's 640 px)
    (folder / "a.jpg").write_bytes(image.read_bytes())
    (folder / "b.jpg").write_bytes((assets.PHOTOS_DIR / HOG_FINDS_NOBODY).read_bytes())
    (folder / "notes.txt").write_text("not an image")
    assert main(["demo", "--images", str(folder / "a.jpg"), "--out", str(tmp_path / "one")]) == 0
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["a_pose.jpg", "poses.json"]
    capsys.readouterr()
    # --out may be the images' own folder: the drawings never replace the photos
    assert main(["demo", "--images", str(folder), "--out", str(folder), "--detector", "hog", "--no-flip-test"]) == 0
    stdout = capsys.readouterr().out
    assert (folder / "a.jpg").read_bytes() == image.read_bytes()
    payload = json.loads((folder / "poses.json").read_text())
    assert payload["boxes"] == "hog" and payload["flip_test"] is False
    assert [r["file"] for r in payload["images"]] == ["a.jpg", "b.jpg"]  # notes.txt is not an image
    found, fallback = payload["images"]
    assert found["boxes"] == "hog", "HOG finds the skier"
    assert len(found["people"]) >= 1 and all(p["box"][2] < found["width"] for p in found["people"]), "a HOG box"
    assert fallback["boxes"] == "image" and fallback["note"] == "hog found no person box: the whole image used"
    assert re.search(r"b\.jpg .*1 person.*\(hog found no person box: the whole image used\)", stdout), stdout


def test_an_unreadable_image_in_a_folder_is_skipped_and_named(tmp_path, capfd):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.jpg").write_bytes((assets.PHOTOS_DIR / HOG_FINDS_HER).read_bytes())
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(folder / "sliver.png"), np.zeros((4, 2000, 3), np.uint8))
    out = tmp_path / "o"
    assert main(["demo", "--images", str(folder), "--out", str(out), "--threads", "1"]) == 1
    stdout, stderr = capfd.readouterr()
    assert re.search(r"broken\.jpg\s+skipped: .*broken\.jpg: cannot decode image", stdout), stdout
    assert re.search(r"sliver\.png\s+skipped: .*2000x4 pixels, too small to hold a person", stdout), stdout
    assert "2 of 3 images could not be used: broken.jpg, sliver.png" in stderr
    assert [r["file"] for r in json.loads((out / "poses.json").read_text())["images"]] == ["a.jpg"]


BAD = {
    "threshold nan": (["--threshold", "nan"], "--threshold must be a finite number"),
    "threshold -5": (["--threshold", "-5"], "--threshold must be in [0, inf], got -5"),
    "threads 0": (["--threads", "0"], "--threads must be >= 1"),
    "detector bogus": (["--detector", "bogus"], "--detector 'bogus'"),
    "onnx folder": (["--onnx", "{tmp}"], "must be a file, but this is a folder"),
    "images nowhere": (["--images", "{tmp}/nowhere"], "--images: no such file or folder"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_options_are_one_line_errors(tmp_path, capfd, case):
    extra, words = BAD[case]
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    assert main(["demo", *extra, "--out", str(tmp_path / "o")]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err
    assert not (tmp_path / "o" / "poses.json").exists()


def test_demo_errors_are_one_line(tmp_path, monkeypatch, capfd):
    (tmp_path / "empty").mkdir()
    assert main(["demo", "--images", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "folder has no images" in capfd.readouterr().err
    if hasattr(os, "mkfifo"):  # a named pipe is reported as what it is, never "not found"
        os.mkfifo(tmp_path / "pipe.jpg")
        assert main(["demo", "--images", str(tmp_path / "pipe.jpg"), "--out", str(tmp_path / "o")]) == 2
        err = capfd.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "a named pipe" in err and "pipe.jpg" in err, err
    # an installation without the model files: one line naming the missing file
    monkeypatch.setattr(assets, "MODEL_DIR", tmp_path / "no_model")
    assert main(["demo", "--out", str(tmp_path / "o")]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.onnx" in err and "missing" in err


def test_demo_runs_without_torch(tmp_path, run_without_torch):
    """What `pip install edgepose[runtime]` gives: the demo of the shipped model must not need PyTorch."""
    assert run_without_torch(["-c", "import torch"]).returncode != 0, "the torch blocker does not block"
    out = tmp_path / "demo"
    proc = run_without_torch(["-m", "edgepose", "demo", "--out", str(out), "--threads", "1", "--backend", "ort"])
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads((out / "poses.json").read_text())["images"]) == len(assets.demo_photos())


# ------------------------------------------------------------------------------------- bundled photos
def attribution_rows() -> dict[str, dict[str, str]]:
    """ATTRIBUTION.md's table as ``{file: {column: text}}``."""
    lines = [line for line in ATTRIBUTION.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
        rows[cells["file"].strip("`")] = cells
    return rows


def test_every_bundled_photo_is_attributed_under_a_licence_that_allows_redistribution():
    photos = assets.demo_photos()
    rows = attribution_rows()
    assert sorted(rows) == sorted(p.name for p in photos), "each photo has exactly one attribution row"
    for name, row in rows.items():
        licence = row["licence"]
        assert re.search(r"creativecommons\.org/licenses/by(-sa)?/\d\.\d/", licence), (name, licence)
        assert not re.search(r"NonCommercial|NoDerivs|by-nc|by-nd|-nc|-nd", licence, re.IGNORECASE), (name, licence)
        coco_id = int(row["COCO id"])
        assert row["coco_url"].endswith(f"/{coco_id:012d}.jpg"), (name, row["coco_url"])
        assert row["flickr_url"].startswith("http") and "flickr" in row["flickr_url"]
        assert "resized" in row["modified"]


def test_bundled_photos_stay_small():
    photos = assets.demo_photos()
    assert sum(p.stat().st_size for p in photos) <= MAX_PHOTO_BYTES
    for photo in photos:
        image = cv2.imread(str(photo))
        assert image is not None and max(image.shape[:2]) <= 640, photo.name
