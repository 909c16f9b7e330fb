"""Bottom-up decoding: upsample the maps once, find keypoint peaks, score candidate limbs on the PAFs, group.

The algorithm is Lightweight OpenPose's ``modules/keypoints.py`` (SPEC A.2.7), vectorised with numpy so that a
20-person image decodes in a few milliseconds instead of ~100+ ms:

1. **Upsampling** – one ``cv2.resize`` (cubic) call on the stacked heatmaps and one on the stacked PAFs, by
   ``factor`` (8 = back to the input resolution, LWOP's ``val.py``; 4 = LWOP's demo), then the right/bottom
   padding is cropped. Map pixel ``m`` of a stride-``s`` map sits at input pixel ``m*s + s/2 - 0.5`` (see
   :mod:`edgepose.codecs.paf_encode`) and ``cv2.resize`` keeps pixel centres aligned, so upsampled pixel ``u``
   sits at input pixel ``(u + 0.5) * s / factor - 0.5``.
2. **Peaks** – per keypoint channel: values >= ``peak_threshold`` that are strict maxima of their 4
   neighbours (computed with shifted comparisons on all channels at once), then, in order of x, peaks within
   ``nms_radius`` input pixels of a kept peak of the same channel are suppressed (only the few close pairs
   are looked at). Optionally each peak is refined to sub-pixel precision with a parabola through its
   neighbours (``refine``), which makes the x4 upsampling as accurate as x8.
3. **Limb scores** – for every limb of :data:`edgepose.keypoints.OPENPOSE_LIMBS` and every (a, b) candidate
   pair (all limbs and all pairs in one fancy-indexing gather), ``paf_samples`` points along the segment
   (rounded to upsampled pixels) are projected on the pair's unit vector; samples above ``min_paf_score``
   count, the score is their mean plus LWOP's length penalty ``min(0.5 * H / |ab| - 1, 0)``, and a pair is a
   candidate if its score is > 0 and more than ``min_success_ratio`` of the samples pass.
4. **Assignment** – per limb, greedily one-to-one by descending score.
5. **Assembly** – limbs in table order: limb 0 seeds persons, a later limb extends the person holding its
   first keypoint or starts a new one; the last two limbs (shoulder -> ear) only fill missing ears (LWOP) or,
   with ``merge_fragments``, also join the head fragment and the shoulder fragment of one person when the
   two hold no keypoint type in common (OpenPose's merge rule; recovers persons whose neck is missing).
6. **Filter** – persons with fewer than ``min_keypoints`` keypoints or a mean score below ``min_mean_score``
   are dropped; with ``keep_pairs``, two-keypoint persons whose limb score is at least ``pair_min_score`` are
   kept too (they rank last: their COCO score is at most one limb's worth).

numpy + OpenCV only (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import cv2
import numpy as np

from edgepose.keypoints import OPENPOSE_KEYPOINTS, OPENPOSE_LIMBS, openpose_to_coco

NUM_KPT = len(OPENPOSE_KEYPOINTS)
LIMBS = np.asarray(OPENPOSE_LIMBS, dtype=np.int64)
EAR_LIMBS = (len(OPENPOSE_LIMBS) - 2, len(OPENPOSE_LIMBS) - 1)  # shoulder -> ear links: fill (and merge) only


@dataclass
class Peaks:
    """Keypoint candidates: position in input pixels, heatmap value and keypoint type (OpenPose-18)."""

    x: np.ndarray  # (M,) float64
    y: np.ndarray  # (M,) float64
    score: np.ndarray  # (M,) float64
    kind: np.ndarray  # (M,) int64, sorted ascending (by kind, then x)
    ux: np.ndarray  # (M,) int64 upsampled-pixel column (where the PAF is sampled)
    uy: np.ndarray  # (M,) int64 upsampled-pixel row

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def of_kind(self, k: int) -> np.ndarray:
        """Indices of the peaks of keypoint type ``k``."""
        lo, hi = np.searchsorted(self.kind, [k, k + 1])
        return np.arange(lo, hi)


@dataclass
class PafPoses:
    """Decoded persons in input pixels (OpenPose-18 order).

    ``keypoints[p, k] = (x, y, peak score)``; a keypoint that was not found is ``(0, 0, 0)`` and
    ``found[p, k]`` is False. ``scores`` is the LWOP total (sum of peak and limb scores), ``counts`` the number
    of keypoints (neck included).
    """

    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, NUM_KPT, 3)))
    found: np.ndarray = field(default_factory=lambda: np.zeros((0, NUM_KPT), dtype=bool))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,)))
    counts: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.int64))

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def scaled(self, sx: float, sy: float | None = None) -> PafPoses:
        """Positions of an image resized by (sx, sy) mapped back to the original: ``x -> (x + 0.5) / sx - 0.5``.

        That is the pixel-centre-preserving inverse of ``cv2.resize`` (input pixels -> image pixels).
        """
        sy = sx if sy is None else sy
        kp = self.keypoints.copy()
        kp[..., 0] = np.where(self.found, (kp[..., 0] + 0.5) / sx - 0.5, 0.0)
        kp[..., 1] = np.where(self.found, (kp[..., 1] + 0.5) / sy - 0.5, 0.0)
        return PafPoses(kp, self.found.copy(), self.scores.copy(), self.counts.copy())

    def person_scores(self) -> np.ndarray:
        """LWOP's COCO score: total score x max(0, n_keypoints - 1)."""
        return self.scores * np.maximum(0, self.counts - 1)

    def to_coco(self, offset: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """``(P, 17, 3)`` COCO keypoints (x + offset, y + offset, v=1 where found, else 0,0,0) and scores.

        ``offset`` = 0.5 is LWOP's convention (a peak at pixel index i is reported at i + 0.5).
        """
        kp = np.zeros((len(self), NUM_KPT, 3), dtype=np.float64)
        kp[..., 0] = np.where(self.found, self.keypoints[..., 0] + offset, 0.0)
        kp[..., 1] = np.where(self.found, self.keypoints[..., 1] + offset, 0.0)
        kp[..., 2] = self.found.astype(np.float64)
        return openpose_to_coco(kp), self.person_scores()


# --------------------------------------------------------------------------------------------- upsample
def upsample_maps(maps: np.ndarray, factor: int, valid_size: tuple[int, int] | None, stride: int) -> np.ndarray:
    """``(C, h, w)`` maps -> ``(H, W, C)`` float32 upsampled by ``factor`` (cubic) and cropped to the valid part.

    ``valid_size`` = (height, width) of the un-padded input in input pixels (``None``: the whole map).
    """
    maps = np.asarray(maps, dtype=np.float32)
    c, h, w = maps.shape
    hwc = np.ascontiguousarray(maps.transpose(1, 2, 0))
    if factor != 1 and h > 0 and w > 0 and c > 0:
        # cv2.resize extrapolates past the outer pixel centres by reflection, which mirrors a Gaussian rising into
        # the image into a false peak on the border row/column (LWOP has these). One border pixel extrapolated
        # linearly (cropped after upsampling) continues the slope instead.
        padded = cv2.copyMakeBorder(hwc, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
        if padded.ndim == 2:
            padded = padded[:, :, None]
        if h >= 2:
            padded[0] = 2.0 * padded[1] - padded[2]
            padded[-1] = 2.0 * padded[-2] - padded[-3]
        if w >= 2:
            padded[:, 0] = 2.0 * padded[:, 1] - padded[:, 2]
            padded[:, -1] = 2.0 * padded[:, -2] - padded[:, -3]
        up = cv2.resize(padded, ((w + 2) * factor, (h + 2) * factor), interpolation=cv2.INTER_CUBIC)
        if up.ndim == 2:  # OpenCV drops a single channel axis
            up = up[:, :, None]
        up = up[factor : factor + h * factor, factor : factor + w * factor]
    else:
        up = hwc
    if valid_size is not None:
        vh = min(up.shape[0], int(np.ceil(valid_size[0] * factor / stride)))
        vw = min(up.shape[1], int(np.ceil(valid_size[1] * factor / stride)))
        up = up[:vh, :vw]
    return up


# --------------------------------------------------------------------------------------------------- peaks
def find_peaks(
    heat: np.ndarray,
    *,
    threshold: float = 0.1,
    radius: float = 6.0,
    to_input: tuple[float, float] = (1.0, 0.0),
    refine: bool = False,
    max_per_kind: int | None = 128,
    check_finite: bool = True,
) -> Peaks:
    """Peaks of the ``(H, W, K)`` upsampled heatmaps (first ``NUM_KPT`` channels are keypoints).

    ``to_input = (a, b)`` maps an upsampled pixel index ``u`` to input pixels ``a * u + b``; ``radius`` is in
    input pixels. A 4-neighbour maximum with value >= threshold (out-of-map neighbours count as 0, so zeroing
    the values below the threshold first, as LWOP does, changes nothing). LWOP requires strictly greater than
    all four neighbours and so loses a keypoint lying exactly between two pixel centres (two equal maxima);
    we require strictly greater than the left/upper and >= the right/lower neighbours, which keeps one of
    them and is otherwise identical. NaN never peaks. At most ``max_per_kind`` peaks (the highest) are kept per
    keypoint type, so that noise maps cannot make the pairwise limb scoring explode (LWOP has no cap).
    """
    hm = heat[:, :, :NUM_KPT] if heat.shape[2] > NUM_KPT else heat
    if hm.dtype != np.float32 or hm.strides[-1] != 4 or hm.strides[-2] != 4 * hm.shape[-1]:
        hm = np.ascontiguousarray(hm, dtype=np.float32)  # OpenCV needs contiguous pixels (rows may be strided)
    H, W, K = hm.shape
    if H == 0 or W == 0 or K == 0:
        return _empty_peaks()
    ys, xs, ks = _local_maxima(hm, float(threshold), check_finite)
    if ys.size == 0:
        return _empty_peaks()
    order = np.lexsort((xs, ks))  # by kind, then x (LWOP suppresses in order of x), stable in y
    ys, xs, ks = ys[order], xs[order], ks[order]
    scores = hm[ys, xs, ks].astype(np.float64)
    a, b = to_input
    fx, fy = xs.astype(np.float64), ys.astype(np.float64)
    if refine:
        dx = _parabola(hm, ys, xs, ks, axis=1)
        dy = _parabola(hm, ys, xs, ks, axis=0)
        fx, fy = fx + dx, fy + dy
    px, py = a * fx + b, a * fy + b
    keep = _suppress(px, py, ks, radius)
    if max_per_kind is not None and keep.sum() > max_per_kind:
        keep = _cap_per_kind(keep, scores, ks, int(max_per_kind))
    return Peaks(px[keep], py[keep], scores[keep], ks[keep].astype(np.int64), xs[keep], ys[keep])


def _cap_per_kind(keep: np.ndarray, scores: np.ndarray, ks: np.ndarray, cap: int) -> np.ndarray:
    """``keep`` restricted to the ``cap`` highest-scoring kept peaks of each kind (order preserved)."""
    idx = np.nonzero(keep)[0]
    order = idx[np.lexsort((-scores[idx], ks[idx]))]  # by kind, best first
    kinds = ks[order]
    start = np.searchsorted(kinds, kinds, side="left")
    rank = np.arange(order.size) - start
    out = np.zeros_like(keep)
    out[order[rank < cap]] = True
    return out


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def _local_maxima(
    hm: np.ndarray, threshold: float, check_finite: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, channels) of the peaks of ``(H, W, K)`` maps (see :func:`find_peaks`).

    A grey dilation with the 4-neighbour cross (OpenCV, all channels at once) finds the pixels that are >= their
    neighbours and >= threshold; only those few candidates are then checked for the strict/tie-breaking
    conditions, so the full-resolution work is two vectorised passes.
    """
    H, W, K = hm.shape
    finite = hm
    if check_finite and not np.isfinite(cv2.sumElems(np.ascontiguousarray(hm).reshape(H, W * K))[0]):
        big = float(np.finfo(np.float32).max)  # NaN never peaks, +inf = the largest value
        finite = np.nan_to_num(hm, nan=-big, posinf=big, neginf=-big)
    if K <= 512:
        dil = cv2.dilate(finite, _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0.0)
        if dil.ndim == 2:
            dil = dil[:, :, None]
    else:  # more channels than OpenCV handles at once
        dil = np.stack(
            [cv2.dilate(finite[:, :, k], _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0.0) for k in range(K)],
            axis=-1,
        )
    dil2 = dil.reshape(H, W * K)  # dil is a fresh contiguous array
    cv2.max(dil2, float(threshold), dst=dil2)  # OpenCV's SIMD loops on 2-D views: ~3x numpy's speed here
    flat = np.flatnonzero(finite >= dil)  # (a fresh contiguous bool array; 3-D np.nonzero is several x slower)
    ks = flat % K
    ys, xs = np.divmod(flat // K, W)
    if ys.size == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z.copy(), z.copy()
    v = finite[ys, xs, ks]
    ok = np.ones(ys.size, dtype=bool)
    # strictly above the left and upper neighbours (a tie there means the peak is that neighbour's)
    has = xs > 0
    ok[has] &= v[has] > finite[ys[has], xs[has] - 1, ks[has]]
    has = ys > 0
    ok[has] &= v[has] > finite[ys[has] - 1, xs[has], ks[has]]
    return ys[ok].astype(np.int64), xs[ok].astype(np.int64), ks[ok].astype(np.int64)


def _empty_peaks() -> Peaks:
    z = np.zeros(0)
    zi = np.zeros(0, dtype=np.int64)
    return Peaks(z, z.copy(), z.copy(), zi, zi.copy(), zi.copy())


def _parabola(hm: np.ndarray, ys: np.ndarray, xs: np.ndarray, ks: np.ndarray, axis: int) -> np.ndarray:
    """Sub-pixel offset (in [-0.5, 0.5]) of the parabola through a peak and its two neighbours along ``axis``."""
    n = hm.shape[axis]
    pos = ys if axis == 0 else xs
    lo, hi = np.clip(pos - 1, 0, n - 1), np.clip(pos + 1, 0, n - 1)
    if axis == 0:
        vl, vc, vh = hm[lo, xs, ks], hm[ys, xs, ks], hm[hi, xs, ks]
    else:
        vl, vc, vh = hm[ys, lo, ks], hm[ys, xs, ks], hm[ys, hi, ks]
    vl, vc, vh = (v.astype(np.float64) for v in (vl, vc, vh))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        denom = vl - 2.0 * vc + vh
        off = np.where((denom < 0) & (pos > 0) & (pos < n - 1), 0.5 * (vl - vh) / denom, 0.0)
    return np.clip(np.nan_to_num(off), -0.5, 0.5)


def _suppress(px: np.ndarray, py: np.ndarray, ks: np.ndarray, radius: float) -> np.ndarray:
    """Greedy in the given order (kind, x): drop peaks within ``radius`` of a kept peak of the same kind."""
    m = px.shape[0]
    keep = np.ones(m, dtype=bool)
    if m < 2 or radius <= 0:
        return keep
    # Only same-kind pairs within the radius matter; they are few. Peaks are sorted by kind, so compare each
    # peak with the next few of its kind through a banded search on the sorted x (x-distance < radius).
    close_i: list[np.ndarray] = []
    close_j: list[np.ndarray] = []
    for shift in range(1, m):
        i = np.arange(m - shift)
        j = i + shift
        same = (ks[i] == ks[j]) & (px[j] - px[i] < radius)
        if not same.any():
            break
        d2 = (px[i] - px[j]) ** 2 + (py[i] - py[j]) ** 2
        hit = same & (d2 < radius * radius)
        if hit.any():
            close_i.append(i[hit])
            close_j.append(j[hit])
    if not close_i:
        return keep
    ci = np.concatenate(close_i)
    cj = np.concatenate(close_j)
    order = np.lexsort((cj, ci))
    for i, j in zip(ci[order].tolist(), cj[order].tolist()):
        if keep[i]:
            keep[j] = False
    return keep


# -------------------------------------------------------------------------------------------- limb scores
@dataclass
class _Pairs:
    """Candidate (a, b) peak pairs of all limbs at once: global peak indices, limb index, a->b vector."""

    ia: np.ndarray  # (N,) int64 index of the limb's first peak
    ib: np.ndarray  # (N,) int64 index of the limb's second peak
    limb: np.ndarray  # (N,) int64 limb index into LIMBS
    vx: np.ndarray  # (N,) float64 b - a in input pixels
    vy: np.ndarray
    norm: np.ndarray  # (N,) float64 |b - a| > 0
    ux: np.ndarray  # (N,) float64 unit vector a -> b
    uy: np.ndarray

    def take(self, keep: np.ndarray) -> _Pairs:
        """The pairs selected by a boolean mask or index array."""
        return _Pairs(*(getattr(self, f.name)[keep] for f in fields(self)))


def _candidate_pairs(peaks: Peaks) -> _Pairs | None:
    """Every (a, b) pair of peaks of each limb's two keypoint types, a != b in position; None if there is none."""
    ia_parts, ib_parts, limb_parts = [], [], []
    for li, (ka, kb) in enumerate(LIMBS.tolist()):
        a_idx, b_idx = peaks.of_kind(ka), peaks.of_kind(kb)
        if a_idx.size == 0 or b_idx.size == 0:
            continue
        ia_parts.append(np.repeat(a_idx, b_idx.size))
        ib_parts.append(np.tile(b_idx, a_idx.size))
        limb_parts.append(np.full(a_idx.size * b_idx.size, li, dtype=np.int64))
    if not ia_parts:
        return None
    ia, ib, limb = np.concatenate(ia_parts), np.concatenate(ib_parts), np.concatenate(limb_parts)
    vx = peaks.x[ib] - peaks.x[ia]
    vy = peaks.y[ib] - peaks.y[ia]
    norm = np.hypot(vx, vy)
    ok = norm > 0
    ia, ib, limb, vx, vy, norm = ia[ok], ib[ok], limb[ok], vx[ok], vy[ok], norm[ok]
    if ia.size == 0:
        return None
    return _Pairs(ia, ib, limb, vx, vy, norm, vx / norm, vy / norm)


def _dots_upsampled(peaks: Peaks, pafs: np.ndarray, pairs: _Pairs, t: np.ndarray) -> np.ndarray:
    """PAF · unit vector at fractions ``t`` along every pair, read at the rounded upsampled pixels."""
    a, b, c = pairs.ia, pairs.ib, 2 * pairs.limb[:, None]
    H, W = pafs.shape[:2]
    sx = np.rint(peaks.ux[a, None] + t[None, :] * (peaks.ux[b] - peaks.ux[a])[:, None]).astype(np.int64)
    sy = np.rint(peaks.uy[a, None] + t[None, :] * (peaks.uy[b] - peaks.uy[a])[:, None]).astype(np.int64)
    np.clip(sx, 0, W - 1, out=sx)
    np.clip(sy, 0, H - 1, out=sy)
    with np.errstate(invalid="ignore", over="ignore"):  # fancy indexing works on (strided) cropped views
        return pafs[sy, sx, c] * pairs.ux[:, None] + pafs[sy, sx, c + 1] * pairs.uy[:, None]


def _dots_lowres(peaks: Peaks, pafs: np.ndarray, pairs: _Pairs, t: np.ndarray, stride: int) -> np.ndarray:
    """PAF · unit vector at fractions ``t`` along every pair, bilinear at the exact points of stride-``stride`` maps."""
    a, c = pairs.ia, 2 * pairs.limb[:, None]
    H, W = pafs.shape[:2]
    shift = stride / 2.0 - 0.5
    mx = (peaks.x[a, None] + t[None, :] * pairs.vx[:, None] - shift) / stride
    my = (peaks.y[a, None] + t[None, :] * pairs.vy[:, None] - shift) / stride
    np.clip(mx, 0, W - 1, out=mx)
    np.clip(my, 0, H - 1, out=my)
    x0 = np.minimum(np.floor(mx).astype(np.int64), max(W - 2, 0))
    y0 = np.minimum(np.floor(my).astype(np.int64), max(H - 2, 0))
    x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
    fx, fy = mx - x0, my - y0
    d = np.zeros(mx.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        for ch, u in ((c, pairs.ux), (c + 1, pairs.uy)):
            v = (
                pafs[y0, x0, ch] * (1 - fx) * (1 - fy)
                + pafs[y0, x1, ch] * fx * (1 - fy)
                + pafs[y1, x0, ch] * (1 - fx) * fy
                + pafs[y1, x1, ch] * fx * fy
            )
            d += v * u[:, None]
    return d


def _paf_dots(peaks: Peaks, pafs: np.ndarray, pairs: _Pairs, t: np.ndarray, lowres_stride: int | None) -> np.ndarray:
    """(len(pairs), len(t)) PAF projections on the pairs' unit vectors; NaN/inf count as 0."""
    if lowres_stride is None:
        d = _dots_upsampled(peaks, pafs, pairs, t)
    else:
        d = _dots_lowres(peaks, pafs, pairs, t, lowres_stride)
    return np.nan_to_num(d, nan=0.0, posinf=0.0, neginf=0.0)


def _middle_probe(samples: int, min_success_ratio: float) -> np.ndarray | None:
    """Indices of the middle samples whose joint failure rejects a pair, or None when no such shortcut exists.

    A pair needs more than ``min_success_ratio`` of the samples to pass, so it may fail at most ``allowed`` of
    them; if ``allowed + 1`` middle samples all fail it is rejected without the other samples. In crowds most
    pairs join different people and fail in the middle: this skips most of the gathers.
    """
    min_pass = int(np.floor(min_success_ratio * samples + 1e-9)) + 1
    allowed = samples - min_pass
    if not (0 <= allowed and allowed + 1 < samples):
        return None
    start = samples // 2 - (allowed + 1) // 2
    return np.arange(start, start + allowed + 1)


def _no_connections(n_limbs: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One empty ``(ia, ib, score)`` per limb."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    return [empty] * n_limbs


def _split_by_limb(pairs: _Pairs, score: np.ndarray, n_limbs: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(ia, ib, score)`` per limb index (empty arrays for limbs without a candidate)."""
    out = _no_connections(n_limbs)
    order = np.argsort(pairs.limb, kind="stable")
    ia, ib, limb, score = pairs.ia[order], pairs.ib[order], pairs.limb[order], score[order]
    bounds = np.searchsorted(limb, np.arange(n_limbs + 1))
    for li in range(n_limbs):
        lo, hi = bounds[li], bounds[li + 1]
        if hi > lo:
            out[li] = (ia[lo:hi], ib[lo:hi], score[lo:hi])
    return out


def score_limbs(
    peaks: Peaks,
    pafs: np.ndarray,
    *,
    samples: int = 10,
    min_paf_score: float = 0.05,
    min_success_ratio: float = 0.8,
    half_height: float,
    lowres_stride: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Candidate connections per limb: ``(ia, ib, score)`` (global peak indices), unsorted, all limbs at once.

    ``pafs`` is the ``(H, W, 2 * n_limbs)`` upsampled PAF stack; samples are taken at the upsampled pixels of
    the rounded points between the two peaks' upsampled positions; distances (for the length penalty against
    ``half_height``) are in input pixels. With ``lowres_stride``, ``pafs`` are the network's ``(h, w, 38)``
    maps at that stride instead, sampled bilinearly at the exact points (no PAF upsampling at all).
    """
    n_limbs = LIMBS.shape[0]
    pairs = _candidate_pairs(peaks)
    t_all = np.linspace(0.0, 1.0, samples)
    probe = _middle_probe(samples, min_success_ratio)
    if pairs is not None and probe is not None:
        pairs = pairs.take((_paf_dots(peaks, pafs, pairs, t_all[probe], lowres_stride) > min_paf_score).any(axis=1))
    if pairs is None or pairs.ia.size == 0:
        return _no_connections(n_limbs)
    dot = _paf_dots(peaks, pafs, pairs, t_all, lowres_stride)
    passed = dot > min_paf_score
    n_pass = passed.sum(axis=1)
    mean = np.where(n_pass > 0, np.where(passed, dot, 0.0).sum(axis=1) / np.maximum(n_pass, 1), 0.0)
    score = mean + np.minimum(half_height / pairs.norm - 1.0, 0.0)
    good = (score > 0) & (n_pass / samples > min_success_ratio)
    return _split_by_limb(pairs.take(good), score[good], n_limbs)


def assign(ia: np.ndarray, ib: np.ndarray, score: np.ndarray, limit: int) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching by descending score (stable), at most ``limit`` connections."""
    if ia.size == 0 or limit <= 0:
        return []
    order = np.argsort(-score, kind="stable")
    used_a: set[int] = set()
    used_b: set[int] = set()
    out: list[tuple[int, int, float]] = []
    for a, b, s in zip(ia[order].tolist(), ib[order].tolist(), score[order].tolist()):
        if a in used_a or b in used_b:
            continue
        used_a.add(a)
        used_b.add(b)
        out.append((a, b, s))
        if len(out) == limit:
            break
    return out


# -------------------------------------------------------------------------------------------- assembly
class _Assembly:
    """Persons under construction: 18 peak indices each (-1 = missing), LWOP's running total (peak + limb
    scores), keypoint count, best limb score (for ``keep_pairs``) and whether a merge absorbed the person;
    ``owner[i]`` is the person holding peak ``i`` (-1 = none)."""

    def __init__(self, peaks: Peaks) -> None:
        self.pscore = peaks.score
        self.ids: list[list[int]] = []
        self.total: list[float] = []
        self.count: list[int] = []
        self.best_limb: list[float] = []
        self.alive: list[bool] = []
        self.owner = np.full(len(peaks), -1, dtype=np.int64)

    def new_person(self, pairs: list[tuple[int, int]], score: float, limb_score: float) -> int:
        """A person holding the ``(kind, peak)`` pairs; returns its index."""
        row = [-1] * NUM_KPT
        for kind, idx in pairs:
            row[kind] = idx
            self.owner[idx] = len(self.ids)
        self.ids.append(row)
        self.total.append(score)
        self.count.append(len(pairs))
        self.best_limb.append(limb_score)
        self.alive.append(True)
        return len(self.ids) - 1

    def add_lone_peaks(self, kind: int, peaks: np.ndarray) -> None:
        """Peaks of a limb whose other end was not detected become single-keypoint persons (if unowned)."""
        for idx in peaks.tolist():
            if self.owner[idx] < 0:
                self.new_person([(kind, idx)], float(self.pscore[idx]), 0.0)

    def extend(self, ka: int, kb: int, conns: list[tuple[int, int, float]]) -> None:
        """A tree limb: add b to the person holding a, or start a new person with both ends."""
        for a, b, s in conns:
            p = int(self.owner[a])
            if p >= 0 and self.alive[p]:
                self.ids[p][kb] = b
                self.owner[b] = p
                self.total[p] += float(self.pscore[b]) + s
                self.count[p] += 1
                self.best_limb[p] = max(self.best_limb[p], s)
            else:
                self.new_person([(ka, a), (kb, b)], float(self.pscore[a] + self.pscore[b]) + s, s)

    def fill_ears(self, ka: int, kb: int, conns: list[tuple[int, int, float]]) -> None:
        """LWOP: a shoulder -> ear limb fills a missing ear (or shoulder) without touching counts and scores."""
        for a, b, _ in conns:
            pa, pb = int(self.owner[a]), int(self.owner[b])
            if pa >= 0 and self.ids[pa][kb] < 0:
                self.ids[pa][kb] = b
            elif pb >= 0 and self.ids[pb][ka] < 0:
                self.ids[pb][ka] = a

    def merge_ears(self, ka: int, kb: int, conns: list[tuple[int, int, float]]) -> None:
        """OpenPose: a shoulder -> ear limb joins two disjoint fragments, or adds its free end to a person."""
        for a, b, s in conns:
            pa, pb = int(self.owner[a]), int(self.owner[b])
            if pa >= 0 and pb >= 0 and pa != pb:
                self._merge(pa, pb, s)
            elif pa >= 0 and pb < 0 and self.ids[pa][kb] < 0:
                self._add(pa, kb, b, s)
            elif pb >= 0 and pa < 0 and self.ids[pb][ka] < 0:
                self._add(pb, ka, a, s)

    def _add(self, p: int, kind: int, idx: int, limb_score: float) -> None:
        self.ids[p][kind] = idx
        self.owner[idx] = p
        self.total[p] += self.pscore[idx] + limb_score
        self.count[p] += 1

    def _merge(self, pa: int, pb: int, limb_score: float) -> None:
        """Move person ``pb`` into ``pa`` if they hold no keypoint type in common."""
        ra, rb = self.ids[pa], self.ids[pb]
        if not all(x < 0 or y < 0 for x, y in zip(ra, rb)):
            return
        for k in range(NUM_KPT):
            if rb[k] >= 0:
                ra[k] = rb[k]
                self.owner[rb[k]] = pa
        self.total[pa] += self.total[pb] + limb_score
        self.count[pa] += self.count[pb]
        self.best_limb[pa] = max(self.best_limb[pa], self.best_limb[pb], limb_score)
        self.alive[pb] = False

    def kept(self, min_keypoints: int, min_mean_score: float, keep_pairs: bool, pair_min_score: float) -> list[int]:
        """Persons passing the filter of step 6 (module docstring), in creation order."""
        keep = []
        for p, n in enumerate(self.count):
            if not self.alive[p] or n == 0 or self.total[p] / n < min_mean_score:
                continue
            if n >= min_keypoints or (keep_pairs and n == 2 and self.best_limb[p] >= pair_min_score):
                keep.append(p)
        return keep

    def poses(self, peaks: Peaks, keep: list[int]) -> PafPoses:
        """The kept persons as :class:`PafPoses` (coordinates and scores gathered from ``peaks``)."""
        if not keep:
            return PafPoses()
        sel = np.asarray([self.ids[p] for p in keep], dtype=np.int64)  # (P, 18)
        found = sel >= 0
        safe = np.where(found, sel, 0)
        kp = np.stack([peaks.x[safe], peaks.y[safe], peaks.score[safe]], axis=-1)
        kp[~found] = 0.0
        return PafPoses(
            keypoints=kp,
            found=found,
            scores=np.asarray([self.total[p] for p in keep], dtype=np.float64),
            counts=np.asarray([self.count[p] for p in keep], dtype=np.int64),
        )


def group_peaks(
    peaks: Peaks,
    connections: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    min_keypoints: int = 3,
    min_mean_score: float = 0.2,
    merge_fragments: bool = False,
    keep_pairs: bool = False,
    pair_min_score: float = 0.5,
) -> PafPoses:
    """Assemble persons from per-limb candidate connections (see the module docstring, steps 4-6)."""
    if len(peaks) == 0:
        return PafPoses()
    persons = _Assembly(peaks)
    for li, (ka, kb) in enumerate(LIMBS.tolist()):
        a_idx, b_idx = peaks.of_kind(ka), peaks.of_kind(kb)
        ear = li in EAR_LIMBS
        if a_idx.size == 0 or b_idx.size == 0:  # one end (or none) detected: lone peaks become persons
            if not ear and (a_idx.size or b_idx.size):
                persons.add_lone_peaks(*((kb, b_idx) if a_idx.size == 0 else (ka, a_idx)))
            continue
        ia, ib, sc = connections[li]
        conns = assign(ia, ib, sc, min(a_idx.size, b_idx.size))
        if not ear:
            persons.extend(ka, kb, conns)
        elif merge_fragments:
            persons.merge_ears(ka, kb, conns)
        else:
            persons.fill_ears(ka, kb, conns)
    return persons.poses(peaks, persons.kept(min_keypoints, min_mean_score, keep_pairs, pair_min_score))
