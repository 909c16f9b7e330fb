"""MPII PCKh: the fraction of joints predicted within ``threshold × head size`` of the ground truth.

Follows the HRNet / official MPII summary: a joint counts when it is labelled in the ground truth; the
per-joint PCKh is reported for all 16 joints, and the summary rows are Head (head top), Shoulder, Elbow,
Wrist, Hip, Knee, Ankle (mean of left and right), and Mean = the labelled-count-weighted mean over all joints
except pelvis and thorax. Head size: see :mod:`edgepose.data.mpii` (0.6 × head-box diagonal when head boxes
exist, else the upper-neck-to-head-top distance). Persons with a zero head size are left out and counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgepose.keypoints import MPII_KEYPOINTS

EXCLUDED_FROM_MEAN = (6, 7)  # pelvis, thorax
SUMMARY_ROWS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("Head", (9,)),
    ("Shoulder", (12, 13)),
    ("Elbow", (11, 14)),
    ("Wrist", (10, 15)),
    ("Hip", (2, 3)),
    ("Knee", (1, 4)),
    ("Ankle", (0, 5)),
)


def pckh_table(
    pred: np.ndarray,
    gt: np.ndarray,
    visible: np.ndarray,
    head_sizes: np.ndarray,
    threshold: float = 0.5,
) -> dict[str, np.ndarray | float | int]:
    """Per-joint PCKh (in %) of ``pred`` (N, 16, 2) against ``gt`` (N, 16, 2) for ``visible`` (N, 16) joints.

    Returns ``per_joint`` (16,) percentages (NaN where no joint is labelled), ``counts`` (16,), ``mean`` (the
    weighted mean without pelvis and thorax) and ``skipped`` (persons with head size 0).
    """
    pred = np.asarray(pred, dtype=np.float64)[..., :2]
    gt = np.asarray(gt, dtype=np.float64)[..., :2]
    visible = np.asarray(visible).astype(bool)
    head = np.asarray(head_sizes, dtype=np.float64).reshape(-1)
    ok_person = head > 0
    visible = visible & ok_person[:, None]
    dist = np.linalg.norm(pred - gt, axis=-1) / np.where(ok_person, head, 1.0)[:, None]
    hits = (dist <= threshold) & visible
    counts = visible.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = 100.0 * hits.sum(axis=0) / counts
    mask = np.ones(len(counts), dtype=bool)
    mask[list(EXCLUDED_FROM_MEAN)] = False
    mask &= counts > 0
    mean = float((per_joint[mask] * counts[mask]).sum() / counts[mask].sum()) if mask.any() else 0.0
    return {"per_joint": per_joint, "counts": counts, "mean": mean, "skipped": int((~ok_person).sum())}


def pckh_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    visible: np.ndarray,
    head_sizes: np.ndarray,
    thresholds: Sequence[float] = (0.5, 0.1),
) -> dict[str, float]:
    """The HRNet-style summary: ``PCKh`` (Mean @0.5), the rows Head..Ankle @0.5, and ``PCKh@t`` per threshold."""
    out: dict[str, float] = {}
    main = pckh_table(pred, gt, visible, head_sizes, 0.5)
    per = main["per_joint"]
    for name, idx in SUMMARY_ROWS:
        vals = [per[i] for i in idx if not np.isnan(per[i])]
        out[name] = float(np.mean(vals)) if vals else 0.0
    out["PCKh"] = float(main["mean"])
    for t in thresholds:
        out[f"PCKh@{t:g}"] = float(pckh_table(pred, gt, visible, head_sizes, t)["mean"])
    return out


def format_pckh(
    pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, head_sizes: np.ndarray, threshold: float = 0.5
) -> str:
    """A per-joint table (name, labelled count, PCKh %) followed by the summary rows."""
    table = pckh_table(pred, gt, visible, head_sizes, threshold)
    lines = [f"{'joint':<16s} {'count':>6s} {'PCKh@' + format(threshold, 'g'):>9s}"]
    for j, name in enumerate(MPII_KEYPOINTS):
        lines.append(f"{name:<16s} {int(table['counts'][j]):6d} {table['per_joint'][j]:9.2f}")
    per = table["per_joint"]
    lines.append("-" * 33)
    for name, idx in SUMMARY_ROWS:
        vals = [per[i] for i in idx if not np.isnan(per[i])]
        lines.append(f"{name:<16s} {'':6s} {(float(np.mean(vals)) if vals else 0.0):9.2f}")
    lines.append(f"{'Mean':<16s} {'':6s} {table['mean']:9.2f}")
    return "\n".join(lines)
