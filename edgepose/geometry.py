"""The geometry floor: boxes to (centre, scale), the three-point affine, point maps, flips, normalisation.

Everything that maps pixels or points between an image and a network input lives here, *below* ``data/``,
``codecs/`` and ``runtime/``: the training dataset warps images with these functions, the codec encodes and
back-projects joints with them, and the torch-free runtime crops with them, so the three can never disagree
and none of them has to import another's package.

Conventions (SimpleBaseline / HRNet, see docs/topdown.md):

* Coordinates are pixel centres at integer positions; a horizontal mirror of an image ``W`` pixels wide maps
  ``x -> W - 1 - x``.
* A person's crop is described by a ``center`` (x, y) and a ``scale`` (sx, sy) in units of ``PIXEL_STD`` = 200
  pixels: the crop covers ``scale * 200`` pixels of the image, already padded to the network's aspect ratio.
* :func:`get_affine_transform` builds the image -> crop (or, with ``inv=True``, crop -> image) 2×3 matrix from
  three point pairs (the centre, a point "up" from it rotated by ``rot`` degrees, and a third point
  perpendicular to those two) with ``cv2.getAffineTransform``.
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


def crop_to_image(
    points: np.ndarray, centers: np.ndarray, scales: np.ndarray, input_size_hw: Sequence[int]
) -> np.ndarray:
    """Map ``(N, K, 2)`` points of ``N`` unrotated ``(H, W)`` network-input crops back to image pixels.

    The inverse of the crop each (center, scale) row made (:func:`get_affine_transform` with ``inv=True``): the
    one way decoded keypoints return to the image, for evaluation, prediction and the codec oracle alike.
    """
    pts = np.asarray(points, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    scales = np.asarray(scales, dtype=np.float64).reshape(-1, 2)
    if len(centers) != len(pts) or len(scales) != len(pts):
        raise DataError(f"{len(pts)} crops of points but {len(centers)} centers and {len(scales)} scales")
    size_wh = (int(input_size_hw[1]), int(input_size_hw[0]))
    out = np.empty((*pts.shape[:-1], 2), dtype=np.float64)
    for i in range(len(pts)):
        out[i] = affine_points(pts[i], get_affine_transform(centers[i], scales[i], 0.0, size_wh, inv=True))
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


# -------------------------------------------------------------------------------------- normalisation
# uint8 value -> normalised float32, one row per RGB channel: the formula below evaluated once per value with the
# same float32 operations, so a lookup gives identical bits about 5x faster than the arithmetic on every pixel
_NORMALIZE_LUT = (np.arange(256, dtype=np.float32)[None, :] / np.float32(255.0) - IMAGENET_MEAN[:, None]) / (
    IMAGENET_STD[:, None]
)


def normalize_image(crop_rgb: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``(H, W, 3)`` RGB -> ``(3, H, W)`` float32, ``(x/255 - mean) / std`` with ImageNet RGB statistics.

    uint8 crops (what every pipeline gives) go through a per-channel lookup table, written into ``out`` when
    given (a slot of the caller's batch: no extra copy); other dtypes through the arithmetic."""
    crop = np.asarray(crop_rgb)
    if crop.dtype != np.uint8:
        x = (crop.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
        x = np.ascontiguousarray(x.transpose(2, 0, 1))
        if out is None:
            return x
        out[...] = x
        return out
    if out is None:
        out = np.empty((3, *crop.shape[:2]), dtype=np.float32)
    for c in range(3):
        np.take(_NORMALIZE_LUT[c], crop[..., c], out=out[c])
    return out


def denormalize_image(chw: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normalize_image` (for drawing): ``(3, H, W)`` float -> ``(H, W, 3)`` uint8 RGB."""
    x = np.asarray(chw, dtype=np.float32).transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
