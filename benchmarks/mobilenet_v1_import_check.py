"""Layer-by-layer check of the MobileNetV1 TFLite import as LWOP's trunk (importers/tflite_mobilenet_v1).

For each conv of the plain (undilated, "SAME"-padded) trunk: the cosine between edgepose's features and the
original file's dequantised intermediate tensor (TFLite interpreter, all tensors preserved), on COCO val mini
photos fed in LWOP's input convention (BGR, (x - 128) / 256) to edgepose and as uint8 RGB to the file; with the
file's ReLU6 and with LWOP's ReLU.

    python benchmarks/mobilenet_v1_import_check.py [--photos 3] > benchmarks/results/mobilenet_v1_import_<date>.txt
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
from pathlib import Path

import cv2
import numpy as np
import torch
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from torch import nn

from edgepose.models.backbones.mobilenet import MobileNetV1Dilated
from edgepose.models.importers.tflite import read_tflite_convs
from edgepose.models.importers.tflite_mobilenet_v1 import import_mobilenet_v1

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EDGEPOSE_DATA", ROOT.parent / "shared" / "data"))
WEIGHTS = Path(os.environ.get("EDGEPOSE_WEIGHTS", DATA.parent / "weights"))
FILE = WEIGHTS / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
NAMES = ["Conv2d_0"] + [f"Conv2d_{i}_{k}" for i in range(1, 12) for k in ("depthwise", "pointwise")]


def _pieces(trunk: nn.Sequential) -> list[nn.Module]:
    out: list[nn.Module] = [trunk[0]]
    for layer in list(trunk)[1:]:
        out += [nn.Sequential(*list(layer)[:3]), nn.Sequential(*list(layer)[3:])]
    return out


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# {datetime.datetime.now(datetime.UTC).isoformat()} {platform.node()} load {os.getloadavg()}")
    weights = import_mobilenet_v1(FILE, read_tflite_convs(FILE))
    state = {k.removeprefix("backbone."): v for k, v in weights.state_dict.items()}
    trunks = {}
    for act in ("relu6", "relu"):
        trunks[act] = MobileNetV1Dilated(padding="same", dilated=False, activation=act).eval()
        trunks[act].load_state_dict(state)
    it = Interpreter(model_path=str(FILE), experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)  # fmt: skip
    it.allocate_tensors()
    details = it.get_tensor_details()

    def original(layer: str) -> np.ndarray:
        name = f"MobilenetV1/MobilenetV1/{layer}/Relu6"
        d = next(t for t in details if t["name"] == name or t["name"].startswith(name + ";"))
        scale, zero = d["quantization"]
        return ((it.get_tensor(d["index"]).astype(np.float32) - zero) * scale).transpose(0, 3, 1, 2)

    photos = sorted((DATA / "coco_val2017_mini" / "images" / "val2017").glob("*.jpg"))[: args.photos]
    print("photo layer cos_relu6 cos_relu")
    for photo in photos:
        bgr = cv2.resize(cv2.imread(str(photo)), (224, 224), interpolation=cv2.INTER_AREA)
        it.set_tensor(it.get_input_details()[0]["index"], cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[None])
        it.invoke()
        x = {a: torch.from_numpy((bgr.astype(np.float32) - 128) / 256).permute(2, 0, 1)[None] for a in trunks}
        pieces = {a: _pieces(t) for a, t in trunks.items()}
        with torch.no_grad():
            for i, layer in enumerate(NAMES):
                ref = original(layer)
                cos = {}
                for a in trunks:
                    x[a] = pieces[a][i](x[a])
                    cos[a] = _cos(x[a].numpy(), ref)
                print(f"{photo.name} {layer} {cos['relu6']:.4f} {cos['relu']:.4f}")


if __name__ == "__main__":
    main()
