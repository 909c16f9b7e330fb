"""COCO AP of Intel's Lightweight OpenPose through edgepose: imported, run with PyTorch and as an ONNX export.

    .venv/bin/python benchmarks/intel_lwop_coco.py [--height 368] [--out FILE.json]

1. ``import_file(human-pose-estimation-0001.FP16-INT8.xml)`` -> ``save_imported`` -> ``intel_lwop.pt`` (what
   ``edgepose import SRC --out CKPT`` writes);
2. ``export_onnx`` of that checkpoint's model -> ``intel_lwop.onnx`` (the library call behind ``edgepose export``);
3. ``edgepose coco --ann ... --images ... --weights intel_lwop.pt --json`` and the same with ``--onnx``, on the 98
   COCO val2017 mini images.

Saves each command with its one-line JSON output, the date, machine and load average in
``benchmarks/results/intel_lwop_coco_<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "coco_val2017_mini"
XML = REPO.parent / "shared" / "weights" / "human-pose-estimation-0001.FP16-INT8.xml"


def run(cmd: list[str]) -> dict:
    start, load, t0 = dt.datetime.now(dt.timezone.utc), os.getloadavg(), time.time()
    proc = subprocess.run([sys.executable, "-m", "edgepose", *cmd], capture_output=True, text=True, cwd=REPO)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return {
        "command": "edgepose " + " ".join(cmd),
        "date_utc_start": start.isoformat(timespec="seconds"),
        "date_utc_end": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_before": load,
        "loadavg_after": os.getloadavg(),
        "wall_s": round(time.time() - t0, 1),
        "returncode": proc.returncode,
        "output": json.loads(lines[-1]) if lines else None,
        "stderr_tail": proc.stderr[-2000:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--height", type=int, default=None, help="inference height (default: the model's, 368)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from edgepose.engine.checkpoint import build_model_from_checkpoint
    from edgepose.export.onnx import export_onnx
    from edgepose.models.importers import import_file
    from edgepose.models.importers.checkpoint import save_imported

    work = Path(tempfile.mkdtemp(prefix="intel_lwop_"))
    ckpt = save_imported(import_file(XML), work / "intel_lwop.pt")
    model, _ = build_model_from_checkpoint(ckpt)
    onnx_path = export_onnx(model, work / "intel_lwop.onnx").path
    common = ["coco", "--ann", str(DATA / "annotations" / "person_keypoints_val2017_mini.json"),
              "--images", str(DATA / "images" / "val2017"), "--json", "--no-progress"]  # fmt: skip
    if args.height:
        common += ["--height", str(args.height)]
    runs = [run([*common, "--weights", str(ckpt)]), run([*common, "--onnx", str(onnx_path), "--backend", "ort"])]
    for r in runs:
        print(r["command"])
        print(json.dumps(r["output"]))
    stamp = dt.datetime.now(dt.timezone.utc)
    out = Path(args.out or REPO / "benchmarks" / "results" / f"intel_lwop_coco_{stamp:%Y-%m-%d}.json")
    record = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "source": str(XML), "runs": runs}
    out.write_text(json.dumps(record, indent=1))
    print(f"saved {out}")
    return 0 if all(r["returncode"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
