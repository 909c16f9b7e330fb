"""Back-end choice of the torch-free runtime (edgepose.runtime.session): forced, measured, remembered."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch import nn

from edgepose.cli.main import main
from edgepose.errors import EdgeposeError
from edgepose.export.onnx import export_onnx
from edgepose.meta import describe_network
from edgepose.runtime import session as rt


class Tiny(nn.Module):
    """The top-down contract in three layers: exports in a fraction of a second."""

    task, stride, num_keypoints, input_size = "topdown", 4, 14, (32, 32)

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 14, 3, 2, 1))
        self.input_normalization = "imagenet"
        self.model_info = describe_network(self, model_name="tiny", keypoints="lsp")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("backends") / "tiny.onnx"
    export_onnx(Tiny().eval(), path, slim=False)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPOSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(rt, "_choices", {})
    return tmp_path / "cache" / "backends.json"


def test_forced_ort_runs_the_file_given(tiny_onnx):
    net = rt.OnnxNetwork(tiny_onnx, threads=1, backend="ort")
    assert net.backend == "ort" and net.model_path == tiny_onnx
    assert net(np.zeros((2, 3, 32, 32), np.float32))["heatmaps"].shape == (2, 14, 8, 8)


def test_unknown_backend_is_one_clear_error(tiny_onnx):
    with pytest.raises(EdgeposeError, match="unknown back-end 'tensorflow'"):
        rt.OnnxNetwork(tiny_onnx, backend="tensorflow")


def test_int8_sibling_and_gpu_providers_shape_the_candidates(tiny_onnx, tmp_path, monkeypatch):
    monkeypatch.setattr(rt, "openvino_available", lambda: False)
    model = tmp_path / "m.onnx"
    shutil.copy(tiny_onnx, model)
    assert rt.candidates(model) == [("ort", model)]
    shutil.copy(tiny_onnx, tmp_path / "m.int8.onnx")
    assert rt.candidates(model) == [("ort", model), ("ort", tmp_path / "m.int8.onnx")]
    assert rt.candidates(model, providers=["cuda"]) == [("ort", model)]  # a GPU asked for: no CPU probing
    monkeypatch.setattr(rt, "openvino_available", lambda: True)  # OpenVINO runs both files too
    int8 = tmp_path / "m.int8.onnx"
    assert rt.candidates(model) == [("ort", model), ("openvino", model), ("ort", int8), ("openvino", int8)]
    assert rt.candidates(int8) == [("ort", int8), ("openvino", int8)]  # an INT8 file has no sibling of its own


@pytest.mark.parametrize("int8_faster", [True, False])
def test_auto_picks_the_measured_fastest_and_remembers_it(tiny_onnx, tmp_path, monkeypatch, cache, int8_faster):
    monkeypatch.setattr(rt, "openvino_available", lambda: False)
    model, int8 = tmp_path / "m.onnx", tmp_path / "m.int8.onnx"
    shutil.copy(tiny_onnx, model)
    shutil.copy(tiny_onnx, int8)
    measured = []

    def fake_measure(options, threads, **_):
        measured.append(list(options))
        return {("ort", model): 0.010, ("ort", int8): 0.008 if int8_faster else 0.012}

    monkeypatch.setattr(rt, "measure_backends", fake_measure)
    want = int8 if int8_faster else model  # INT8 only when measured faster
    assert rt.OnnxNetwork(model, threads=1).model_path == want
    assert rt.OnnxNetwork(model, threads=1).model_path == want
    monkeypatch.setattr(rt, "_choices", {})  # a new process: the choice comes from the cache file
    assert rt.OnnxNetwork(model, threads=1).model_path == want
    assert len(measured) == 1 and cache.is_file()


def test_measure_backends_times_every_option(tiny_onnx):
    timings = rt.measure_backends([("ort", tiny_onnx)], threads=1, calls=2)
    assert set(timings) == {("ort", tiny_onnx)} and timings[("ort", tiny_onnx)] > 0


@pytest.mark.skipif(not rt.openvino_available(), reason="openvino is not installed")
def test_openvino_matches_onnx_runtime(tiny_onnx):
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    ort_out = rt.OnnxNetwork(tiny_onnx, threads=1, backend="ort")(x)["heatmaps"]
    ov = rt.OnnxNetwork(tiny_onnx, threads=1, backend="openvino")
    assert ov.backend == "openvino" and ov.info.keypoints == "lsp"
    np.testing.assert_allclose(ov(x)["heatmaps"], ort_out, atol=1e-4)


@pytest.mark.parametrize("command", ["predict", "pck", "demo"])
def test_backend_flag_on_the_inference_commands(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "--backend {auto,ort,openvino}" in capsys.readouterr().out
