"""Training-data helpers of top-down datasets: ground-truth box cleaning, half-body crops, image reading.

The geometry they build on (boxes to centre/scale, the affine crop, flips, normalisation) is in
:mod:`edgepose.geometry`, the floor shared with the codecs and the torch-free runtime.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edgepose.errors import DataError
from edgepose.geometry import PIXEL_STD

# Half-body augmentation: which joints count as "upper body" per keypoint set (the rest are lower body).
UPPER_BODY_IDS: dict[str, tuple[int, ...]] = {
    "coco": (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
    "mpii": (7, 8, 9, 10, 11, 12, 13, 14, 15),
    "lsp": (6, 7, 8, 9, 10, 11, 12, 13),
}


# ----------------------------------------------------------------------------------------------- boxes
def sanitize_box(box_xywh: Sequence[float], width: int, height: int) -> np.ndarray | None:
    """Clip a COCO ground-truth box to the image (HRNet's GT-box cleaning); ``None`` if nothing is left.

    The box keeps COCO's inclusive-pixel reading: ``x2 = min(W - 1, x1 + max(0, w - 1))``.
    """
    x, y, w, h = (float(v) for v in box_xywh)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if w * h <= 0 or x2 < x1 or y2 < y1:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float64)


# ------------------------------------------------------------------------------------------- half body
def half_body(
    joints: np.ndarray,
    upper_body_ids: Sequence[int],
    aspect_ratio: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray] | None:
    """HRNet's half-body crop: (center, scale) around the labelled upper or lower body, ×1.5; None if too few.

    Upper body is chosen with probability 0.5 when it has more than two labelled joints, else the lower body
    (if it has more than two), else the upper body; fewer than two joints selected -> ``None``.
    """
    joints = np.asarray(joints, dtype=np.float64)
    upper_set = set(int(i) for i in upper_body_ids)
    upper = [j for j in range(len(joints)) if joints[j, 2] > 0 and j in upper_set]
    lower = [j for j in range(len(joints)) if joints[j, 2] > 0 and j not in upper_set]
    if rng.random() < 0.5 and len(upper) > 2:
        chosen = upper
    else:
        chosen = lower if len(lower) > 2 else upper
    if len(chosen) < 2:
        return None
    pts = joints[chosen, :2]
    center = pts.mean(axis=0)
    left_top, right_bottom = pts.min(axis=0), pts.max(axis=0)
    w, h = right_bottom - left_top
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD], dtype=np.float64) * 1.5
    return center, scale


def read_image_rgb(path) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB; a missing or unreadable file raises DataError."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise DataError("image file is missing or unreadable", path)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
