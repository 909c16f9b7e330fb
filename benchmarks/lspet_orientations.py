"""How LSPet people are oriented: the angle of the neck -> hips-midpoint direction from straight down.

    .venv/bin/python benchmarks/lspet_orientations.py [--root ../shared/data/lspet] [--range 8501 9000]

Counts, in 30-degree bins, the people whose neck and both hips are labelled; 0 is upright, 180 upside down. It is
why the shipped model's stage 2 trains with full-circle rotation (docs/lspet.md). Writes the counts as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edgepose.data.lspet import load_lsp, resolve_lsp_root

REPO = Path(__file__).resolve().parents[1]
BINS = (0, 30, 60, 90, 120, 150, 180)


def orientation_degrees(joints: np.ndarray) -> float | None:
    """|angle| in degrees between neck -> mid-hip and the image's downward axis; None without those joints."""
    if not (joints[2, 2] > 0 and joints[3, 2] > 0 and joints[12, 2] > 0):
        return None
    down = (joints[2, :2] + joints[3, :2]) / 2 - joints[12, :2]
    return abs(float(np.degrees(np.arctan2(down[0], down[1]))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "lspet"))
    parser.add_argument("--range", nargs=2, type=int, default=[8501, 9000], metavar=("FIRST", "LAST"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "lspet_orientations.json"))
    args = parser.parse_args()
    joints_mat, images = resolve_lsp_root(args.root)
    people = load_lsp(joints_mat, images, first=args.range[0], last=args.range[1])
    angles = [a for a in (orientation_degrees(p.joints) for p in people) if a is not None]
    counts, _ = np.histogram(angles, bins=BINS)
    record = {
        "range": args.range,
        "people": len(people),
        "with_neck_and_hips": len(angles),
        "bins_degrees": list(BINS),
        "counts": counts.tolist(),
        "beyond_90_degrees": int(sum(a > 90 for a in angles)),
    }
    for lo, hi, n in zip(BINS[:-1], BINS[1:], counts):
        print(f"{lo:3d}-{hi:3d} deg: {n}")
    print(f"beyond 90 deg: {record['beyond_90_degrees']} of {len(angles)} (people {len(people)})")
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
