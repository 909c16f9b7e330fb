"""Model metadata travels with the model: born in build_model, written to checkpoints and ONNX files from the
model, read back strictly; a custom keypoint set keeps its name, flips and skeleton through every file."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from standins import TinyTopdown, unit_scale_outputs

from edgepose.engine.checkpoint import build_model_from_checkpoint, save_checkpoint
from edgepose.engine.config import experiment_from_dict
from edgepose.errors import CheckpointError, ConfigError, EdgeposeError
from edgepose.export.onnx import export_onnx
from edgepose.keypoints import LSP, KeypointSpec
from edgepose.meta import ModelInfo
from edgepose.models import build_model, checkpoint_fields
from edgepose.runtime.estimator import PoseEstimator
from edgepose.runtime.session import OnnxNetwork

# five joints, two left/right pairs: a set no built-in table knows, and a count (5) none of them has
HAND = KeypointSpec("hand5", ("wrist", "l_thumb", "r_thumb", "l_index", "r_index"), ((1, 2), (3, 4)),
                    ((0, 1), (0, 2), (0, 3), (0, 4)))  # fmt: skip
# fourteen joints named like no LSP table: a channel-count guess would have called it "lsp"
FOURTEEN = KeypointSpec("dots14", tuple(f"p{i}" for i in range(14)), ((0, 1),), ((0, 1), (1, 2)))
SMALL = {"blocks": (1, 1, 1, 1), "width": 0.25, "deconv_channels": 32, "input_size": (64, 48)}


def test_build_model_gives_every_model_its_metadata() -> None:
    model = build_model("flpn_sres50", keypoints="lsp", codec="dark", **SMALL)
    info = model.model_info
    assert (info.task, info.keypoints, info.input_size, info.stride, info.codec) == ("topdown", "lsp", (64, 48), 4,
                                                                                      "dark")  # fmt: skip
    assert info.keypoint_spec == LSP and model.num_keypoints == 14
    assert build_model("xfuse_ghostnet").model_info.keypoints == "openpose18"
    # a changed channel count without a named set is never labelled by its size: no metadata, one-line refusal
    unnamed = build_model("flpn_sres50", num_keypoints=14, **SMALL)
    assert unnamed.model_info is None
    with pytest.raises(EdgeposeError, match="no keypoint set"):
        export_onnx(unnamed, "never.onnx", check=False)
    with pytest.raises(ConfigError, match="num_keypoints=16 but keypoint set 'lsp' has 14"):
        build_model("flpn_sres50", keypoints="lsp", num_keypoints=16, **SMALL)


@pytest.mark.parametrize("spec", [HAND, FOURTEEN], ids=["hand5", "dots14"])
def test_custom_keypoint_set_survives_onnx_and_the_runtime(tmp_path, spec) -> None:
    model = unit_scale_outputs(TinyTopdown(spec, input_size=(64, 48)), torch.randn(2, 3, 64, 48))
    path = export_onnx(model, tmp_path / "custom.onnx", check=False).path
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props["edgepose.keypoints"]) == spec.name
    info = OnnxNetwork(path).info
    assert info.keypoint_spec == spec  # names, flip pairs, skeleton: the file's own table
    estimator = PoseEstimator.from_onnx(path)
    assert estimator.keypoint_spec == spec and estimator.draw_skeleton == spec.skeleton
    flip = np.arange(spec.num_keypoints)
    for a, b in spec.flip_pairs:
        flip[a], flip[b] = b, a
    np.testing.assert_array_equal(estimator.keypoint_spec.flip_index, flip)
    image = np.random.default_rng(0).integers(0, 255, (120, 90, 3), dtype=np.uint8)
    persons = estimator(image, [[10, 10, 60, 90]])
    assert persons[0].keypoints.shape == (spec.num_keypoints, 3)


def test_custom_keypoint_set_survives_a_checkpoint(tmp_path) -> None:
    model = build_model("flpn_sres50", keypoints=FOURTEEN, codec="dark", **SMALL)
    path = save_checkpoint(tmp_path / "c.pt", checkpoint_fields(model))
    rebuilt, _ = build_model_from_checkpoint(path)
    assert rebuilt.model_info == model.model_info and rebuilt.model_info.keypoint_spec == FOURTEEN


def test_files_without_or_with_inconsistent_metadata_are_refused_in_one_line(tmp_path) -> None:
    model = build_model("flpn_sres50", keypoints="lsp", **SMALL)
    old = save_checkpoint(tmp_path / "old.pt", {k: v for k, v in checkpoint_fields(model).items() if k != "model_info"})
    with pytest.raises(CheckpointError, match=r"old\.pt: checkpoint has no model metadata") as err:
        build_model_from_checkpoint(old)
    assert "\n" not in str(err.value)
    # metadata that says another input size than the model its overrides build
    bad = checkpoint_fields(model)
    bad["model_info"] = {**bad["model_info"], "input_size": [128, 96]}
    with pytest.raises(CheckpointError, match=r"bad\.pt: .*disagrees.*input_size"):
        build_model_from_checkpoint(save_checkpoint(tmp_path / "bad.pt", bad))
    # an ONNX file from another tool: no edgepose metadata
    bare = tmp_path / "bare.onnx"
    path = export_onnx(TinyTopdown(), tmp_path / "t.onnx", check=False).path
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    onnx.save(proto, str(bare))
    with pytest.raises(EdgeposeError, match=r"bare\.onnx: ONNX model has no edgepose metadata"):
        OnnxNetwork(bare)


def test_metadata_is_read_without_defaults() -> None:
    info = build_model("flpn_sres50", keypoints="lsp", codec="dark", **SMALL).model_info
    assert ModelInfo.from_dict(info.to_dict()) == info
    assert ModelInfo.from_metadata(info.to_metadata()) == info
    for field in ("task", "input_size", "stride", "normalisation", "keypoints", "codec", "outputs"):
        partial = {k: v for k, v in info.to_dict().items() if k != field}
        with pytest.raises(EdgeposeError, match=f"lacks {field}"):
            ModelInfo.from_dict(partial, "m.pt")
    changed = dict(info.to_dict(), keypoint_spec=dict(info.to_dict()["keypoint_spec"], flip_pairs=[[0, 5]]))
    with pytest.raises(EdgeposeError, match="differs from the built-in set"):
        ModelInfo.from_dict(changed)  # a table named "lsp" that is not LSP's


def test_input_size_is_stated_once_in_a_config() -> None:
    from edgepose.engine.topdown import TopdownTask

    def task(overrides):
        return TopdownTask(experiment_from_dict({
            "name": "t", "task": "topdown", "model": {"name": "flpn_sres50", "overrides": overrides},
            "data": {"dataset": "lspet", "input_size": [64, 48]}}))  # fmt: skip

    small = {k: v for k, v in SMALL.items() if k != "input_size"}
    model = task(small).build_model()
    assert model.model_info.input_size == (64, 48) and model.model_info.keypoints == "lsp"
    with pytest.raises(ConfigError, match=r"model.overrides.input_size.*differs from data.input_size"):
        task({**small, "input_size": [96, 64]}).build_model()


def test_non_finite_weights_are_refused_naming_the_file_and_key(tmp_path) -> None:
    from edgepose.models.weights import load_weights

    model = TinyTopdown()
    state = model.state_dict()
    key = next(iter(state))
    state[key] = state[key].clone().fill_(float("nan"))
    path = tmp_path / "nan.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=rf"nan\.pt: weights are not finite: key {key}"):
        load_weights(model, path)
