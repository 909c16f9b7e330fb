"""``--detector`` values resolved torch-free (:func:`detector_from_spec`) and with PyTorch (``resolve_detector``):
the box source each one names, or one error line naming the value and what is wrong with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.errors import ConfigError
from edgepose.runtime.boxes import HogDetector, PoseBoxes, clean_boxes, detector_from_spec


def _one_line(err: pytest.ExceptionInfo, spec: str) -> str:
    message = str(err.value)
    assert "\n" not in message and f"--detector {spec!r}" in message
    return message


def test_hog_by_name() -> None:
    source = detector_from_spec(" HOG ")
    assert isinstance(source, HogDetector)
    boxes, scores = source(np.zeros((200, 120, 3), np.uint8), 0)
    assert boxes.shape == (0, 4) and scores.shape == (0,)


@pytest.mark.parametrize("spec", ["", "yolo", "no/such/model.onnx"])
def test_unknown_or_missing(spec: str) -> None:
    with pytest.raises(ConfigError) as err:
        detector_from_spec(spec)
    message = _one_line(err, spec)
    assert "hog" in message


def test_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        detector_from_spec(str(tmp_path))
    assert "folder" in _one_line(err, str(tmp_path))


def test_checkpoint_needs_torch_here(tmp_path: Path) -> None:
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"not really")
    with pytest.raises(ConfigError) as err:
        detector_from_spec(str(ckpt))
    assert "PyTorch" in _one_line(err, str(ckpt))


def test_onnx_that_is_not_a_model(tmp_path: Path) -> None:
    bad = tmp_path / "det.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ConfigError) as err:
        detector_from_spec(str(bad))
    _one_line(err, str(bad))


def test_topdown_onnx_is_refused() -> None:
    from edgepose.assets import shipped_onnx

    path = str(shipped_onnx())
    with pytest.raises(ConfigError) as err:
        detector_from_spec(path)
    assert "must be bottom-up" in _one_line(err, path)


def test_torch_resolver_refuses_a_broken_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from edgepose.engine.detectors import resolve_detector

    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError) as err:
        resolve_detector(str(ckpt))
    _one_line(err, str(ckpt))
    assert isinstance(resolve_detector("hog"), HogDetector)


def test_pose_boxes_from_a_bottomup_model_go_through_box_cleaning() -> None:
    """A bottom-up network (a stand-in returning fixed maps) as a detector: its people become padded boxes, and
    the boxes it gives are still cleaned like any others."""
    from edgepose.codecs.paf import PafCodec
    from edgepose.keypoints import OPENPOSE_KEYPOINTS
    from edgepose.meta import ModelInfo
    from edgepose.runtime import PoseEstimator

    kp = np.zeros((1, len(OPENPOSE_KEYPOINTS), 3))
    kp[0, :, 0] = np.linspace(100, 140, len(OPENPOSE_KEYPOINTS))
    kp[0, :, 1] = np.linspace(60, 300, len(OPENPOSE_KEYPOINTS))
    kp[0, :, 2] = 1

    def network(batch: np.ndarray) -> dict[str, np.ndarray]:
        heat, pafs = PafCodec().encode(kp * [batch.shape[2] / 368, batch.shape[2] / 368, 1], batch.shape[2:])
        return {"heatmaps": heat[None], "pafs": pafs[None]}

    info = ModelInfo(model_name="standin", task="bottomup", input_size=(368, 368), normalisation="openpose",
                     stride=8, keypoints="openpose18", codec="paf", outputs=("heatmaps", "pafs"))  # fmt: skip
    source = PoseBoxes(PoseEstimator(network, info))
    boxes, scores = source(np.zeros((368, 368, 3), np.uint8), 0)
    assert len(boxes) == 1 and scores[0] > 0
    x, y, w, h = boxes[0]
    assert x < 100 < 140 < x + w and y < 60 < 300 < y + h
    kept, _ = clean_boxes(boxes, scores, (368, 368))
    assert len(kept) == 1
