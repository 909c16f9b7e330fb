"""A small real classification set and a short pretraining run: does the classification task learn? (issue 14, item 1)

    .venv/bin/python benchmarks/pretrain_person_crops.py [--steps 300] [--out output/pretrain_person_crops]

The set is cut from the real COCO mini images in ../shared/data: *person* = the box of every annotated person
(at least 32 px on each side), *background* = a random square of the same size elsewhere in the same image that
overlaps no person box by more than 10 % of its area. Images are split by image id (every fifth image to
validation), so no image contributes to both splits. Crops are resized to 72x72 and written as an ImageFolder;
training uses 64x64 random-resized crops. The trunk is a reduced SResNet (``flpn_sres50`` with one block per stage,
width 0.25): a proof that the task learns on CPU in minutes, not an ImageNet recipe.

Writes the curve (top-1 after each epoch) to ``benchmarks/results/pretrain_person_crops.json``. Chance is the share
of the larger class in the validation split (printed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco_val2017_mini"
RESULTS = Path(__file__).parent / "results" / "pretrain_person_crops.json"


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection of boxes (x, y, w, h) as a share of a's area."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(a[2] * a[3], 1e-9)


def build_set(out: Path, seed: int = 0) -> dict[str, int]:
    """Write out/{train,val}/{person,background}/*.png; returns the count of each split/class."""
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for split_file, folder in (("person_keypoints_val2017_mini.json", "val2017"),
                               ("person_keypoints_train2017_mini.json", "train2017")):  # fmt: skip
        ann = json.loads((DATA / "annotations" / split_file).read_text())
        boxes: dict[int, list[tuple[float, ...]]] = {}
        for a in ann["annotations"]:
            boxes.setdefault(a["image_id"], []).append(tuple(a["bbox"]))
        for img in ann["images"]:
            path = DATA / "images" / folder / img["file_name"]
            image = cv2.imread(str(path))
            if image is None or img["id"] not in boxes:
                continue
            h, w = image.shape[:2]
            split = "val" if img["id"] % 5 == 0 else "train"
            for k, (x, y, bw, bh) in enumerate(boxes[img["id"]]):
                if bw < 32 or bh < 32:
                    continue
                crops = {"person": image[int(y) : int(y + bh), int(x) : int(x + bw)]}
                side = int(min(max(bw, bh), w, h))
                for _ in range(50):
                    bx, by = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
                    cand = (bx, by, side, side)
                    if all(_overlap(cand, b) < 0.1 for b in boxes[img["id"]]):
                        crops["background"] = image[by : by + side, bx : bx + side]
                        break
                for cls, crop in crops.items():
                    d = out / split / cls
                    d.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(
                        str(d / f"{img['id']}_{k}.png"), cv2.resize(crop, (72, 72), interpolation=cv2.INTER_AREA)
                    )
                    counts[f"{split}/{cls}"] = counts.get(f"{split}/{cls}", 0) + 1
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="output/pretrain_person_crops")
    ap.add_argument("--steps", type=int, default=300, help="optimiser steps in all (rounded to whole epochs)")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    from edgepose.engine.config import load_experiment
    from edgepose.engine.trainer import train_experiment

    out = Path(args.out).resolve()
    counts = build_set(out / "data")
    n_train = counts.get("train/person", 0) + counts.get("train/background", 0)
    n_val = counts.get("val/person", 0) + counts.get("val/background", 0)
    chance = 100.0 * max(counts.get("val/person", 0), counts.get("val/background", 0)) / max(n_val, 1)
    steps_per_epoch = max(1, n_train // args.batch_size)
    epochs = max(2, round(args.steps / steps_per_epoch))
    print(f"set: {counts}; chance (larger val class) {chance:.1f} %; {epochs} epochs x {steps_per_epoch} steps")
    cfg_path = out / "pretrain.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "task": "edgepose.engine.classification:ClassificationTask",
        "model": {"name": "flpn_sres50", "overrides": {"blocks": [1, 1, 1, 1], "width": 0.25}},
        "data": {"dataset": "imagefolder", "train_dir": "data/train", "val_dir": "data/val", "input_size": 64,
                 "scale_min": 0.35},
        "train": {"epochs": epochs, "batch_size": args.batch_size, "optimizer": "sgd", "lr": 0.05,
                  "weight_decay": 5e-5, "lr_milestones": [int(epochs * 0.7)], "workers": 0, "device": "cpu",
                  "seed": 0, "eval_every": 1, "log_every": 10},
    }))  # fmt: skip
    started = time.time()
    cfg = load_experiment(cfg_path)
    final = train_experiment(cfg, out_dir=out / "run", progress=False)
    curve = []
    epochs_csv = out / "run" / "epochs.csv"  # the trainer's per-epoch log: val_<metric> columns
    if epochs_csv.is_file():
        import csv

        with epochs_csv.open() as f:
            for row in csv.DictReader(f):
                if row.get("val_top1"):
                    curve.append({"epoch": int(float(row["epoch"])), "top1": float(row["val_top1"])})
    result = {"set": counts, "chance_top1": chance, "epochs": epochs, "steps": epochs * steps_per_epoch,
              "final": final, "curve": curve, "seconds": round(time.time() - started, 1)}  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
