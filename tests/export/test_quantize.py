"""Static INT8 quantisation: a QDQ model that keeps the metadata, close to fp32, with a report; bad input.

"Close to fp32" is checked on the shipped default model (trained weights: heatmaps with real peaks) quantised on
real photos, against figures the test computes itself from the two models' outputs, not against the report: a
stand-in with random weights has no peaks to keep, so its keypoints say nothing about the quantisation."""

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
    # the keypoint figures of a random-weight model mean nothing: test_int8_default_model_... checks them

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


# --------------------------------------------------------------------------- the shipped model on real photos
CALIB_IMAGES = 6  # the first six photos of openpose_example_people, sorted by name (as quantize_onnx lists them)


@pytest.fixture(scope="module")
def int8_default(tmp_path_factory, shared_data):
    """The shipped default model quantised on real photos: (fp32 path, int8 path, report, calibration files)."""
    from edgepose.assets import MODEL_DIR
    from edgepose.export.quantize import quantize_onnx

    calib = shared_data / "openpose_example_people" / "images"
    out = tmp_path_factory.mktemp("quant_default") / "model.int8.onnx"
    report = quantize_onnx(MODEL_DIR / "model.onnx", out, [calib], max_images=CALIB_IMAGES)
    return MODEL_DIR / "model.onnx", out, report.to_json(), sorted(calib.glob("*.jpg"))[:CALIB_IMAGES]


def test_int8_default_model_outputs_stay_close_to_fp32(int8_default):
    """Raw outputs of the two ONNX files, run here with plain ONNX Runtime sessions on the runtime's crops.

    Bounds, relative to the fp32 outputs' range R (sigmoid heatmaps, R about 0.85 on these photos): a uint8
    activation has 255 steps over its calibrated range, so the last layer's rounding alone is up to R / 510;
    the errors of the 65 quantised convolutions before it add up but mostly cancel. Mean |diff| <= 1% of R (2.5
    steps; measured 0.2%) and no single value off by more than R / 4 (measured 0.19 R; the keypoint test below
    shows that such outliers do not move confident peaks). The difference must not be zero: a model that was
    not quantised at all would pass every other bound."""
    import onnxruntime as ort

    from edgepose.runtime.preprocess import topdown_inputs

    fp32_path, int8_path, report, files = int8_default
    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32_path, int8_path)]
    name = sessions[0].get_inputs()[0].name
    size = tuple(sessions[0].get_inputs()[0].shape[2:])
    ref, got = [], []
    for f in files:
        image = read_image_bgr(f)
        h, w = image.shape[:2]
        batch = topdown_inputs(image, [[0.0, 0.0, float(w), float(h)]], size)[0]
        ref.append(np.concatenate([o.ravel() for o in sessions[0].run(None, {name: batch})]))
        got.append(np.concatenate([o.ravel() for o in sessions[1].run(None, {name: batch})]))
    ref, got = np.concatenate(ref), np.concatenate(got)
    diff = np.abs(ref - got)
    scale = float(ref.max() - ref.min())
    assert scale > 0.3, "the fp32 heatmaps have peaks"
    assert 1e-5 * scale < diff.mean() <= 0.01 * scale, (diff.mean(), scale)
    assert diff.max() <= 0.25 * scale, (diff.max(), scale)
    # the report measures the same thing on the same crops
    assert report["mean_abs_diff"] == pytest.approx(float(diff.mean()), rel=1e-4)
    assert report["max_abs_diff"] == pytest.approx(float(diff.max()), rel=1e-4)
    assert report["size_int8_mb"] < 0.5 * report["size_fp32_mb"], "int8 weights: under half the fp32 file"


def test_int8_default_model_keypoints_stay_within_a_heatmap_cell_of_fp32(int8_default):
    """Both models through the runtime (whole image as the box, no flip, no refinement, as the report does),
    compared joint by joint here.

    The unit is one heatmap cell in image pixels: the whole-image crop spans the longer side × 1.25 (the box
    padding) over 48 cells (192-pixel input, stride 4), 16.7 px on a 640-pixel photo. A confident joint (fp32
    score >= 0.5) sits on a clear peak; quantisation flattens the top of a peak (the INT8 sigmoid outputs come in
    steps of about 0.025 near 0.5, about the drop from a broad peak to its neighbour), so its maximum may move
    to the next cell and DARK's sub-cell step partly undoes that: at most 1.5 cells (measured 0.80), more would
    mean another blob won. Most joints move far less: the median of the confident ones within 0.25 cell
    (measured 0.11, over 27 confident joints). Weak joints (scores below 0.3, where two blobs compete) may jump
    anywhere and are not bounded."""
    from edgepose.runtime.session import OnnxNetwork

    fp32_path, int8_path, report, files = int8_default
    # ONNX Runtime for both, as the report measures: ``auto`` may run the INT8 file on OpenVINO, whose INT8
    # kernels give other (here: closer) keypoints
    est32, est8 = (PoseEstimator(net, net.info, flip_test=False)
                   for net in (OnnxNetwork(p, backend="ort") for p in (fp32_path, int8_path)))  # fmt: skip
    cells, confident, all_px = [], [], []
    for f in files:
        image = read_image_bgr(f)
        cell = 1.25 * max(image.shape[:2]) / 48
        (a,), (b,) = est32(image), est8(image)  # one whole-image box: one person each
        dist = np.hypot(*(a.keypoints[:, :2] - b.keypoints[:, :2]).T)
        all_px.extend(dist[(a.keypoints[:, 2] > 0) & (b.keypoints[:, 2] > 0)])
        cells.extend(dist[a.keypoints[:, 2] >= 0.5] / cell)
        confident.append(int((a.keypoints[:, 2] >= 0.5).sum()))
    assert sum(confident) >= 15, confident  # enough clear joints for the bound to mean something
    assert max(cells) <= 1.5, sorted(cells)[-5:]
    assert float(np.median(cells)) <= 0.25, float(np.median(cells))
    # the report's keypoint figures are the same comparison over every joint found by both models
    assert report["keypoint_mean_px"] == pytest.approx(float(np.mean(all_px)), rel=1e-4)
    assert report["keypoint_max_px"] == pytest.approx(float(np.max(all_px)), rel=1e-4)
