"""The bottom-up (PAF) codec: one object that owns both the training targets and the decoding of predictions.

:class:`PafCodec` is shared by the dataset (:mod:`edgepose.data.bottomup`), the trainer's evaluation, the
predictor and the oracle, so targets and decoding cannot drift apart (the mmpose codec idea, SPEC B.6).
Everything uses :data:`edgepose.keypoints.OPENPOSE_LIMBS`, the one limb table: limb ``i`` owns PAF channels
``(2i, 2i+1)`` and is grouped ``i``-th.

Coordinates are **pixel centres at integer positions** of the network input ("input pixels"). COCO files use
the continuous convention (pixel ``i`` covers ``[i, i+1)``), so datasets subtract ``coco_offset`` (0.5) when
reading labels and :meth:`PafPoses.to_coco` adds it back, which is also Lightweight OpenPose's ``+0.5``.

It implements the codec contract of :mod:`edgepose.codecs.base`, in input pixels; the caller maps between the
image and the input (:func:`input_geometry`: the whole image resized to the inference height, padded right and
bottom to the stride; :meth:`PafPoses.scaled` maps decoded people back).

* :meth:`PafCodec.encode`: ``(N, 18, 3)`` keypoints -> :class:`PafTargets`, ``(19, H/8, W/8)`` heatmaps +
  ``(38, H/8, W/8)`` PAFs (see :mod:`edgepose.codecs.paf_encode`).
* :meth:`PafCodec.decode`: network maps -> :class:`PafPoses` (see :mod:`edgepose.codecs.paf_decode`).

Presets: :meth:`PafCodec.lwop` reproduces Lightweight OpenPose's decoding; the default adds the fixes measured
by the oracle (docs/bottomup.md): fragments of one person are merged through the shoulder-ear links, two-keypoint
persons with a strong limb are kept, and peaks are refined to sub-pixel precision.

numpy + OpenCV only (no torch): the torch-free runtime decodes with the same object.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from edgepose.codecs.base import PafKeypointCodec, split_visibility
from edgepose.codecs.paf_decode import (
    PafPoses,
    Peaks,
    find_peaks,
    group_peaks,
    score_limbs,
    upsample_maps,
)
from edgepose.codecs.paf_encode import render_heatmaps, render_pafs
from edgepose.errors import ConfigError, DataError
from edgepose.keypoints import NUM_OPENPOSE_HEATMAPS, NUM_OPENPOSE_PAFS, OPENPOSE, OPENPOSE_LIMBS

__all__ = ["PafCodec", "PafPoses", "PafTargets", "Peaks", "flip_maps", "input_geometry", "limb_flip_index"]


class PafTargets(NamedTuple):
    """Bottom-up training targets of one image; unpacks as ``heatmaps, pafs``."""

    heatmaps: np.ndarray  # (19, h, w): 18 keypoint channels + background
    pafs: np.ndarray  # (38, h, w): (x, y) unit vectors of the 19 limbs


def input_geometry(width: int, height: int, target_height: int, stride: int) -> tuple[int, int, int, int, float, float]:
    """Where an image of ``width x height`` lands in the network input at ``target_height``.

    Args:
        width, height: the image size in pixels.
        target_height: the input height the image is resized to (the width keeps the aspect ratio).
        stride: the network stride; the input is padded right and bottom to multiples of it.

    Returns:
        ``(in_h, in_w, padded_h, padded_w, sx, sy)``: the resized size (``round(width * s)`` wide, what
        ``cv2.resize`` makes of it, ``s = target_height / height``), the padded size and the exact per-axis
        scales (input pixels per image pixel). Shared by the predictor and the oracle so both place people alike.
    """
    s = target_height / float(height)
    in_w = max(1, round(width * s))
    in_h = max(1, int(target_height))
    padded_w = int(math.ceil(in_w / stride) * stride)
    padded_h = int(math.ceil(in_h / stride) * stride)
    return in_h, in_w, padded_h, padded_w, in_w / float(width), in_h / float(height)


def limb_flip_index() -> np.ndarray:
    """Permutation ``q`` with limb ``i`` of a mirrored image = limb ``q[i]`` of the original (same direction).

    Derived from :data:`OPENPOSE_LIMBS` and the OpenPose-18 flip pairs; raises if the table is not mirror
    symmetric.
    """
    fi = OPENPOSE.flip_index
    lookup = {tuple(limb): i for i, limb in enumerate(OPENPOSE_LIMBS)}
    out = []
    for a, b in OPENPOSE_LIMBS:
        key = (int(fi[a]), int(fi[b]))
        if key not in lookup:
            raise ConfigError(f"limb {(a, b)} has no mirror image {key} in OPENPOSE_LIMBS")
        out.append(lookup[key])
    return np.asarray(out, dtype=np.int64)


def flip_maps(heatmaps: np.ndarray, pafs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror ``(19, h, w)`` heatmaps and ``(38, h, w)`` PAFs left-right as targets of the mirrored image.

    Heatmap channels are swapped by the OpenPose flip pairs; PAF limbs are permuted by
    :func:`limb_flip_index` and their x components negated. Works on numpy arrays (last axis = width).
    """
    fi = OPENPOSE.flip_index
    heat = heatmaps[..., :, :, ::-1]
    kp = heat[..., : len(fi), :, :][..., fi, :, :]
    heat_out = np.concatenate([kp, heat[..., len(fi) :, :, :]], axis=-3)
    q = limb_flip_index()
    chan = np.stack([2 * q, 2 * q + 1], axis=1).reshape(-1)
    paf_out = pafs[..., chan, :, ::-1].copy()
    paf_out[..., 0::2, :, :] *= -1.0
    return np.ascontiguousarray(heat_out), paf_out


