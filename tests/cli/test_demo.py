"""`edgepose demo`: the shipped model on the bundled photos, and the photos' licences.

The shipped model is replaced by a tiny random-weight LSP-14 network exported here (its poses are noise: these
tests check the files, the JSON and the timing lines, not accuracy).
"""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
import torch
from torch import nn

import edgepose.assets as assets
from edgepose.cli.main import main
from edgepose.keypoints import LSP_KEYPOINTS

MAX_PHOTO_BYTES = 1_000_000  # all bundled photos together
ATTRIBUTION = assets.PHOTOS_DIR / "ATTRIBUTION.md"


class TinyLsp(nn.Module):
    """A 14-keypoint top-down network of a few convolutions (stride 4), the shape of the shipped model."""

    task = "topdown"
    stride = 4
    num_keypoints = 14
    input_size = (64, 64)
    model_name = "tiny_lsp"

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 14, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    import edgepose.export.onnx as onnx_export

    path = tmp_path_factory.mktemp("demo_model") / "tiny_lsp.onnx"
    torch.manual_seed(0)
    with pytest.MonkeyPatch.context() as mp:  # the export learns the LSP set's name here if it does not know it
        if onnx_export.KEYPOINT_SETS.get(14) != "lsp":
            mp.setitem(onnx_export.KEYPOINT_SETS, 14, "lsp")
        onnx_export.export_onnx(TinyLsp(), path, codec="dark")
    return path


@pytest.fixture
def shipped(tiny_onnx, monkeypatch):
    monkeypatch.setattr(assets, "shipped_onnx", lambda: tiny_onnx)
    return tiny_onnx


def test_demo_on_the_bundled_photos_writes_drawings_and_json(tmp_path, shipped, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--threshold", "0", "--threads", "1"]) == 0
    stdout = capsys.readouterr().out
    photos = assets.demo_photos()
    assert len(photos) >= 3
    payload = json.loads((out / "poses.json").read_text())
    assert payload["keypoint_set"] == "lsp" and payload["keypoint_names"] == list(LSP_KEYPOINTS)
    assert payload["model"] == str(shipped) and payload["boxes"] == "image"
    assert [r["file"] for r in payload["images"]] == [p.name for p in photos]
    for photo, record in zip(photos, payload["images"]):
        image = cv2.imread(str(photo))
        drawn = cv2.imread(record["drawn"])
        assert record["drawn"] == str(out / f"{photo.stem}_pose.jpg")
        assert drawn.shape == image.shape and (record["height"], record["width"]) == image.shape[:2]
        assert np.abs(drawn.astype(int) - image.astype(int)).max() > 100, "no skeleton drawn"
        assert len(record["people"]) == 1, "the whole image is one person's box"
        person = record["people"][0]
        kp = np.array(person["keypoints"])
        assert kp.shape == (14, 3) and np.isfinite(kp).all()
        assert person["box"] == [0.0, 0.0, float(image.shape[1]), float(image.shape[0])] and record["boxes"] == "image"
        assert record["seconds"] > 0
        assert re.search(rf"{re.escape(photo.name)}\s+\d+x\d+\s+1 person\s+[\d.]+ ms", stdout), stdout
    assert payload["seconds_per_image"] == pytest.approx(np.mean([r["seconds"] for r in payload["images"]]), abs=1e-3)
    assert "ms per image" in stdout and str(out / "poses.json") in stdout


def test_demo_on_a_users_image_and_folder_with_hog_boxes(tmp_path, shipped, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    image = assets.PHOTOS_DIR / "skier_785.jpg"  # HOG finds her at this size (not at COCO's 640 px)
    (folder / "a.jpg").write_bytes(image.read_bytes())
    (folder / "notes.txt").write_text("not an image")
    assert main(["demo", "--images", str(folder / "a.jpg"), "--out", str(tmp_path / "one")]) == 0
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["a_pose.jpg", "poses.json"]
    # --out may be the images' own folder: the drawings never replace the photos
    assert main(["demo", "--images", str(folder), "--out", str(folder), "--detector", "hog", "--no-flip-test"]) == 0
    assert (folder / "a.jpg").read_bytes() == image.read_bytes()
    payload = json.loads((folder / "poses.json").read_text())
    assert payload["boxes"] == "hog" and payload["flip_test"] is False
    assert [r["file"] for r in payload["images"]] == ["a.jpg"]  # notes.txt is not an image
    record = payload["images"][0]
    assert record["boxes"] == "hog", "HOG finds the skier"
    assert len(record["people"]) >= 1 and all(len(p["keypoints"]) == 14 for p in record["people"])
    assert all(p["box"][2] < record["width"] for p in record["people"]), "a HOG box, not the whole image"
    assert "HOG" in capsys.readouterr().out


def test_demo_errors_are_one_line(tmp_path, shipped, monkeypatch, capfd):
    assert main(["demo", "--images", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere" in err and "--images" in err
    (tmp_path / "empty").mkdir()
    assert main(["demo", "--images", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "folder has no images" in capfd.readouterr().err
    # an installation without the model files: one line naming the missing file
    monkeypatch.undo()
    monkeypatch.setattr(assets, "MODEL_DIR", tmp_path / "no_model")
    assert main(["demo", "--out", str(tmp_path / "o")]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.onnx" in err and "missing" in err


def test_demo_runs_without_torch(tmp_path, tiny_onnx, run_without_torch):
    """What `pip install edgepose[runtime]` gives: the demo must not need PyTorch."""
    assert run_without_torch(["-c", "import torch"]).returncode != 0, "the torch blocker does not block"
    out = tmp_path / "demo"
    proc = run_without_torch(["-m", "edgepose", "demo", "--onnx", str(tiny_onnx), "--out", str(out), "--threads", "1"])
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
