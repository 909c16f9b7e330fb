"""The whole default frame beside MediaPipe Pose and MoveNet Lightning, in one interleaved loop on 2 threads.

    python benchmarks/default_frame_latency.py [--rounds 40] [--threads 2] [--out benchmarks/results/...]

Run it with a Python that has edgepose's runtime, ``mediapipe==0.10.21`` (legacy ``solutions`` API) and
``ai-edge-litert``. MediaPipe pins numpy < 2, so it lives in its own environment:

    python3 -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install mediapipe==0.10.21 ai-edge-litert onnxruntime \
        openvino pyyaml scipy tqdm "numpy<2" && /tmp/mpvenv/bin/pip install --no-deps -e .
    /tmp/mpvenv/bin/python benchmarks/default_frame_latency.py

Each case processes one whole photo (the bundled photos in turn, read once) from BGR pixels to keypoints, the
way a user calls it:

- ``edgepose default``: what ``edgepose predict photo.jpg`` runs per photo -- the shipped people detector (INT8),
  then the shipped top-down model with the flip test in each of its boxes (the whole image if it finds nobody);
- ``edgepose fast``: ``PoseEstimator.fast()`` -- the one-person fast mode (``edgepose predict --fast``): the whole
  image as the box, one network call of the shipped model's INT8 file, on the back-end ``auto`` measures fastest
  (OpenVINO when installed: ``pip install openvino`` in the environment below too);
- ``mediapipe pose full``: ``mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)`` -- detector +
  landmarks on every photo, as for independent images;
- ``movenet lightning``: the shared int8 ``.tflite`` through ``ai-edge-litert`` (letterboxed to 192x192) and its
  own decoding inside the graph.

Cases run round-robin (order rotated each round) so machine load hits them alike; wall and process-CPU times per
call are kept. "Idle CPU" is the process CPU spent during a 100 ms sleep right after a call: a runtime whose
threads spin after returning takes it from the rest of the application.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MOVENET = REPO.parent / "shared" / "weights" / "movenet_single_pose_lightning_ptq.tflite"
BACKENDS: dict[str, str] = {}  # case -> the back-end and file `auto` chose for it


def edgepose_cases(threads: int) -> dict[str, Callable[[np.ndarray], object]]:
    """``edgepose predict``'s default frame (built by the same functions as the CLI: the shipped detector's boxes,
    the flip test, the refinement its boxes get) and the one-person fast mode (whole image, one network call)."""
    from edgepose.cli.common import box_source, detector_refine
    from edgepose.runtime.estimator import PoseEstimator
    from edgepose.runtime.pipeline import PosePipeline

    estimator = PoseEstimator(threads=threads)
    boxes, kind = box_source(estimator, threads=threads)
    default = PosePipeline(estimator, boxes, boxes=kind, fallback_whole_image=True,
                           box_refine=detector_refine(kind, None))  # fmt: skip
    fast = PoseEstimator.fast(threads=threads)
    for name, est in (("default", estimator), ("fast", fast)):
        BACKENDS[f"edgepose {name}"] = f"{est.network.backend} on {est.network.model_path.name}"
    return {"edgepose default": lambda bgr: default(bgr), "edgepose fast": fast}


def mediapipe_case(threads: int) -> dict[str, Callable[[np.ndarray], object]]:
    try:
        import mediapipe as mp
    except ImportError:
        print("mediapipe not installed: its case is skipped", file=sys.stderr)
        return {}
    pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
    return {"mediapipe pose full": lambda bgr: pose.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))}


def movenet_case(threads: int, path: Path) -> dict[str, Callable[[np.ndarray], object]]:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        print("ai-edge-litert not installed: the MoveNet case is skipped", file=sys.stderr)
        return {}
    if not path.is_file():
        print(f"{path} not found: the MoveNet case is skipped", file=sys.stderr)
        return {}
    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]

    def run(bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        s = 192 / max(h, w)
        small = cv2.resize(bgr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((192, 192, 3), np.uint8)
        canvas[: small.shape[0], : small.shape[1]] = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        it.set_tensor(inp["index"], canvas[None])
        it.invoke()
        return it.get_tensor(out["index"])

    return {"movenet lightning": run}


def idle_cpu_ms(fn: Callable[[np.ndarray], object], image: np.ndarray, repeats: int = 5) -> float:
    """Median process CPU (ms) spent during a 100 ms sleep right after a call."""
    values = []
    for _ in range(repeats):
        fn(image)
        c0 = time.process_time()
        time.sleep(0.1)
        values.append((time.process_time() - c0) * 1e3)
    return float(np.median(values))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--movenet", default=str(MOVENET))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "default_frame_latency.json"))
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)

    from edgepose.analysis.timing import machine_summary, measure_interleaved

    photos = [cv2.imread(str(p)) for p in sorted((REPO / "edgepose" / "assets" / "photos").glob("*.jpg"))]
    cases = {**edgepose_cases(args.threads), **mediapipe_case(args.threads),
             **movenet_case(args.threads, Path(args.movenet))}  # fmt: skip
    counter = {name: 0 for name in cases}

    def call(name: str) -> Callable[[], object]:
        def run() -> object:
            counter[name] += 1
            return cases[name](photos[counter[name] % len(photos)])

        return run

    load_before = os.getloadavg()[0]
    timings = measure_interleaved({name: call(name) for name in cases}, warmup=3, runs=args.rounds)
    load_after = os.getloadavg()[0]
    idle = {name: idle_cpu_ms(fn, photos[0]) for name, fn in cases.items()}
    rows = {
        name: {"median_ms": round(t.median_ms, 2), "p90_ms": round(float(np.percentile(t.times_ms, 90)), 2),
               "cpu_median_ms": round(float(np.median(t.cpu_ms)), 2), "idle_cpu_ms_per_100ms": round(idle[name], 2)}
        for name, t in timings.items()
    }  # fmt: skip
    ratios = {}
    base = rows.get("mediapipe pose full", {}).get("median_ms")
    if base:
        ratios["default / mediapipe"] = round(rows["edgepose default"]["median_ms"] / base, 3)
    base = rows.get("movenet lightning", {}).get("median_ms")
    if base:
        ratios["fast / movenet"] = round(rows["edgepose fast"]["median_ms"] / base, 3)
    record = {"rows": rows, "ratios": ratios, "rounds": args.rounds, "threads": args.threads,
              "load": [round(load_before, 2), round(load_after, 2)], "machine": machine_summary(), "backends": BACKENDS,
              "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": " ".join(sys.argv)}  # fmt: skip
    print(json.dumps(record, indent=1))
    from edgepose.io import atomic_write_text

    atomic_write_text(Path(args.out), json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
