"""COCO keypoint figures computed without edgepose: the references the evaluation and oracle tests check against.

* :func:`pycocotools_stats`: ``COCOeval(iouType="keypoints")`` run directly on a results list, the official scorer
  with nothing of edgepose's in between (no rescoring, no NMS, no results writer).
* :func:`oks_by_hand`: COCO's object keypoint similarity written out from its definition (cocodataset.org
  "Keypoint Evaluation"; ``COCOeval.computeOks`` in pycocotools), for cases small enough to derive AP by hand.
* :func:`simplebaseline_msra_oracle`: the top-down codec oracle (ground truth -> MSRA target heatmap -> decoded
  pose) written out from SimpleBaseline's published code (microsoft/human-pose-estimation.pytorch, ``lib/dataset/
  coco.py`` ``_load_coco_keypoint_annotation_kernal`` / ``_box2cs``, ``JointsDataset.generate_target``,
  ``core/inference.py`` ``get_max_preds`` / ``get_final_preds``, ``utils/transforms.py`` ``transform_preds``)
  in closed form, without building a heatmap: an MSRA target is a Gaussian whose centre is the joint rounded to
  a whole heatmap cell, so its maximum over the grid is that cell (or the nearest cell of the grid when the
  centre lies outside it), its neighbours are symmetric (the quarter-cell offset is 0) and the decoded joint is
  that cell mapped back to the image.

A test helper like ``standins``: tests import it as ``coco_reference`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np

# pycocotools ``Params.setKpParams``: the 17 COCO per-keypoint sigmas (nose, eyes, ears, shoulders, elbows,
# wrists, hips, knees, ankles), as published with the COCO keypoint evaluation
PYCOCOTOOLS_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87,
                               0.89, 0.89]) / 10.0  # fmt: skip
STATS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")  # COCOeval.summarize's order


def pycocotools_stats(ann_path: str | Path, results: list[dict]) -> dict[str, float]:
    """The 10 keypoint statistics of ``results`` by pycocotools' COCOeval, named as in :data:`STATS`."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_path))
        dt = gt.loadRes([dict(r) for r in results])  # loadRes adds fields to the records: give it copies
        ev = COCOeval(gt, dt, iouType="keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(STATS, (float(v) for v in ev.stats)))


def oks_by_hand(gt_xyv: np.ndarray, dt_xy: np.ndarray, area: float) -> float:
    """OKS = mean over labelled ground-truth joints of exp(-d² / (2 · area · (2σ)²)) (COCO's definition)."""
    gt_xyv, dt_xy = np.asarray(gt_xyv, dtype=np.float64), np.asarray(dt_xy, dtype=np.float64)
    labelled = gt_xyv[:, 2] > 0
    d2 = ((dt_xy[:, :2] - gt_xyv[:, :2]) ** 2).sum(axis=1)
    e = d2 / (2 * area * (2 * PYCOCOTOOLS_SIGMAS) ** 2)
    return float(np.exp(-e[labelled]).mean())


def _clean_box(bbox: list[float], width: int, height: int) -> list[float] | None:
    """SimpleBaseline's GT-box cleaning: clip to the image, COCO's inclusive pixels (x2 = x1 + w - 1)."""
    x, y, w, h = bbox
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if w * h <= 0 or x2 < x1 or y2 < y1:
        return None
    return [x1, y1, x2 - x1, y2 - y1]


def _msra_joint(x_hm: float, y_hm: float, hm_w: int, hm_h: int, sigma: float) -> tuple[float, float, float]:
    """(x, y, maxval) in heatmap cells that ``get_max_preds`` + the quarter offset return for one MSRA target."""
    mu_x, mu_y = int(x_hm + 0.5), int(y_hm + 0.5)  # generate_target: int(joint / feat_stride + 0.5)
    r = int(3 * sigma)  # tmp_size = sigma * 3
    if mu_x - r >= hm_w or mu_y - r >= hm_h or mu_x + r + 1 < 0 or mu_y + r + 1 < 0:
        return 0.0, 0.0, 0.0  # target_weight 0: an all-zero map, coordinates zeroed (maxval not > 0)
    px, py = min(max(mu_x, 0), hm_w - 1), min(max(mu_y, 0), hm_h - 1)  # the grid cell nearest the centre
    maxval = math.exp(-((px - mu_x) ** 2 + (py - mu_y) ** 2) / (2 * sigma**2))
    return float(px), float(py), maxval


def people_and_crops(
    ann_path: str | Path, input_size: tuple[int, int]
) -> list[tuple[dict, tuple[float, float, float]]]:
    """Every person a top-down evaluation on GT boxes crops (not crowd, a labelled joint, a box left after
    cleaning), with its crop as ``(cx, cy, zoom)``: the centre in image pixels and the input pixels per image
    pixel (``_box2cs``: the box padded to the input's aspect ratio, × 1.25; an unrotated crop zooms both axes
    alike). A point (x, y) of the image lands at ((x - cx) · zoom + W / 2, (y - cy) · zoom + H / 2)."""
    data = json.loads(Path(ann_path).read_text())
    images = {im["id"]: im for im in data["images"]}
    in_h, in_w = input_size
    out = []
    for ann in data["annotations"]:
        if ann.get("iscrowd") or ann.get("num_keypoints", 0) == 0 or ann.get("category_id", 1) != 1:
            continue
        im = images[ann["image_id"]]
        box = _clean_box(ann["bbox"], im["width"], im["height"])
        if box is None:
            continue
        x, y, w, h = box
        crop_w = max(w, h * in_w / in_h) * 1.25  # the crop's width in image pixels (scale[0] * pixel_std)
        out.append((ann, (x + 0.5 * w, y + 0.5 * h, in_w / crop_w)))
    return out


def simplebaseline_msra_oracle(
    ann_path: str | Path, input_size: tuple[int, int] = (256, 192), sigma: float = 2.0, stride: int = 4
) -> list[dict]:
    """COCO result records of the MSRA codec oracle on ground-truth boxes (see the module docstring).

    ``input_size`` is (H, W). The score of a person is the mean of the 17 joints' maxvals (an unlabelled joint
    has an empty map: 0), as ``edgepose oracle topdown`` scores without rescoring.
    """
    in_h, in_w = input_size
    hm_w, hm_h = in_w // stride, in_h // stride
    results = []
    for ann, (cx, cy, zoom) in people_and_crops(ann_path, input_size):
        crop_w = in_w / zoom
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        out = np.zeros((len(kp), 3))
        for j, (jx, jy, v) in enumerate(kp):
            if v <= 0:
                continue  # unlabelled: zero target weight, an empty map, (0, 0) with maxval 0
            x_hm = ((jx - cx) * zoom + in_w / 2) / stride
            y_hm = ((jy - cy) * zoom + in_h / 2) / stride
            out[j] = _msra_joint(x_hm, y_hm, hm_w, hm_h, sigma)
        # transform_preds: heatmap cells -> image pixels, also for the zeroed joints
        out[:, 0] = (out[:, 0] * stride - in_w / 2) / zoom + cx
        out[:, 1] = (out[:, 1] * stride - in_h / 2) / zoom + cy
        results.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": out.ravel().tolist(),
                        "score": float(out[:, 2].mean()),
                        "crop_area": crop_w * crop_w * in_h / in_w})  # fmt: skip
    return results


