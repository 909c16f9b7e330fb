"""COCO keypoint evaluation: OKS rescoring, OKS-NMS, results JSON and the official COCOeval figures.

The pipeline of SimpleBaseline/HRNet ``coco.py::evaluate`` (SPEC A.1.11):

1. every top-down prediction is an instance ``{image_id, keypoints (K, 3) = (x, y, maxval), box_score, area}``
   with ``area = scale_x · scale_y · 200²`` (the padded crop, not the box);
2. **rescoring**: instance score = box score × mean of the joint maxvals above ``in_vis_threshold`` (0.2);
3. **OKS-NMS** per image with threshold 0.9 and the COCO sigmas (:mod:`edgepose.oks`);
4. a COCO results JSON (``[{image_id, category_id: 1, keypoints: [x, y, s] * K, score}]``), written atomically;
5. ``COCOeval(gt, dt, iouType="keypoints")``; the 10 keypoint statistics AP, AP50, AP75, APM, APL, AR, AR50,
   AR75, ARM, ARL.

The backend is pycocotools, the reference implementation, unless a caller asks for ``"faster_coco_eval"`` (or
``"auto"``: faster-coco-eval when installed). Both are set up with ``iouType="keypoints"`` and nothing else:
the legacy ``params.useSegm = None`` that pycocotools ignores switches faster-coco-eval 1.8 to *box* IoU, which
once scored the top-down oracle AP 0.038 instead of 0.986 without a word. ``tests/evaluation/test_coco_eval.py``
checks that both backends give identical figures on the same real predictions.

pycocotools is imported lazily so the package imports without it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.config import atomic_write_text
from edgepose.data.coco import read_json
from edgepose.errors import ConfigError, DataError
from edgepose.keypoints import COCO_SIGMAS
from edgepose.oks import oks_nms

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("pycocotools", "faster_coco_eval", "auto")
MAX_DETS = 20  # COCOeval keypoints keep the 20 highest-scored detections of each image
STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
MAIN_STATS: tuple[str, ...] = ("AP", "AP50", "AP75", "APM", "APL", "AR")


# ------------------------------------------------------------------------------------ rescoring + NMS
def rescore(keypoints: np.ndarray, box_score: float, in_vis_threshold: float = 0.2) -> float:
    """Box score × mean of the joint confidences above ``in_vis_threshold`` (0 if none is above)."""
    conf = np.asarray(keypoints, dtype=np.float64)[:, 2]
    good = conf > in_vis_threshold
    kpt_score = float(conf[good].mean()) if good.any() else 0.0
    return kpt_score * float(box_score)


def postprocess_instances(
    instances: Iterable[Mapping[str, Any]],
    *,
    in_vis_threshold: float = 0.2,
    oks_threshold: float = 0.9,
    rescoring: bool = True,
    nms: bool = True,
    sigmas: Sequence[float] = COCO_SIGMAS,
) -> list[dict[str, Any]]:
    """Top-down instances -> COCO result records (rescoring then per-image OKS-NMS, as in evaluation).

    Each instance needs ``image_id``, ``keypoints`` (K, 3) and ``area``; ``box_score`` defaults to 1. With
    ``rescoring=False`` the score is the instance's ``score`` field if given, else the box score × the plain
    mean of all joint confidences (the "mean max value" score of the oracle).
    """
    per_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for inst in instances:
        kpts = np.asarray(inst["keypoints"], dtype=np.float64)
        box_score = float(inst.get("box_score", 1.0))
        if rescoring:
            score = rescore(kpts, box_score, in_vis_threshold)
        elif "score" in inst:
            score = float(inst["score"])
        else:
            score = float(kpts[:, 2].mean()) * box_score
        per_image[int(inst["image_id"])].append(
            {"image_id": int(inst["image_id"]), "keypoints": kpts, "score": score, "area": float(inst["area"])}
        )
    results: list[dict[str, Any]] = []
    for image_id in sorted(per_image):
        items = per_image[image_id]
        if nms and len(items) > 1:
            keep = oks_nms(
                np.stack([it["keypoints"] for it in items]),
                np.array([it["score"] for it in items]),
                np.array([it["area"] for it in items]),
                threshold=oks_threshold,
                sigmas=sigmas,
            )
            items = [items[i] for i in keep]
        for it in items:
            results.append(
                {
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": [round(float(v), 4) for v in it["keypoints"].reshape(-1)],
                    "score": float(it["score"]),
                }
            )
    return results


def write_results(results: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write COCO result records as JSON atomically (temporary file + rename)."""
    path = Path(path)
    atomic_write_text(path, json.dumps(list(results)))
    return path


