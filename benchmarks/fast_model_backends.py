"""The shipped model's network call alone: fp32 and INT8 files, ONNX Runtime and OpenVINO, interleaved.

    .venv/bin/python benchmarks/fast_model_backends.py [--threads 2] [--calls 200]

What ``--backend auto`` chooses between for the fast mode (``fast.int8.onnx``) and the default frame
(``model.onnx``): each (back-end, file) runs batch-1 calls at the model's input size, one per round, through
:func:`edgepose.runtime.session.measure_backends` (the very probe ``auto`` uses, with more calls). Prints one JSON
object (median ms per call and ratios to ONNX Runtime fp32) and saves it to
``benchmarks/results/fast_model_backends.json`` with the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fast_model_backends.json"))
    args = parser.parse_args()

    from edgepose.analysis.timing import machine_summary
    from edgepose.assets import MODEL_DIR
    from edgepose.io import atomic_write_text
    from edgepose.runtime.session import measure_backends, openvino_available

    files = {"fp32": MODEL_DIR / "model.onnx", "int8": MODEL_DIR / "fast.int8.onnx"}
    backends = ["ort", "openvino"] if openvino_available() else ["ort"]
    options = [(backend, path) for path in files.values() for backend in backends]
    load_before = os.getloadavg()[0]
    seconds = measure_backends(options, args.threads, calls=args.calls)
    names = {path: kind for kind, path in files.items()}
    rows = {f"{backend} {names[path]}": round(1e3 * s, 3) for (backend, path), s in seconds.items()}
    base = rows["ort fp32"]
    record = {"median_ms": rows, "ratio_to_ort_fp32": {k: round(v / base, 3) for k, v in rows.items()},
              "threads": args.threads, "calls": args.calls, "load": [round(load_before, 2),
              round(os.getloadavg()[0], 2)], "machine": machine_summary(), "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "command": " ".join(sys.argv)}  # fmt: skip
    print(json.dumps(record, indent=1))
    atomic_write_text(Path(args.out), json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
