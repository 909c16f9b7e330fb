"""One-Euro filtering and frame-to-frame tracking for video."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.runtime.poses import Person
from edgepose.runtime.smoothing import OneEuroFilter, PoseSmoother


def test_one_euro_reduces_jitter_of_a_still_point_and_follows_a_moving_one():
    rng = np.random.default_rng(0)
    still = 100 + rng.normal(0, 2.0, size=(200, 2))
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    out = np.array([f(x, dt=1 / 30) for x in still])
    assert out[50:].std() < 0.5 * still[50:].std()

    # a fast ramp: with beta > 0 the lag stays small
    ramp = np.stack([np.arange(100) * 10.0, np.zeros(100)], axis=1)
    lagged = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    fast = OneEuroFilter(min_cutoff=1.0, beta=0.5)
    lag0 = ramp[-1, 0] - [lagged(x) for x in ramp][-1][0]
    lag1 = ramp[-1, 0] - [fast(x) for x in ramp][-1][0]
    assert 0 <= lag1 < 0.2 * lag0


def test_one_euro_first_sample_passes_through_and_rejects_bad_dt():
    f = OneEuroFilter()
    x = np.array([[1.0, 2.0]])
    assert np.array_equal(f(x), x)
    with pytest.raises(ValueError):
        f(x, dt=0)


def _person(x: float, jitter: float = 0.0) -> Person:
    kp = np.zeros((17, 3))
    kp[:, 0] = x + np.arange(17) + jitter
    kp[:, 1] = 50 + np.arange(17)
    kp[:, 2] = 0.9
    return Person(kp, 1.0)


def test_pose_smoother_keeps_track_ids_and_smooths_each_person():
    smoother = PoseSmoother(fps=30)
    rng = np.random.default_rng(1)
    raw, smoothed = [], []
    for _ in range(60):
        j = rng.normal(0, 2, size=2)
        people = [_person(10, j[0]), _person(300, j[1])]
        raw.append([p.keypoints[0, 0] for p in people])
        people = smoother(people)
        assert [p.track_id for p in people] == [0, 1]
        smoothed.append([p.keypoints[0, 0] for p in people])
    raw, smoothed = np.array(raw), np.array(smoothed)
    assert (smoothed[20:].std(axis=0) < 0.6 * raw[20:].std(axis=0)).all()


def test_pose_smoother_leaves_low_confidence_keypoints_and_drops_lost_tracks():
    smoother = PoseSmoother(fps=30, max_missing=2)
    p = _person(10)
    p.keypoints[3] = (999, 999, 0.0)
    out = smoother([p])[0]
    assert tuple(out.keypoints[3, :2]) == (999, 999)
    for _ in range(4):
        smoother([])
    assert smoother.tracks == {}
    assert smoother([_person(10)])[0].track_id == 1, "a new person after the track was dropped gets a new id"
