"""``edgepose eval`` and ``edgepose predict`` run one predictor: identical keypoints for the same image, box and
weights with PyTorch, and ONNX Runtime agrees within floating-point tolerance.

The evaluation path is the real one (``TopdownTask.predict_dataset``: the dataset cuts the crop in the DataLoader,
the task's estimator runs the flip test and decodes); the predict path is what ``edgepose predict --weights``
and ``--onnx`` build (``torch_estimator`` / ``PoseEstimator.from_onnx`` on a BGR image and a box).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from standins import unit_scale_outputs

from edgepose.data.topdown import PersonRecord, TopdownDataset
from edgepose.engine.config import experiment_from_dict
from edgepose.engine.predict import torch_estimator
from edgepose.engine.topdown import TopdownTask
from edgepose.geometry import box_to_center_scale
from edgepose.runtime import PoseEstimator
from edgepose.runtime.sources import read_image_bgr

IMAGE = "000000000785.jpg"
BOXES = [[280.0, 44.0, 218.0, 346.0], [100.0, 50.0, 150.0, 300.0], [10.0, 10.0, 50.0, 80.0]]
SIZE = (128, 96)


@pytest.fixture(scope="module")
def setup(coco_mini):
    ann = str(coco_mini / "annotations" / "person_keypoints_val2017_mini.json")
    images = coco_mini / "images" / "val2017"
    config = {
        "name": "parity",
        "task": "topdown",
        "model": {"name": "flpn_sres50", "overrides": {"blocks": [1, 1, 1, 1], "width": 0.5, "deconv_channels": 64}},
        "data": {"train_ann": ann, "train_images": str(images), "val_ann": ann, "val_images": str(images),
                 "input_size": list(SIZE), "codec": "dark"},
        "eval": {"flip_test": True, "batch_size": 2},
        "train": {"batch_size": 2, "workers": 0},
    }  # fmt: skip
    task = TopdownTask(experiment_from_dict(config))
    torch.set_num_threads(2)  # as conftest's per-test fixture: thread counts change float rounding
    torch.manual_seed(0)
    model = unit_scale_outputs(task.build_model(), torch.randn(2, 3, *SIZE))
    aspect = SIZE[1] / SIZE[0]
    records = [PersonRecord(images / IMAGE, 785, *box_to_center_scale(b, aspect), np.zeros((17, 3))) for b in BOXES]
    dataset = TopdownDataset(records, task.data.make_codec(), task.spec, train=False, cfg=task.data)
    preds = task.predict_dataset(model, dataset, device=torch.device("cpu"))
    return config, model, np.stack([p["keypoints"] for p in preds]), read_image_bgr(images / IMAGE)


def test_eval_and_predict_give_identical_keypoints(setup) -> None:
    config, model, evaluated, image = setup
    estimator = torch_estimator(model, ckpt={"config": config}, flip_test=True, batch_size=2)
    assert estimator.codec.kind == "dark"
    persons = estimator(image, BOXES)
    assert len(persons) == len(BOXES)
    predicted = np.stack([p.keypoints for p in persons])  # Person keeps float32
    np.testing.assert_array_equal(predicted, evaluated.astype(np.float32))
    # the heatmaps had real peaks: keypoints spread over the first box, not piled in a corner
    assert np.ptp(evaluated[0, :, 0]) > 20 and np.ptp(evaluated[0, :, 1]) > 20
    # one box alone gives the same keypoints as in a batch of three
    alone = estimator(image, BOXES[:1])[0].keypoints
    np.testing.assert_allclose(alone, predicted[0], atol=1e-3)


@pytest.mark.slow
def test_onnx_predict_agrees_with_evaluation(setup, tmp_path) -> None:
    from edgepose.export.onnx import export_onnx

    _, model, evaluated, image = setup
    path = export_onnx(model, tmp_path / "m.onnx", input_size=SIZE, codec="dark").path
    persons = PoseEstimator.from_onnx(path, threads=1)(image, BOXES)
    onnx_kp = np.stack([p.keypoints for p in persons])
    assert np.abs(onnx_kp[..., :2] - evaluated[..., :2]).max() <= 0.5
    np.testing.assert_allclose(onnx_kp[..., 2], evaluated[..., 2], atol=1e-3)
