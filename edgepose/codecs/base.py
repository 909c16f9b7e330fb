"""The codec contract: what every keypoint codec promises, so that datasets, predictors and oracles can rely on it.

A codec is the one object that turns labelled keypoints into training targets (:meth:`KeypointCodec.encode`)
and network outputs back into keypoints (:meth:`KeypointCodec.decode`), so targets and decoding cannot drift
apart. Both sides work in the **network-input frame** (pixel centres at integer positions of the crop or of the
resized image): a codec knows nothing about the original image. The caller maps points between the image and
the input with :mod:`edgepose.geometry` (the dataset before encoding, the predictor after decoding), which keeps
codecs free of data and image geometry and lets the torch-free runtime decode with them.

Implementations:

* :class:`~edgepose.codecs.heatmap.HeatmapCodec` (top-down, MSRA or DARK): one person per crop.
  ``encode`` -> :class:`Encoded` (``targets (K, h, w)``, ``weights (K, 1)``); ``decode`` -> :class:`Decoded`
  (``keypoints (N, K, 2)``, ``scores (N, K)``) for ``N`` crops.
* :class:`~edgepose.codecs.paf.PafCodec` (bottom-up, heatmaps + part affinity fields): any number of people per
  image. ``encode`` -> :class:`~edgepose.codecs.paf.PafTargets` (``heatmaps (19, h, w)``, ``pafs (38, h, w)``;
  its loss weights are the dataset's masks, which depend on crowd regions the codec never sees); ``decode`` ->
  :class:`~edgepose.codecs.paf_decode.PafPoses`, whose ``keypoints (P, 18, 3)`` and ``person_scores()`` are the
  decoded people in input pixels.

Codecs raise :class:`~edgepose.errors.DataError` on outputs or keypoints of the wrong shape (a broken model file
or dataset is a data problem the user can act on, not a traceback) and :class:`~edgepose.errors.ConfigError` on
bad settings. numpy only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import numpy as np

from edgepose.errors import DataError


class Encoded(NamedTuple):
    """Training targets of one sample and their loss weights; unpacks as ``targets, weights``."""

    targets: np.ndarray
    weights: np.ndarray


class Decoded(NamedTuple):
    """Decoded keypoints in network-input pixels; unpacks as ``keypoints, scores``."""

    keypoints: np.ndarray  # (N, K, 2) x, y
    scores: np.ndarray  # (N, K) confidence of each keypoint (<= 0: not found)


class KeypointCodec(ABC):
    """Encode keypoints to targets and decode outputs to keypoints, both in the network-input frame."""

    @abstractmethod
    def encode(self, keypoints: np.ndarray, *args: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Targets (a named tuple of arrays) of labelled keypoints given in network-input pixels."""

    @abstractmethod
    def decode(self, *outputs: Any, **kwargs: Any) -> Any:
        """Keypoints and scores in network-input pixels from network outputs (see the implementation)."""


def split_visibility(
    keypoints: np.ndarray, visibility: np.ndarray | None, width: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """``(..., K, 2)`` coordinates and ``(..., K)`` visibility from ``keypoints`` (x, y[, v]) and ``visibility``.

    Args:
        keypoints: ``(..., K, 2)`` points, or ``(..., K, 3)`` with the visibility in the last column.
        visibility: ``(..., K)`` visibility; ``None`` takes the third column of ``keypoints``.
        width: only used in the error message (the caller's expected column count).

    Returns:
        ``(xy, v)`` as float64 arrays. Raises DataError when the shapes do not fit.
    """
    try:
        kp = np.asarray(keypoints, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"keypoints must be a numeric array (..., K, {width}): {exc}") from None
    if kp.ndim < 2 or kp.shape[-1] not in (2, 3):
        raise DataError(f"keypoints must be (..., K, 2) or (..., K, 3), got shape {kp.shape}")
    if visibility is None:
        if kp.shape[-1] != 3:
            raise DataError(f"keypoints of shape {kp.shape} carry no visibility column; pass visibility")
        return kp[..., :2], kp[..., 2]
    vis = np.asarray(visibility, dtype=np.float64)
    if vis.shape != kp.shape[:-1]:
        raise DataError(f"visibility must be {kp.shape[:-1]} for keypoints {kp.shape}, got {vis.shape}")
    return kp[..., :2], vis
