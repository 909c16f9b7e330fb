"""Package Intel's Lightweight OpenPose (COCO-trained, Apache-2.0) as the default pipeline's people detector.

    python tools/ship_detector.py ../shared/weights/human-pose-estimation-0001.FP16-INT8.xml

Imports the OpenVINO IR into edgepose's ``lwop_mobilenet_intel`` (``edgepose import``), exports it to ONNX with
its metadata (``edgepose export``'s parity check) and quantises it to INT8 on the bundled photos and COCO val mini
photos (``edgepose quantize``), writing ``edgepose/assets/model/detector.onnx``. The detector only proposes person
boxes (its keypoints' box, padded); the top-down model then finds the joints inside each box, so INT8's few pixels
of keypoint drift do not reach the output (measured in docs/lspet.md with benchmarks/coco_everyday_pck.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "edgepose" / "assets" / "model" / "detector.onnx"
DETECTOR_HEIGHT = 192


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ir", help="human-pose-estimation-0001 .xml (its .bin beside it)")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--calib", nargs="+", default=[str(REPO / "edgepose" / "assets" / "photos"),
                        str(REPO.parent / "shared" / "data" / "coco_val2017_mini" / "images" / "val2017")])
    args = parser.parse_args()

    from edgepose.engine.predict import load_model
    from edgepose.export.onnx import export_onnx
    from edgepose.export.quantize import quantize_onnx
    from edgepose.models.importers import import_file
    from edgepose.models.importers.checkpoint import save_imported

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = save_imported(import_file(args.ir), Path(tmp) / "detector.pt")
        model, _ = load_model(weights=ckpt)
        fp32 = Path(tmp) / "detector.fp32.onnx"
        # the exported metadata's input size is the runtime's default inference height: 192 rows, where Intel's
        # model still finds people's boxes (everyday photos: 0.50 PCK@0.2 of the default frame at 192, 0.53 at 256)
        # at a quarter of the cost of its native 368 (docs/lspet.md)
        export_onnx(model, fp32, input_size=(DETECTOR_HEIGHT, DETECTOR_HEIGHT), log=print)
        report = quantize_onnx(fp32, args.out, args.calib, max_images=32, log=print)
    print(f"{args.out}: {report.size_int8_mb:.1f} MB (fp32 {report.size_fp32_mb:.1f} MB); keypoints vs fp32: "
          f"mean {report.keypoint_mean_px:.1f} px")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
