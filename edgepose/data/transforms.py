"""Geometry of top-down crops: boxes to (centre, scale), the three-point affine, flips, half-body, normalisation.

Conventions (SimpleBaseline / HRNet, see docs/topdown.md):

* Coordinates are pixel centres at integer positions; a horizontal mirror of an image ``W`` pixels wide maps
  ``x -> W - 1 - x``.
* A person's crop is described by a ``center`` (x, y) and a ``scale`` (sx, sy) in units of ``PIXEL_STD`` = 200
  pixels: the crop covers ``scale * 200`` pixels of the image, already padded to the network's aspect ratio.
* :func:`get_affine_transform` builds the image -> crop (or, with ``inv=True``, crop -> image) 2×3 matrix from
  three point pairs (the centre, a point "up" from it rotated by ``rot`` degrees, and a third point
  perpendicular to those two) with ``cv2.getAffineTransform``. The dataset warps images with it, the codec
  maps joints with it and the decoder back-projects with its inverse, so the three can never disagree.
* ``output_size`` arguments are ``(width, height)`` like OpenCV; config ``input_size`` values are ``(H, W)``.

Images enter the network as **RGB** float tensors normalised with ImageNet statistics, on purpose: the
microsoft SimpleBaseline code feeds BGR images with RGB statistics (a quirk, SPEC A.1.8); we convert to RGB so
that ImageNet-pretrained RGB weights see what they were trained on.

numpy + OpenCV only (no torch): the torch-free runtime uses these functions too.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edgepose.errors import DataError

PIXEL_STD = 200.0
BOX_PADDING = 1.25
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # RGB order
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

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


def box_to_center_scale(
    box_xywh: Sequence[float],
    aspect_ratio: float,
    *,
    pixel_std: float = PIXEL_STD,
    padding: float = BOX_PADDING,
) -> tuple[np.ndarray, np.ndarray]:
    """A box ``(x, y, w, h)`` -> ``(center, scale)``: pad to ``aspect_ratio`` (= width / height), /200, ×1.25.

    ``aspect_ratio`` is the network input's width / height (192 / 256 = 0.75 for COCO).
    """
    x, y, w, h = (float(v) for v in box_xywh)
    if not all(np.isfinite([x, y, w, h])) or w <= 0 or h <= 0:
        raise DataError(f"box {list(box_xywh)!r} must have a finite, positive width and height")
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float64)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w / pixel_std, h / pixel_std], dtype=np.float64) * padding
    return center, scale


def center_scale_to_box(center: Sequence[float], scale: Sequence[float], pixel_std: float = PIXEL_STD) -> np.ndarray:
    """The (already padded) region ``(x, y, w, h)`` a (center, scale) pair covers."""
    cx, cy = (float(v) for v in center)
    w, h = (float(v) * pixel_std for v in scale)
    return np.array([cx - w / 2, cy - h / 2, w, h], dtype=np.float64)


# ---------------------------------------------------------------------------------------------- affine
def _rotate(point: np.ndarray, rot_rad: float) -> np.ndarray:
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    return np.array([point[0] * cs - point[1] * sn, point[0] * sn + point[1] * cs], dtype=np.float64)


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The point that makes (a, b, c) a right angle at b, turned 90° from b->a."""
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float64)