# --------------------------------------------------------------------------------------- validation
def validate_results(results: Any, gt_image_ids: set[int], num_keypoints: int, path: str | Path | None) -> list:
    """Check a keypoint results list; the first problem raises DataError naming the record and field."""
    if not isinstance(results, list):
        raise DataError(
            "a keypoint results file must be a JSON list of {image_id, category_id, keypoints, score}", path
        )
    out = []
    for i, rec in enumerate(results):
        where = f"[{i}]"
        if not isinstance(rec, dict):
            raise DataError(f"{where}: expected an object, got {type(rec).__name__}", path)
        for key in ("image_id", "keypoints", "score"):
            if key not in rec:
                raise DataError(f"{where}: missing field {key!r}", path)
        image_id = rec["image_id"]
        if isinstance(image_id, bool) or not isinstance(image_id, (int, float)) or int(image_id) != image_id:
            raise DataError(f"{where}: 'image_id' must be an integer, got {image_id!r}", path)
        if int(image_id) not in gt_image_ids:
            raise DataError(f"{where}: image_id {int(image_id)} is not an image of the annotation file", path)
        kp = rec["keypoints"]
        if not isinstance(kp, list) or len(kp) != 3 * num_keypoints:
            n = len(kp) if isinstance(kp, list) else type(kp).__name__
            raise DataError(f"{where}: 'keypoints' must be a list of {3 * num_keypoints} numbers, got {n}", path)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in kp):
            raise DataError(f"{where}: 'keypoints' contains non-numeric, NaN or infinite values", path)
        score = rec["score"]
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise DataError(f"{where}: 'score' must be a finite number, got {score!r}", path)
        if rec.get("category_id", 1) != 1:
            raise DataError(f"{where}: 'category_id' must be 1 (person), got {rec.get('category_id')!r}", path)
        out.append({"image_id": int(image_id), "category_id": 1, "keypoints": list(kp), "score": float(score)})
    warn_suspicious_results(out, path)
    return out


def warn_suspicious_results(records: Sequence[Mapping[str, Any]], path: str | Path | None = None) -> str | None:
    """Log one warning line when results have duplicate records or more than 20 detections on an image.

    COCOeval does not complain about either: duplicates count as false positives, and beyond ``maxDets=20``
    it silently drops the lower-scored detections of an image, so a results file made without NMS, or written
    twice into one list, scores lower than the predictions deserve. Returns the message (None if all is well).
    """
    seen: set[tuple] = set()
    duplicates = 0
    per_image: dict[int, int] = defaultdict(int)
    for rec in records:
        key = (int(rec["image_id"]), tuple(rec["keypoints"]))
        duplicates += key in seen
        seen.add(key)
        per_image[key[0]] += 1
    crowded = {i: n for i, n in per_image.items() if n > MAX_DETS}
    problems = []
    if duplicates:
        problems.append(f"{duplicates} duplicate record(s) (same image_id and keypoints)")
    if crowded:
        worst = max(crowded, key=lambda i: (crowded[i], -i))
        problems.append(
            f"{len(crowded)} image(s) with more than {MAX_DETS} detections (up to {crowded[worst]} on image "
            f"{worst}; COCOeval keeps only the {MAX_DETS} highest-scored)"
        )
    if not problems:
        return None
    message = f"{path if path is not None else 'keypoint results'}: " + "; ".join(problems)
    log.warning(message)
    return message


# ------------------------------------------------------------------------------------------- COCOeval
@dataclass
class CocoEvalResult:
    metrics: dict[str, float]  # the 10 keypoint statistics by name
    summary: str  # COCOeval's own printed summary
    backend: str  # "pycocotools" or "faster_coco_eval"
    num_results: int


