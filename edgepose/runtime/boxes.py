"""Person boxes for top-down models: a detections file, OpenCV's HOG people detector, or a bottom-up model.

:func:`detector_from_spec` turns a ``--detector`` value into a box source without torch (``hog``, or an exported
bottom-up ``.onnx`` model whose people become padded boxes); a checkpoint goes through
:func:`edgepose.engine.detectors.resolve_detector`, the torch side of the same spec.

Every box source is a callable ``(image_bgr, image_id) -> (boxes (N, 4) xywh, scores (N,))``. Whatever the
source, :func:`clean_boxes` drops boxes that cannot hold a person (NaN, infinite, empty or negative size, wholly
outside the image) and clips those reaching far beyond it, and counts both, so a bad detections file shows up
as a count the user is told instead of silently missing or absurd "people".

numpy + OpenCV only.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edgepose.errors import ConfigError, DataError
from edgepose.runtime.poses import keypoint_box

BoxSource = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 4), dtype=np.float64), np.zeros(0, dtype=np.float64)


# Reasons counted by clean_boxes (keys of its Counter), in the words the user reads.
NOT_FINITE = "not finite (NaN or inf)"
EMPTY = "empty or negative size"
OUTSIDE = "outside the image"
CLIPPED = "clipped to the image (reached over one image size beyond it)"


def clean_boxes(
    boxes: np.ndarray, scores: np.ndarray, image_size: tuple[int, int], counts: Counter | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes ``(N, 4)`` xywh and scores fit to crop from an image of ``image_size`` = ``(H, W)``.

    Dropped: boxes or scores that are not finite, boxes at most 1 px wide or tall (negative sizes included)
    and boxes that do not overlap the image. Clipped to the image: boxes reaching more than one image size
    beyond an edge (a 1e9-pixel box would otherwise be a "person" a billion pixels tall, its keypoints
    anywhere). Boxes slightly outside the image (people cut by its border) are kept as they are. Each drop or
    clip is counted by reason in ``counts``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    counts = Counter() if counts is None else counts
    h, w = float(image_size[0]), float(image_size[1])
    finite = np.isfinite(boxes).all(axis=1) & np.isfinite(scores)
    counts[NOT_FINITE] += int((~finite).sum())
    boxes, scores = boxes[finite], scores[finite]
    sized = (boxes[:, 2] > 1) & (boxes[:, 3] > 1)
    counts[EMPTY] += int((~sized).sum())
    boxes, scores = boxes[sized], scores[sized]
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    inside = (x1 > 0) & (y1 > 0) & (x0 < w) & (y0 < h)
    counts[OUTSIDE] += int((~inside).sum())
    boxes, scores = boxes[inside], scores[inside]
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    far = (x0 < -w) | (y0 < -h) | (x1 > 2 * w) | (y1 > 2 * h)
    if far.any():
        counts[CLIPPED] += int(far.sum())
        cx0, cy0 = np.clip(x0[far], 0, w), np.clip(y0[far], 0, h)
        cx1, cy1 = np.clip(x1[far], 0, w), np.clip(y1[far], 0, h)
        boxes = boxes.copy()
        boxes[far] = np.stack([cx0, cy0, cx1 - cx0, cy1 - cy0], axis=1)
    for key in [k for k, v in counts.items() if v == 0]:
        del counts[key]
    return boxes, scores


def describe_box_counts(counts: Counter) -> str:
    """``"3 boxes dropped (2 not finite, 1 outside the image); 1 clipped to the image (...)"``, or ``""``."""
    dropped = {k: v for k, v in counts.items() if k != CLIPPED and v}
    parts = []
    if dropped:
        reasons = ", ".join(f"{v} {k}" for k, v in sorted(dropped.items(), key=lambda kv: -kv[1]))
        parts.append(f"{sum(dropped.values())} person boxes dropped ({reasons})")
    if counts.get(CLIPPED):
        parts.append(f"{counts[CLIPPED]} {CLIPPED}")
    return "; ".join(parts)


class DetectionFile:
    """Boxes from a COCO detection-results JSON (``[{"image_id", "bbox": [x, y, w, h], "score",
    "category_id"}, ...]``, e.g. HRNet's ``COCO_val2017_detections_AP_H_56_person.json``); only category 1
    (person) with ``score >= min_score`` is kept. Images absent from the file get no boxes."""

    def __init__(self, path: str | Path, *, min_score: float = 0.0) -> None:
        path = Path(path)
        if not path.is_file():
            raise DataError("detections file not found", path)
        try:
            records = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"not a readable JSON file ({exc})", path) from None
        if not isinstance(records, list):
            raise DataError("detections must be a JSON list of {image_id, bbox, score} records", path)
        self.path = path
        self.by_image: dict[int, list[tuple[list[float], float]]] = defaultdict(list)
        for n, rec in enumerate(records):
            try:
                if int(rec.get("category_id", 1)) != 1:
                    continue
                box = [float(v) for v in rec["bbox"]]
                score = float(rec.get("score", 1.0))
                image_id = int(rec["image_id"])
            except (KeyError, TypeError, ValueError, AttributeError):
                why = f"record {n} is not an {{image_id, bbox: [x, y, w, h], score}} detection"
                raise DataError(why, path) from None
            if len(box) != 4:
                raise DataError(f"record {n}: bbox must have 4 numbers, got {len(box)}", path)
            raw = [*rec["bbox"], rec.get("score", 1.0)]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
                raise DataError(f"record {n}: bbox and score must be JSON numbers, got {raw!r}", path)
            if not np.isfinite(score):
                raise DataError(f"record {n}: score is {score} (not a finite number)", path)
            if score >= min_score:
                self.by_image[image_id].append((box, score))

    def __call__(self, image_bgr: np.ndarray, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        items = self.by_image.get(int(image_id), [])
        if not items:
            return _empty()
        return np.array([b for b, _ in items], dtype=np.float64), np.array([s for _, s in items], dtype=np.float64)


class HogDetector:
    """OpenCV's HOG + linear SVM people detector (Dalal & Triggs): no extra weights, CPU-only, upright people
    at least 64×128 pixels. Weak, but always available; boxes are non-maximum suppressed."""

    def __init__(self, *, min_score: float = 0.0, nms_iou: float = 0.5) -> None:
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.min_score, self.nms_iou = min_score, nms_iou

    def __call__(self, image_bgr: np.ndarray, image_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rects, weights = self.hog.detectMultiScale(image_bgr, winStride=(8, 8), padding=(8, 8), scale=1.05)
        if len(rects) == 0:
            return _empty()
        boxes = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(weights, dtype=np.float64).reshape(-1)
        keep = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), self.min_score, self.nms_iou)
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)
        return boxes[keep], scores[keep]


class PoseBoxes:
    """Boxes of the people a bottom-up estimator finds: the box of each person's keypoints, padded by
    ``padding`` × its size on every side (0.1 -> 20 % larger), people below ``min_score`` dropped."""

    def __init__(self, estimator, *, padding: float = 0.1, min_score: float = 0.0, min_keypoints: int = 3) -> None:
        if estimator.task != "bottomup":
            raise DataError(f"a detector model must be bottom-up, {estimator.info.model_name!r} is {estimator.task}")
        self.estimator, self.padding, self.min_score, self.min_keypoints = estimator, padding, min_score, min_keypoints

    def __call__(self, image_bgr: np.ndarray, image_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores = [], []
        for person in self.estimator(image_bgr):
            kp = person.keypoints
            if person.score < self.min_score or int((kp[:, 2] > 0).sum()) < self.min_keypoints:
                continue
            box = keypoint_box(kp, padding=self.padding)
            if box[2] > 1 and box[3] > 1:
                boxes.append(box)
                # the box's score is the mean confidence of the joints found, in [0, 1] like every box score
                # (a PAF decoder's person score sums joints and limbs: ~300 for a clear person, not a probability)
                scores.append(float(kp[kp[:, 2] > 0, 2].mean()))
        if not boxes:
            return _empty()
        return np.asarray(boxes, dtype=np.float64), np.asarray(scores, dtype=np.float64)


class WholeImage:
    """The whole image as one person box (the default for top-down models without a detector)."""

    def __call__(self, image_bgr: np.ndarray, image_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
        h, w = image_bgr.shape[:2]
        return np.array([[0.0, 0.0, float(w), float(h)]]), np.ones(1)


DETECTOR_SPECS = ("'default' (the shipped people detector), 'hog' (OpenCV's people detector) or a bottom-up model: an "
                  ".onnx export or an edgepose checkpoint")
SHIPPED_DETECTOR = "default"
"""The ``--detector`` name of the detector shipped with edgepose (``edgepose/assets/model/detector.onnx``): what
``edgepose predict`` and ``edgepose demo`` box people with unless told otherwise (``--detector none``: the whole
image)."""
NO_DETECTOR = "none"
DETECTOR_REFINE = 0
"""Refinement passes on a bottom-up detector's boxes: none. Its boxes are the padded box of each person's joints,
already tight; a second crop around the first pass's joints lost accuracy on everyday photos (COCO val mini,
largest person: 0.550 without, 0.507 with one; benchmarks/coco_everyday_pck.py) and doubles the network calls."""


def bad_detector(spec: str, why: str) -> ConfigError:
    """The one-line error of a ``--detector`` value that cannot be used: the value and what is wrong with it."""
    return ConfigError(f"--detector {spec!r}: {why}")


def detector_from_spec(
    spec: str,
    *,
    min_score: float = 0.0,
    padding: float = 0.1,
    threads: int | None = None,
    height: int | None = None,
) -> BoxSource:
    """The box source a ``--detector`` value names, torch-free: ``"default"`` (the shipped detector, Intel's
    Lightweight OpenPose in INT8), ``"hog"`` (:class:`HogDetector`) or the path of a
    bottom-up ``.onnx`` model (:class:`PoseBoxes`: each person it finds becomes its keypoints' box, padded by
    ``padding`` on every side; ``height`` is its inference height, default the model's).

    Anything else raises one :class:`ConfigError` line naming the value and what is wrong: no such file, a
    checkpoint (needs PyTorch: :func:`edgepose.engine.detectors.resolve_detector` takes it), an ONNX model that is
    not edgepose's or not bottom-up. The boxes go through :func:`clean_boxes` in the estimator like any others.
    """
    from edgepose.errors import EdgeposeError

    text = str(spec).strip()
    if not text:
        raise bad_detector(spec, f"empty; give {DETECTOR_SPECS}")
    if text.lower() == "hog":
        return HogDetector(min_score=min_score)
    if text.lower() == SHIPPED_DETECTOR:
        from edgepose.assets import shipped_detector

        text = str(shipped_detector())
    path = Path(text)
    if not path.exists():
        raise bad_detector(spec, f"no such file, and not a detector name; give {DETECTOR_SPECS}")
    if not path.is_file():
        raise bad_detector(spec, "is a folder, not a model file")
    if path.suffix.lower() != ".onnx":
        raise bad_detector(spec, "a checkpoint needs PyTorch here (edgepose[torch]); or give its .onnx export")
    from edgepose.runtime.estimator import PoseEstimator

    try:
        estimator = PoseEstimator.from_onnx(path, threads=threads, height=height, batch_size=1)
    except EdgeposeError as exc:
        raise bad_detector(spec, str(exc).removeprefix(f"{path}: ")) from None
    return pose_boxes(estimator, spec, min_score=min_score, padding=padding)


def pose_boxes(estimator, spec: str, *, min_score: float = 0.0, padding: float = 0.1) -> PoseBoxes:
    """:class:`PoseBoxes` over ``estimator``, or the ``--detector`` error saying it is not a bottom-up model."""
    if estimator.task != "bottomup":
        raise bad_detector(spec, f"is a {estimator.task} model ({estimator.info.model_name}); a detector must be "
                                 "bottom-up (it finds the people in the whole image)")  # fmt: skip
    return PoseBoxes(estimator, padding=padding, min_score=min_score)
