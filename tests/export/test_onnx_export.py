"""ONNX export: named outputs, dynamic axes, metadata for the runtime, parity with PyTorch, atomic writes, errors."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from standins import TinyTopdown, unit_scale_outputs

from edgepose.cli.main import main
from edgepose.engine.checkpoint import save_checkpoint
from edgepose.export.onnx import export_onnx
from edgepose.meta import ModelInfo
from edgepose.models import build_model, checkpoint_fields


def _metadata(path) -> ModelInfo:
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return ModelInfo.from_metadata(props, str(path))


@pytest.mark.slow
def test_export_flpn_checkpoint_via_cli(tmp_path, capsys):
    """A checkpoint alone rebuilds the model; the export matches PyTorch within 1e-4 and carries its metadata."""
    model = build_model("flpn_sres50", input_size=(128, 96), codec="dark")
    model = unit_scale_outputs(model, torch.randn(2, 3, 128, 96))
    ckpt = tmp_path / "flpn.pt"
    save_checkpoint(ckpt, checkpoint_fields(model))
    out = tmp_path / "flpn.onnx"
    assert main(["export", str(ckpt), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["path"] == str(out) and report["outputs"] == ["heatmaps"]
    assert report["max_abs_output"] > 0.1, "the parity check must compare non-trivial outputs"
    assert report["max_abs_diff"] < 1e-4

    info = _metadata(out)
    assert (info.model_name, info.task, info.input_size, info.stride) == ("flpn_sres50", "topdown", (128, 96), 4)
    assert (info.normalisation, info.keypoints, info.codec) == ("imagenet", "coco", "dark")
    assert not list(tmp_path.glob(".flpn.onnx.*")), "no temporary file is left behind"

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image"]
    x = np.random.default_rng(0).standard_normal((3, 3, 128, 96)).astype(np.float32)
    (hm,) = sess.run(None, {"image": x})  # dynamic batch
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x)).numpy()
    assert hm.shape == (3, 17, 32, 24)
    assert np.abs(hm - ref).max() < 1e-4


@pytest.mark.slow
def test_export_xfuse_ghostnet_final_stage_with_dynamic_size(tmp_path):
    """GhostNet slicing / hard-sigmoid and the cross-fusion stages export; outputs are the final heatmaps + PAFs
    for any input size (dynamic height and width)."""
    model = build_model("xfuse_ghostnet").eval()  # its random-init outputs are already of order 0.1
    result = export_onnx(model, tmp_path / "xfuse.onnx", input_size=(128, 128))
    assert result.outputs == ["heatmaps", "pafs"]
    assert result.max_abs_diff < 1e-4 and result.max_abs_output > 0.05
    assert model.final_only is False, "export restores the model's stage outputs"
    info = _metadata(result.path)
    assert (info.task, info.stride, info.keypoints, info.normalisation) == ("bottomup", 8, "openpose18", "openpose")

    sess = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((1, 3, 96, 160)).astype(np.float32)
    heat, paf = sess.run(None, {"image": x})
    assert heat.shape == (1, 19, 12, 20) and paf.shape == (1, 38, 12, 20)
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x))
    assert np.abs(paf - ref[-1].numpy()).max() < 1e-4
    assert np.abs(heat - ref[-2].numpy()).max() < 1e-4


def test_static_batch_export_and_atomic_overwrite(tmp_path):
    out = tmp_path / "tiny.onnx"
    out.write_bytes(b"old")
    result = export_onnx(TinyTopdown(), out, dynamic_batch=False, opset=13)
    assert result.max_abs_diff < 1e-5
    proto = onnx.load(str(out))
    assert proto.opset_import[0].version == 13
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 3, 64, 48]


def test_export_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["export", str(bad), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "broken.pt" in err
    assert main(["export", "no_such_model", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "no_such_model" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
def test_dynamo_exporter_also_works(tmp_path):
    result = export_onnx(TinyTopdown(), tmp_path / "tiny.onnx", exporter="dynamo", opset=18)
    assert result.max_abs_diff < 1e-5
    assert _metadata(result.path).task == "topdown"