MAP_LIMIT = 1e30  # |values| beyond this are clipped: cubic upsampling of float32 maps near 3.4e38 overflows to inf


def _finite(maps: np.ndarray) -> np.ndarray:
    """``maps`` with NaN and +-inf replaced by 0 (a broken output decodes to nothing instead of infinite scores)
    and values clipped to ±:data:`MAP_LIMIT` (so that upsampling cannot overflow into inf and NaN)."""
    maps = np.asarray(maps, dtype=np.float32)
    if not maps.size:
        return maps
    lo, hi = float(maps.min()), float(maps.max())  # NaN anywhere makes both NaN
    if not (-MAP_LIMIT <= lo and hi <= MAP_LIMIT):
        maps = np.clip(np.where(np.isfinite(maps), maps, np.float32(0.0)), -MAP_LIMIT, MAP_LIMIT)
    return maps


@dataclass(frozen=True)
class PafCodec(PafKeypointCodec):
    """Heatmap + PAF targets at ``stride`` and their decoding (SPEC A.2.6-A.2.7). See the module docstring."""

    stride: int = 8
    sigma: float = 7.0  # Gaussian sigma in input pixels
    paf_thickness: float = 1.0  # in map pixels
    # decoding
    upsample: int = 8  # 8: maps back at input resolution (LWOP val.py); 4: LWOP demo (faster)
    peak_threshold: float = 0.1
    nms_radius: float = 6.0  # input pixels
    paf_samples: int = 10
    min_paf_score: float = 0.05
    min_success_ratio: float = 0.8
    min_keypoints: int = 3
    min_mean_score: float = 0.2
    refine: bool = True  # sub-pixel peaks (parabola through the neighbours)
    merge_fragments: bool = True  # join fragments of one person through the shoulder -> ear links
    keep_pairs: bool = True  # keep two-keypoint persons whose limb score >= pair_min_score
    pair_min_score: float = 0.5
    coco_offset: float = 0.5  # COCO (continuous) = input pixel + 0.5
    max_peaks_per_kind: int = 128  # guard against noise maps (pairs per limb grow quadratically)
    paf_sampling: str = "upsampled"  # upsampled (LWOP: cubic x upsample, nearest pixel) | bilinear (stride-8 maps)

    def __post_init__(self) -> None:
        if self.stride < 1 or self.upsample < 1:
            raise ConfigError("PafCodec: stride and upsample must be >= 1")
        if self.sigma <= 0 or self.paf_thickness <= 0:
            raise ConfigError("PafCodec: sigma and paf_thickness must be > 0")
        if self.paf_samples < 2:
            raise ConfigError("PafCodec: paf_samples must be >= 2")
        if self.paf_sampling not in ("upsampled", "bilinear"):
            raise ConfigError(f"PafCodec: paf_sampling must be 'upsampled' or 'bilinear', got {self.paf_sampling!r}")

    def with_upsample(self, factor: int) -> PafCodec:
        """This codec decoding with upsampling ``factor``."""
        return replace(self, upsample=int(factor))

    @classmethod
    def lwop(cls, **overrides: object) -> PafCodec:
        """Lightweight OpenPose's decoding, unchanged (no refinement, no merging, no pairs)."""
        base = cls(refine=False, merge_fragments=False, keep_pairs=False)
        return replace(base, **overrides) if overrides else base

    # ----------------------------------------------------------------------------------------- encode
    def map_size(self, input_size: int | tuple[int, int]) -> tuple[int, int]:
        """(h, w) of the maps for an input of (height, width)."""
        from edgepose.codecs.paf_encode import map_size

        return map_size(input_size, self.stride)

    def encode(
        self, keypoints: np.ndarray, input_size: int | tuple[int, int], visibility: np.ndarray | None = None
    ) -> PafTargets:
        """Heatmap and PAF targets of every person of one image.

        Args:
            keypoints: ``(N, 18, 3)`` OpenPose-18 keypoints (x, y, v) in input pixels, or ``(N, 18, 2)`` with
                ``visibility``; keypoints with ``v > 0`` and finite coordinates are drawn.
            input_size: the network input ``(height, width)``, or one int for a square.
            visibility: ``(N, 18)``; ``None`` takes the third column of ``keypoints``.

        Returns:
            :class:`PafTargets` ``(heatmaps (19, h, w), pafs (38, h, w))`` at :attr:`stride`. Raises DataError
            on keypoints of another shape.
        """
        if visibility is not None or np.shape(keypoints)[-1:] == (2,):
            xy, vis = split_visibility(keypoints, visibility)
            keypoints = np.concatenate([xy, vis[..., None]], axis=-1)
        heat = render_heatmaps(keypoints, input_size, self.stride, self.sigma)
        pafs = render_pafs(keypoints, input_size, self.stride, self.paf_thickness)
        return PafTargets(heat, pafs)

    # ----------------------------------------------------------------------------------------- decode
    def to_input(self, factor: int) -> tuple[float, float]:
        """``(a, b)``: upsampled pixel ``u`` (by ``factor`` from stride-``stride`` maps) is input pixel a*u + b."""
        a = self.stride / factor
        return a, 0.5 * a - 0.5

    def upsample_maps(
        self, maps: np.ndarray, factor: int | None = None, valid_size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """``(C, h, w)`` -> ``(H, W, C)`` upsampled (cubic) by ``factor`` and cropped to ``valid_size`` (H, W)."""
        return upsample_maps(maps, factor or self.upsample, valid_size, self.stride)

    def decode(
        self,
        heatmaps: np.ndarray,
        pafs: np.ndarray,
        *,
        valid_size: tuple[int, int] | None = None,
        upsample: int | None = None,
        timings: dict[str, float] | None = None,
    ) -> PafPoses:
        """The people of one image's network maps, in input pixels.

        Args:
            heatmaps: ``(>=18, h, w)`` keypoint heatmaps at :attr:`stride` (a background channel is ignored).
            pafs: ``(38, h, w)`` part affinity fields.
            valid_size: ``(height, width)`` of the input before right/bottom padding to the stride (the padded
                part is cropped after upsampling); ``None``: the whole map.
            upsample: heatmap upsampling factor; ``None``: :attr:`upsample`.
            timings: if given, receives the milliseconds spent in ``upsample``, ``peaks`` and ``group``.

        Returns:
            :class:`PafPoses`: keypoints ``(P, 18, 3)`` (x, y, peak score) and person scores, in input pixels
            (:meth:`PafPoses.scaled` maps them to the image). NaN and ±inf count as 0; maps of another shape
            raise DataError.
        """
        try:
            heatmaps = np.asarray(heatmaps, dtype=np.float32)
            pafs = np.asarray(pafs, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise DataError(f"heatmaps and pafs must be real-valued arrays: {exc}") from None
        if heatmaps.ndim != 3 or heatmaps.shape[0] < NUM_OPENPOSE_HEATMAPS - 1:
            raise DataError(f"heatmaps must be (>=18, h, w), got {heatmaps.shape}")
        if pafs.ndim != 3 or pafs.shape[0] != NUM_OPENPOSE_PAFS or pafs.shape[1:] != heatmaps.shape[1:]:
            raise DataError(f"pafs must be ({NUM_OPENPOSE_PAFS}, h, w) like the heatmaps, got {pafs.shape}")
        factor = int(upsample or self.upsample)
        t0 = time.perf_counter()
        heatmaps, pafs = _finite(heatmaps), _finite(pafs)
        heat_up = upsample_maps(heatmaps[: NUM_OPENPOSE_HEATMAPS - 1], factor, valid_size, self.stride)
        if self.paf_sampling == "bilinear":
            paf_up = np.ascontiguousarray(pafs.transpose(1, 2, 0))  # sampled at stride 8, never upsampled
        else:
            paf_up = upsample_maps(pafs, factor, valid_size, self.stride)
        t1 = time.perf_counter()
        if valid_size is None:
            valid_size = (heatmaps.shape[1] * self.stride, heatmaps.shape[2] * self.stride)
        poses = self._decode_up(
            heat_up,
            paf_up,
            factor,
            valid_size[0],
            timings,
            lowres=self.paf_sampling == "bilinear",
            image_size=valid_size,
        )
        if timings is not None:
            timings["upsample"] = (t1 - t0) * 1000.0
        return poses

    def decode_upsampled(
        self,
        heat_up: np.ndarray,
        paf_up: np.ndarray,
        *,
        factor: int,
        input_height: float | None = None,
        timings: dict[str, float] | None = None,
    ) -> PafPoses:
        """Decode maps already upsampled by ``factor`` (``(H, W, >=18)`` and ``(H, W, 38)``, e.g. averaged over
        scales or flips). ``input_height`` (input pixels) sets LWOP's limb-length penalty; default the maps'."""
        return self._decode_up(_finite(heat_up), _finite(paf_up), factor, input_height, timings)

    def _decode_up(
        self,
        heat_up: np.ndarray,
        paf_up: np.ndarray,
        factor: int,
        input_height: float | None,
        timings: dict[str, float] | None,
        lowres: bool = False,
        image_size: tuple[float, float] | None = None,
    ) -> PafPoses:
        """Peaks, limb scores and grouping of maps upsampled by ``factor`` (already finite: see :func:`_finite`)."""
        t0 = time.perf_counter()
        a, b = self.to_input(factor)
        peaks = find_peaks(
            heat_up,
            threshold=self.peak_threshold,
            radius=self.nms_radius,
            to_input=(a, b),
            refine=self.refine,
            max_per_kind=self.max_peaks_per_kind,
            check_finite=False,  # the callers cleaned the maps with _finite
        )
        # Keep every keypoint inside the image (pixel centres 0..W-1, so [-0.5, W - 0.5]). Upsampling by less than
        # the stride leaves the last upsampled pixel partly in the right/bottom padding (a peak there sat up to
        # 3.5 input px outside an image); at x8 this changes nothing.
        if image_size is None:
            image_size = (heat_up.shape[0] * a, heat_up.shape[1] * a)
        peaks.x = np.clip(peaks.x, -0.5, float(image_size[1]) - 0.5)
        peaks.y = np.clip(peaks.y, -0.5, float(image_size[0]) - 0.5)
        t1 = time.perf_counter()
        if input_height is None:
            input_height = heat_up.shape[0] * a
        conns = score_limbs(
            peaks,
            paf_up,
            samples=self.paf_samples,
            min_paf_score=self.min_paf_score,
            min_success_ratio=self.min_success_ratio,
            half_height=float(input_height) / 2.0,
            lowres_stride=self.stride if lowres else None,
        )
        poses = group_peaks(
            peaks,
            conns,
            min_keypoints=self.min_keypoints,
            min_mean_score=self.min_mean_score,
            merge_fragments=self.merge_fragments,
            keep_pairs=self.keep_pairs,
            pair_min_score=self.pair_min_score,
        )
        t2 = time.perf_counter()
        if timings is not None:
            timings["peaks"] = (t1 - t0) * 1000.0
            timings["group"] = (t2 - t1) * 1000.0
        return poses
