"""Drawing poses on images: skeleton limbs in per-limb colours, keypoints above a confidence threshold, boxes
and scores.

numpy + OpenCV only (no torch), so the torch-free runtime and ``edgepose predict --onnx`` draw with it too.
Images are BGR ``uint8`` like everything OpenCV reads and writes; drawing happens on a copy unless
``inplace=True``. Keypoints are ``(K, 3)`` rows of ``(x, y, confidence)`` in image pixels, in the order of the
skeleton's keypoint set (COCO-17 by default, :data:`edgepose.keypoints.COCO_SKELETON`).

A pose whose *every* joint is below the threshold is not left out: :func:`draw_poses` draws it faintly (see
:data:`FAINT_OPACITY`), so an image where the model found someone it is unsure of never looks like an image
where nothing was found (``faint=False`` leaves such poses out).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from edgepose.keypoints import COCO_SKELETON

FAINT_OPACITY = 0.4  # how strongly a pose with no joint above the threshold is blended in (1 = like the others)


def limb_colours(n: int) -> list[tuple[int, int, int]]:
    """``n`` well-separated BGR colours (evenly spaced hues, full saturation), one per limb."""
    hues = np.linspace(0, 179, num=max(n, 1), endpoint=False).astype(np.uint8)
    hsv = np.stack([hues, np.full_like(hues, 230), np.full_like(hues, 255)], axis=-1)[None]
    bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0]
    return [tuple(int(c) for c in row) for row in bgr[:n]]


def _line_width(image: np.ndarray) -> int:
    """Line thickness that stays visible on large images and does not swamp small ones."""
    return max(1, round(max(image.shape[:2]) / 320))


def draw_pose(
    image: np.ndarray,
    keypoints: np.ndarray,
    *,
    skeleton: Sequence[tuple[int, int]] = COCO_SKELETON,
    threshold: float = 0.3,
    colours: Sequence[tuple[int, int, int]] | None = None,
    point_colour: tuple[int, int, int] = (255, 255, 255),
    thickness: int | None = None,
) -> np.ndarray:
    """Draw one person's skeleton in place on ``image`` (BGR uint8) and return it.

    A limb is drawn when both of its keypoints have confidence >= ``threshold``; a keypoint is drawn when its
    own confidence is >= ``threshold``. Non-finite coordinates are never drawn.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[1] < 2:
        raise ValueError(f"keypoints must be (K, 2) or (K, 3), got shape {kp.shape}")
    conf = kp[:, 2] if kp.shape[1] > 2 else np.ones(len(kp))
    visible = (conf >= threshold) & np.isfinite(kp[:, :2]).all(axis=1)
    colours = list(colours) if colours is not None else limb_colours(len(skeleton))
    t = thickness or _line_width(image)
    for (a, b), colour in zip(skeleton, colours):
        if a < len(kp) and b < len(kp) and visible[a] and visible[b]:
            pa = (round(kp[a, 0]), round(kp[a, 1]))
            pb = (round(kp[b, 0]), round(kp[b, 1]))
            cv2.line(image, pa, pb, colour, t + 1, cv2.LINE_AA)
    radius = t + 2
    for x, y in kp[visible, :2]:
        cv2.circle(image, (round(x), round(y)), radius, point_colour, -1, cv2.LINE_AA)
        cv2.circle(image, (round(x), round(y)), radius, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def draw_box(
    image: np.ndarray,
    box_xywh: Sequence[float],
    *,
    score: float | None = None,
    label: str | None = None,
    colour: tuple[int, int, int] = (0, 200, 0),
    thickness: int | None = None,
) -> np.ndarray:
    """Draw a ``(x, y, w, h)`` box in place, with an optional ``label`` and ``score`` above it."""
    x, y, w, h = (float(v) for v in box_xywh)
    t = thickness or _line_width(image)
    p1, p2 = (round(x), round(y)), (round(x + w), round(y + h))
    cv2.rectangle(image, p1, p2, colour, t)
    text = " ".join(s for s in (label, None if score is None else f"{score:.2f}") if s)
    if text:
        scale = 0.4 * t
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(p1[1] - th - base - 2, 0)
        cv2.rectangle(image, (p1[0], top), (p1[0] + tw + 2, top + th + base + 2), colour, -1)
        cv2.putText(image, text, (p1[0] + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def draw_poses(
    image: np.ndarray,
    persons: Iterable,
    *,
    skeleton: Sequence[tuple[int, int]] = COCO_SKELETON,
    threshold: float = 0.3,
    boxes: bool = True,
    scores: bool = True,
    inplace: bool = False,
    faint: bool = True,
) -> np.ndarray:
    """Draw every person (anything with ``keypoints`` and optionally ``box``, ``score``, ``track_id``
    attributes, or a bare ``(K, 3)`` array) on a copy of ``image`` (or in place) and return it.

    A person none of whose joints reaches ``threshold`` is drawn whole (every joint with a positive score) at
    :data:`FAINT_OPACITY` when ``faint``, and not at all otherwise."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an (H, W, 3) uint8 BGR array, got {image.dtype} {image.shape}")
    canvas = image if inplace else image.copy()
    colours = limb_colours(len(skeleton))
    for person in persons:
        kp = getattr(person, "keypoints", person)
        box = getattr(person, "box", None)
        if boxes and box is not None:
            track = getattr(person, "track_id", None)
            draw_box(
                canvas,
                box,
                score=getattr(person, "score", None) if scores else None,
                label=None if track is None else f"#{track}",
            )
        if faint and _all_below(kp, threshold):
            layer = canvas.copy()
            draw_pose(layer, kp, skeleton=skeleton, threshold=np.nextafter(0.0, 1.0), colours=colours)
            cv2.addWeighted(layer, FAINT_OPACITY, canvas, 1.0 - FAINT_OPACITY, 0.0, dst=canvas)
        else:
            draw_pose(canvas, kp, skeleton=skeleton, threshold=threshold, colours=colours)
    return canvas


def _all_below(keypoints: np.ndarray, threshold: float) -> bool:
    """True when the pose has joints but none at ``threshold`` (a found pose the drawing would leave out)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[1] < 3 or len(kp) == 0:
        return False
    return not (kp[:, 2] >= threshold).any() and bool((kp[:, 2] > 0).any())


def draw_fps(canvas: np.ndarray, fps: float) -> np.ndarray:
    """``"12.3 FPS"`` in the top-left corner, white on a dark box (readable on any frame), in place."""
    text = f"{fps:.1f} FPS"
    scale = max(0.5, canvas.shape[0] / 720)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.rectangle(canvas, (4, 4), (12 + tw, 12 + th + base), (0, 0, 0), -1)
    cv2.putText(canvas, text, (8, 8 + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return canvas
