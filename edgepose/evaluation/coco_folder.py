"""COCO keypoint AP of any pose estimator on any COCO-format folder (an annotation file + its images).

The scoring behind ``edgepose coco``. The estimator is the runtime's predictor (``PoseEstimator``: what
``edgepose predict`` runs, with a PyTorch or an ONNX network), so the figure is measured on the code users
run; nothing here imports torch or the runtime (the estimator and the box source are passed in).

* bottom-up estimators see whole images; each decoded person is a record with LWOP's person score and
  visibility 1 on every found keypoint (what the training-time evaluation writes, :func:`poses_to_records`);
* top-down estimators see the boxes of ``box_source(image, image_id) -> (boxes xywh, scores)`` (a detections
  file, a detector, a bottom-up model's people); every box's pose is rescored (box score × mean confident joint
  score) and OKS-NMS'd per image as in SimpleBaseline/HRNet (:func:`postprocess_instances`).

Every image of the annotation file is scored (``max_images``: the first N, for smoke runs); COCOeval is
restricted to the images actually run, so a partial run is not charged for images it never saw.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.data.coco import load_coco_keypoints
from edgepose.errors import DataError
from edgepose.evaluation.coco import evaluate_keypoints, postprocess_instances
from edgepose.evaluation.oracle_bottomup import poses_to_records

__all__ = ["CocoFolderResult", "read_image", "score_coco_folder"]

BoxSource = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]
# The figures `edgepose coco` prints, under the names it prints them (COCOeval's APM/APL as APm/APl).
PRINTED = (("AP", "AP"), ("AP50", "AP50"), ("AP75", "AP75"), ("APm", "APM"), ("APl", "APL"), ("AR", "AR"))


@dataclass
class CocoFolderResult:
    """The figures (``AP``, ``AP50``, ``AP75``, ``APm``, ``APl``, ``AR``), the images scored and the records."""

    metrics: dict[str, float]
    images: int
    records: list[dict[str, Any]] = field(repr=False)
    summary: str = ""


def read_image(path: str | Path) -> np.ndarray:
    """A COCO image as BGR uint8 in its stored pixel grid (EXIF orientation ignored: the labels refer to the
    stored pixels); DataError naming a missing or undecodable file."""
    import cv2

    path = Path(path)
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else np.zeros(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
    if image is None:
        raise DataError("image missing or not decodable", path)
    return image


def _bottomup_records(estimator: Any, image: np.ndarray, image_id: int) -> list[dict[str, Any]]:
    return poses_to_records(image_id, estimator.bottomup_poses(image), estimator.codec)


def _topdown_instances(estimator: Any, image: np.ndarray, image_id: int, box_source: BoxSource) -> list[dict]:
    boxes, scores = box_source(image, image_id)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(boxes):
        return []
    persons = estimator.predict_topdown(image, boxes, np.asarray(scores, dtype=np.float64).reshape(-1))
    out = []
    for person in persons:
        kp = np.asarray(person.keypoints, dtype=np.float64).copy()
        kp[:, :2] += estimator.coco_offset
        box = np.asarray(person.box, dtype=np.float64)
        out.append({"image_id": image_id, "keypoints": kp, "score": float(person.score),
                    "area": float(box[2] * box[3]) * 1.25**2})  # fmt: skip
    return out


def score_coco_folder(
    estimator: Any,
    ann_path: str | Path,
    images_dir: str | Path,
    *,
    box_source: BoxSource | None = None,
    max_images: int | None = None,
    progress: bool = True,
) -> CocoFolderResult:
    """COCO keypoint AP of ``estimator`` on the images of ``ann_path`` found in ``images_dir``.

    Args:
        estimator: a ``PoseEstimator`` (bottom-up or top-down).
        ann_path: a COCO keypoints annotation file; images_dir: the folder holding its ``file_name`` s.
        box_source: person boxes for a top-down estimator (required for one, ignored for bottom-up).
        max_images: score only the first N images of the file (``None``: all).
        progress: a progress bar on stderr.

    Raises DataError naming the file: an unreadable annotation file, a missing image, a top-down estimator
    without boxes. Top-down poses go through evaluation's OKS-NMS (0.9) here, so the estimator's own
    ``nms_threshold`` is bypassed for the run.
    """
    coco = load_coco_keypoints(ann_path)
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise DataError("images folder not found", images_dir)
    ids = list(coco.image_ids())
    if max_images is not None:
        ids = ids[: max(0, int(max_images))]
    if not ids:
        raise DataError("no images to score", ann_path)
    topdown = estimator.task == "topdown"
    keypoints = getattr(estimator.info, "keypoints", "coco")
    if topdown and keypoints != "coco":
        raise DataError(f"COCO AP scores COCO-17 keypoints; {estimator.info.model_name} predicts the "
                        f"{keypoints!r} set", ann_path)  # fmt: skip
    if topdown and box_source is None:
        raise DataError("a top-down model needs person boxes: give --boxes DET.json or --detector SPEC", ann_path)
    items: Iterable[int] = ids
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(ids, desc="coco", unit="image", file=sys.stderr, dynamic_ncols=True)
    records: list[dict[str, Any]] = []
    instances: list[dict[str, Any]] = []
    nms_before = getattr(estimator, "nms_threshold", None)
    try:
        if topdown:
            estimator.nms_threshold = None
        for image_id in items:
            image = read_image(images_dir / coco.images[image_id].file_name)
            if topdown:
                instances.extend(_topdown_instances(estimator, image, image_id, box_source))  # type: ignore[arg-type]
            else:
                records.extend(_bottomup_records(estimator, image, image_id))
    finally:
        if topdown:
            estimator.nms_threshold = nms_before
    if topdown:
        # the estimator's person score already is box score x mean confident joint score (HRNet's rescoring)
        records = postprocess_instances(instances, rescoring=False, sigmas=_sigmas())
    res = evaluate_keypoints(ann_path, records, image_ids=ids)
    metrics = {printed: float(res.metrics[key]) for printed, key in PRINTED}
    return CocoFolderResult(metrics, len(ids), records, res.summary)


def _sigmas() -> tuple[float, ...]:
    from edgepose.keypoints import COCO_SIGMAS

    return tuple(COCO_SIGMAS)
