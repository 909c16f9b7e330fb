"""Deployment latency: torch eager vs ONNX Runtime fp32 vs INT8, network and pre/post-processing separately.

    .venv/bin/python benchmarks/deploy_latency.py                              # all five models, 1 and 2 threads
    .venv/bin/python benchmarks/deploy_latency.py --models flpn_sres50 xfuse_ghostnet --runs 20 --markdown
    .venv/bin/python benchmarks/deploy_latency.py --json-out output/deploy_latency.json

Models: FLPN SResNet-50 with its baselines SimpleBaseline-R50 and LPN-50 (top-down: one 256×192 crop and a
crowded frame of ten crops), the cross-fusion network with Lightweight OpenPose (bottom-up: one 368×496 frame,
post-processing of a 20-person scene). Each model is exported and INT8-quantised (calibrated on
``--calib`` images) into a temporary folder first. Figures are printed, never asserted; the cases of one model
are timed round-robin so its ratios hold up on a busy machine better than the absolute milliseconds do.
MediaPipe is compared only if installed (it is not a dependency).

Expected (issue 6): ONNX Runtime fp32 >= 1.5x faster than torch eager for FLPN-50 at batch 1; bottom-up
decoding a minority of the total time of a 20-person frame.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgepose.analysis.deploy_latency import bench_deploy, format_deploy_table
from edgepose.config import atomic_write_text

MODELS = ["flpn_sres50", "simplebaseline_r50", "lpn50", "xfuse_ghostnet", "lwop_mobilenet"]
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--no-int8", dest="int8", action="store_false")
    p.add_argument("--calib", default=str(DATA / "openpose_example_people" / "images"), help="calibration images")
    p.add_argument("--image", default=str(DATA / "coco_val2017_mini" / "images" / "val2017" / "000000000785.jpg"))
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--json-out", type=Path)
    args = p.parse_args(argv)

    try:
        import mediapipe  # noqa: F401

        print("mediapipe is installed but not benchmarked here yet", file=sys.stderr)
    except ImportError:
        print("mediapipe not installed: skipped", file=sys.stderr)
    result = bench_deploy(
        args.models, threads=args.threads, warmup=args.warmup, runs=args.runs, int8=args.int8,
        calib_dir=args.calib, image_path=args.image, progress=lambda m: print(m, file=sys.stderr, flush=True),
    )  # fmt: skip
    print(format_deploy_table(result, markdown=args.markdown))
    m = result["machine"]
    print(f"\nmachine: {m['cpu']}, {m['cpus_usable']} usable CPUs, torch {m['torch']}, onnxruntime "
          f"{m['onnxruntime']}, load average {m['load_avg']}; median of {args.runs} runs")  # fmt: skip
    if args.json_out:
        payload = {**result, "rows": [r.to_dict() for r in result["rows"]]}
        atomic_write_text(args.json_out, json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
