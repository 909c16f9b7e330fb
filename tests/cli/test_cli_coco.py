"""``edgepose coco``: COCO AP of a checkpoint and of its ONNX export on real COCO images, one JSON line; errors
on one line. The model is Intel's Lightweight OpenPose imported from its OpenVINO IR (a real COCO-trained
network: a decoder or channel-order mistake shows up as an AP near 0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgepose.cli.main import main

KEYS = ["AP", "AP50", "AP75", "APm", "APl", "AR", "images", "model"]


@pytest.fixture(scope="module")
def intel_ckpt(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("openvino")
    from edgepose.models.importers import import_file
    from edgepose.models.importers.checkpoint import save_imported

    xml = shared_data.parent / "weights" / "human-pose-estimation-0001.FP16-INT8.xml"
    if not xml.is_file():
        from tests.conftest import missing_data

        missing_data(f"Intel's IR not found at {xml}")
    return save_imported(import_file(xml), tmp_path_factory.mktemp("intel") / "intel_lwop.pt")


def _args(coco_mini: Path, *extra: str) -> list[str]:
    return ["coco", "--ann", str(coco_mini / "annotations" / "person_keypoints_val2017_mini.json"),
            "--images", str(coco_mini / "images" / "val2017"), "--json", "--no-progress", *extra]  # fmt: skip


def _line(capsys: pytest.CaptureFixture) -> dict:
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


@pytest.mark.slow
def test_checkpoint_and_onnx_score_alike(intel_ckpt: Path, coco_mini: Path, tmp_path: Path, capsys) -> None:
    """Two photos with people (ids 139 and 785): the imported model finds them (AP well above 0), and its ONNX
    export, run torch-free, scores the same."""
    from edgepose.engine.checkpoint import build_model_from_checkpoint
    from edgepose.export.onnx import export_onnx

    assert main(_args(coco_mini, "--weights", str(intel_ckpt), "--max-images", "2", "--height", "256")) == 0
    torch_line = _line(capsys)
    assert list(torch_line) == KEYS and torch_line["images"] == 2
    assert torch_line["AP"] > 0.3
    model, _ = build_model_from_checkpoint(intel_ckpt)
    onnx_path = export_onnx(model, tmp_path / "intel.onnx", check=False).path
    assert main(_args(coco_mini, "--onnx", str(onnx_path), "--max-images", "2", "--height", "256")) == 0
    onnx_line = _line(capsys)
    assert abs(onnx_line["AP"] - torch_line["AP"]) < 0.01 and abs(onnx_line["AR"] - torch_line["AR"]) < 0.01


def test_topdown_model_needs_boxes(coco_mini: Path, capsys) -> None:
    from edgepose.assets import shipped_onnx

    assert main(_args(coco_mini, "--onnx", str(shipped_onnx()))) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--boxes" in err and "--detector" in err


def test_bad_detector_is_one_line(coco_mini: Path, capsys) -> None:
    from edgepose.assets import shipped_onnx

    assert main(_args(coco_mini, "--onnx", str(shipped_onnx()), "--detector", "no_such_detector")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--detector 'no_such_detector'" in err


def test_topdown_model_of_another_keypoint_set(coco_mini: Path, capsys) -> None:
    """The shipped model predicts LSP-14 joints: COCO AP cannot score them, and says so."""
    from edgepose.assets import shipped_onnx

    assert main(_args(coco_mini, "--onnx", str(shipped_onnx()), "--detector", "hog")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "COCO-17" in err and "'lsp'" in err
