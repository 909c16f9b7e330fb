"""`edgepose predict` on real images, folders and a short video; its outputs and its errors."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch
from standins import OracleBottomup, TinyTopdown, unit_scale_outputs

from edgepose.cli.main import main
from edgepose.engine.checkpoint import save_checkpoint
from edgepose.errors import EdgeposeError
from edgepose.export.onnx import export_onnx
from edgepose.models import build_model, checkpoint_fields
from edgepose.runtime.sources import read_image_bgr

DETS = "person_detection_results/mmpose_test_coco_det_AP_H_56.json"
GT = "annotations/person_keypoints_val2017_mini.json"


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory, coco_mini):
    out = tmp_path_factory.mktemp("predict_models")
    torch.manual_seed(0)
    export_onnx(unit_scale_outputs(TinyTopdown(), torch.randn(2, 3, 64, 48)), out / "topdown.onnx")
    image = read_image_bgr(coco_mini / "images/val2017/000000000785.jpg")
    ann = json.loads((coco_mini / GT).read_text())
    kp = np.array([a["keypoints"] for a in ann["annotations"] if a["image_id"] == 785 and a["num_keypoints"]])
    kp = kp.reshape(-1, 17, 3).astype(np.float64)
    kp[..., :2] -= 0.5
    export_onnx(OracleBottomup.from_coco_keypoints(kp, image.shape[:2]), out / "bottomup.onnx")
    return out


def _one_line_error(capfd) -> str:
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_image_with_detection_boxes_writes_json_pycocotools_reads(tmp_path, coco_mini, onnx_models, capsys):
    from pycocotools.coco import COCO

    image = coco_mini / "images/val2017/000000000785.jpg"
    results = tmp_path / "r.json"
    code = main(["predict", str(image), "--onnx", str(onnx_models / "topdown.onnx"), "--boxes",
                 str(coco_mini / DETS), "--box-threshold", "0.0", "--out", str(tmp_path / "vis"),
                 "--json", str(results)])  # fmt: skip
    assert code == 0
    n_boxes = sum(d["image_id"] == 785 for d in json.loads((coco_mini / DETS).read_text()))
    assert f"{n_boxes} people" in capsys.readouterr().out  # one person per detector box (batched)
    records = json.loads(results.read_text())
    assert len(records) == n_boxes and {r["image_id"] for r in records} == {785}
    assert all(r["category_id"] == 1 and len(r["keypoints"]) == 51 for r in records)
    res = COCO(str(coco_mini / GT)).loadRes(str(results))
    assert len(res.getAnnIds(imgIds=[785])) == n_boxes
    drawn = cv2.imread(str(tmp_path / "vis" / image.name))
    assert drawn.shape == read_image_bgr(image).shape and not np.array_equal(drawn, read_image_bgr(image))


def test_folder_skips_unreadable_images_and_keeps_outputs(tmp_path, coco_mini, onnx_models, capfd):
    folder = tmp_path / "images"
    folder.mkdir()
    names = ["000000000785.jpg", "000000040083.jpg", "000000196141.jpg"]
    for name in names:
        shutil.copy(coco_mini / "images/val2017" / name, folder / name)
    (folder / "000000000001.jpg").write_bytes(b"not a jpeg")
    results = tmp_path / "r.json"
    code = main(["predict", str(folder), "--onnx", str(onnx_models / "bottomup.onnx"), "--out", str(tmp_path / "vis"),
                 "--json", str(results), "--flush-every", "1"])  # fmt: skip
    err = capfd.readouterr().err
    assert code == 1, "a folder with an unreadable image finishes, but says so in its exit status"
    assert "000000000001.jpg" in err and "1 of 4 images could not be used" in err
    assert sorted(p.name for p in (tmp_path / "vis").iterdir()) == sorted(names)
    records = json.loads(results.read_text())
    assert 785 in {r["image_id"] for r in records}
    assert not list(tmp_path.glob(".r.json.*")), "no temporary JSON left behind"


def test_interrupted_folder_run_keeps_finished_work(tmp_path, coco_mini, onnx_models, monkeypatch):
    import edgepose.vis.draw as draw

    folder = tmp_path / "images"
    folder.mkdir()
    for name in ["000000000785.jpg", "000000040083.jpg", "000000196141.jpg"]:
        shutil.copy(coco_mini / "images/val2017" / name, folder / name)
    calls = {"n": 0}
    real = draw.draw_poses

    def interrupt_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(draw, "draw_poses", interrupt_on_third)
    results = tmp_path / "r.json"
    code = main(["predict", str(folder), "--onnx", str(onnx_models / "bottomup.onnx"), "--out", str(tmp_path / "vis"),
                 "--json", str(results)])  # fmt: skip
    assert code == 130
    assert len(list((tmp_path / "vis").iterdir())) == 2
    assert {785, 40083} <= {r["image_id"] for r in json.loads(results.read_text())}, "finished images are in the JSON"


@pytest.mark.slow
def test_video_with_smoothing_and_detector_boxes(tmp_path, shared_data, onnx_models):
    stills = sorted((shared_data / "openpose_example_people" / "images").glob("*.jpg"))[:4]
    assert len(stills) == 4
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (320, 240))
    for still in stills:
        writer.write(cv2.resize(read_image_bgr(still), (320, 240)))
    writer.release()
    results = tmp_path / "r.json"
    code = main(["predict", str(video), "--onnx", str(onnx_models / "topdown.onnx"), "--detector",
                 str(onnx_models / "bottomup.onnx"), "--smooth", "--out", str(tmp_path / "vis"), "--json",
                 str(results)])  # fmt: skip
    assert code == 0
    out = cv2.VideoCapture(str(tmp_path / "vis" / "clip_pose.mp4"))
    frames = 0
    while out.read()[0]:
        frames += 1
    assert frames == 4
    records = json.loads(results.read_text())
    assert {r["image_id"] for r in records} == {0, 1, 2, 3}  # the detector finds people in every frame
    # --smooth smooths: without it, the same video's keypoints move more from one frame to the next
    raw = tmp_path / "raw.json"
    assert main(["predict", str(video), "--onnx", str(onnx_models / "topdown.onnx"), "--detector",
                 str(onnx_models / "bottomup.onnx"), "--json", str(raw)]) == 0  # fmt: skip

    def jitter(recs: list[dict]) -> float:
        frames = [sorted((np.reshape(r["keypoints"], (17, 3))[:, :2] for r in recs if r["image_id"] == i),
                         key=lambda kp: float(kp[:, 0].mean())) for i in range(4)]  # fmt: skip
        return sum(float(np.abs(np.stack(frames[i]) - np.stack(frames[i - 1])).sum()) for i in range(1, 4))

    assert jitter(records) < jitter(json.loads(raw.read_text()))


@pytest.mark.slow
def test_weights_rebuild_the_checkpoint_model_and_random_weights_warn(tmp_path, coco_mini, capfd):
    model = build_model("lwop_mobilenet")
    ckpt = tmp_path / "lwop.pt"
    save_checkpoint(ckpt, checkpoint_fields(model))
    image = coco_mini / "images/val2017/000000000785.jpg"
    assert main(["predict", str(image), "--weights", str(ckpt), "--height", "128", "--json",
                 str(tmp_path / "a.json")]) == 0  # fmt: skip
    assert "meaningless" not in capfd.readouterr().err
    assert main(["predict", str(image), "--model", "lwop_mobilenet", "--height", "128", "--json",
                 str(tmp_path / "b.json")]) == 0  # fmt: skip
    assert "random weights" in capfd.readouterr().err


def test_bad_inputs_are_one_line_errors(tmp_path, coco_mini, onnx_models, capfd, monkeypatch):
    onnx = str(onnx_models / "topdown.onnx")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    assert main(["predict", str(bad), "--onnx", onnx]) == 2
    assert "broken.jpg" in _one_line_error(capfd)

    empty = tmp_path / "empty.mp4"
    cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 64)).release()
    assert main(["predict", str(empty), "--onnx", onnx]) == 2
    assert "empty.mp4" in _one_line_error(capfd)

    assert main(["predict", "9", "--onnx", onnx]) == 2
    assert "camera 9 is not available" in _one_line_error(capfd)

    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"garbage")
    image = str(coco_mini / "images/val2017/000000000785.jpg")
    assert main(["predict", image, "--onnx", str(corrupt)]) == 2
    assert "corrupt.onnx" in _one_line_error(capfd)

    wrong = tmp_path / "wrong.pt"  # lwop weights claiming to be xfuse_ghostnet
    save_checkpoint(wrong, {**checkpoint_fields(build_model("xfuse_ghostnet")),
                            "model": build_model("lwop_mobilenet").state_dict()})  # fmt: skip
    assert main(["predict", image, "--weights", str(wrong)]) == 2
    err = _one_line_error(capfd)
    assert "wrong.pt" in err and "do not fit" in err

    def no_shipped_model():  # an install that left the package data out
        raise EdgeposeError("the shipped model is missing from this installation (reinstall edgepose)", "model.onnx")

    monkeypatch.setattr("edgepose.assets.shipped_onnx", no_shipped_model)
    assert main(["predict", image]) == 2
    assert "shipped model is missing" in _one_line_error(capfd)


def test_hog_detector_and_malformed_detections(tmp_path, shared_data, onnx_models, capfd):
    image = shared_data / "openpose_example_people" / "images" / "COCO_val2014_000000000192.jpg"
    results = tmp_path / "r.json"
    assert main(["predict", str(image), "--onnx", str(onnx_models / "topdown.onnx"), "--detector", "hog",
                 "--box-threshold", "0", "--json", str(results)]) == 0  # fmt: skip
    records = json.loads(results.read_text())
    assert len(records) >= 1 and {r["image_id"] for r in records} == {192}
    capfd.readouterr()

    bad = tmp_path / "dets.json"
    bad.write_text('[{"image_id": 192, "bbox": [1, 2]}]')
    assert main(["predict", str(image), "--onnx", str(onnx_models / "topdown.onnx"), "--boxes", str(bad)]) == 2
    err = _one_line_error(capfd)
    assert "dets.json" in err and "bbox" in err
