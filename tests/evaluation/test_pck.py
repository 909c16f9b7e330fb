"""PCK against the torso diameter, per-joint PCK and AUC, on cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.evaluation.pck import format_pck, pck_metrics


def _hand_case():
    """Three people, four joints each; predictions off by known distances (3-4-5 triangles for the diagonals).

    A: torso 100, errors 0, 15, 25, 5            -> normalised 0, .15, .25, .05
    B: torso 50,  errors 9, 11, NaN, (40, hidden) -> normalised .18, .22, miss, not scored
    C: no torso (left shoulder or right hip unlabelled): perfect predictions, never scored
    """
    gt = np.zeros((3, 4, 2))
    gt[:, :, 0] = np.arange(4) * 30.0 + 10.0
    gt[:, :, 1] = 50.0
    offsets = np.array(
        [
            [[0, 0], [9, 12], [15, 20], [3, 4]],
            [[0, 9], [11, 0], [np.nan, np.nan], [40, 0]],
            [[0, 0], [0, 0], [0, 0], [0, 0]],
        ],
        dtype=np.float64,
    )
    visible = np.ones((3, 4), dtype=bool)
    visible[1, 3] = False
    torso = np.array([100.0, 50.0, 0.0])
    return gt + offsets, gt, visible, torso


def test_pck_summary_and_per_joint_match_the_hand_count():
    pred, gt, visible, torso = _hand_case()
    m = pck_metrics(pred, gt, visible, torso, names=["a", "b", "c", "d"])
    # scored joints: A's 4 + B's 3 = 7; within 0.2 x torso: A 0, .15, .05 and B .18 -> 4; within 0.1: A 0, .05 -> 2
    assert m["joints"] == 7 and m["people"] == 2 and m["skipped"] == 1
    assert m["PCK@0.2"] == pytest.approx(4 / 7)
    assert m["PCK@0.1"] == pytest.approx(2 / 7)
    # per joint at 0.2: a: A hit, B hit; b: A hit, B miss (.22); c: A miss (.25), B NaN = miss; d: A hit, B hidden
    assert m["per_joint"] == pytest.approx({"a": 1.0, "b": 0.5, "c": 0.0, "d": 1.0})


def test_a_person_without_a_torso_changes_nothing_but_the_skipped_count():
    pred, gt, visible, torso = _hand_case()
    with_c = pck_metrics(pred, gt, visible, torso)
    without_c = pck_metrics(pred[:2], gt[:2], visible[:2], torso[:2])
    assert without_c["skipped"] == 0 and with_c["skipped"] == 1
    for key in ("PCK@0.2", "PCK@0.1", "AUC", "people", "joints"):
        assert with_c[key] == without_c[key]
    pred_bad = pred.copy()
    pred_bad[2] += 1000.0  # C's predictions are never looked at
    assert pck_metrics(pred_bad, gt, visible, torso)["PCK@0.2"] == with_c["PCK@0.2"]


def test_auc_integrates_the_sampled_pck_curve():
    """Thresholds 0, 0.01, ..., 0.2, trapezoids, divided by 0.2. A joint at normalised distance d strictly between
    two thresholds t_k < d < t_k+1 steps from 0 to 1 over that interval, so it contributes (0.2 - (t_k + t_k+1)/2)
    / 0.2; a joint at distance 0 contributes 1 and one beyond 0.2 contributes 0."""
    gt = np.zeros((1, 4, 2))
    pred = gt.copy()
    pred[0, :, 0] = [0.0, 5.5, 15.5, 30.0]  # torso 100: d = 0, .055, .155, .3
    m = pck_metrics(pred, gt, np.ones((1, 4), bool), np.array([100.0]))
    assert m["AUC"] == pytest.approx((1.0 + (0.2 - 0.055) / 0.2 + (0.2 - 0.155) / 0.2 + 0.0) / 4)
    perfect = pck_metrics(gt, gt, np.ones((1, 4), bool), np.array([100.0]))
    assert perfect["AUC"] == pytest.approx(1.0) and perfect["PCK@0.1"] == 1.0
    lost = pck_metrics(gt + 50.0, gt, np.ones((1, 4), bool), np.array([100.0]))
    assert lost["AUC"] == 0.0 and lost["PCK@0.2"] == 0.0


def test_auc_of_uniform_errors_approaches_the_integral():
    """Errors spread uniformly over [0, 0.4] x torso: PCK(t) = t / 0.4, whose mean over [0, 0.2] is 0.25."""
    n = 4000
    d = (np.arange(n) + 0.5) / n * 0.4
    gt = np.zeros((n, 1, 2))
    pred = np.zeros((n, 1, 2))
    pred[:, 0, 1] = d * 80.0
    m = pck_metrics(pred, gt, np.ones((n, 1), bool), np.full(n, 80.0))
    assert m["AUC"] == pytest.approx(0.25, abs=2e-3)
    assert m["PCK@0.2"] == pytest.approx(0.5, abs=1e-3) and m["PCK@0.1"] == pytest.approx(0.25, abs=1e-3)


def test_unlabelled_joint_is_nan_and_the_table_says_so():
    pred, gt, visible, torso = _hand_case()
    visible[:, 2] = False
    m = pck_metrics(pred, gt, visible, torso, names=["a", "b", "c", "d"])
    assert np.isnan(m["per_joint"]["c"]) and m["joints"] == 5
    table = format_pck(m)
    assert table.startswith("PCK@0.2 0.8000")  # A: 3 of 3, B: 1 of 2
    assert [line.split()[0] for line in table.splitlines()[3:]] == ["a", "b", "c", "d"]
    assert "n/a" in table.splitlines()[5] and "without a torso, not scored: 1" in table


def test_no_scored_person_gives_zero_not_a_division_error():
    gt = np.zeros((2, 3, 2))
    m = pck_metrics(gt, gt, np.ones((2, 3), bool), np.array([0.0, np.nan]))
    assert m["PCK@0.2"] == 0.0 and m["people"] == 0 and m["skipped"] == 2


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="differ in shape"):
        pck_metrics(np.zeros((2, 14, 2)), np.zeros((2, 13, 2)), np.ones((2, 13), bool), np.ones(2))


def test_limb_pck_counts_the_twelve_limb_joints_alone() -> None:
    """Hand case: one person, torso 10; the neck (not a limb) and the right ankle are 10 px off, the rest exact.
    All 14 joints: 12/14 correct; the 12 limb joints: 11/12."""
    import numpy as np

    from edgepose.evaluation.pck import pck_metrics
    from edgepose.keypoints import LSP_KEYPOINTS

    gt = np.zeros((1, 14, 2))
    pred = gt.copy()
    pred[0, LSP_KEYPOINTS.index("neck")] = [10, 0]
    pred[0, LSP_KEYPOINTS.index("right_ankle")] = [10, 0]
    metrics = pck_metrics(pred, gt, np.ones((1, 14), bool), np.array([10.0]), names=LSP_KEYPOINTS)
    assert metrics["PCK@0.2"] == 12 / 14
    assert metrics["PCK@0.2 limbs"] == 11 / 12
