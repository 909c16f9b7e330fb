"""Write the fast mode's model: the shipped default model quantised to INT8, ``edgepose/assets/model/fast.int8.onnx``.

    python tools/ship_fast_model.py            # after tools/ship_model.py wrote model.onnx

The fast mode (``edgepose predict --fast``, ``PoseEstimator.fast()``) runs one network call on the whole image;
on a CPU with VNNI, OpenVINO runs this INT8 file in about half the time ONNX Runtime takes for the fp32 model
(benchmarks/fast_model_backends.py), and the runtime's ``auto`` back-end measures which back-end is fastest on
the user's machine. Calibration uses LSPet *training*
images (1-8500, spread over the set; none is shipped) and the bundled photos, never the images the model is
scored on (LSPet 8501-9000, COCO val mini). The file is named so that it is not ``model.onnx``'s
``NAME.int8.onnx`` sibling: the default frame keeps the fp32 model whose accuracy MODEL.md reports.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL_DIR = REPO / "edgepose" / "assets" / "model"
DATA = Path(os.environ.get("EDGEPOSE_DATA") or REPO.parent / "shared" / "data")
LSPET_TRAIN = range(1, 8501)


def calibration_files(lspet_images: Path, count: int) -> list[Path]:
    """``count`` LSPet training images spread evenly over 1-8500, then the bundled photos."""
    step = max(1, len(LSPET_TRAIN) // count)
    picked = [lspet_images / f"im{i:05d}.jpg" for i in LSPET_TRAIN[::step][:count]]
    missing = [p for p in picked if not p.is_file()]
    if missing:
        raise SystemExit(f"ship_fast_model: {len(missing)} LSPet images missing, e.g. {missing[0]}")
    return picked + sorted((REPO / "edgepose" / "assets" / "photos").glob("*.jpg"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(MODEL_DIR / "model.onnx"), help="the fp32 default model")
    parser.add_argument("--out", default=str(MODEL_DIR / "fast.int8.onnx"))
    parser.add_argument("--lspet", default=str(DATA / "lspet" / "images"), help="LSPet's images/ folder")
    parser.add_argument("--images", type=int, default=128, help="LSPet calibration images (default 128)")
    args = parser.parse_args()

    from edgepose.export.quantize import quantize_onnx

    files = calibration_files(Path(args.lspet), args.images)
    report = quantize_onnx(args.model, args.out, files, max_images=len(files), log=print)
    print(f"{args.out}: {report.size_int8_mb:.1f} MB (fp32 {report.size_fp32_mb:.1f} MB); keypoints vs fp32 on the "
          f"calibration images: mean {report.keypoint_mean_px:.1f} px, max {report.keypoint_max_px:.1f} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
