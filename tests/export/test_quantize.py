"""Static INT8 quantisation: a QDQ model that keeps the metadata, close to fp32, with a report; bad input."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from standins import TinyTopdown, unit_scale_outputs

from edgepose.cli.main import main
from edgepose.export.onnx import export_onnx
from edgepose.runtime import PoseEstimator
from edgepose.runtime.sources import read_image_bgr


@pytest.fixture(scope="module")
def fp32_model(tmp_path_factory):
    torch.manual_seed(0)
    model = unit_scale_outputs(TinyTopdown(width=32), torch.randn(2, 3, 64, 48))
    return export_onnx(model, tmp_path_factory.mktemp("quant") / "tiny.onnx").path


def test_quantize_cli_reports_and_keeps_metadata(tmp_path, fp32_model, shared_data, capsys):
    calib = shared_data / "openpose_example_people" / "images"
    out = tmp_path / "tiny.int8.onnx"
    assert main(["quantize", str(fp32_model), "--calib", str(calib), "--out", str(out), "--max-images", "6",
                 "--json"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["calibration_images"] == 6 and report["path"] == str(out)
    # outputs are of unit scale: int8 error should be a few percent of it
    assert 0 < report["mean_abs_diff"] < 0.1 and report["max_abs_diff"] < 1.0
    # decoded on the calibration images by both models (random weights: only that it is measured is checked)
    assert report["keypoint_mean_px"] is not None and 0 <= report["keypoint_mean_px"] <= report["keypoint_max_px"]

    proto = onnx.load(str(out))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops, "QDQ format"
    weights_int8 = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert weights_int8, "weights are stored as int8"
    # the runtime reads the int8 model like the fp32 one
    est = PoseEstimator.from_onnx(out)
    assert est.info.task == "topdown"
    image = read_image_bgr(sorted(calib.glob("*.jpg"))[0])
    persons = est(image)
    assert len(persons) == 1 and np.isfinite(persons[0].keypoints).all()
    assert not list(tmp_path.glob(".*")), "no temporary files left"


def test_quantize_errors(tmp_path, fp32_model, capfd):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["quantize", str(fp32_model), "--calib", str(empty), "--out", str(tmp_path / "q.onnx")]) == 2
    assert "no calibration images" in capfd.readouterr().err
    corrupt = tmp_path / "bad.onnx"
    corrupt.write_bytes(b"garbage")
    assert main(["quantize", str(corrupt), "--calib", str(empty), "--out", str(tmp_path / "q.onnx")]) == 2
    assert "bad.onnx" in capfd.readouterr().err
    assert not (tmp_path / "q.onnx").exists()
