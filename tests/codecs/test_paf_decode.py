"""PAF decoding: peaks, limb scoring, grouping (incl. crossing people), padding/cropping and COCO conversion."""

from __future__ import annotations

import numpy as np
import pytest
from standins import standing_person

from edgepose.codecs.paf import PafCodec, PafPoses
from edgepose.codecs.paf_decode import find_peaks
from edgepose.errors import DataError
from edgepose.keypoints import OPENPOSE_KEYPOINTS, coco_to_openpose

NECK, NOSE, R_SHO, R_WRI, L_SHO, L_WRI = 1, 0, 2, 4, 5, 7


def _person(cx: float, cy: float, h: float) -> np.ndarray:
    return standing_person(cx, cy, h)


def _match(poses: PafPoses, gt: np.ndarray) -> list[int]:
    """Decoded person index for each GT person (nearest neck)."""
    return [int(np.argmin(np.linalg.norm(poses.keypoints[:, NECK, :2] - g[NECK, :2], axis=1))) for g in gt]


@pytest.mark.parametrize(
    "codec",
    [PafCodec(), PafCodec(upsample=4), PafCodec.lwop(), PafCodec(upsample=4, paf_sampling="bilinear")],
    ids=["default-x8", "default-x4", "lwop-x8", "bilinear-x4"],
)
def test_two_people_round_trip(codec: PafCodec) -> None:
    gt = coco_to_openpose(np.stack([_person(100.3, 180.1, 300), _person(262.6, 185.2, 250)]))
    poses = codec.decode(*codec.encode(gt, 368))
    assert len(poses) == 2
    assert poses.found.all() and (poses.counts == 18).all()
    for g, p in zip(gt, _match(poses, gt)):
        err = np.abs(poses.keypoints[p, :, :2] - g[:, :2]).max()
        assert err < (1.0 if codec.upsample == 8 else 1.5), err
    assert np.all(poses.keypoints[..., 2] > 0.5), "peak scores are heatmap values near 1"


def test_crossing_arms_are_grouped_to_their_owners() -> None:
    """Two people side by side, the second facing away, whose right upper arms cross in an X (same PAF channels,
    overwritten at the crossing) and whose forearms reach into the other person: every joint stays with its
    owner."""
    a = _person(140.0, 190.0, 260)
    b = _person(230.0, 190.0, 260)
    b[:, 0] = 2 * 230.0 - b[:, 0]  # facing away: b's right side is on the image left, towards a
    a[8, :2], a[10, :2] = (205.0, 150.0), (250.0, 175.0)  # a's right elbow and wrist, reaching into b
    b[8, :2], b[10, :2] = (165.0, 150.0), (120.0, 175.0)  # b's right elbow and wrist, reaching into a
    gt = coco_to_openpose(np.stack([a, b]))
    codec = PafCodec()
    poses = codec.decode(*codec.encode(gt, (368, 376)))
    assert len(poses) == 2
    for g, p in zip(gt, _match(poses, gt)):
        for k in range(18):
            assert poses.found[p, k], OPENPOSE_KEYPOINTS[k]
            assert np.linalg.norm(poses.keypoints[p, k, :2] - g[k, :2]) < 2.0, OPENPOSE_KEYPOINTS[k]


def test_padding_is_cropped_and_any_aspect_ratio_works() -> None:
    """A 368 x 300 input padded to 304: keypoints near the right border decode; nothing decodes in the padding."""
    gt = coco_to_openpose(_person(250.0, 180.0, 280)[None])
    gt[0, :, 0] += 295 - gt[0, :, 0].max()  # rightmost keypoint at x = 295
    codec = PafCodec()
    heat, pafs = codec.encode(gt, (368, 304))
    poses = codec.decode(heat, pafs, valid_size=(368, 300))
    assert len(poses) == 1
    assert poses.keypoints[0, :, 0].max() < 300
    assert np.abs(poses.keypoints[0, :, :2] - gt[0, :, :2]).max() < 2.0  # the map edge bends the last Gaussian


