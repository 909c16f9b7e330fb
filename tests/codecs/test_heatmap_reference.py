"""The heatmap codec against references that are not the codec: SimpleBaseline's published decoder written out
joint by joint (``get_final_preds``: argmax, then a quarter pixel towards the higher neighbour), and the analytic
answer for DARK (a Gaussian centred at a sub-pixel point decodes to that point: the log of a Gaussian is exactly
quadratic, which is what DARK's Taylor step assumes)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgepose.codecs.heatmap import HeatmapCodec


def simplebaseline_decode(heatmaps: np.ndarray, stride: float) -> np.ndarray:
    """SimpleBaseline's ``get_max_preds`` + the quarter-offset loop of ``get_final_preds``, one joint at a time
    (pure Python, as published), in input pixels."""
    n, k, h, w = heatmaps.shape
    out = np.zeros((n, k, 2))
    for i in range(n):
        for j in range(k):
            hm = heatmaps[i, j]
            idx = int(np.argmax(hm))
            px, py = idx % w, idx // w
            if hm.flat[idx] <= 0:
                continue  # SimpleBaseline zeroes the coordinates of a joint whose maximum is not positive
            x, y = float(px), float(py)
            if 1 < px < w - 1 and 1 < py < h - 1:
                x += 0.25 * np.sign(hm[py][px + 1] - hm[py][px - 1])
                y += 0.25 * np.sign(hm[py + 1][px] - hm[py - 1][px])
            out[i, j] = x * stride, y * stride
    return out


def test_msra_decode_matches_simplebaseline_on_noise_and_peaks():
    rng = np.random.default_rng(3)
    heatmaps = rng.random((4, 17, 64, 48)).astype(np.float32) - 0.2  # noise, some maxima <= 0 nowhere
    heatmaps[0, 3] = -1.0  # a joint with no positive value: (0, 0)
    heatmaps[1, 5, 0, 7] = 5.0  # peaks on the border: no offset there
    heatmaps[2, 6, 30, 47] = 5.0
    heatmaps[3, 2, 20, 10], heatmaps[3, 2, 20, 11] = 5.0, 4.0  # a peak with a higher right neighbour: +0.25 in x
    decoded = HeatmapCodec((256, 192), kind="msra").decode(heatmaps)
    np.testing.assert_allclose(decoded.keypoints, simplebaseline_decode(heatmaps, 4.0), atol=1e-9)
    assert tuple(decoded.keypoints[3, 2]) == (10.25 * 4, 20.0 * 4 + 0.25 * 4 * np.sign(
        heatmaps[3, 2, 21, 10] - heatmaps[3, 2, 19, 10]))  # fmt: skip
    assert tuple(decoded.keypoints[0, 3]) == (0.0, 0.0)


@pytest.mark.parametrize("centre", [(20.3, 31.7), (11.0, 40.45), (23.9, 8.12)])
def test_dark_recovers_the_centre_of_a_gaussian(centre):
    cx, cy = centre  # heatmap pixels, away from the border
    h, w, sigma = 64, 48, 2.0
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    heatmap = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2)).astype(np.float32)
    decoded = HeatmapCodec((256, 192), sigma=sigma, kind="dark").decode(heatmap[None, None])
    x, y = decoded.keypoints[0, 0] / 4.0
    assert abs(x - cx) < 0.02 and abs(y - cy) < 0.02, (x, y)
    # MSRA on the same map is only as good as its quarter-pixel grid: within 0.25 + 0.5 of a heatmap pixel
    msra = HeatmapCodec((256, 192), sigma=sigma, kind="msra").decode(heatmap[None, None]).keypoints[0, 0] / 4.0
    assert abs(msra[0] - cx) <= 0.75 and abs(msra[1] - cy) <= 0.75


def _blur_one_map_at_a_time(codec: HeatmapCodec, heatmaps: np.ndarray) -> np.ndarray:
    """DARK's modulation written out per map, as the DARK authors' code does it: zero-pad, one OpenCV blur per
    map, rescale to the map's own maximum (the reference for the codec's one-call, all-channels blur)."""
    hm = np.array(heatmaps, dtype=np.float32, copy=True)
    border = (codec.blur_kernel - 1) // 2
    for i in range(hm.shape[0]):
        for j in range(hm.shape[1]):
            origin_max = float(hm[i, j].max())
            padded = np.zeros((hm.shape[2] + 2 * border, hm.shape[3] + 2 * border), dtype=np.float32)
            padded[border:-border, border:-border] = hm[i, j]
            out = cv2.GaussianBlur(padded, (codec.blur_kernel, codec.blur_kernel), 0)[border:-border, border:-border]
            m = float(out.max())
            hm[i, j] = out * (origin_max / m) if m > 0 else out
    return hm


@pytest.mark.parametrize("shape, kernel", [((2, 14, 48, 48), 11), ((1, 17, 64, 48), 11), ((3, 1, 32, 32), 3),
                                           ((1, 19, 46, 46), 5)])  # fmt: skip
def test_blur_of_all_maps_at_once_equals_one_map_at_a_time(shape, kernel):
    rng = np.random.default_rng(sum(shape))
    heatmaps = rng.random(shape).astype(np.float32) ** 4 - 0.1  # peaks, flat negative areas
    heatmaps[0, 0] = 0.0  # an all-zero map keeps its zeros (no division by a zero maximum)
    codec = HeatmapCodec((4 * shape[2], 4 * shape[3]), heatmap_size=shape[2:], kind="dark", blur_kernel=kernel)
    np.testing.assert_array_equal(codec.blur(heatmaps), _blur_one_map_at_a_time(codec, heatmaps))