def simplebaseline_rescore_nms(records: list[dict], in_vis_thre: float = 0.2, oks_thre: float = 0.9) -> list[dict]:
    """SimpleBaseline's ``COCODataset.evaluate`` after the predictions: rescoring (box score 1 × the mean of the
    joint scores above ``in_vis_thre``), then per image ``nms.py::oks_nms`` with its defaults as ``evaluate``
    calls it (the COCO sigmas, every joint, areas = the crops' ``crop_area``): the highest score is kept and every
    pose with an OKS above ``oks_thre`` to it dropped, in turn."""
    rescored = []
    for r in records:
        conf = np.asarray(r["keypoints"], dtype=np.float64).reshape(-1, 3)[:, 2]
        good = conf > in_vis_thre
        rescored.append({**r, "score": float(conf[good].mean()) if good.any() else 0.0})
    by_image: dict[int, list[dict]] = {}
    for r in rescored:
        by_image.setdefault(r["image_id"], []).append(r)
    kept = []
    for people in by_image.values():
        kpts = np.array([np.asarray(p["keypoints"], dtype=np.float64).reshape(-1, 3) for p in people])
        areas = np.array([p["crop_area"] for p in people])
        order = np.array([p["score"] for p in people]).argsort()[::-1]
        while order.size > 0:
            i, rest = order[0], order[1:]
            kept.append(people[i])
            d2 = ((kpts[rest, :, :2] - kpts[i, None, :, :2]) ** 2).sum(axis=2)
            e = d2 / (2 * (2 * PYCOCOTOOLS_SIGMAS) ** 2 * ((areas[i] + areas[rest]) / 2 + np.spacing(1))[:, None])
            order = rest[np.exp(-e).mean(axis=1) <= oks_thre]
    return kept
