"""PAF codec targets: Gaussian heatmaps, PAF directions, overwrite/clamp rules and the flip consistency."""

from __future__ import annotations

import math

import numpy as np
import pytest
from standins import standing_person

from edgepose.codecs.base import KeypointCodec
from edgepose.codecs.paf import PafCodec, PafTargets, flip_maps, limb_flip_index
from edgepose.codecs.paf_encode import render_heatmaps, render_pafs
from edgepose.errors import DataError
from edgepose.keypoints import OPENPOSE, OPENPOSE_KEYPOINTS, OPENPOSE_LIMBS, coco_to_openpose, paf_channels

STRIDE = 8
SHIFT = STRIDE / 2 - 0.5  # map pixel m samples input pixel 8m + 3.5


def _person(cx: float, cy: float, h: float) -> np.ndarray:
    """A standing COCO-17 person (all labelled) centred at (cx, cy), ``h`` pixels tall."""
    return standing_person(cx, cy, h)


def two_people() -> np.ndarray:
    """OpenPose-18 keypoints of a hand-made two-person scene in a 368 x 368 input."""
    return coco_to_openpose(np.stack([_person(100.3, 180.1, 300), _person(262.6, 185.2, 250)]))


def test_shapes_background_and_range() -> None:
    heat, pafs = PafCodec().encode(two_people(), 368)
    assert heat.shape == (19, 46, 46) and pafs.shape == (38, 46, 46)
    assert heat.dtype == np.float32 and pafs.dtype == np.float32
    assert heat.min() >= 0 and heat[:18].max() <= 1.0
    np.testing.assert_allclose(heat[18], 1.0 - heat[:18].max(axis=0), atol=1e-6)
    norms = np.hypot(pafs[0::2], pafs[1::2])
    assert np.all((norms < 1e-6) | (np.abs(norms - 1) < 1e-5)), "PAF pixels are 0 or unit vectors"


def test_heatmap_peaks_where_expected() -> None:
    kps = two_people()
    heat = render_heatmaps(kps, 368)
    for person in kps:
        for k in (0, 1, 4, 10, 13):  # nose, neck, a wrist, both ankles
            x, y = person[k, :2]
            mx, my = (x - SHIFT) / STRIDE, (y - SHIFT) / STRIDE
            r0, c0 = round(my), round(mx)
            win = heat[k, r0 - 2 : r0 + 3, c0 - 2 : c0 + 3]
            r, c = np.unravel_index(np.argmax(win), win.shape)
            assert abs(r0 - 2 + r - my) <= 0.5 + 1e-9 and abs(c0 - 2 + c - mx) <= 0.5 + 1e-9
            # the value is the Gaussian sampled at the cell centre
            d2 = ((c0 - 2 + c) * STRIDE + SHIFT - x) ** 2 + ((r0 - 2 + r) * STRIDE + SHIFT - y) ** 2
            assert win.max() == pytest.approx(min(1.0, math.exp(-d2 / 2 / 49.0)), abs=1e-5)


def test_gaussians_add_and_clamp_and_cut() -> None:
    kp = np.zeros((2, 18, 3))
    kp[:, 0] = (183.5, 183.5, 2)  # two noses at the same place: 1 + 1 clamps to 1
    heat = render_heatmaps(kp, 368)
    assert heat[0].max() == pytest.approx(1.0)
    kp1 = kp[:1].copy()
    kp1[0, 0, :2] = (180.0, 180.0)
    h1 = render_heatmaps(kp1, 368)[0]
    kp2 = np.concatenate([kp1, kp1])
    h2 = render_heatmaps(kp2, 368)[0]
    np.testing.assert_allclose(h2, np.minimum(2 * h1, 1.0), atol=1e-6)
    assert h1[(h1 > 0)].min() >= 0.01 - 1e-7, "values below 0.01 are cut"


def test_unlabelled_and_nonfinite_keypoints_are_not_drawn() -> None:
    kp = np.zeros((1, 18, 3))
    kp[0, 0] = (100, 100, 0)  # unlabelled
    kp[0, 1] = (np.nan, 50, 2)  # corrupt
    kp[0, 2] = (5000, 5000, 2)  # far outside
    heat, pafs = PafCodec().encode(kp, 368)
    assert heat[:18].max() == 0 and np.abs(pafs).max() == 0
    np.testing.assert_allclose(heat[18], 1.0)


def test_paf_direction_and_extent() -> None:
    kps = two_people()
    pafs = render_pafs(kps, 368)
    for limb, (a, b) in enumerate(OPENPOSE_LIMBS):
        cx, cy = paf_channels(limb)
        for person in kps:
            pa, pb = person[a, :2], person[b, :2]
            v = (pb - pa) / np.linalg.norm(pb - pa)
            mid = (pa + pb) / 2
            r, c = round((mid[1] - SHIFT) / STRIDE), round((mid[0] - SHIFT) / STRIDE)
            got = pafs[[cx, cy], r, c]
            # the map pixel nearest the midpoint lies on the segment: it holds this limb's direction, unless an
            # overlapping limb of the later-drawn person overwrote it
            if not np.allclose(got, v, atol=1e-5):
                assert person is kps[0], f"limb {limb} of the last person should never be overwritten"
    # far from every person: nothing
    assert np.abs(pafs[:, :, 44:]).max() == 0


