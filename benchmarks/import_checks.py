"""The TFLite imports against the original files: the figures docs/pretrained.md quotes.

    .venv/bin/python benchmarks/import_checks.py [--images 40] [--out benchmarks/results/import_checks.json]

Imports the MobileNetV2 ImageNet classifier and MoveNet SinglePose from ``../shared/weights`` and compares them
with the original ``.tflite`` files run by ``ai-edge-litert`` on COCO val mini photos
(:mod:`edgepose.models.importers.tflite_checks`: top-1 agreement, per-stage feature cosines, per-layer cosines).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = Path(os.environ.get("EDGEPOSE_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--weights", default=str(data.parent / "weights"))
    parser.add_argument("--coco", default=str(data / "coco_val2017_mini"))
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "import_checks.json"))
    args = parser.parse_args()

    from edgepose.analysis.timing import machine_summary
    from edgepose.models import build_model
    from edgepose.models.backbones.mobilenetv2 import MobileNetV2Trunk
    from edgepose.models.importers import import_file
    from edgepose.models.importers.tflite_checks import (
        classifier_agreement,
        layer_cosines,
        movenet_feature_cosines,
        read_rgb,
    )

    files = sorted((Path(args.coco) / "images" / "val2017").glob("*.jpg"))[: args.images]
    weights = Path(args.weights)
    classifier_file = weights / "tf2_mobilenet_v2_1.0_224_ptq.tflite"
    imported = import_file(classifier_file)
    trunk = MobileNetV2Trunk(padding="same", input_scaling="tf").eval()
    trunk.load_state_dict({k.removeprefix("backbone."): v for k, v in imported.state_dict.items()
                           if k.startswith("backbone.")})  # fmt: skip
    head = {k.removeprefix("classifier."): v for k, v in imported.state_dict.items() if k.startswith("classifier.")}
    agreement = classifier_agreement(classifier_file, trunk, head, [read_rgb(f, 224) for f in files])

    movenet_file = weights / "movenet_single_pose_lightning_ptq.tflite"
    imported = import_file(movenet_file)
    model = build_model(imported.model_name, **imported.overrides)
    model.load_state_dict(imported.state_dict)
    model.eval()
    photos = [read_rgb(f, 192) for f in files[:6]]
    cosines = movenet_feature_cosines(movenet_file, model, photos)
    layers = layer_cosines(movenet_file, model, photos[1])
    record = {
        "mobilenetv2_classifier_top1": agreement,
        "movenet_trunk_stage_cosine": {"min": round(min(cosines["stages"]), 4),
                                       "mean": round(float(np.mean(cosines["stages"])), 4)},
        "movenet_top_1280_cosine": {"min": round(min(cosines["top"]), 4),
                                    "mean": round(float(np.mean(cosines["top"])), 4)},
        "movenet_per_layer_cosine": {"layers": len(layers), "min": round(min(layers), 4)},
        "photos": [f.name for f in files], "machine": machine_summary(), "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": " ".join(sys.argv),
    }  # fmt: skip
    print(json.dumps(record, indent=1))
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
