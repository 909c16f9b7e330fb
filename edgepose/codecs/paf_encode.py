"""Bottom-up training targets: keypoint heatmaps and part affinity fields (PAFs) at the network's stride.

Conventions (SPEC A.2.6, Lightweight OpenPose's ``datasets/coco.py`` target rendering, vectorised):

* Keypoints are ``(N, 18, 3)`` arrays in the OpenPose-18 order of :data:`edgepose.keypoints.OPENPOSE_KEYPOINTS`
  with (x, y, v) in **input pixels** (pixel centres at integer positions). A keypoint is drawn when ``v > 0``
  (COCO's "labelled", occluded or visible) and its coordinates are finite.
* Map pixel ``m`` samples the input at ``m * stride + (stride / 2 - 0.5)`` (3.5 px for stride 8), the pixel
  centre of the ``stride x stride`` cell it summarises. This is the same correspondence ``cv2.resize`` uses
  when the decoder upsamples the maps, so encoding and decoding agree to the sub-pixel.
* Heatmaps: channel ``k`` holds the Gaussians (sigma in input pixels) of every person's keypoint ``k``,
  **added and clamped at 1**; values below 0.01 (exponent > ln 100) are cut to 0. The last channel is the
  background, ``1 - max`` over the keypoint channels.
* PAFs: limb ``i`` of :data:`edgepose.keypoints.OPENPOSE_LIMBS` owns channels ``(2i, 2i+1)`` = the (x, y) unit
  vector from its first to its second keypoint, set on map pixels whose perpendicular distance to the
  segment's line is at most ``thickness`` map pixels, inside the segment's bounding box grown by
  ``thickness`` (both ends included; LWOP's exclusive ``int()`` end drops the last row or column of the box,
  which can leave a one-pixel-wide field that stops short of the keypoint). Persons drawn later
  **overwrite** earlier ones where limbs overlap.
  (LWOP places PAF map pixel ``m`` at input pixel ``m * stride`` but heatmap pixels at the cell centre, a
  0.44-map-pixel disagreement; we use the cell centre for both.)

numpy only (no torch, no cv2): importable by the torch-free runtime.
"""

from __future__ import annotations

import math

import numpy as np

from edgepose.errors import DataError
from edgepose.keypoints import NUM_OPENPOSE_HEATMAPS, OPENPOSE_KEYPOINTS, OPENPOSE_LIMBS

LN_100 = math.log(100.0)  # Gaussians are cut where exp(-exponent) < 0.01


def map_size(input_size: int | tuple[int, int], stride: int) -> tuple[int, int]:
    """(map_h, map_w) of an input of ``input_size`` = (height, width) (or a square side) at ``stride``."""
    if isinstance(input_size, (int, np.integer)):
        h = w = int(input_size)
    else:
        h, w = (int(v) for v in input_size)
    if h <= 0 or w <= 0:
        raise DataError(f"input size must be positive, got {input_size!r}")
    return h // stride, w // stride


def _as_keypoints(keypoints: np.ndarray | list) -> np.ndarray:
    try:
        kp = np.asarray(keypoints, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"keypoints must be a numeric (N, {len(OPENPOSE_KEYPOINTS)}, 3) array: {exc}") from None
    if kp.size == 0:
        return np.zeros((0, len(OPENPOSE_KEYPOINTS), 3), dtype=np.float64)
    if kp.ndim == 2:
        kp = kp[None]
    if kp.ndim != 3 or kp.shape[1:] != (len(OPENPOSE_KEYPOINTS), 3):
        raise DataError(f"keypoints must be (N, {len(OPENPOSE_KEYPOINTS)}, 3), got {kp.shape}")
    return kp


def _labelled(kp: np.ndarray) -> np.ndarray:
    """(N, 18) bool: drawn keypoints (v > 0 and finite coordinates)."""
    return (kp[..., 2] > 0) & np.isfinite(kp[..., 0]) & np.isfinite(kp[..., 1])