def test_paf_reaches_both_keypoints() -> None:
    """The field covers the map pixels next to both ends (LWOP's exclusive box end cut the last column)."""
    kp = np.zeros((1, 18, 3))
    kp[0, 8] = (280.0, 185.0, 2)  # r_hip
    kp[0, 9] = (282.5, 242.5, 2)  # r_knee
    pafs = render_pafs(kp, 368)
    _, cy = paf_channels(OPENPOSE_LIMBS.index((8, 9)))
    for x, y in ((280.0, 185.0), (282.5, 242.5)):
        r, c = round((y - SHIFT) / STRIDE), round((x - SHIFT) / STRIDE)
        assert pafs[cy, r, c] > 0.99
    cols = np.nonzero(np.abs(pafs[cy]).sum(axis=0))[0]
    assert len(cols) == 2, "thickness 1 around a near-vertical segment between two columns: both columns"


def test_later_person_overwrites() -> None:
    kp = np.zeros((2, 18, 3))
    kp[0, 1], kp[0, 2] = (100, 100, 2), (200, 100, 2)  # neck -> r_sho pointing right
    kp[1, 1], kp[1, 2] = (200, 100, 2), (100, 100, 2)  # same segment pointing left
    pafs = render_pafs(kp, 368)
    cx, _ = paf_channels(0)
    on = np.abs(pafs[cx]) > 0
    assert on.any() and np.all(pafs[cx][on] == -1.0)


def test_limb_flip_index_is_an_involution_of_mirrored_limbs() -> None:
    q = limb_flip_index()
    assert sorted(q.tolist()) == list(range(len(OPENPOSE_LIMBS)))
    np.testing.assert_array_equal(q[q], np.arange(len(q)))
    fi = OPENPOSE.flip_index
    for i, (a, b) in enumerate(OPENPOSE_LIMBS):
        assert OPENPOSE_LIMBS[q[i]] == (fi[a], fi[b])


@pytest.mark.parametrize("width", [368, 496])
def test_flip_of_targets_equals_targets_of_flipped_keypoints(width: int) -> None:
    """Mirroring the maps (channels swapped by the flip pairs, limbs permuted, x negated) = encoding the mirror."""
    codec = PafCodec()
    kps = two_people()
    kps[..., 0] += (width - 368) / 2
    heat, pafs = codec.encode(kps, (368, width))
    mirrored = kps.copy()
    mirrored[..., 0] = width - 1 - mirrored[..., 0]
    mirrored = mirrored[:, OPENPOSE.flip_index]
    heat_m, pafs_m = codec.encode(mirrored, (368, width))
    heat_f, pafs_f = flip_maps(heat, pafs)
    np.testing.assert_allclose(heat_f, heat_m, atol=1e-5)
    np.testing.assert_allclose(pafs_f, pafs_m, atol=1e-5)
    # and a left-right limb really moved channels: r_sho->r_elb (limb 2) becomes l_sho->l_elb (limb 4)
    assert OPENPOSE_LIMBS[2] == (2, 3) and OPENPOSE_LIMBS[4] == (5, 6)
    np.testing.assert_allclose(pafs_f[8], -pafs[4][:, ::-1], atol=1e-6)


def test_encode_rejects_bad_shapes() -> None:
    with pytest.raises(DataError, match=r"\(N, 18, 3\)"):
        PafCodec().encode(np.zeros((2, 17, 3)), 368)
    with pytest.raises(DataError, match="input size"):
        PafCodec().encode(np.zeros((1, 18, 3)), (0, 64))
    with pytest.raises(DataError, match="visibility"):
        PafCodec().encode(np.zeros((1, 18, 2)), 64, visibility=np.ones((1, 17)))


def test_encode_takes_visibility_apart_or_as_a_column() -> None:
    kp = two_people()
    together = PafCodec().encode(kp, (368, 376))
    apart = PafCodec().encode(kp[..., :2], (368, 376), visibility=kp[..., 2])
    assert isinstance(together, PafTargets) and isinstance(PafCodec(), KeypointCodec)
    np.testing.assert_array_equal(together.heatmaps, apart.heatmaps)
    np.testing.assert_array_equal(together.pafs, apart.pafs)
    assert len(OPENPOSE_KEYPOINTS) == 18
    heat, pafs = PafCodec().encode(np.zeros((0, 18, 3)), (64, 96))
    assert heat.shape == (19, 8, 12) and not pafs.any()
