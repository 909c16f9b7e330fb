"""The torch path and the ONNX Runtime path give the same poses; the runtime's geometry is right.

* Top-down: one FLPN-50 (random weights rescaled so heatmaps have distinct peaks), two ways on a real COCO
  image with detector boxes: ONNX Runtime through the runtime and PyTorch through the same runtime pipeline:
  keypoints agree within 0.5 px (evaluation runs the same pipeline: tests/engine/test_eval_predict_parity.py).
* Bottom-up: an oracle network that returns the maps PafCodec renders for the image's annotated people; the
  runtime (resize to 368, pad, decode, scale back) must return those people within a pixel.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from standins import OracleBottomup, unit_scale_outputs

from edgepose.engine.predict import torch_estimator
from edgepose.export.onnx import export_onnx
from edgepose.models import build_model
from edgepose.runtime import PoseEstimator
from edgepose.runtime.sources import read_image_bgr

IMAGE_ID = 785


@pytest.fixture(scope="module")
def image_785(coco_mini):
    return read_image_bgr(coco_mini / "images" / "val2017" / f"{IMAGE_ID:012d}.jpg")


@pytest.fixture(scope="module")
def boxes_785(coco_mini):
    dets = json.loads((coco_mini / "person_detection_results" / "mmpose_test_coco_det_AP_H_56.json").read_text())
    recs = [d for d in dets if d["image_id"] == IMAGE_ID][:4]  # the best four of its 22 boxes: enough, and fast
    return np.array([d["bbox"] for d in recs]), np.array([d["score"] for d in recs])


@pytest.mark.slow
def test_topdown_torch_and_onnx_paths_agree(tmp_path, image_785, boxes_785):
    torch.manual_seed(0)
    model = unit_scale_outputs(build_model("flpn_sres50", input_size=(128, 96)), torch.randn(2, 3, 128, 96))
    path = export_onnx(model, tmp_path / "flpn.onnx").path
    boxes, scores = boxes_785

    onnx_persons = PoseEstimator.from_onnx(path, threads=2)(image_785, boxes, scores)
    torch_persons = torch_estimator(model)(image_785, boxes, scores)
    assert len(onnx_persons) == len(torch_persons) == len(boxes)
    a = np.stack([p.keypoints for p in onnx_persons])
    b = np.stack([p.keypoints for p in torch_persons])
    assert np.abs(a[..., :2] - b[..., :2]).max() <= 0.5
    assert np.allclose([p.score for p in onnx_persons], [p.score for p in torch_persons], atol=1e-4)

    # the heatmaps really had peaks: the decoded keypoints are spread over the boxes, not piled up
    assert np.ptp(a[0, :, 0]) > 20 and np.ptp(a[0, :, 1]) > 20


def test_bottomup_runtime_recovers_annotated_people(tmp_path, coco_mini, image_785):
    ann = json.loads((coco_mini / "annotations" / "person_keypoints_val2017_mini.json").read_text())
    gt = [a for a in ann["annotations"] if a["image_id"] == IMAGE_ID and a["num_keypoints"] > 0]
    kp = np.array([a["keypoints"] for a in gt], dtype=np.float64).reshape(-1, 17, 3)
    kp[..., :2] -= 0.5  # COCO's continuous coordinates -> pixel centres
    model = OracleBottomup.from_coco_keypoints(kp, image_785.shape[:2])
    path = export_onnx(model, tmp_path / "oracle.onnx").path

    for estimator in (PoseEstimator.from_onnx(path), torch_estimator(model)):
        persons = estimator(image_785)
        assert len(persons) == len(kp)
        found = persons[0].keypoints
        labelled = kp[0, :, 2] > 0
        err = np.linalg.norm(found[labelled, :2] - kp[0, labelled, :2], axis=1)
        assert err.max() < 1.0, err
        assert (found[~labelled, 2] == 0).all()
        box = persons[0].box
        assert box[0] <= kp[0, labelled, 0].min() and box[0] + box[2] >= kp[0, labelled, 0].max()

    # the evaluation's own bottom-up predictor (independent pre-processing, same codec) agrees; it reports
    # COCO's continuous coordinates (+0.5), which is what the runtime writes to result files
    from edgepose.engine.bottomup import predict_bottomup

    ref = predict_bottomup(model, image_785, upsample=4, codec=estimator.codec)
    assert len(ref) == len(persons)
    mine = persons[0].keypoints.copy()
    mine[mine[:, 2] > 0, :2] += estimator.coco_offset
    assert np.abs(ref[0][0] - mine).max() <= 0.5
    assert ref[0][1] == pytest.approx(persons[0].score, rel=1e-4)
