"""PCKh on the real MPII annotations (no images needed): GT vs GT, perturbations, table layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.data.mpii import load_mpii
from edgepose.evaluation.pckh import format_pckh, pckh_metrics, pckh_table


@pytest.fixture(scope="module")
def mpii_gt(mpii_small: Path):
    path = mpii_small / "bearpaw_mpii_annotations_subset.json"
    persons = [p for p in load_mpii(path).persons if p.head_size > 0]
    gt = np.stack([p.joints for p in persons])
    head = np.array([p.head_size for p in persons])
    return gt[..., :2], gt[..., 2] > 0, head


def test_gt_against_itself_is_100(mpii_gt):
    gt, vis, head = mpii_gt
    m = pckh_metrics(gt, gt, vis, head)
    assert m["PCKh"] == pytest.approx(100.0) and m["PCKh@0.1"] == pytest.approx(100.0)
    assert m["Head"] == pytest.approx(100.0) and m["Ankle"] == pytest.approx(100.0)


def test_perturbation_drops_as_expected(mpii_gt):
    gt, vis, head = mpii_gt
    # every joint moved by 0.4 head sizes: still within 0.5 (100%), beyond 0.1 (0%)
    direction = np.array([0.6, 0.8])
    pred = gt + 0.4 * head[:, None, None] * direction
    m = pckh_metrics(pred, gt, vis, head)
    assert m["PCKh"] == pytest.approx(100.0) and m["PCKh@0.1"] == pytest.approx(0.0)
    # moving the left wrist of every person by 0.6 head sizes: that joint drops to 0, the mean by its share
    pred = gt.copy()
    pred[:, 15] += 0.6 * head[:, None] * direction
    table = pckh_table(pred, gt, vis, head)
    assert table["per_joint"][15] == pytest.approx(0.0)
    counts = table["counts"]
    keep = np.ones(16, dtype=bool)
    keep[[6, 7]] = False
    expected = 100.0 * (1 - counts[15] / counts[keep].sum())
    assert table["mean"] == pytest.approx(expected)
    assert pckh_metrics(pred, gt, vis, head)["Wrist"] == pytest.approx(50.0)


def test_pelvis_and_thorax_do_not_count_in_mean(mpii_gt):
    gt, vis, head = mpii_gt
    pred = gt.copy()
    pred[:, [6, 7]] += 1000.0
    assert pckh_table(pred, gt, vis, head)["mean"] == pytest.approx(100.0)


def test_zero_head_size_is_skipped():
    gt = np.zeros((2, 16, 2))
    vis = np.ones((2, 16), dtype=bool)
    t = pckh_table(gt + 1, gt, vis, np.array([10.0, 0.0]))
    assert t["skipped"] == 1 and t["mean"] == pytest.approx(100.0)


def test_format_has_every_joint(mpii_gt):
    gt, vis, head = mpii_gt
    text = format_pckh(gt, gt, vis, head)
    assert "head_top" in text and "left_wrist" in text and "Mean" in text and "100.00" in text
