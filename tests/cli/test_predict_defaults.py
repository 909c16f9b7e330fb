"""`edgepose predict`'s defaults and checks (issues 11.4, 11.5 and 15.2), on tiny exported models and drawn images.

* the shipped model when no model is given (the real one, its facts read from its metadata);
* no silent discard: without ``--out``/``--json``/``--show`` results go to ``predictions/``, which it says;
* a timing summary, the keypoint set of the results (``*.meta.json``), OKS-NMS of duplicate boxes;
* bad numbers and places as one-line errors before any work; garbage boxes dropped or clipped, with a count;
* ``--show`` without a display (one line) and with one (a stand-in window; q stops), the FPS overlay on video.
"""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
import torch
from standins import OracleBottomup, TinyTopdown, unit_scale_outputs

from edgepose.cli.main import main
from edgepose.export.onnx import export_onnx


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = tmp_path_factory.mktemp("predict_defaults")
    torch.manual_seed(0)
    export_onnx(unit_scale_outputs(TinyTopdown(), torch.randn(2, 3, 64, 48)), out / "coco.onnx", check=False)
    kp = np.zeros((1, 17, 3))
    kp[0, :, 0], kp[0, :, 1], kp[0, :, 2] = np.linspace(20, 60, 17), np.linspace(10, 90, 17), 2
    export_onnx(OracleBottomup.from_coco_keypoints(kp, (96, 80), height=64), out / "bu.onnx", check=False)
    rng = np.random.default_rng(0)
    images = out / "images"
    images.mkdir()
    for i in range(2):
        cv2.imwrite(str(images / f"{i:012d}.jpg"), rng.integers(0, 255, (96, 80, 3), dtype=np.uint8))
    return out


def _one_line_error(capfd) -> str:
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_shipped_model_is_the_default_and_results_go_to_predictions(tmp_path, models, monkeypatch, capfd):
    """The real shipped model (its facts read from its file's metadata, not assumed) on a drawn 80x96 image."""
    from edgepose.assets import shipped_onnx
    from edgepose.runtime.session import OnnxNetwork

    info = OnnxNetwork(shipped_onnx(), threads=1).info
    k = info.num_keypoints
    monkeypatch.chdir(tmp_path)
    image = models / "images" / "000000000001.jpg"
    assert main(["predict", str(image), "--refine", "0", "--threads", "1"]) == 0  # one pass: the crop's bounds
    out, err = capfd.readouterr()
    assert "using the shipped model" in err and info.keypoints in err
    assert "predictions" in err, "it says where the results went"
    drawn = tmp_path / "predictions" / image.name
    assert drawn.is_file()
    records = json.loads((tmp_path / "predictions" / "000000000001.json").read_text())
    assert len(records) == 1 and records[0]["image_id"] == 1 and len(records[0]["keypoints"]) == k * 3
    meta = json.loads((tmp_path / "predictions" / "000000000001.meta.json").read_text())
    assert meta["keypoint_set"] == info.keypoints and len(meta["keypoint_names"]) == k and meta["task"] == info.task
    assert meta["refine"] == 0 and meta["flip_test"] is True and meta["model"] == str(shipped_onnx())
    (document,) = meta["images"]
    assert document["file"] == image.name and len(document["people"]) == 1
    kp = np.array(records[0]["keypoints"]).reshape(k, 3)
    np.testing.assert_allclose(np.array(document["people"][0]["keypoints"]), kp, atol=0.051)
    # the whole 80x96 image was the person box: padded to the crop's aspect ratio and by 1.25, so every joint
    # lies within the crop around (40, 48) -- at most 1.25 x 96 = 120 px tall, as wide as the aspect makes it
    h, w = info.input_size
    half_w, half_h = max(80, 96 * w / h) * 1.25 / 2, max(96, 80 * h / w) * 1.25 / 2
    x, y = kp[:, 0], kp[:, 1]
    assert (np.abs(x - 40) <= half_w + 1).all() and (np.abs(y - 48) <= half_h + 1).all()
    assert re.search(r"000000000001\.jpg\s+80x96\s+1 person", out), out
    assert "ms per image" in out and "FPS" in out, "a timing summary at the end"


