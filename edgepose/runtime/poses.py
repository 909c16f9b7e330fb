"""What every predictor returns: :class:`Person`, and the conversions users need from it.

A person is ``keypoints`` ``(K, 3)`` rows of ``(x, y, confidence)`` in pixels of the original image (COCO-17
order for every shipped model; bottom-up OpenPose-18 outputs are converted), a ``score`` and a ``box``
``(x, y, w, h)``: the detector's box for top-down models, the padded box of the keypoints for bottom-up ones.

numpy only (no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Person:
    keypoints: np.ndarray  # (K, 3): x, y, confidence
    score: float
    box: np.ndarray | None = None  # (x, y, w, h)
    track_id: int | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        self.score = float(self.score)
        if self.box is None:
            self.box = keypoint_box(self.keypoints)
        else:
            self.box = np.asarray(self.box, dtype=np.float32)

    def to_coco(self, image_id: int, category_id: int = 1, offset: float = 0.0) -> dict:
        """A COCO keypoint *result* record (what ``COCO.loadRes`` reads): 51 floats for 17 keypoints, visibility
        column = the keypoint's confidence (pycocotools ignores it). ``offset`` is added to found keypoints'
        x and y (0.5 turns pixel-centre coordinates into COCO's continuous ones, the bottom-up convention)."""
        kp = np.asarray(self.keypoints, dtype=np.float64).copy()
        kp[~np.isfinite(kp)] = 0.0
        kp[kp[:, 2] > 0, :2] += offset
        return {
            "image_id": int(image_id),
            "category_id": int(category_id),
            "keypoints": [round(float(v), 3) for v in kp[:, :3].reshape(-1)],
            "score": round(float(self.score), 5),
            "bbox": [round(float(v), 2) for v in self.box],
        }


def keypoint_box(keypoints: np.ndarray, *, threshold: float = 0.0, padding: float = 0.0) -> np.ndarray:
    """The ``(x, y, w, h)`` box around keypoints with confidence > ``threshold``, grown by ``padding`` × its size
    on every side (``padding=0.1`` -> 20 % wider and taller). Zeros if no keypoint qualifies."""
    kp = np.asarray(keypoints, dtype=np.float64)
    ok = (kp[:, 2] > threshold) & np.isfinite(kp[:, :2]).all(axis=1) if kp.shape[1] > 2 else np.ones(len(kp), bool)
    if not ok.any():
        return np.zeros(4, dtype=np.float32)
    x0, y0 = kp[ok, :2].min(axis=0)
    x1, y1 = kp[ok, :2].max(axis=0)
    w, h = x1 - x0, y1 - y0
    return np.array([x0 - padding * w, y0 - padding * h, w * (1 + 2 * padding), h * (1 + 2 * padding)], np.float32)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0
