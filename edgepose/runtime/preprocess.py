"""Image -> network input, for both pipelines; numpy + OpenCV only.

* Top-down: each person box becomes a crop of the network's input size through the same three-point affine
  the training data used (:func:`edgepose.geometry.get_affine_transform`, boxes padded to the input's
  aspect ratio and by 1.25), RGB, ImageNet-normalised: exactly what the top-down datasets give evaluation.
* Bottom-up: the whole image is resized so its height is the inference height (368 by default), BGR,
  ``(x - 128) / 256``, then padded right and bottom with zeros to a multiple of the stride (SPEC A.2.7), with
  the geometry the bottom-up oracle uses (:func:`edgepose.codecs.paf.input_geometry`).

Images enter as BGR uint8 (OpenCV's order, what ``cv2.imread`` and cameras give); the top-down path crops them
as they are and reads each crop's channels in RGB order while normalising.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edgepose.codecs.paf import input_geometry
from edgepose.errors import DataError
from edgepose.geometry import box_to_center_scale, crop_image, get_affine_transform, normalize_image

MIN_PERSON_PIXELS = 16  # an image narrower or lower than this cannot hold a person a pose model can see


def check_image(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 BGR image, or DataError saying what it is instead."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        what = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise DataError(f"expected an (H, W, 3) uint8 BGR image, got {what}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise DataError(f"image of size {image.shape[1]}x{image.shape[0]} is too small")
    return image


def check_person_image(image: np.ndarray, name: str | Path | None = None) -> np.ndarray:
    """``image`` when it is big enough to hold a person, else a DataError saying its size and the minimum.

    A 4x2000 sliver is a valid image but no person fits in it; the estimator would stretch it into a crop and
    return a "person" somewhere off the image. Refused, with the file's name."""
    h, w = image.shape[:2]
    if min(h, w) < MIN_PERSON_PIXELS:
        raise DataError(f"image is {w}x{h} pixels, too small to hold a person (needs at least {MIN_PERSON_PIXELS} "
                        "pixels each way)", name)  # fmt: skip
    return image



def topdown_inputs(
    image_bgr: np.ndarray, boxes_xywh: np.ndarray, input_size: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crops of every box: ``batch (N, 3, H, W)`` float32, ``centers (N, 2)``, ``scales (N, 2)``.

    ``input_size`` is the network's ``(H, W)``. Boxes are ``(x, y, w, h)`` in image pixels.
    """
    h, w = int(input_size[0]), int(input_size[1])
    bgr = check_image(image_bgr)
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    batch = np.zeros((len(boxes), 3, h, w), dtype=np.float32)
    centers = np.zeros((len(boxes), 2), dtype=np.float64)
    scales = np.zeros((len(boxes), 2), dtype=np.float64)
    for i, box in enumerate(boxes):
        centers[i], scales[i] = box_to_center_scale(box, w / h)
        matrix = get_affine_transform(centers[i], scales[i], 0.0, (w, h))
        # crop the BGR image, read its channels as RGB: the same pixels as converting the whole image first
        # (interpolation is per channel), without converting pixels the crop never uses
        normalize_image(crop_image(bgr, matrix, (w, h))[..., ::-1], out=batch[i])
    return batch, centers, scales


def bottomup_input(
    image_bgr: np.ndarray, height: int, stride: int
) -> tuple[np.ndarray, tuple[float, float], tuple[int, int]]:
    """The whole image at inference ``height``: ``batch (1, 3, Hp, Wp)``, the exact per-axis resize scales
    ``(sx, sy)`` (input px per image px) and the valid (un-padded) input size ``(h, w)``; the rest of the batch
    is zero padding up to multiples of ``stride``."""
    image = check_image(image_bgr)
    in_h, in_w, ph, pw, sx, sy = input_geometry(image.shape[1], image.shape[0], height, stride)
    resized = cv2.resize(image, (in_w, in_h), interpolation=cv2.INTER_LINEAR)
    batch = np.zeros((1, 3, ph, pw), dtype=np.float32)
    batch[0, :, :in_h, :in_w] = ((resized.astype(np.float32) - 128.0) / 256.0).transpose(2, 0, 1)
    return batch, (sx, sy), (in_h, in_w)


def flip_batch(batch: np.ndarray) -> np.ndarray:
    """Mirror network inputs left-right (the flip test)."""
    return np.ascontiguousarray(batch[..., ::-1])
