"""Export and quantisation refuse what would give a broken or misleading model, on one line (issue 11.4/11.5),
and say what they are doing (15.3) and when INT8 keypoints are far off (15.7)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from standins import TinyTopdown, unit_scale_outputs

import edgepose.export.quantize as quantize
from edgepose.cli.main import main
from edgepose.errors import ConfigError, EdgeposeError
from edgepose.export.onnx import export_onnx


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("export_checks")
    torch.manual_seed(0)
    path = export_onnx(unit_scale_outputs(TinyTopdown(), torch.randn(2, 3, 64, 48)), root / "tiny.onnx").path
    calib = root / "calib"
    calib.mkdir()
    rng = np.random.default_rng(0)
    import cv2

    for i in range(2):
        cv2.imwrite(str(calib / f"{i}.jpg"), rng.integers(0, 255, (80, 64, 3), dtype=np.uint8))
    return path, calib


def test_input_size_not_a_multiple_of_the_stride_is_refused_before_writing(tmp_path):
    out = tmp_path / "odd.onnx"
    with pytest.raises(ConfigError, match=r"127x95 must be positive multiples of the topdown model's stride 4"):
        export_onnx(TinyTopdown(), out, input_size=(127, 95))
    assert not out.exists()


def test_export_negative_input_size_and_bad_out_are_one_line(tmp_path, capsys):
    assert main(["export", "lwop_mobilenet", "--out", str(tmp_path / "x.onnx"), "--input-size", "-128", "96"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--input-size must be two positive numbers" in err
    assert main(["export", "lwop_mobilenet", "--out", str(tmp_path)]) == 2
    assert "--out must be a file name" in capsys.readouterr().err


def test_export_says_its_stages(tmp_path):
    stages: list[str] = []
    export_onnx(TinyTopdown(), tmp_path / "t.onnx", log=stages.append)
    assert [s.split()[0] for s in stages] == ["exporting", "checking", "checking"]


def test_quantizing_an_int8_model_is_refused_and_writes_nothing(tmp_path, tiny, capfd):
    fp32, calib = tiny
    int8 = tmp_path / "tiny.int8.onnx"
    assert main(["quantize", str(fp32), "--calib", str(calib), "--out", str(int8)]) == 0
    capfd.readouterr()
    again = tmp_path / "again.onnx"
    assert main(["quantize", str(int8), "--calib", str(calib), "--out", str(again)]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already quantised" in err and "tiny.int8.onnx" in err
    assert not again.exists()


@pytest.mark.parametrize("n", ["0", "-1"])
def test_max_images_must_be_positive(tmp_path, tiny, capfd, n):
    fp32, calib = tiny
    assert main(["quantize", str(fp32), "--calib", str(calib), "--out", str(tmp_path / "q.onnx"),
                 "--max-images", n]) == 2  # fmt: skip
    assert "--max-images must be >= 1" in capfd.readouterr().err


def test_a_quantised_model_that_does_not_run_never_replaces_out(tmp_path, tiny, monkeypatch, capfd):
    fp32, calib = tiny
    out = tmp_path / "q.onnx"
    out.write_bytes(b"the user's earlier file")

    def broken(*args, **kwargs):
        raise EdgeposeError("output 'heatmaps' has NaN or infinite values")

    monkeypatch.setattr(quantize, "_check_quantized", broken)
    assert main(["quantize", str(fp32), "--calib", str(calib), "--out", str(out)]) == 2
    err = capfd.readouterr().err
    assert "does not run" in err and "nothing written" in err
    assert "Traceback" not in err and len([ln for ln in err.splitlines() if "error" in ln]) == 1
    assert out.read_bytes() == b"the user's earlier file"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".quantize")], "no temporary folder left"


def test_quantize_says_its_stages_and_gives_advice_on_far_keypoints(tmp_path, tiny, monkeypatch, capfd):
    assert quantize.keypoint_advice(1.0, 5.0) is None and quantize.keypoint_advice(None, None) is None
    assert "INT8 keypoints are 300.0 px" in quantize.keypoint_advice(300.0, 900.0)
    fp32, calib = tiny
    monkeypatch.setattr(quantize, "ADVICE_MEAN_PX", -1.0)  # any difference counts as far for this check
    assert main(["quantize", str(fp32), "--calib", str(calib), "--out", str(tmp_path / "q.onnx")]) == 0
    err = capfd.readouterr().err
    for stage in ("reading 2 calibration images", "calibrating", "checking the INT8 model", "comparing"):
        assert stage in err
    assert "warning: INT8 keypoints are" in err and "--max-images" in err
    assert {n.op_type for n in onnx.load(str(tmp_path / "q.onnx")).graph.node} & {"QuantizeLinear"}
