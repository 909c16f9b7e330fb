"""Fuzzing the top-down heatmap decoders (MSRA and DARK) with hypothesis, derandomised so CI is reproducible.

Whatever a network or a caller hands them (noise, NaN, ±inf, values beyond float32, empty batches, odd map
sizes, arrays of the wrong rank), the decoders either return finite joints inside the padded crop or raise an
:class:`~edgepose.errors.EdgeposeError`. Before the DARK step was bounded, noise maps put joints hundreds of
thousands of pixels outside the crop with confidence ≈ 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgepose.codecs.heatmap import HeatmapCodec
from edgepose.errors import DataError, EdgeposeError
from edgepose.geometry import crop_to_image

FUZZ = settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BIG = float(np.finfo(np.float32).max)
VALUES = st.one_of(
    st.floats(-2.0, 2.0, width=32),
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, BIG, -BIG, 1e-45, 1e30]),
)


def _padded_crop(center: np.ndarray, scale: np.ndarray, heatmap_size: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Image-space box of each crop: width ``scale_x · 200`` around the centre, height from the heatmap aspect
    (only the width sets the zoom, as in the dataset's affine), plus a float32 round-off tolerance."""
    h, w = heatmap_size
    half = np.stack([scale[:, 0] * 100.0, scale[:, 0] * 100.0 * h / w], axis=1)
    tol = 1e-4 * (np.abs(center) + half) + 1e-6
    return center - half - tol, center + half + tol


def _check_decoded(codec: HeatmapCodec, hm: np.ndarray, center: np.ndarray, scale: np.ndarray) -> None:
    n, k = hm.shape[:2]
    h, w = codec.heatmap_size
    hm_coords, hm_conf = codec.decode_heatmap_coords(hm)
    assert hm_coords.shape == (n, k, 2) and hm_conf.shape == (n, k, 1)
    assert np.all(np.isfinite(hm_coords)) and np.all(np.isfinite(hm_conf))
    assert np.all(hm_coords >= 0) and np.all(hm_coords[..., 0] <= w - 1) and np.all(hm_coords[..., 1] <= h - 1)
    keypoints, conf = codec.decode(hm)
    assert keypoints.shape == (n, k, 2) and conf.shape == (n, k)
    assert np.all(np.isfinite(keypoints)) and np.all(np.isfinite(conf))
    coords = crop_to_image(keypoints, center, scale, codec.input_size)
    lo, hi = _padded_crop(center, scale, codec.heatmap_size)
    assert np.all(coords >= lo[:, None, :]) and np.all(coords <= hi[:, None, :])


@st.composite
def _cases(draw: st.DrawFn) -> tuple[HeatmapCodec, np.ndarray, np.ndarray, np.ndarray]:
    kind = draw(st.sampled_from(["msra", "dark"]))
    hh, hw = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    codec = HeatmapCodec((4 * hh, 4 * hw), heatmap_size=(hh, hw), kind=kind, blur_kernel=draw(st.sampled_from([3, 11])))
    n, k = draw(st.integers(0, 3)), draw(st.integers(0, 4))
    hm = draw(arrays(np.float32, (n, k, hh, hw), elements=VALUES))
    center = draw(arrays(np.float64, (n, 2), elements=st.floats(-1e4, 1e4)))
    scale = draw(arrays(np.float64, (n, 2), elements=st.floats(0.01, 50.0)))
    return codec, hm, center, scale


@FUZZ
@given(case=_cases())
def test_decoders_keep_every_joint_inside_the_padded_crop(case) -> None:
    _check_decoded(*case)


@FUZZ
@given(
    kind=st.sampled_from(["msra", "dark"]),
    seed=st.integers(0, 2**16),
    amplitude=st.sampled_from([1e-6, 1.0, 1e30, 1e300]),
    offset=st.sampled_from([0.0, -0.5, 0.9]),
)
def test_noise_and_huge_float64_maps_stay_inside(kind: str, seed: int, amplitude: float, offset: float) -> None:
    """Full-size maps of noise (what an untrained or broken network outputs), also in float64 beyond float32."""
    codec = HeatmapCodec((64, 48), kind=kind)
    rng = np.random.default_rng(seed)
    hm = (rng.random((2, 3, 16, 12)) + offset) * amplitude
    center = rng.uniform(0, 500, (2, 2))
    scale = rng.uniform(0.2, 3.0, (2, 2))
    _check_decoded(codec, hm, center, scale)
    if kind == "dark":  # the bounded step never moves a joint more than one heatmap pixel from its argmax
        argmax, _ = codec.get_max_preds(hm)
        refined, _ = codec.decode_heatmap_coords(hm)
        assert np.abs(refined - argmax).max() <= 1.0