def render_heatmaps(
    keypoints: np.ndarray, input_size: int | tuple[int, int], stride: int = 8, sigma: float = 7.0
) -> np.ndarray:
    """``(19, H/stride, W/stride)`` float32: 18 keypoint channels (summed Gaussians, clamped at 1) + background."""
    kp = _as_keypoints(keypoints)
    mh, mw = map_size(input_size, stride)
    n_kpt = len(OPENPOSE_KEYPOINTS)
    heat = np.zeros((NUM_OPENPOSE_HEATMAPS, mh, mw), dtype=np.float32)
    person, channel = np.nonzero(_labelled(kp))
    if person.size and mh and mw:
        shift = stride / 2.0 - 0.5
        xs = kp[person, channel, 0]
        ys = kp[person, channel, 1]
        gx = np.arange(mw, dtype=np.float64) * stride + shift
        gy = np.arange(mh, dtype=np.float64) * stride + shift
        inv = 1.0 / (2.0 * sigma * sigma)
        ex = (gx[None, :] - xs[:, None]) ** 2 * inv  # (M, mw)
        ey = (gy[None, :] - ys[:, None]) ** 2 * inv  # (M, mh)
        exponent = ey[:, :, None] + ex[:, None, :]  # (M, mh, mw)
        g = np.where(exponent > LN_100, 0.0, np.exp(-np.minimum(exponent, 50.0)))
        acc = np.zeros((n_kpt, mh, mw), dtype=np.float64)
        np.add.at(acc, channel, g)
        heat[:n_kpt] = np.minimum(acc, 1.0)
    heat[n_kpt] = 1.0 - heat[:n_kpt].max(axis=0)
    return heat


def render_pafs(
    keypoints: np.ndarray, input_size: int | tuple[int, int], stride: int = 8, thickness: float = 1.0
) -> np.ndarray:
    """``(2 * len(OPENPOSE_LIMBS), H/stride, W/stride)`` float32 unit vectors along each labelled limb."""
    kp = _as_keypoints(keypoints)
    mh, mw = map_size(input_size, stride)
    pafs = np.zeros((2 * len(OPENPOSE_LIMBS), mh, mw), dtype=np.float32)
    if kp.shape[0] == 0 or not mh or not mw:
        return pafs
    labelled = _labelled(kp)
    shift = stride / 2.0 - 0.5
    pts = (kp[..., :2] - shift) / stride  # map coordinates
    for limb, (ka, kb) in enumerate(OPENPOSE_LIMBS):
        for n in np.nonzero(labelled[:, ka] & labelled[:, kb])[0]:  # in order: later persons overwrite
            xa, ya = pts[n, ka]
            xb, yb = pts[n, kb]
            dx, dy = xb - xa, yb - ya
            norm = math.hypot(dx, dy)
            if norm < 1e-7:  # coincident points: no direction
                continue
            ux, uy = dx / norm, dy / norm
            # map pixels inside the segment's box grown by the thickness, both ends included (LWOP's
            # int()-truncated exclusive end drops the last row/column, cutting PAFs short at the keypoint)
            x0 = max(math.ceil(min(xa, xb) - thickness), 0)
            x1 = min(math.floor(max(xa, xb) + thickness) + 1, mw)
            y0 = max(math.ceil(min(ya, yb) - thickness), 0)
            y1 = min(math.floor(max(ya, yb) + thickness) + 1, mh)
            if x1 <= x0 or y1 <= y0:
                continue
            gx = np.arange(x0, x1, dtype=np.float64) - xa
            gy = np.arange(y0, y1, dtype=np.float64) - ya
            dist = np.abs(gx[None, :] * uy - gy[:, None] * ux)
            on = dist <= thickness
            pafs[2 * limb, y0:y1, x0:x1][on] = ux
            pafs[2 * limb + 1, y0:y1, x0:x1][on] = uy
    return pafs
