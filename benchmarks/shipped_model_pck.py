"""PCK of the shipped model on the LSPet validation split, every way `edgepose pck` can run it, saved as JSON.

    .venv/bin/python benchmarks/shipped_model_pck.py [--root ../shared/data/lspet] [--out benchmarks/results/...]

Runs ``edgepose pck --range 8501 9000 --json`` for: the shipped ONNX model (torch-free) with 0, 1 (the default)
and 2 refinement passes; the shipped PyTorch weights (``--weights``, default refinement); and labelled-joints
boxes (``--box joints``). Each line of the output is the command's own JSON, with the command beside it, plus the
date, machine and load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {
    "onnx_refine0": ["--refine", "0"],
    "onnx_refine1_default": [],
    "onnx_refine2": ["--refine", "2"],
    "torch_weights_default": ["--weights", str(REPO / "edgepose" / "assets" / "model" / "model.pt")],
    "onnx_joints_box_refine0": ["--box", "joints", "--refine", "0"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "lspet"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "shipped_model_pck.json"))
    args = parser.parse_args()
    results = {}
    for name, extra in VARIANTS.items():
        cmd = ["edgepose", "pck", "--root", args.root, "--range", "8501", "9000", "--json", "--no-progress", *extra]
        out = subprocess.run([sys.executable, "-m", "edgepose", *cmd[1:]], capture_output=True, text=True, check=True)
        results[name] = {"command": " ".join(cmd), "metrics": json.loads(out.stdout.strip().splitlines()[-1])}
        m = results[name]["metrics"]
        print(f"{name:26s} PCK@0.2 {m['PCK@0.2']:.4f}  PCK@0.1 {m['PCK@0.1']:.4f}  AUC {m['AUC']:.4f}", flush=True)
    record = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "load_average": os.getloadavg(),
        "results": results,
    }
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
