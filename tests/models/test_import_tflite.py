"""TFLite imports checked against the original files run by TFLite's own interpreter on real photos.

- MobileNetV2 ImageNet classifier: edgepose's trunk + the imported classifier name the same class as the original
  on 40 COCO photos. The original's output is uint8 softmax: several classes can share its top value, and any of
  them is the original's answer; the file's int8 activations make near-ties flip, so 36 of 40 are required.
- MoveNet: edgepose's MobileNetV2 trunk reproduces the original's features (cosine per stage), and every imported
  conv (trunk, FPN, heatmap head) reproduces its original layer fed the same input.
- "SAME" padding and the [-1, 1] input scaling against hand-computed cases.
- Files edgepose cannot map give one line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ai_edge_litert.interpreter")

from edgepose.errors import CheckpointError
from edgepose.geometry import normalize_image
from edgepose.models import build_model
from edgepose.models.backbones.mobilenetv2 import InputScaling, MobileNetV2Trunk, TFConv2d, _same_pads
from edgepose.models.importers import import_file
from edgepose.models.importers.tflite_checks import (
    classifier_agreement,
    layer_cosines,
    movenet_feature_cosines,
    read_rgb,
)

CLASSIFIER = "tf2_mobilenet_v2_1.0_224_ptq.tflite"
MOVENET = "movenet_single_pose_lightning_ptq.tflite"


def _weights(shared_data: Path, name: str) -> Path:
    path = shared_data.parent / "weights" / name
    if not path.is_file():
        from tests.conftest import missing_data

        missing_data(f"{name} not found at {path}")
    return path


def _photos(coco_mini: Path, n: int, size: int) -> list[np.ndarray]:
    return [read_rgb(f, size) for f in sorted((coco_mini / "images" / "val2017").glob("*.jpg"))[:n]]


@pytest.mark.slow
def test_mobilenetv2_classifier_top1_agrees_with_the_original(shared_data: Path, coco_mini: Path) -> None:
    path = _weights(shared_data, CLASSIFIER)
    weights = import_file(path)
    assert weights.kind == "backbone"
    trunk = MobileNetV2Trunk(padding="same", input_scaling="tf").eval()
    trunk.load_state_dict({k.removeprefix("backbone."): v for k, v in weights.state_dict.items()
                           if k.startswith("backbone.")}, strict=True)  # fmt: skip
    state = weights.state_dict
    classifier = {k.removeprefix("classifier."): v for k, v in state.items() if k.startswith("classifier.")}
    result = classifier_agreement(path, trunk, classifier, _photos(coco_mini, 40, 224))
    assert result["agree_with_ties"] >= 36, result


@pytest.fixture(scope="module")
def movenet(shared_data: Path) -> tuple[Path, torch.nn.Module]:
    path = _weights(shared_data, MOVENET)
    weights = import_file(path)
    assert weights.kind == "model" and weights.model_name == "mobilenetv2_fpn"
    model = build_model(weights.model_name, **weights.overrides)
    model.load_state_dict(weights.state_dict, strict=True)
    return path, model.eval()


@pytest.mark.slow
def test_movenet_trunk_reproduces_the_original_features(movenet, coco_mini: Path) -> None:
    """Trunk stages (strides 4-32) at cosine >= 0.99; the 1280-channel top, whose sparse ReLU6 output the int8 file
    quantises hardest, >= 0.98 on average."""
    path, model = movenet
    cosines = movenet_feature_cosines(path, model, _photos(coco_mini, 6, 192))
    assert min(cosines["stages"]) >= 0.99, cosines
    assert np.mean(cosines["top"]) >= 0.98, cosines


@pytest.mark.slow
def test_every_movenet_conv_reproduces_the_original_layer(movenet, coco_mini: Path) -> None:
    """Each of the 65 imported convs, fed the original's own input, gives its output at cosine >= 0.99."""
    path, model = movenet
    cosines = layer_cosines(path, model, _photos(coco_mini, 2, 192)[1])
    assert len(cosines) == 65 and min(cosines) >= 0.99, min(cosines)


def test_same_padding_matches_tensorflow_by_hand() -> None:
    # stride 2, 3x3 on an even size: TF pads 0 before, 1 after; on an odd size 1 and 1; stride 1: 1 and 1
    assert _same_pads(224, 3, 2, 1) == (0, 1)
    assert _same_pads(5, 3, 2, 1) == (1, 1)
    assert _same_pads(7, 3, 1, 1) == (1, 1)
    conv = TFConv2d(1, 1, 3, 2, bias=False)
    torch.nn.init.ones_(conv.weight)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = conv(x)[0, 0]
    # output (0, 0) sums rows 0-2 x cols 0-2 (no padding before); (1, 1) rows 2-3 x cols 2-3 (+ a zero row/col)
    assert out.shape == (2, 2)
    assert out[0, 0] == x[0, 0, 0:3, 0:3].sum()
    assert out[1, 1] == x[0, 0, 2:4, 2:4].sum()


def test_input_scaling_maps_imagenet_normalised_rgb_onto_minus_one_to_one() -> None:
    rgb = np.array([[[0, 128, 255], [64, 32, 200]]], dtype=np.uint8)
    x = torch.from_numpy(normalize_image(rgb))[None]
    expected = torch.from_numpy(rgb.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    torch.testing.assert_close(InputScaling()(x), expected, atol=1e-5, rtol=0)


def test_files_edgepose_cannot_map_are_one_line_errors(tmp_path: Path, shared_data: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.txt: neither a TFLite model"):
        import_file(text)
    with pytest.raises(CheckpointError, match="not found"):
        import_file(tmp_path / "absent.tflite")
    truncated = tmp_path / "broken.tflite"
    truncated.write_bytes(_weights(shared_data, CLASSIFIER).read_bytes()[:4096])
    with pytest.raises(CheckpointError, match="broken.tflite") as info:
        import_file(truncated)
    assert "\n" not in str(info.value)


def test_a_tflite_network_of_another_layout_is_refused(tmp_path: Path, shared_data: Path) -> None:
    """MoveNet's graph cut after its first 12 operators: a real TFLite file whose convs fit no edgepose model."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(_weights(shared_data, MOVENET).read_bytes()), 0)
    graph = model.subgraphs[0]
    graph.operators = graph.operators[:12]
    graph.outputs = [graph.operators[-1].outputs[0]]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(bytes(builder.Output()))
    with pytest.raises(CheckpointError, match="cut.tflite: a TFLite network edgepose cannot map"):
        import_file(cut)
