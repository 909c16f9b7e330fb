"""A small real classification set and a short pretraining run: does `edgepose pretrain` learn? (issue 14, item 1)

    .venv/bin/python benchmarks/pretrain_person_crops.py [--steps 300] [--out output/pretrain_person_crops]
    .venv/bin/python benchmarks/pretrain_person_crops.py --build-only   # the set only, for the config

The set (:func:`edgepose.engine.classification.write_person_crops`) is cut from the real COCO mini images in
../shared/data: *person* = the box of every annotated person (at least 32 px on each side), *background* = a random
square of the same size elsewhere in the same image that overlaps no person box by more than 10 % of its area.
Images are split by image id (every fifth image to validation), so no image contributes to both splits. Crops are
resized to 72x72 and written as an ImageFolder. The run is ``configs/pretrain_person_crops.yaml`` (a reduced
SResNet trunk at 64x64) through the engine ``edgepose pretrain`` uses, with the epochs set from ``--steps``.

Writes the curve (top-1 after each epoch), the machine and its load to
``benchmarks/results/pretrain_person_crops.json``. Chance is the share of the larger class in the validation split.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "coco_val2017_mini"
CONFIG = REPO / "configs" / "pretrain_person_crops.yaml"
RESULTS = Path(__file__).parent / "results" / "pretrain_person_crops.json"


def _curve(epochs_csv: Path) -> list[dict[str, float]]:
    """(epoch, val top-1) from the trainer's per-epoch log."""
    if not epochs_csv.is_file():
        return []
    with epochs_csv.open() as f:
        return [{"epoch": int(float(r["epoch"])), "top1": float(r["val_top1"])} for r in csv.DictReader(f)
                if r.get("val_top1")]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="output/pretrain_person_crops")
    ap.add_argument("--steps", type=int, default=300, help="optimiser steps in all (rounded to whole epochs)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--build-only", action="store_true", help="write the set into OUT/data and stop")
    ap.add_argument("--results", default=str(RESULTS), help=f"where the JSON goes (default {RESULTS})")
    args = ap.parse_args()

    from edgepose.cli.pretrain import load_pretrain_config
    from edgepose.engine.classification import write_person_crops
    from edgepose.engine.trainer import train_experiment

    out = Path(args.out).resolve()
    counts = write_person_crops(DATA, out / "data")
    n_train = counts.get("train/person", 0) + counts.get("train/background", 0)
    n_val = counts.get("val/person", 0) + counts.get("val/background", 0)
    chance = 100.0 * max(counts.get("val/person", 0), counts.get("val/background", 0)) / max(n_val, 1)
    if args.build_only:
        print(f"set: {counts} in {out / 'data'}")
        return 0
    steps_per_epoch = max(1, n_train // args.batch_size)
    epochs = max(2, round(args.steps / steps_per_epoch))
    print(f"set: {counts}; chance (larger val class) {chance:.1f} %; {epochs} epochs x {steps_per_epoch} steps")
    load_before = os.getloadavg()
    cfg = load_pretrain_config(CONFIG, [
        f"data.train_dir={out / 'data' / 'train'}", f"data.val_dir={out / 'data' / 'val'}", f"train.epochs={epochs}",
        f"train.batch_size={args.batch_size}", f"train.lr_milestones=[{int(epochs * 0.7)}]",
    ])  # fmt: skip
    started = time.time()
    final = train_experiment(cfg, out_dir=out / "run", progress=False)
    result = {
        "command": "python benchmarks/pretrain_person_crops.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads {_threads()}",
        "load_avg_before": [round(v, 2) for v in load_before], "load_avg_after": [round(v, 2) for v in os.getloadavg()],
        "set": counts, "chance_top1": chance, "epochs": epochs, "steps": epochs * steps_per_epoch, "final": final,
        "curve": _curve(out / "run" / "epochs.csv"), "seconds": round(time.time() - started, 1),
    }  # fmt: skip
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
