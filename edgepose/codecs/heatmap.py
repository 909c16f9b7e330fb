"""The top-down heatmap codec: one object that both encodes training targets and decodes network outputs.

It implements the codec contract of :mod:`edgepose.codecs.base` in the network-input frame: the dataset maps
the joints into the crop (:func:`edgepose.geometry.joints_to_crop`) and calls :meth:`HeatmapCodec.encode`; the
predictor calls :meth:`HeatmapCodec.decode` and maps the keypoints back to the image with the inverse of the
very affine that made the crop (:func:`edgepose.geometry.crop_to_image`). Encode and decode cannot drift apart.

Two codecs (``kind``):

``"msra"`` (SimpleBaseline / HRNet, the FLPN default)
    Encode: a Gaussian of peak 1 and ``sigma`` (2) heatmap pixels around the *integer* centre
    ``int(x / stride + 0.5)``, drawn in a ±3σ window; ``target_weight`` is 1 for labelled joints (v > 0,
    occluded included) whose window overlaps the heatmap, else 0.
    Decode: argmax per joint, confidence = max value, then a quarter-pixel step towards the larger neighbour
    in x and in y separately (only for 1 < x < W-1, 1 < y < H-1); joints with max value <= 0 are zeroed.
    Flip test shifts the flipped-back heatmap one pixel right (HRNet's ``SHIFT_HEATMAP``).

``"dark"`` (DarkPose, optional, for ablations)
    Encode: the unbiased sub-pixel Gaussian centred at ``x / stride`` exactly (no rounding).
    Decode: argmax, then blur each heatmap with an 11×11 Gaussian (rescaled to keep its maximum), take the
    log and apply one 2nd-order Taylor (Newton) step ``-H⁻¹∇`` at the argmax (needs a 2-pixel margin).
    Confidence is the max of the raw heatmap. No flip shift (DARK configs set ``SHIFT_HEATMAP: false``).
    The step is **bounded** (see :meth:`HeatmapCodec._dark_refine`): taken only where the Hessian of the
    log-heatmap is negative definite, and clipped to ±1 heatmap pixel per axis. Unbounded, a noisy heatmap
    (nearly flat log around the argmax) sent joints 28,000 px outside a 100×133 box with confidence ≈ 1.

Both decoders first replace NaN and ±inf by 0 (as the PAF codec does), so a broken network output decodes to
low-confidence joints inside the crop instead of NaN or infinite coordinates; heatmaps that are not
``(N, K, h, w)`` raise :class:`~edgepose.errors.DataError`, and N = 0 or K = 0 give empty results.

numpy + OpenCV only (no torch): the torch-free runtime decodes with this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edgepose.codecs.base import Decoded, Encoded, HeatmapKeypointCodec, split_visibility
from edgepose.errors import ConfigError, DataError

CODECS = ("msra", "dark")
MAX_DARK_STEP = 1.0  # heatmap pixels per axis; see HeatmapCodec._dark_refine


def clean_heatmaps(heatmaps: np.ndarray) -> np.ndarray:
    """``(N, K, h, w)`` heatmaps as float32 with NaN and ±inf replaced by 0, as the PAF codec does (finite values
    beyond the float32 range are clipped to it, so they stay the maximum). Anything that is not a 4-D real
    array with ``h, w >= 1`` raises DataError."""
    try:
        hm = np.asarray(heatmaps)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise DataError(f"heatmaps must be a numeric array (N, K, H, W): {exc}") from None
    if not (np.issubdtype(hm.dtype, np.integer) or np.issubdtype(hm.dtype, np.floating) or hm.dtype == bool):
        raise DataError(f"heatmaps must be a real-valued array (N, K, H, W), got dtype {hm.dtype}")
    if hm.ndim != 4:
        raise DataError(f"heatmaps must be (N, K, H, W), got shape {hm.shape}")
    if hm.shape[2] < 1 or hm.shape[3] < 1:
        raise DataError(f"heatmaps must have H, W >= 1, got shape {hm.shape}")
    if np.issubdtype(hm.dtype, np.floating) and hm.dtype.itemsize > 4:
        big = float(np.finfo(np.float32).max)
        with np.errstate(invalid="ignore"):
            hm = np.where(np.isfinite(hm), np.clip(hm, -big, big), 0.0)
    out = np.asarray(hm, dtype=np.float32)
    if out.size and not np.isfinite(out).all():
        out = np.where(np.isfinite(out), out, np.float32(0.0))
    return out


class HeatmapCodec(HeatmapKeypointCodec):
    """Encode joints to Gaussian heatmaps and decode heatmaps to keypoints, both in network-input pixels.

    Args:
        input_size: network input ``(H, W)``, e.g. ``(256, 192)``.
        heatmap_size: heatmap ``(H, W)``; default ``input_size // stride``.
        sigma: Gaussian standard deviation in heatmap pixels.
        kind: ``"msra"`` or ``"dark"`` (see the module docstring).
        stride: input pixels per heatmap pixel when ``heatmap_size`` is not given.
        blur_kernel: DARK's Gaussian blur kernel (11 for 64×48 heatmaps).
        shift_flip: shift flipped-back heatmaps one pixel right in :meth:`flip_back`; ``None`` -> True for
            both codecs. Mirroring the input moves every joint to ``W - 1 - x``, which lands ``(stride - 1) /
            stride`` heatmap pixels left of the mirrored target after flipping the heatmap back; the one-pixel
            shift leaves 0.25 px instead of 0.75 px. DARK's configs turn it off, but its sub-pixel decoding is
            exactly what such a bias hurts: on a memorised model the flip test scored AP 0.667 without the
            shift, 0.964 with it (0.960 without flip test).
    """

    def __init__(
        self,
        input_size: Sequence[int] = (256, 192),
        heatmap_size: Sequence[int] | None = None,
        sigma: float = 2.0,
        kind: str = "msra",
        *,
        stride: int = 4,
        blur_kernel: int = 11,
        shift_flip: bool | None = None,
    ) -> None:
        if kind not in CODECS:
            raise ConfigError(f"unknown heatmap codec {kind!r}; known: {', '.join(CODECS)}")
        if len(input_size) != 2 or min(int(v) for v in input_size) <= 0:
            raise ConfigError(f"input_size must be two positive integers (H, W), got {input_size!r}")
        if not (sigma > 0):
            raise ConfigError(f"sigma must be positive, got {sigma!r}")
        if blur_kernel % 2 != 1 or blur_kernel < 3:
            raise ConfigError(f"blur_kernel must be an odd integer >= 3, got {blur_kernel!r}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        if heatmap_size is None:
            if stride <= 0 or self.input_size[0] % stride or self.input_size[1] % stride:
                raise ConfigError(f"input_size {self.input_size} is not divisible by the heatmap stride {stride}")
            heatmap_size = (self.input_size[0] // stride, self.input_size[1] // stride)
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = float(sigma)
        self.kind = kind
        self.blur_kernel = int(blur_kernel)
        self.shift_flip = True if shift_flip is None else bool(shift_flip)
        # input pixels per heatmap pixel, (x, y)
        self.feat_stride = np.array(
            [self.input_size[1] / self.heatmap_size[1], self.input_size[0] / self.heatmap_size[0]], dtype=np.float64
        )

        if min(self.heatmap_size) <= 0:
            raise ConfigError(f"heatmap_size must be two positive integers (H, W), got {heatmap_size!r}")

    def __repr__(self) -> str:
        return (
            f"HeatmapCodec(kind={self.kind!r}, input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
            f"sigma={self.sigma}, shift_flip={self.shift_flip})"
        )

    # ------------------------------------------------------------------------------------------ encode
    def encode(self, keypoints: np.ndarray, visibility: np.ndarray | None = None) -> Encoded:
        """Gaussian target heatmaps of one person's joints.

        Args:
            keypoints: ``(K, 2)`` joints (x, y) in network-input pixels, or ``(K, 3)`` with the visibility last.
            visibility: ``(K,)``; joints with ``v > 0`` are drawn. ``None``: the third column of ``keypoints``.

        Returns:
            :class:`~edgepose.codecs.base.Encoded`: ``targets (K, h, w)`` float32 and ``weights (K, 1)``
            (1 for drawn joints whose Gaussian window overlaps the heatmap, else 0).
        """
        xy, vis = split_visibility(keypoints, visibility)
        if xy.ndim != 2:
            raise DataError(f"keypoints of one person must be (K, 2) or (K, 3), got shape {np.shape(keypoints)}")
        joints = np.concatenate([xy, vis[:, None]], axis=1)
        k = joints.shape[0]
        hh, hw = self.heatmap_size
        target = np.zeros((k, hh, hw), dtype=np.float32)
        weight = (joints[:, 2:3] > 0).astype(np.float32)
        radius = self.sigma * 3
        for j in range(k):
            if weight[j, 0] == 0:
                continue
            x = joints[j, 0] / self.feat_stride[0]
            y = joints[j, 1] / self.feat_stride[1]
            if self.kind == "msra":
                mu_x, mu_y = int(x + 0.5), int(y + 0.5)
                r = int(radius)
                x0, y0 = mu_x - r, mu_y - r
                x1, y1 = mu_x + r + 1, mu_y + r + 1
                cx, cy = float(mu_x), float(mu_y)
            else:  # dark: sub-pixel centre
                x0, y0 = int(x - radius), int(y - radius)
                x1, y1 = int(x + radius + 1), int(y + radius + 1)
                cx, cy = x, y
            if x0 >= hw or y0 >= hh or x1 < 0 or y1 < 0:
                weight[j, 0] = 0.0
                continue
            xs = np.arange(max(0, x0), min(hw, x1), dtype=np.float64)
            ys = np.arange(max(0, y0), min(hh, y1), dtype=np.float64)
            if xs.size == 0 or ys.size == 0:
                weight[j, 0] = 0.0
                continue
            g = np.exp(-((xs[None, :] - cx) ** 2 + (ys[:, None] - cy) ** 2) / (2 * self.sigma**2))
            target[j, int(ys[0]) : int(ys[-1]) + 1, int(xs[0]) : int(xs[-1]) + 1] = g
        return Encoded(target, weight)

    # ------------------------------------------------------------------------------------------ decode
    @staticmethod
    def get_max_preds(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Argmax per joint of ``(N, K, h, w)``: coords ``(N, K, 2)`` (x, y) and maxvals ``(N, K, 1)``.

        Coordinates of joints whose max value is <= 0 are zeroed (SimpleBaseline's ``get_max_preds``). NaN and
        ±inf count as 0 (:func:`clean_heatmaps`); N = 0 or K = 0 give empty arrays of those shapes.
        """
        hm = clean_heatmaps(heatmaps)
        n, k, _, w = hm.shape
        if n == 0 or k == 0:
            return np.zeros((n, k, 2), dtype=np.float64), np.zeros((n, k, 1), dtype=np.float64)
        flat = hm.reshape(n, k, -1)
        idx = np.argmax(flat, axis=2)
        maxvals = np.take_along_axis(flat, idx[..., None], axis=2)
        coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float64)
        coords *= maxvals > 0
        return coords, maxvals.astype(np.float64)

    def decode_heatmap_coords(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps ``(N, K, h, w)`` -> sub-pixel coordinates in heatmap pixels ``(N, K, 2)`` and maxvals.

        Every coordinate lies in ``[0, w - 1] × [0, h - 1]``, whatever the values (NaN, inf, noise).
        """
        hm = clean_heatmaps(heatmaps)
        coords, maxvals = self.get_max_preds(hm)
        if coords.size == 0:
            return coords, maxvals
        if self.kind == "msra":
            coords = self._quarter_offset(hm, coords)
        else:
            coords = self._dark_refine(hm, coords)
        coords = np.where(maxvals > 0, coords, 0.0)
        return coords, maxvals

    @staticmethod
    def _quarter_offset(hm: np.ndarray, coords: np.ndarray) -> np.ndarray:
        _, _, h, w = hm.shape
        out = coords.copy()
        px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
        py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
        inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
        ni, ki = np.nonzero(inside)
        if ni.size:
            x, y = px[ni, ki], py[ni, ki]
            dx = hm[ni, ki, y, x + 1] - hm[ni, ki, y, x - 1]
            dy = hm[ni, ki, y + 1, x] - hm[ni, ki, y - 1, x]
            out[ni, ki, 0] += np.sign(dx) * 0.25
            out[ni, ki, 1] += np.sign(dy) * 0.25
        return out

    def blur(self, heatmaps: np.ndarray) -> np.ndarray:
        """DARK's modulation: Gaussian-blur each map (zero padding), rescaled to keep its original maximum.

        The K maps of a crop are blurred in one OpenCV call as the channels of one image (the same separable
        filter per channel as K calls, and the same values: a tested identity), which is what makes DARK cheap
        enough for the fast mode's per-frame budget."""
        hm = np.array(heatmaps, dtype=np.float32, copy=True)
        border = (self.blur_kernel - 1) // 2
        n, k, h, w = hm.shape
        if k == 0:
            return hm
        padded = np.zeros((h + 2 * border, w + 2 * border, k), dtype=np.float32)
        for i in range(n):
            padded[border:-border, border:-border] = hm[i].transpose(1, 2, 0)
            blurred = cv2.GaussianBlur(padded, (self.blur_kernel, self.blur_kernel), 0)
            out = blurred[border:-border, border:-border].reshape(h, w, k).transpose(2, 0, 1)
            origin_max = hm[i].reshape(k, -1).max(axis=1).astype(np.float64)
            new_max = out.reshape(k, -1).max(axis=1).astype(np.float64)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # huge maps: cleaned by the caller
                scale = np.where(new_max > 0, origin_max / np.where(new_max > 0, new_max, 1.0), 1.0)
                hm[i] = out * scale.astype(np.float32)[:, None, None]
        return hm

    def _dark_refine(self, hm: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """One bounded Newton step on the log of the blurred heatmap at each argmax (DARK's Taylor expansion).

        The step ``-H⁻¹∇`` is the maximum of the local quadratic model, which is only meaningful when the
        model has a maximum: the Hessian must be negative definite (``dxx < 0`` and ``det > 0``). Elsewhere
        (a flat, saddle-shaped or noisy neighbourhood) the step would jump to a saddle or a minimum, possibly
        thousands of pixels away, so the joint stays at the argmax. A step is also clipped to
        :data:`MAX_DARK_STEP` (1) heatmap pixel per axis: the argmax sample is at least as large as its
        neighbours, so for a single-peaked map the continuous maximum lies within one pixel of it on each axis,
        and a longer step can only come from a poor quadratic fit. On clean Gaussian targets the step is below
        half a pixel, so neither bound changes the codec's figures (oracle AP 0.9881 on the val mini). With the
        2-pixel margin required for the second differences, the result stays inside the heatmap.
        """
        _, _, h, w = hm.shape
        blurred = np.nan_to_num(self.blur(hm), nan=0.0, posinf=50.0, neginf=0.0)
        log_hm = np.log(np.clip(blurred, 1e-10, 50.0)).astype(np.float64)
        out = coords.copy()
        px = coords[..., 0].astype(np.int64)
        py = coords[..., 1].astype(np.int64)
        inside = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)
        ni, ki = np.nonzero(inside)
        if ni.size == 0:
            return out
        x, y = px[ni, ki], py[ni, ki]

        def v(dy: int, dx: int) -> np.ndarray:
            return log_hm[ni, ki, y + dy, x + dx]

        c = v(0, 0)
        gx = 0.5 * (v(0, 1) - v(0, -1))
        gy = 0.5 * (v(1, 0) - v(-1, 0))
        dxx = 0.25 * (v(0, 2) - 2 * c + v(0, -2))
        dyy = 0.25 * (v(2, 0) - 2 * c + v(-2, 0))
        dxy = 0.25 * (v(1, 1) - v(-1, 1) - v(1, -1) + v(-1, -1))
        det = dxx * dyy - dxy**2
        ok = (dxx < 0) & (det > 0)  # negative definite: the quadratic model has a maximum
        safe = np.where(ok, det, 1.0)
        # offset = -H^-1 g with H = [[dxx, dxy], [dxy, dyy]]
        with np.errstate(over="ignore", invalid="ignore"):
            off_x = -(dyy * gx - dxy * gy) / safe
            off_y = -(-dxy * gx + dxx * gy) / safe
        ok &= np.isfinite(off_x) & np.isfinite(off_y)
        out[ni, ki, 0] += np.clip(np.where(ok, off_x, 0.0), -MAX_DARK_STEP, MAX_DARK_STEP)
        out[ni, ki, 1] += np.clip(np.where(ok, off_y, 0.0), -MAX_DARK_STEP, MAX_DARK_STEP)
        return out

    def decode(self, heatmaps: np.ndarray) -> Decoded:
        """Keypoints of ``N`` crops in network-input pixels.

        Args:
            heatmaps: ``(N, K, h, w)`` with ``(h, w)`` = :attr:`heatmap_size`; NaN and ±inf count as 0.

        Returns:
            :class:`~edgepose.codecs.base.Decoded`: ``keypoints (N, K, 2)`` (x, y) in input pixels (heatmap
            pixel ``u`` is input pixel ``u * stride``, HRNet's convention) and ``scores (N, K)``, the heatmap
            maxima; a joint with maximum <= 0 sits at (0, 0) with its score <= 0. The caller maps the keypoints
            to the image (:func:`edgepose.geometry.crop_to_image`). Raises DataError on another shape.
        """
        hm = clean_heatmaps(heatmaps)
        if tuple(hm.shape[2:]) != self.heatmap_size:
            raise DataError(f"expected heatmaps (N, K, {self.heatmap_size[0]}, {self.heatmap_size[1]}), got {hm.shape}")
        coords, maxvals = self.decode_heatmap_coords(hm)
        return Decoded(coords * self.feat_stride, maxvals[..., 0])

    # -------------------------------------------------------------------------------------------- flip
    def flip_back(self, heatmaps: np.ndarray, flip_index: Sequence[int], shift: bool | None = None) -> np.ndarray:
        """Heatmaps of a mirrored input ``(N, K, h, w)`` -> heatmaps in the original frame.

        Mirrors the maps left-right, swaps left/right channels (``out[:, i] = in[:, flip_index[i]]``) and, if
        ``shift`` (default :attr:`shift_flip`), moves them one pixel right to undo the half-pixel bias of
        mirroring at stride 4 (HRNet's SHIFT_HEATMAP). Without the shift this is an involution.
        """
        shift = self.shift_flip if shift is None else shift
        hm = np.asarray(heatmaps)
        out = hm[:, np.asarray(flip_index, dtype=np.int64), :, ::-1].copy()
        if shift:
            out[..., 1:] = out[..., :-1].copy()
        return out
