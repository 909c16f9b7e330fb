"""Property tests of the PAF decoder: it never crashes and returns sane persons on arbitrary maps and scenes."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgepose.analysis.decode_speed import synthetic_people
from edgepose.codecs.paf import PafCodec
from edgepose.keypoints import coco_to_openpose

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALUES = st.one_of(
    st.floats(-2.0, 2.0, width=32),
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, 0.1]),
)


def _check(poses, valid_h: float, valid_w: float) -> None:
    n = len(poses)
    assert poses.keypoints.shape == (n, 18, 3) and poses.found.shape == (n, 18)
    assert np.all(np.isfinite(poses.keypoints)) and np.all(np.isfinite(poses.scores))
    assert np.all(poses.counts >= 2) and np.all(poses.found.sum(axis=1) >= 2)
    xy = poses.keypoints[..., :2][poses.found]
    assert np.all(xy[:, 0] >= -1) and np.all(xy[:, 0] <= valid_w) and np.all(xy[:, 1] >= -1)
    assert np.all(xy[:, 1] <= valid_h)
    coco, scores = poses.to_coco()
    assert coco.shape == (n, 17, 3) and np.all(np.isfinite(scores)) and np.all(scores >= 0)


@SETTINGS
@given(
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    upsample=st.sampled_from([1, 4, 8]),
    data=st.data(),
)
def test_arbitrary_maps_never_crash(h: int, w: int, upsample: int, data: st.DataObject) -> None:
    heat = data.draw(arrays(np.float32, (19, h, w), elements=VALUES))
    pafs = data.draw(arrays(np.float32, (38, h, w), elements=VALUES))
    poses = PafCodec(upsample=upsample).decode(heat, pafs)
    _check(poses, h * 8, w * 8)


@SETTINGS
@given(n=st.integers(0, 6), seed=st.integers(0, 10_000), width=st.sampled_from([200, 304, 496]))
def test_rendered_scenes_decode_to_at_most_the_visible_people(n: int, seed: int, width: int) -> None:
    rng = np.random.default_rng(seed)
    gt = coco_to_openpose(synthetic_people(n, 368, width, rng))
    codec = PafCodec()
    valid_w = width - 3  # decode with a few padded columns cropped away
    poses = codec.decode(*codec.encode(gt, (368, width)), valid_size=(368, valid_w))
    _check(poses, 368, valid_w)
    # a decoded keypoint is within 3 px of the ground truth when that keypoint is well inside the image and no
    # other person's keypoint of its type is within 4 sigma (clamped, summed Gaussians merge into plateaus);
    # in any case it lies within the reach of a Gaussian above 0.1 (2.15 sigma) of some ground-truth keypoint
    reach = 2.15 * codec.sigma + 1
    for p in range(len(poses)):
        for k in np.nonzero(poses.found[p])[0]:
            dist = np.linalg.norm(gt[:, k, :2] - poses.keypoints[p, k, :2], axis=1)
            j = int(np.argmin(dist))
            x, y = gt[j, k, :2]
            others = np.delete(np.linalg.norm(gt[:, k, :2] - gt[j, k, :2], axis=1), j)
            isolated = bool(np.all(others > 4 * codec.sigma))
            inside = 8 <= x <= valid_w - 8 and 8 <= y <= 368 - 8
            assert dist.min() < (3.0 if inside and isolated else reach)


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 100))
def test_single_peaks_and_huge_noise_maps(seed: int) -> None:
    rng = np.random.default_rng(seed)
    codec = PafCodec()
    single = np.zeros((19, 46, 60), dtype=np.float32)
    single[rng.integers(0, 18), rng.integers(0, 46), rng.integers(0, 60)] = 1.0
    assert len(codec.decode(single, np.zeros((38, 46, 60), dtype=np.float32))) == 0
    noise_h = rng.random((19, 60, 80)).astype(np.float32)
    noise_p = rng.uniform(-1, 1, (38, 60, 80)).astype(np.float32)
    poses = PafCodec(upsample=4).decode(noise_h, noise_p)
    _check(poses, 480, 640)