def test_bottomup_results_name_the_coco_keypoints(tmp_path, models, capfd):
    results = tmp_path / "r.json"
    assert main(["predict", str(models / "images"), "--onnx", str(models / "bu.onnx"), "--json", str(results)]) == 0
    assert json.loads((tmp_path / "r.meta.json").read_text())["keypoint_set"] == "coco"
    assert not (tmp_path / "predictions").exists(), "--json given: no default folder"


def test_oks_nms_keeps_one_skeleton_per_person(tmp_path, models, capfd):
    image = models / "images" / "000000000000.jpg"
    same = [10.0, 8.0, 50.0, 80.0]
    dets = [{"image_id": 0, "bbox": b, "score": s, "category_id": 1}
            for b, s in ((same, 0.8), (same, 0.9), (same, 0.7))]  # fmt: skip
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    common = ["predict", str(image), "--onnx", str(models / "coco.onnx"), "--boxes", str(tmp_path / "dets.json")]
    assert main([*common, "--json", str(tmp_path / "nms.json")]) == 0
    assert main([*common, "--json", str(tmp_path / "all.json"), "--no-nms"]) == 0
    kept = json.loads((tmp_path / "nms.json").read_text())
    assert len(json.loads((tmp_path / "all.json").read_text())) == 3
    assert len(kept) == 1, "three boxes on one person: one skeleton"
    assert kept[0]["score"] == max(r["score"] for r in json.loads((tmp_path / "all.json").read_text()))


def test_garbage_boxes_are_dropped_or_clipped_with_a_count(tmp_path, models, capfd):
    image = models / "images" / "000000000000.jpg"
    boxes = [[float("nan"), 1, 2, 3], [1, 1, float("inf"), 3], [10, 10, -5, 20], [5000, 5000, 30, 30],
             [0, 0, 1e9, 1e9], [10, 8, 50, 80]]  # fmt: skip
    (tmp_path / "dets.json").write_text(json.dumps([{"image_id": 0, "bbox": b, "score": 0.9} for b in boxes]))
    results = tmp_path / "r.json"
    assert main(["predict", str(image), "--onnx", str(models / "coco.onnx"), "--boxes", str(tmp_path / "dets.json"),
                 "--json", str(results), "--no-nms"]) == 0  # fmt: skip
    err = capfd.readouterr().err
    assert "4 person boxes dropped (2 not finite (NaN or inf), 1 empty or negative size, 1 outside the image)" in err
    assert "1 clipped to the image" in err
    records = json.loads(results.read_text())
    assert len(records) == 2
    assert max(r["bbox"][2] for r in records) <= 80, "the 1e9-pixel box became the image, not a 1e9-pixel person"
    kp = np.array([r["keypoints"] for r in records]).reshape(-1, 17, 3)
    assert np.abs(kp[..., :2]).max() < 200


BAD_OPTIONS = {
    "--threads -1": (["--threads", "-1"], "--threads must be >= 1"),
    "--threads 0": (["--threads", "0"], "--threads must be >= 1"),
    "--height -8": (["--height", "-8"], "--height must be >= 16"),
    "--height 0": (["--height", "0"], "--height must be >= 16"),
    "--max-frames 0": (["--max-frames", "0"], "--max-frames must be >= 1"),
    "--threshold nan": (["--threshold", "nan"], "--threshold must be a finite number"),
    "--box-threshold nan": (["--box-threshold", "nan"], "--box-threshold must be a finite number"),
    "--nms-threshold 0": (["--nms-threshold", "0"], "--nms-threshold must be in (0, 1]"),
    "--device foo": (["--device", "foo"], "unknown device"),
}


