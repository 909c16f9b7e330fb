"""The ImageNet MobileNetV1 TFLite file imported as Lightweight OpenPose's trunk, checked against the file itself.

The reference is TFLite's own interpreter running the original file on real COCO photos, its intermediate tensors
read back (``experimental_preserve_all_tensors``) and dequantised with each tensor's (scale, zero point). The
edgepose trunk gets the same pixels in LWOP's input convention (BGR, ``(x - 128) / 256``) — the importer folds
the conversion into the stem, so this also checks that fold. Also: "SAME" padding and the plain (undilated)
variant against hand-computed cases, and that ``model.pretrained`` loads the import into ``lwop_mobilenet``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgepose.models import build_model
from edgepose.models.backbones.mobilenet import MobileNetV1Dilated

MOBILENET_V1 = "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
PHOTOS = ("000000000139.jpg", "000000000785.jpg", "000000011813.jpg")  # a room, a skier, a street
LAYER = "MobilenetV1/MobilenetV1/{}/Relu6"


def test_same_padding_pads_the_stride2_convs_right_and_bottom() -> None:
    torch.manual_seed(0)
    same, sym = MobileNetV1Dilated(padding="same").eval(), MobileNetV1Dilated().eval()
    sym.load_state_dict(same.state_dict())  # same keys: the option changes no parameter
    x = torch.randn(1, 3, 32, 32)
    stem = same[0][0]
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), stem.weight, stride=2)  # TF "SAME", even input
    assert torch.allclose(stem(x), expected, atol=1e-6)
    assert not torch.allclose(sym[0][0](x), expected, atol=1e-3)
    assert same(x).shape == sym(x).shape == (1, 512, 4, 4)


def test_plain_variant_is_mobilenet_v1_at_stride_16_with_relu6() -> None:
    plain = MobileNetV1Dilated(dilated=False, activation="relu6")
    assert plain.output_stride == 16 and plain(torch.randn(1, 3, 64, 64)).shape == (1, 512, 4, 4)
    assert all(c.dilation == (1, 1) for c in plain.convs())
    assert any(isinstance(m, nn.ReLU6) for m in plain.modules())
    assert not any(isinstance(m, nn.ReLU6) for m in MobileNetV1Dilated().modules())  # LWOP's default: ReLU
    with pytest.raises(ValueError, match="padding"):
        MobileNetV1Dilated(padding="valid")


# ---------------------------------------------------------------------------------- against the original file
@pytest.fixture(scope="module")
def tflite_path(shared_data: Path) -> Path:
    import os

    env = os.environ.get("EDGEPOSE_WEIGHTS")
    folder = Path(env) if env else shared_data.parent / "weights"
    path = folder / MOBILENET_V1
    if not path.is_file():
        from tests.conftest import missing_data

        missing_data(f"{MOBILENET_V1} not found at {path} (set EDGEPOSE_WEIGHTS)")
    return path


@pytest.fixture(scope="module")
def imported(tflite_path: Path):
    pytest.importorskip("ai_edge_litert")
    from edgepose.models.importers import import_file

    return import_file(tflite_path)


def _trunk(imported, **options: object) -> MobileNetV1Dilated:
    trunk = MobileNetV1Dilated(padding="same", activation="relu6", **options).eval()
    trunk.load_state_dict({k.removeprefix("backbone."): v for k, v in imported.state_dict.items()}, strict=True)
    return trunk


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.slow  # parsing the 3 MB flatbuffer in Python and running two trunks on 3 photos: ~8 s of CPU
def test_imported_trunk_reproduces_the_original_features(imported, tflite_path: Path, coco_mini: Path) -> None:
    import cv2
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    assert imported.kind == "backbone" and imported.model_name == "lwop_mobilenet"
    assert imported.overrides == {"padding": "same", "trunk_activation": "relu6"}
    plain, dilated = _trunk(imported, dilated=False), _trunk(imported)
    up_to_conv4_1 = nn.Sequential(*list(dilated)[:6])  # the dilated trunk equals MobileNetV1 up to here
    it = Interpreter(model_path=str(tflite_path), experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)  # fmt: skip
    it.allocate_tensors()
    details = it.get_tensor_details()

    def original(layer: str) -> np.ndarray:
        name = LAYER.format(layer)
        d = next(t for t in details if t["name"] == name or t["name"].startswith(name + ";"))
        scale, zero = d["quantization"]
        return ((it.get_tensor(d["index"]).astype(np.float32) - zero) * scale).transpose(0, 3, 1, 2)

    for photo in PHOTOS:
        bgr = cv2.resize(cv2.imread(str(coco_mini / "images" / "val2017" / photo)), (224, 224),
                         interpolation=cv2.INTER_AREA)  # fmt: skip
        it.set_tensor(it.get_input_details()[0]["index"], cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[None])
        it.invoke()
        x = torch.from_numpy((bgr.astype(np.float32) - 128) / 256).permute(2, 0, 1)[None]  # LWOP's input
        with torch.no_grad():
            conv5_5, conv4_1 = plain(x).numpy(), up_to_conv4_1(x).numpy()
        assert _cosine(conv5_5, original("Conv2d_11_pointwise")) >= 0.99, photo
        assert _cosine(conv4_1, original("Conv2d_5_pointwise")) >= 0.99, photo
        # an independent failure mode: LWOP's ReLU instead of the file's ReLU6 must not pass
        relu = MobileNetV1Dilated(padding="same", dilated=False).eval()
        relu.load_state_dict(plain.state_dict())
        with torch.no_grad():
            assert _cosine(relu(x).numpy(), original("Conv2d_11_pointwise")) < 0.98, photo


def test_model_pretrained_loads_the_whole_trunk(imported, tmp_path: Path) -> None:
    from edgepose.engine.checkpoint import load_pretrained
    from edgepose.models.importers.checkpoint import save_imported

    assert any("left out: 4 convs" in note for note in imported.notes)
    ckpt = save_imported(imported, tmp_path / "mobilenet_v1.pt")
    model = build_model("lwop_mobilenet", **imported.overrides)
    copied, _ = load_pretrained(model, ckpt, show=False)
    trunk_keys = [k for k in model.state_dict() if k.startswith("backbone.") and not k.endswith("num_batches_tracked")]
    assert copied == len(trunk_keys) == len(imported.state_dict)
    bn = model.backbone[0][1]
    assert torch.equal(bn.weight, torch.ones(32)) and torch.allclose(bn.running_var + bn.eps, torch.ones(32))