def _load_backend(backend: str):
    """``(name, COCO, COCOeval)`` of ``backend``; "auto" is faster-coco-eval when importable, else pycocotools."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown COCOeval backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend in ("auto", "faster_coco_eval"):
        try:
            from faster_coco_eval import COCO, COCOeval_faster

            return "faster_coco_eval", COCO, COCOeval_faster
        except ImportError:
            if backend == "faster_coco_eval":
                raise DataError("faster-coco-eval is not installed (pip install faster-coco-eval)") from None
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise DataError("COCO evaluation needs pycocotools: pip install 'edgepose[torch]'") from None
    return "pycocotools", COCO, COCOeval


def _gt_dataset(ann: str | Path | Mapping[str, Any]) -> tuple[dict, str | None]:
    if isinstance(ann, Mapping):
        return dict(ann), None
    data = read_json(ann)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("images"), list)
        or not isinstance(data.get("annotations"), list)
    ):
        raise DataError("top level must be an object with 'images' and 'annotations' lists", ann)
    if not isinstance(data.get("categories"), list) or not data["categories"]:
        data["categories"] = [{"id": 1, "name": "person", "supercategory": "person"}]
    for i, rec in enumerate(data["annotations"]):
        if not isinstance(rec, dict) or "image_id" not in rec or "keypoints" not in rec:
            raise DataError(f"annotations[{i}]: missing 'image_id' or 'keypoints'", ann)
        rec.setdefault("id", i + 1)
        rec.setdefault("iscrowd", 0)
        rec.setdefault("category_id", 1)
        if "area" not in rec:
            b = rec.get("bbox", [0, 0, 0, 0])
            rec["area"] = float(b[2]) * float(b[3])
    return data, str(ann)


def evaluate_keypoints(
    ann: str | Path | Mapping[str, Any],
    results: str | Path | Sequence[Mapping[str, Any]],
    *,
    backend: str = "pycocotools",
    num_keypoints: int | None = None,
    image_ids: Sequence[int] | None = None,
) -> CocoEvalResult:
    """Score keypoint ``results`` (a path or a list of records) against the ground truth ``ann`` with COCOeval.

    Malformed inputs raise DataError naming the file and record. An empty results list scores 0 everywhere
    (pycocotools cannot load one). ``image_ids`` restricts the evaluation to those images (smoke runs on the
    first N images); by default every image of the annotation file counts. ``backend`` is "pycocotools" (the
    reference, default), "faster_coco_eval" or "auto" (see the module docstring). Duplicate records and images
    with more than 20 detections are reported with one warning line naming the file.
    """
    gt_data, gt_path = _gt_dataset(ann)
    results_path = None
    if isinstance(results, (str, Path)):
        results_path = results
        results = read_json(results)
    if num_keypoints is None:
        kp_lens = {len(a["keypoints"]) // 3 for a in gt_data["annotations"] if isinstance(a.get("keypoints"), list)}
        num_keypoints = kp_lens.pop() if len(kp_lens) == 1 else 17
    gt_ids = {int(im["id"]) for im in gt_data["images"] if isinstance(im, dict) and "id" in im}
    records = validate_results(results, gt_ids, num_keypoints, results_path)
    if num_keypoints != len(COCO_SIGMAS):
        raise DataError(f"COCOeval scores COCO-17 keypoints; the annotations have {num_keypoints}", gt_path)
    name, COCO, COCOeval = _load_backend(backend)
    if not records:
        log.warning("no keypoint results to evaluate: every metric is 0")
        return CocoEvalResult({k: 0.0 for k in STAT_NAMES}, "(no results)", name, 0)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        coco_gt = COCO()
        coco_gt.dataset = gt_data
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(records)
        coco_eval = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        if image_ids is not None:
            coco_eval.params.imgIds = sorted(int(i) for i in image_ids)
        coco_eval.evaluate()
        coco_eval.accumulate()
        mark = buf.tell()
        coco_eval.summarize()
    summary = buf.getvalue()[mark:]
    stats = [float(v) for v in list(coco_eval.stats)[: len(STAT_NAMES)]]
    return CocoEvalResult(dict(zip(STAT_NAMES, stats)), summary.rstrip("\n"), name, len(records))
