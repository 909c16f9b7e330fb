"""``edgepose import``: a published file becomes weights the rest of edgepose takes, through PyTorch and ONNX.

MoveNet's ``.tflite`` is imported by the command, the checkpoint is run by ``edgepose predict --weights`` and, once
exported, by the torch-free runtime: on the bundled skier photo both find the same joints (the imported network is
COCO-trained: its wrists and ankles land on the skier, inside the photo). Classifier files become backbone weights
that a pose model's ``model.pretrained`` loads; bad files are one line naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgepose.cli.main import main

pytest.importorskip("ai_edge_litert")


def _weights(shared_data: Path, name: str) -> Path:
    path = shared_data.parent / "weights" / name
    if not path.is_file():
        from tests.conftest import missing_data

        missing_data(f"{name} not found at {path}")
    return path


@pytest.fixture(scope="module")
def movenet_ckpt(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("import") / "movenet.pt"
    assert main(["import", str(_weights(shared_data, "movenet_single_pose_lightning_ptq.tflite")), "--out",
                 str(out)]) == 0  # fmt: skip
    return out


@pytest.mark.slow
def test_imported_movenet_runs_through_torch_and_onnx_alike(movenet_ckpt: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    from edgepose.assets import demo_photos
    from edgepose.engine.predict import load_model, torch_estimator
    from edgepose.runtime.estimator import PoseEstimator

    photo = next(p for p in demo_photos() if "skier" in p.name)
    import cv2

    image = cv2.imread(str(photo))
    model, ckpt = load_model(weights=movenet_ckpt)
    assert model.model_info.keypoints == "coco" and tuple(model.model_info.input_size) == (192, 192)
    torch_kp = np.asarray(torch_estimator(model, ckpt=ckpt, refine=1)(image)[0].keypoints)
    onnx = tmp_path / "movenet.onnx"
    assert main(["export", str(movenet_ckpt), "--out", str(onnx)]) == 0
    onnx_kp = np.asarray(PoseEstimator(onnx, refine=1)(image)[0].keypoints)
    np.testing.assert_allclose(onnx_kp[:, :2], torch_kp[:, :2], atol=1.0)
    h, w = image.shape[:2]
    confident = torch_kp[:, 2] > 0.3
    assert confident.sum() >= 10  # a COCO-trained network sees the skier's joints
    assert (torch_kp[confident, 0] >= 0).all() and (torch_kp[confident, 0] < w).all()
    assert (torch_kp[confident, 1] >= 0).all() and (torch_kp[confident, 1] < h).all()


def test_import_json_summary_and_backbone_weights(shared_data: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    out = tmp_path / "mnv2.pt"
    src = _weights(shared_data, "tf2_mobilenet_v2_1.0_224_ptq.tflite")
    assert main(["import", str(src), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["kind"] == "backbone" and summary["out"] == str(out)
    from edgepose.engine.checkpoint import load_pretrained
    from edgepose.models import build_model

    model = build_model("mobilenetv2_deconv", keypoints="lsp")
    loaded, total = load_pretrained(model, out, show=False)
    assert loaded == len([k for k in model.state_dict() if k.startswith("backbone.")])  # the whole trunk
    assert loaded < total  # the deconvolution head stays at its initialisation


def test_import_refuses_other_files_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    text = tmp_path / "weights.bin"
    text.write_bytes(b"\x00" * 64)
    assert main(["import", str(text), "--out", str(tmp_path / "x.pt")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "weights.bin" in err[0] and "neither a TFLite model" in err[0]
    assert not (tmp_path / "x.pt").exists()
