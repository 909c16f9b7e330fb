"""The codec contract: what every keypoint codec promises, so that datasets, predictors and oracles can rely on it.

A codec is the one object that turns labelled keypoints into training targets (:meth:`KeypointCodec.encode`)
and network outputs back into keypoints (:meth:`KeypointCodec.decode`), so targets and decoding cannot drift
apart. Both sides work in the **network-input frame** (pixel centres at integer positions of the crop or of the
resized image): a codec knows nothing about the original image. The caller maps points between the image and
the input with :mod:`edgepose.geometry` (the dataset before encoding, the predictor after decoding), which keeps
codecs free of data and image geometry and lets the torch-free runtime decode with them.

Two typed contracts refine it, one per task, and the runtime relies on them (it asks a codec for its ``task``
and calls the contract's methods; it never dispatches on a concrete class):

* :class:`HeatmapKeypointCodec` (top-down): ``input_size``, ``heatmap_size``, ``encode(keypoints, visibility)
  -> Encoded``, ``decode(heatmaps (N, K, h, w)) -> Decoded``, ``flip_back(heatmaps, flip_index)``.
* :class:`PafKeypointCodec` (bottom-up): ``stride``, ``upsample``, ``coco_offset``, ``encode(keypoints,
  input_size, visibility)``, ``decode(heatmaps, pafs, valid_size=, upsample=, timings=)``,
  ``upsample_maps``, ``decode_upsampled`` and ``with_upsample(factor)``.

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
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

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

    task: ClassVar[str]
    """The task whose network outputs this codec decodes: ``"topdown"`` or ``"bottomup"``."""

    @abstractmethod
    def encode(self, keypoints: np.ndarray, *args: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Targets (a named tuple of arrays) of labelled keypoints given in network-input pixels."""

    @abstractmethod
    def decode(self, *outputs: Any, **kwargs: Any) -> Any:
        """Keypoints and scores in network-input pixels from network outputs (see the contracts below)."""


class HeatmapKeypointCodec(KeypointCodec):
    """The top-down contract: one person per crop, K heatmaps in, K keypoints out (crop pixels)."""

    task: ClassVar[str] = "topdown"
    input_size: tuple[int, int]  # (H, W) of the crop
    heatmap_size: tuple[int, int]  # (h, w) of the heatmaps

    @abstractmethod
    def encode(self, keypoints: np.ndarray, visibility: np.ndarray | None = None) -> Encoded:
        """``targets (K, h, w)`` and ``weights (K, 1)`` of one person's ``(K, 2|3)`` keypoints."""

    @abstractmethod
    def decode(self, heatmaps: np.ndarray) -> Decoded:
        """``keypoints (N, K, 2)`` and ``scores (N, K)`` of ``(N, K, h, w)`` heatmaps, in crop pixels."""

    @abstractmethod
    def flip_back(self, heatmaps: np.ndarray, flip_index: Sequence[int], shift: bool | None = None) -> np.ndarray:
        """Heatmaps of a mirrored crop, mirrored back and their left/right channels swapped (the flip test)."""


class PafKeypointCodec(KeypointCodec):
    """The bottom-up contract: heatmaps + part affinity fields of a whole image in, any number of people out."""

    task: ClassVar[str] = "bottomup"
    stride: int  # input pixels per map pixel
    upsample: int  # default map upsampling factor of decode
    coco_offset: float  # COCO (continuous) coordinate = input pixel + coco_offset

    @abstractmethod
    def encode(
        self, keypoints: np.ndarray, input_size: int | tuple[int, int], visibility: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
        """``(heatmaps, pafs)`` targets of every person of one image (OpenPose-18 keypoints, input pixels)."""

    @abstractmethod
    def decode(
        self,
        heatmaps: np.ndarray,
        pafs: np.ndarray,
        *,
        valid_size: tuple[int, int] | None = None,
        upsample: int | None = None,
        timings: dict[str, float] | None = None,
    ) -> Any:
        """The people (``keypoints (P, 18, 3)``, ``person_scores()``, ``scaled(sx, sy)``) of one image's maps."""

    @abstractmethod
    def upsample_maps(
        self, maps: np.ndarray, factor: int | None = None, valid_size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """``(C, h, w)`` -> ``(H, W, C)`` maps upsampled by ``factor`` and cropped to ``valid_size``."""

    @abstractmethod
    def decode_upsampled(
        self,
        heat_up: np.ndarray,
        paf_up: np.ndarray,
        *,
        factor: int,
        input_height: float | None = None,
        timings: dict[str, float] | None = None,
    ) -> Any:
        """The people of maps already upsampled by ``factor`` (averaged over scales or flips)."""

    @abstractmethod
    def with_upsample(self, factor: int) -> PafKeypointCodec:
        """The same codec decoding with another upsampling factor."""


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