@FUZZ
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=6), kind=st.sampled_from(["msra", "dark"]))
def test_oddly_shaped_inputs_raise_data_error_or_decode(shape: list[int], kind: str) -> None:
    codec = HeatmapCodec((16, 12), heatmap_size=(4, 3), kind=kind)
    hm = np.ones(shape, dtype=np.float32)
    try:
        coords, conf = codec.decode(hm)
    except DataError as exc:
        assert "heatmaps" in str(exc)
        assert len(shape) != 4 or tuple(shape[2:]) != (4, 3)
    else:
        assert len(shape) == 4 and tuple(shape[2:]) == (4, 3)
        assert coords.shape == (*shape[:2], 2) and conf.shape == tuple(shape[:2])


@pytest.mark.parametrize(
    "bad",
    [np.zeros((17, 64, 48)), np.zeros((1, 1, 17, 64, 48)), np.array(1.0), np.zeros((1, 17, 0, 48)), "heatmaps",
     np.zeros((1, 1, 64, 48), dtype=complex), [[[[1.0, 2.0]], [[1.0]]]]],
)
def test_bad_heatmaps_are_data_errors(bad) -> None:
    for method in (HeatmapCodec.get_max_preds, HeatmapCodec(kind="dark").decode_heatmap_coords):
        with pytest.raises(DataError, match="heatmaps"):
            method(bad)
    with pytest.raises(EdgeposeError, match="heatmaps"):
        HeatmapCodec().decode(bad)


@pytest.mark.parametrize("kind", ["msra", "dark"])
@pytest.mark.parametrize("n, k", [(0, 17), (2, 0), (0, 0)])
def test_empty_batches_decode_to_empty_results(kind: str, n: int, k: int) -> None:
    codec = HeatmapCodec(kind=kind)
    coords, conf = codec.decode(np.zeros((n, k, 64, 48), np.float32))
    assert coords.shape == (n, k, 2) and conf.shape == (n, k)
    assert crop_to_image(coords, np.zeros((n, 2)), np.ones((n, 2)), codec.input_size).shape == (n, k, 2)


def test_center_and_scale_must_match_the_batch() -> None:
    with pytest.raises(DataError, match="centers"):
        crop_to_image(np.zeros((2, 17, 2)), np.zeros((1, 2)), np.ones((1, 2)), (256, 192))


def test_nan_and_inf_count_as_no_signal() -> None:
    """NaN/inf are replaced by 0 before the argmax: a map that is NaN except one real peak finds the peak, and
    an all-NaN map gives a zero-confidence joint at the origin, not NaN coordinates."""
    codec = HeatmapCodec(kind="dark")
    hm = np.full((1, 2, 64, 48), np.nan, dtype=np.float32)
    hm[0, 0, 30, 20] = 0.8
    hm[0, 0, 10, 10] = np.inf
    coords, conf = codec.decode_heatmap_coords(hm)
    np.testing.assert_allclose(coords[0, 0], [20, 30])
    assert conf[0, 0, 0] == pytest.approx(0.8) and conf[0, 1, 0] == 0
    np.testing.assert_array_equal(coords[0, 1], [0, 0])


def test_dark_step_skipped_where_the_log_heatmap_has_no_maximum() -> None:
    """Between two blobs the blurred log-heatmap is a saddle (a minimum along x, a maximum along y): the Newton
    step leads to the saddle point (it moved the joint 1.86 px before the bound), so DARK keeps the argmax. On a
    ridge the x step is capped at one pixel; on a clean Gaussian it still refines to the sub-pixel centre."""
    codec = HeatmapCodec(kind="dark")
    ys, xs = np.mgrid[0:64, 0:48].astype(np.float64)
    saddle = np.exp(-((xs - 15) ** 2 + (ys - 30) ** 2) / 8.0) + np.exp(-((xs - 27) ** 2 + (ys - 30) ** 2) / 8.0)
    saddle[30, 20] = 1.01  # a one-pixel spike between them is the argmax
    ridge = np.exp(-((ys - 30.3) ** 2) / 8.0)  # the same value along the whole row
    ridge[30, 20] += 1e-3  # argmax at (20, 30)
    gauss = np.exp(-((xs - 20.4) ** 2 + (ys - 30.3) ** 2) / 8.0)
    coords, _ = codec.decode_heatmap_coords(np.stack([saddle, ridge, gauss])[None].astype(np.float32))
    np.testing.assert_array_equal(coords[0, 0], [20, 30])
    assert abs(coords[0, 1, 0] - 20) <= 1.0
    np.testing.assert_allclose(coords[0, 2], [20.4, 30.3], atol=0.05)