@pytest.mark.parametrize("kind", sorted(BAD_OPTIONS))
def test_bad_numbers_are_one_line_errors(tmp_path, models, capfd, kind):
    extra, words = BAD_OPTIONS[kind]
    image = str(models / "images" / "000000000000.jpg")
    assert main(["predict", image, "--onnx", str(models / "coco.onnx"), *extra]) == 2
    assert words in _one_line_error(capfd)


def test_device_cuda_without_cuda_is_one_line(models, capfd):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    image = str(models / "images" / "000000000000.jpg")
    assert main(["predict", image, "--onnx", str(models / "coco.onnx"), "--device", "cuda"]) == 2
    assert "--device cuda" in _one_line_error(capfd)


def test_bad_output_places_are_one_line_errors(tmp_path, models, capfd):
    image = str(models / "images" / "000000000000.jpg")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    base = ["predict", image, "--onnx", str(models / "coco.onnx")]
    assert main([*base, "--out", str(a_file)]) == 2
    assert "--out must be a folder" in _one_line_error(capfd)
    assert main([*base, "--json", str(tmp_path)]) == 2
    assert "--json must be a file name" in _one_line_error(capfd)
    assert main([*base, "--json", str(a_file / "sub" / "r.json")]) == 2
    assert "is a file, not a folder" in _one_line_error(capfd)
    assert a_file.read_text() == "x"


def test_boxes_with_a_bottomup_model_is_one_line(tmp_path, models, capfd):
    (tmp_path / "dets.json").write_text("[]")
    image = str(models / "images" / "000000000000.jpg")
    assert main(["predict", image, "--onnx", str(models / "bu.onnx"), "--boxes", str(tmp_path / "dets.json")]) == 2
    assert "--boxes applies to top-down models" in _one_line_error(capfd)


def test_show_without_a_display_is_one_line(models, monkeypatch, capfd):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    image = str(models / "images" / "000000000000.jpg")
    assert main(["predict", image, "--onnx", str(models / "coco.onnx"), "--show"]) == 2
    assert "--show needs a display" in _one_line_error(capfd)


def test_show_draws_in_a_window_and_q_stops(tmp_path, models, monkeypatch, capfd):
    shown = []
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(cv2, "namedWindow", lambda *a, **k: None)
    monkeypatch.setattr(cv2, "imshow", lambda name, image: shown.append(image.shape))
    monkeypatch.setattr(cv2, "waitKey", lambda ms: ord("q"))
    monkeypatch.setattr(cv2, "destroyWindow", lambda *a: None)
    monkeypatch.chdir(tmp_path)
    assert main(["predict", str(models / "images"), "--onnx", str(models / "coco.onnx"), "--show"]) == 0
    assert shown == [(96, 80, 3)], "one image shown, then q stopped the run"
    assert "1 images" in capfd.readouterr().out
    assert not (tmp_path / "predictions").exists(), "--show is an output: no default files"


def test_video_gets_an_fps_overlay(tmp_path, models, monkeypatch, capfd):
    import edgepose.vis.draw as draw

    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (80, 96))
    for _ in range(3):
        writer.write(np.zeros((96, 80, 3), np.uint8))
    writer.release()
    calls = []
    real = draw.draw_fps
    monkeypatch.setattr(draw, "draw_fps", lambda canvas, fps: (calls.append(fps), real(canvas, fps)))
    assert main(["predict", str(video), "--onnx", str(models / "coco.onnx"), "--out", str(tmp_path / "vis")]) == 0
    assert len(calls) == 3 and all(f > 0 for f in calls)
    assert (tmp_path / "vis" / "clip_pose.mp4").is_file()
    assert "ms per frame" in capfd.readouterr().out
    canvas = np.zeros((96, 80, 3), np.uint8)
    real(canvas, 12.3)
    assert canvas[:30, :60].max() == 255, "white FPS text in the top-left corner"
