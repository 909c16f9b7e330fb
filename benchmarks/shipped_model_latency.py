"""CPU latency of the shipped model through ONNX Runtime, next to MediaPipe Pose's per-frame time.

    .venv/bin/python benchmarks/shipped_model_latency.py                       # the model inside the package
    .venv/bin/python benchmarks/shipped_model_latency.py --onnx model.onnx     # any LSP/COCO top-down export
    .venv/bin/python benchmarks/shipped_model_latency.py --threads 2 --rounds 10 --per-round 10 --json out.json

What is timed, per frame (one person, the whole image as the box, as ``edgepose predict photo.jpg`` does):

* ``network``: one ONNX Runtime call on a batch of one pre-processed crop (``--threads`` intra-op threads,
  batch 1): the model's own cost;
* ``frame``: the whole predictor (:class:`edgepose.runtime.PoseEstimator`: crop, network, flip test = a second
  network call, decoding), i.e. what a user waits for per image; ``frame_no_flip`` without the flip test;
  ``frame_refined`` with the refinement pass that ``edgepose predict`` / ``demo`` / ``pck`` run by default;
* ``mediapipe``: MediaPipe Pose (legacy ``mp.solutions.pose``, static images, model complexity ``--mp-complexity``)
  ``process()`` on the same RGB frames, when ``mediapipe`` with its bundled pose model can be imported (it is not
  a dependency of edgepose); otherwise a note says so.

The cases are timed in interleaved rounds (each round runs every case ``--per-round`` times in turn), so the load
of a shared machine drifts over all cases alike; medians over all calls are reported, wall time beside process CPU
time (which barely moves when other processes compete for the cores), with the load average before and after.
MediaPipe runs its own thread pool (not set by ``--threads``); compare its CPU time too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LSPET_IMAGES = REPO.parent / "shared" / "data" / "lspet" / "images"


def frames(paths: list[str] | None, count: int) -> list[tuple[str, np.ndarray]]:
    """BGR frames: the given images, else LSPet validation images 8501.., else the bundled demo photos."""
    import cv2

    if not paths:
        candidates = [LSPET_IMAGES / f"im{n:05d}.jpg" for n in range(8501, 8501 + count)]
        paths = [str(p) for p in candidates if p.is_file()]
    if not paths:
        from edgepose.assets import demo_photos

        paths = [str(p) for p in demo_photos()[:count]]
    out = []
    for path in paths[:count]:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"{path}: cannot read this image")
        out.append((path, image))
    return out


def mediapipe_case(complexity: int) -> tuple[Callable[[np.ndarray], Any] | None, str]:
    """A per-frame MediaPipe Pose callable on BGR frames, or None and the reason it is unavailable."""
    try:
        import mediapipe as mp
    except Exception as exc:  # ImportError, or a broken binary wheel
        return None, f"mediapipe is not importable ({type(exc).__name__}: {exc})"
    try:
        pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=complexity)
    except Exception as exc:  # no legacy solutions API, or its model files missing (it may download them)
        return None, f"mediapipe {getattr(mp, '__version__', '?')}: legacy mp.solutions.pose unusable ({exc})"
    import cv2

    def run(image_bgr: np.ndarray) -> Any:
        return pose.process(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))

    return run, f"mediapipe {mp.__version__} Pose (legacy solutions API, model_complexity={complexity})"


def timed_rounds(cases: dict[str, Callable[[np.ndarray], Any]], images: list[np.ndarray], rounds: int,
                 per_round: int, warmup: int) -> dict[str, dict[str, float]]:  # fmt: skip
    """Interleaved rounds over ``cases`` (each called on the images in turn); wall and CPU ms per call."""
    for fn in cases.values():
        for i in range(warmup):
            fn(images[i % len(images)])
    wall: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    k = 0
    for _ in range(rounds):
        for name, fn in cases.items():
            for _ in range(per_round):
                image = images[k % len(images)]
                k += 1
                w0, c0 = time.perf_counter(), time.process_time()
                fn(image)
                wall[name].append((time.perf_counter() - w0) * 1e3)
                cpu[name].append((time.process_time() - c0) * 1e3)
    return {
        name: {
            "wall_ms": statistics.median(wall[name]),
            "wall_p90_ms": float(np.percentile(wall[name], 90)),
            "cpu_ms": statistics.median(cpu[name]),
            "calls": len(wall[name]),
        }
        for name in cases
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", default=None, help="model to time (default: the shipped model inside the package)")
    p.add_argument("--images", nargs="*", default=None, help="frames (default: LSPet 8501.., else the demo photos)")
    p.add_argument("--num-images", type=int, default=10)
    p.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2)")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--per-round", type=int, default=5)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--mp-complexity", type=int, default=1, choices=(0, 1, 2), help="MediaPipe Pose: 0 lite, 1 full")
    p.add_argument("--no-mediapipe", dest="mediapipe", action="store_false")
    p.add_argument("--json", default=None, metavar="OUT.json", help="also write the raw results here")
    args = p.parse_args(argv)

    from edgepose.runtime import PoseEstimator
    from edgepose.runtime.preprocess import topdown_inputs

    if args.onnx is None:
        from edgepose.assets import shipped_onnx

        args.onnx = str(shipped_onnx())
    with_flip = PoseEstimator.from_onnx(args.onnx, threads=args.threads, flip_test=True, batch_size=1)
    no_flip = PoseEstimator.from_onnx(args.onnx, threads=args.threads, flip_test=False, batch_size=1)
    from edgepose.runtime.estimator import DEFAULT_REFINE

    refined = PoseEstimator.from_onnx(args.onnx, threads=args.threads, flip_test=True, batch_size=1,
                                      refine=DEFAULT_REFINE)  # fmt: skip
    info = with_flip.info
    shots = frames(args.images, args.num_images)
    images = [image for _, image in shots]
    crops = {id(im): topdown_inputs(im, [[0, 0, im.shape[1], im.shape[0]]], info.input_size)[0] for im in images}

    cases: dict[str, Callable[[np.ndarray], Any]] = {
        "network": lambda im: with_flip.network(crops[id(im)]),
        "frame": lambda im: with_flip(im),
        "frame_no_flip": lambda im: no_flip(im),
        "frame_refined": lambda im: refined(im),
    }
    mp_note = "MediaPipe not requested (--no-mediapipe)"
    if args.mediapipe:
        mp_run, mp_note = mediapipe_case(args.mp_complexity)
        if mp_run is not None:
            cases["mediapipe"] = mp_run
    print(f"note: {mp_note}", file=sys.stderr)

    load_before = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    results = timed_rounds(cases, images, args.rounds, args.per_round, args.warmup)
    load_after = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    report = {
        "benchmark": "shipped_model_latency",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": str(args.onnx),
        "model_info": {"name": info.model_name, "input_size": list(info.input_size), "keypoints": info.keypoints},
        "threads": args.threads,
        "batch": 1,
        "frames": [path for path, _ in shots],
        "mediapipe": mp_note,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_avg_before": load_before,
            "load_avg_after": load_after,
        },
        "results": results,
    }
    size = "x".join(map(str, info.input_size))
    print(f"{args.onnx} ({info.model_name}, {size}, {info.keypoints}); ONNX Runtime {args.threads} threads, batch 1")
    print(f"{'case':<16}{'wall ms':>10}{'p90 ms':>10}{'cpu ms':>10}{'calls':>7}")
    for name, r in results.items():
        print(f"{name:<16}{r['wall_ms']:>10.2f}{r['wall_p90_ms']:>10.2f}{r['cpu_ms']:>10.2f}{r['calls']:>7}")
    if "mediapipe" in results:
        ratio = results["mediapipe"]["wall_ms"] / results["frame"]["wall_ms"]
        print(f"MediaPipe per frame / edgepose per frame (wall): {ratio:.2f}")
    print(f"{mp_note}; load average before {load_before}, after {load_after}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"raw results: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