def get_affine_transform(
    center: Sequence[float],
    scale: Sequence[float],
    rot: float,
    output_size: Sequence[int],
    shift: Sequence[float] = (0.0, 0.0),
    inv: bool = False,
) -> np.ndarray:
    """The 2×3 image -> crop matrix (crop -> image with ``inv=True``) of a (center, scale, rot) crop.

    ``output_size`` is ``(width, height)`` of the crop (input or heatmap). ``rot`` is in degrees; a positive
    angle rotates the person counter-clockwise in the crop. ``shift`` moves the source centre by a fraction of
    the crop size. Only ``scale[0]`` (the width) sets the zoom; the height follows from the aspect ratio.
    """
    center = np.asarray(center, dtype=np.float64)
    scale_px = np.asarray(scale, dtype=np.float64) * PIXEL_STD
    shift = np.asarray(shift, dtype=np.float64)
    src_w = scale_px[0]
    dst_w, dst_h = float(output_size[0]), float(output_size[1])
    rot_rad = np.pi * float(rot) / 180.0

    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center + scale_px * shift
    src[1] = center + _rotate(np.array([0.0, -0.5 * src_w]), rot_rad) + scale_px * shift
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + np.array([0.0, -0.5 * dst_w], dtype=np.float32)
    src[2] = _third_point(src[0].astype(np.float64), src[1].astype(np.float64))
    dst[2] = _third_point(dst[0].astype(np.float64), dst[1].astype(np.float64))
    if inv:
        return cv2.getAffineTransform(dst, src)
    return cv2.getAffineTransform(src, dst)


def affine_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine to ``(..., 2)`` points (extra trailing columns are ignored and not returned)."""
    pts = np.asarray(points, dtype=np.float64)[..., :2]
    m = np.asarray(matrix, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def crop_image(image: np.ndarray, matrix: np.ndarray, output_size: Sequence[int]) -> np.ndarray:
    """``warpAffine`` with INTER_LINEAR into an ``output_size`` = (width, height) crop, zero borders."""
    return cv2.warpAffine(
        image, np.asarray(matrix, dtype=np.float64), (int(output_size[0]), int(output_size[1])), flags=cv2.INTER_LINEAR
    )


def joints_to_crop(
    joints: np.ndarray,
    center: Sequence[float],
    scale: Sequence[float],
    rot: float,
    input_size_hw: Sequence[int],
) -> np.ndarray:
    """Map ``(K, 3)`` image joints (x, y, v) into the ``(H, W)`` network-input crop; v is kept, unlabelled stay 0.

    The one place the dataset and the codec oracle map joints, so their targets are identical.
    """
    joints = np.asarray(joints, dtype=np.float64)
    h, w = int(input_size_hw[0]), int(input_size_hw[1])
    matrix = get_affine_transform(center, scale, rot, (w, h))
    out = joints.copy()
    labelled = joints[:, 2] > 0
    out[labelled, :2] = affine_points(joints[labelled, :2], matrix)
    out[~labelled, :2] = 0.0
    return out


# ------------------------------------------------------------------------------------------------ flips
def flip_joints(joints: np.ndarray, width: int, flip_index: Sequence[int]) -> np.ndarray:
    """Mirror ``(K, C)`` joints of an image ``width`` pixels wide (x -> W-1-x) and swap left/right.

    Row ``i`` of the result is the mirrored joint ``flip_index[i]``; unlabelled joints (v = 0) stay at 0.
    """
    joints = np.asarray(joints, dtype=np.float64)
    out = joints[np.asarray(flip_index, dtype=np.int64)].copy()
    labelled = out[:, 2] > 0 if out.shape[1] > 2 else np.ones(len(out), dtype=bool)
    out[labelled, 0] = width - 1 - out[labelled, 0]
    return out


def flip_image(image: np.ndarray) -> np.ndarray:
    """Mirror an ``(H, W[, C])`` image left-right (a contiguous copy)."""
    return np.ascontiguousarray(image[:, ::-1])


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


# -------------------------------------------------------------------------------------- normalisation
def normalize_image(crop_rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float32, ``(x/255 - mean) / std`` with ImageNet RGB statistics."""
    x = np.asarray(crop_rgb, dtype=np.float32) / 255.0
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def denormalize_image(chw: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normalize_image` (for drawing): ``(3, H, W)`` float -> ``(H, W, 3)`` uint8 RGB."""
    x = np.asarray(chw, dtype=np.float32).transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def read_image_rgb(path) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB; a missing or unreadable file raises DataError."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise DataError("image file is missing or unreadable", path)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
