"""``edgepose.runtime`` and ``edgepose predict --onnx`` work with torch made unimportable.

The parent test process exports the models (that needs torch); child processes run with a ``sitecustomize``
whose meta-path finder raises ImportError for ``torch`` and every ``torch.*`` module, as on a device that
installed ``edgepose[runtime]`` only.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch
from standins import OracleBottomup, TinyTopdown, unit_scale_outputs

from edgepose.engine.predict import torch_estimator
from edgepose.export.onnx import export_onnx
from edgepose.runtime.sources import read_image_bgr

IMAGE = "images/val2017/000000000785.jpg"


@pytest.fixture(scope="module")
def models(tmp_path_factory, coco_mini):
    out = tmp_path_factory.mktemp("torch_free_models")
    torch.manual_seed(0)
    topdown = unit_scale_outputs(TinyTopdown(input_size=(64, 48)), torch.randn(2, 3, 64, 48))
    export_onnx(topdown, out / "topdown.onnx")
    image = read_image_bgr(coco_mini / IMAGE)
    ann = json.loads((coco_mini / "annotations" / "person_keypoints_val2017_mini.json").read_text())
    kp = np.array([a["keypoints"] for a in ann["annotations"] if a["image_id"] == 785 and a["num_keypoints"]])
    kp = kp.reshape(-1, 17, 3).astype(np.float64)
    kp[..., :2] -= 0.5
    bottomup = OracleBottomup.from_coco_keypoints(kp, image.shape[:2])
    export_onnx(bottomup, out / "bottomup.onnx")
    return {"dir": out, "topdown": topdown, "bottomup": bottomup, "image": image}


def test_blocker_really_blocks_torch(tmp_path, run_without_torch):
    proc = run_without_torch(["-c", "import torch"])
    assert proc.returncode != 0 and "blocked in this test" in proc.stderr


def test_runtime_runs_without_torch_and_matches_the_torch_path(tmp_path, run_without_torch, models, coco_mini):
    script = textwrap.dedent(
        f"""
        import json, sys
        from edgepose.runtime import PoseEstimator
        from edgepose.runtime.sources import read_image_bgr
        image = read_image_bgr({str(coco_mini / IMAGE)!r})
        out = {{}}
        for name in ("topdown", "bottomup"):
            est = PoseEstimator.from_onnx({str(models["dir"])!r} + f"/{{name}}.onnx", threads=1)
            boxes = [[277.1, 45.7, 225.1, 333.6]] if name == "topdown" else None
            out[name] = [p.keypoints.tolist() for p in est(image, boxes)]
        assert "torch" not in sys.modules, "the runtime imported torch"
        print(json.dumps(out))
        """
    )
    proc = run_without_torch(["-c", script])
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    ref_td = torch_estimator(models["topdown"])(models["image"], [[277.1, 45.7, 225.1, 333.6]])
    ref_bu = torch_estimator(models["bottomup"])(models["image"])
    assert np.abs(np.array(got["topdown"])[..., :2] - np.stack([p.keypoints for p in ref_td])[..., :2]).max() <= 0.5
    assert len(got["bottomup"]) == len(ref_bu) >= 1
    assert np.abs(np.array(got["bottomup"]) - np.stack([p.keypoints for p in ref_bu])).max() <= 0.5


def test_predict_cli_with_onnx_without_torch(tmp_path, run_without_torch, models, coco_mini):
    from pycocotools.coco import COCO

    results = tmp_path / "results.json"
    image = coco_mini / IMAGE
    dets = coco_mini / "person_detection_results" / "mmpose_test_coco_det_AP_H_56.json"
    proc = run_without_torch(
        ["-m", "edgepose", "predict", str(image), "--onnx", str(models["dir"] / "topdown.onnx"), "--boxes",
         str(dets), "--json", str(results), "--out", str(tmp_path / "vis"), "--threads", "1"]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "vis" / image.name).is_file()
    records = json.loads(results.read_text())
    assert {r["image_id"] for r in records} == {785} and all(len(r["keypoints"]) == 51 for r in records)

    proc = run_without_torch(
        ["-m", "edgepose", "predict", str(image), "--onnx", str(models["dir"] / "bottomup.onnx"),
         "--json", str(results)]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    gt = COCO(str(coco_mini / "annotations" / "person_keypoints_val2017_mini.json"))
    res = gt.loadRes(str(results))
    assert len(res.getAnnIds()) >= 1


def test_quantize_cli_without_torch(tmp_path, run_without_torch, models, coco_mini):
    out = tmp_path / "topdown.int8.onnx"
    proc = run_without_torch(
        ["-m", "edgepose", "quantize", str(models["dir"] / "topdown.onnx"), "--calib", str(coco_mini / IMAGE),
         "--out", str(out), "--json"]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["path"] == str(out) and report["calibration_images"] == 1 and out.is_file()
