"""Everyday-photo accuracy: a model's limbs on the largest person of each COCO val mini photo, PCK@0.2.

    .venv/bin/python benchmarks/coco_everyday_pck.py                       # the shipped default, CLI defaults
    .venv/bin/python benchmarks/coco_everyday_pck.py --onnx model.onnx --name candidate [--refine 0 --no-flip]
    .venv/bin/python benchmarks/coco_everyday_pck.py --weights best.pt [--detector DET] --name candidate

What a new user tries first: `edgepose predict photo.jpg` on an everyday photo. Each of the 98 COCO val2017 mini
photos is run whole through the model with `edgepose predict`'s defaults (the same `PoseEstimator` the CLI uses;
the whole image as the box unless `--detector` gives people boxes), and scored on the photo's largest annotated
person (by segmentation area, crowd regions excluded): the predicted person whose keypoint box overlaps that
person's box most is compared on the 12 limb joints (shoulders, elbows, wrists, hips, knees, ankles, matched by
name, so LSP-14 and COCO-17 models are scored alike) that COCO labels (v > 0). A joint is correct when within
0.2 x the torso (left shoulder to right hip, PCK's LSP convention); a person without both is not scored (counted).
Nothing predicted counts as every joint wrong. One JSON line per run is appended to
benchmarks/results/coco_everyday_pck.jsonl with the date, machine and load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
LIMBS = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
         "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")  # fmt: skip
COCO_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", *LIMBS[:2], *LIMBS[2:4], *LIMBS[4:6],
              *LIMBS[6:8], *LIMBS[8:10], *LIMBS[10:12])  # fmt: skip


def largest_people(ann_file: Path) -> dict[str, dict]:
    """file name -> the largest non-crowd annotated person of that image (COCO dict with keypoints)."""
    data = json.loads(ann_file.read_text())
    names = {im["id"]: im["file_name"] for im in data["images"]}
    best: dict[str, dict] = {}
    for ann in data["annotations"]:
        if ann.get("iscrowd") or ann.get("num_keypoints", 0) == 0:
            continue
        name = names[ann["image_id"]]
        if name not in best or ann["area"] > best[name]["area"]:
            best[name] = ann
    return best


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def score_image(persons: list, names: tuple[str, ...], ann: dict) -> tuple[int, int] | None:
    """(correct, labelled) limb joints of the predicted person best overlapping ``ann``; None: no torso."""
    gt = np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3)
    index = {n: i for i, n in enumerate(COCO_NAMES)}
    ls, rh = gt[index["left_shoulder"]], gt[index["right_hip"]]
    if ls[2] <= 0 or rh[2] <= 0:
        return None
    torso = float(np.hypot(*(ls[:2] - rh[:2])))
    labelled = [n for n in LIMBS if gt[index[n], 2] > 0]
    if not persons or torso <= 0:
        return 0, len(labelled)
    gt_box = np.asarray(ann["bbox"], dtype=np.float64)

    def overlap(person) -> float:
        kp = np.asarray(person.keypoints, dtype=np.float64)
        x0, y0 = kp[:, :2].min(0)
        x1, y1 = kp[:, :2].max(0)
        return _box_iou(np.array([x0, y0, x1 - x0, y1 - y0]), gt_box)

    kp = np.asarray(max(persons, key=overlap).keypoints, dtype=np.float64)
    own = {n: i for i, n in enumerate(names)}
    correct = sum(int(np.hypot(*(kp[own[n], :2] - gt[index[n], :2])) <= 0.2 * torso) for n in labelled if n in own)
    return correct, len(labelled)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = Path(os.environ.get("EDGEPOSE_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--coco", default=str(data / "coco_val2017_mini"), help="the COCO val mini folder")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--onnx", help="an exported model (default: the shipped model)")
    model.add_argument("--weights", help="an edgepose checkpoint (PyTorch)")
    parser.add_argument("--detector", help="person boxes: 'hog', a bottom-up .onnx or checkpoint (default: none)")
    parser.add_argument("--detector-height", type=int, default=None, help="detector inference height (default its own)")
    parser.add_argument("--refine", type=int, default=None, help="refinement passes (default: the model's)")
    parser.add_argument("--no-flip", action="store_true", help="no flip test")
    parser.add_argument("--name", default="shipped default", help="what to call the run in the output")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "coco_everyday_pck.jsonl"))
    args = parser.parse_args()

    from edgepose.runtime.estimator import PoseEstimator

    if args.weights:
        from edgepose.engine.predict import load_model, torch_estimator

        net, ckpt = load_model(weights=args.weights)
        estimator = torch_estimator(net, ckpt=ckpt, flip_test=not args.no_flip,
                                    refine=1 if args.refine is None else args.refine)  # fmt: skip
    else:
        estimator = PoseEstimator(args.onnx, flip_test=not args.no_flip, refine=args.refine,
                                  threads=2)
    detector = None
    if args.detector:
        from edgepose.runtime.boxes import detector_from_spec

        detector = detector_from_spec(args.detector, height=args.detector_height, threads=2)
    names = tuple(estimator.keypoint_spec.names)
    coco = Path(args.coco)
    people = largest_people(coco / "annotations" / "person_keypoints_val2017_mini.json")
    correct = labelled = scored = unscored = 0
    start = time.perf_counter()
    for file_name, ann in sorted(people.items()):
        image = cv2.imread(str(coco / "images" / "val2017" / file_name))
        boxes = None
        if detector is not None:
            found, _ = detector(image, int(ann["image_id"]))
            boxes = found if len(found) else None
        persons = estimator(image, boxes=boxes) if boxes is not None else estimator(image)
        result = score_image(persons, names, ann)
        if result is None:
            unscored += 1
            continue
        correct, labelled, scored = correct + result[0], labelled + result[1], scored + 1
    record = {
        "name": args.name, "PCK@0.2": round(correct / max(labelled, 1), 4), "people": scored,
        "unscored_no_torso": unscored, "joints": labelled, "model": args.onnx or args.weights or "shipped",
        "detector": args.detector, "detector_height": args.detector_height, "refine": args.refine,
        "flip": not args.no_flip,
        "seconds": round(time.perf_counter() - start, 1), "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus", "load": round(os.getloadavg()[0], 2),
        "command": " ".join(sys.argv),
    }  # fmt: skip
    print(json.dumps(record))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