def test_missing_neck_fragments_are_merged_by_default() -> None:
    """Left shoulder unlabelled -> no neck: LWOP splits the person; the default decoder joins head and arm."""
    kp = _person(180.0, 185.0, 300)
    kp[5] = 0  # left shoulder unlabelled -> neck unlabelled
    gt = coco_to_openpose(kp[None])
    assert gt[0, NECK, 2] == 0
    heat, pafs = PafCodec().encode(gt, 368)
    lwop = PafCodec.lwop().decode(heat, pafs)
    ours = PafCodec().decode(heat, pafs)
    assert not any(p[NOSE] and p[R_WRI] for p in lwop.found)
    assert any(p[NOSE] and p[R_WRI] and p[R_SHO] for p in ours.found)
    assert len(ours) < len(lwop) + 1


def test_to_coco_and_scaling() -> None:
    kp18 = np.zeros((1, 18, 3))
    found = np.zeros((1, 18), dtype=bool)
    kp18[0, 0] = (10.0, 20.0, 0.9)  # nose
    kp18[0, 2] = (30.0, 40.0, 0.8)  # right shoulder
    found[0, [0, 2]] = True
    poses = PafPoses(kp18, found, np.array([3.0]), np.array([2]))
    coco, scores = poses.to_coco(0.5)
    assert coco.shape == (1, 17, 3)
    np.testing.assert_allclose(coco[0, 0], (10.5, 20.5, 1.0))
    np.testing.assert_allclose(coco[0, 6], (30.5, 40.5, 1.0))  # COCO right shoulder = 6
    assert coco[0, 5].tolist() == [0.0, 0.0, 0.0]
    assert scores[0] == pytest.approx(3.0 * (2 - 1))
    half = poses.scaled(0.5)
    assert half.keypoints[0, 0, 0] == pytest.approx((10.0 + 0.5) / 0.5 - 0.5)
    assert half.keypoints[0, 5, 0] == 0.0


def test_peaks_threshold_ties_and_suppression() -> None:
    hm = np.zeros((20, 30, 18), dtype=np.float32)
    hm[5, 5, 0] = 0.09  # below the threshold
    hm[10, 10, 1] = hm[10, 11, 1] = 0.5  # a maximum split over two pixels: one peak
    hm[3, 20, 2], hm[4, 22, 2] = 0.6, 0.7  # 2.2 px apart: the first in x order wins
    peaks = find_peaks(hm, threshold=0.1, radius=6.0)
    assert peaks.kind.tolist() == [1, 2]
    assert (peaks.x[0], peaks.y[0]) == (10.0, 10.0)
    assert (peaks.x[1], peaks.y[1]) == (20.0, 3.0)


def test_peak_cap_per_kind() -> None:
    rng = np.random.default_rng(0)
    hm = np.zeros((200, 200, 18), dtype=np.float32)
    hm[::10, ::10, 0] = rng.uniform(0.2, 1.0, size=(20, 20))
    peaks = find_peaks(hm, max_per_kind=50)
    assert len(peaks) == 50
    assert peaks.score.min() >= np.sort(hm[::10, ::10, 0].ravel())[-50] - 1e-6


def test_empty_and_degenerate_inputs() -> None:
    codec = PafCodec()
    assert len(codec.decode(np.zeros((19, 8, 8)), np.zeros((38, 8, 8)))) == 0
    one = np.zeros((19, 8, 8), dtype=np.float32)
    one[0, 4, 4] = 1.0
    assert len(codec.decode(one, np.zeros((38, 8, 8)))) == 0, "a lone peak is not a person"
    nan = np.full((19, 6, 7), np.nan, dtype=np.float32)
    assert len(codec.decode(nan, np.full((38, 6, 7), np.nan, dtype=np.float32))) == 0
    with pytest.raises(DataError, match="pafs must be"):
        codec.decode(np.zeros((19, 8, 8)), np.zeros((38, 8, 9)))


def test_timings_are_reported() -> None:
    codec = PafCodec()
    gt = coco_to_openpose(_person(180.0, 185.0, 300)[None])
    timings: dict[str, float] = {}
    codec.decode(*codec.encode(gt, 368), timings=timings)
    assert set(timings) == {"upsample", "peaks", "group"} and all(v >= 0 for v in timings.values())
