"""PCK on LSP-style data: a joint is correct when it lies within ``threshold × torso diameter`` of its label.

The conventions (those of the LSP literature, stated so figures can be compared):

* the torso diameter is the distance from the **left shoulder to the right hip** of the ground truth
  (:func:`edgepose.data.lspet.torso_size`); a person missing either joint cannot be normalised: it is not
  scored and is counted in ``skipped``;
* only labelled (visible) joints are scored; every joint of the person counts once, so ``PCK@t`` is the
  fraction of all scored joints, and the per-joint table shows each joint's own fraction;
* ``AUC`` is the area under PCK(t) for t from 0 to 0.2 (21 thresholds, trapezoid rule), divided by 0.2 so a
  perfect model scores 1.

Figures are fractions in [0, 1] (not percentages), so ``PCK@0.2 = 0.65`` means 65 % of the joints.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

AUC_THRESHOLDS = np.linspace(0.0, 0.2, 21)
LIMB_JOINTS = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
"""The 12 limb joints every pose model labels alike (no head, neck or face points): ``PCK@0.2 limbs`` compares
models of different keypoint sets (LSP-14, COCO-17, MediaPipe's 33) on the same joints."""


def _distances(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, torso: np.ndarray):
    pred = np.asarray(pred, dtype=np.float64)[..., :2]
    gt = np.asarray(gt, dtype=np.float64)[..., :2]
    if pred.shape != gt.shape:
        raise ValueError(f"predictions {pred.shape} and labels {gt.shape} differ in shape")
    torso = np.asarray(torso, dtype=np.float64).reshape(-1)
    scored_person = np.isfinite(torso) & (torso > 0)
    scored = np.asarray(visible, dtype=bool) & scored_person[:, None]
    dist = np.linalg.norm(pred - gt, axis=-1) / np.where(scored_person, torso, 1.0)[:, None]
    dist = np.where(np.isfinite(dist), dist, np.inf)  # a NaN prediction is a miss, never a hit
    return dist, scored, int((~scored_person).sum())


def pck_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    visible: np.ndarray,
    torso: np.ndarray,
    names: Sequence[str] | None = None,
    thresholds: Sequence[float] = (0.2, 0.1),
) -> dict:
    """PCK of ``pred`` (N, K, 2) against ``gt`` (N, K, 2) for ``visible`` (N, K) joints, normalised by ``torso`` (N,).

    Returns ``{"PCK@0.2": ..., "PCK@0.1": ..., "PCK@0.2 limbs": the 12 :data:`LIMB_JOINTS` alone (when ``names``
    has them), "AUC": ..., "people": scored people, "skipped": people without a
    torso, "joints": scored joints, "per_joint": {name: PCK@0.2}}`` (``per_joint`` at the first threshold; a
    joint never labelled is NaN).
    """
    dist, scored, skipped = _distances(pred, gt, visible, torso)
    n_scored = int(scored.sum())
    out: dict = {}

    def pck_at(t: float) -> float:
        return float(((dist <= t) & scored).sum() / n_scored) if n_scored else 0.0

    for t in thresholds:
        out[f"PCK@{t:g}"] = pck_at(t)
    if names is not None and all(n in list(names) for n in LIMB_JOINTS):
        limbs = np.isin(np.asarray(list(names)), LIMB_JOINTS)[None, :] & scored
        out[f"PCK@{thresholds[0]:g} limbs"] = float(((dist <= thresholds[0]) & limbs).sum() / max(int(limbs.sum()), 1))
    curve = np.array([pck_at(t) for t in AUC_THRESHOLDS])
    out["AUC"] = float(np.sum((curve[1:] + curve[:-1]) * 0.5 * np.diff(AUC_THRESHOLDS)) / AUC_THRESHOLDS[-1])
    out["people"] = int(scored.any(axis=1).sum())
    out["skipped"] = skipped
    out["joints"] = n_scored
    counts = scored.sum(axis=0)
    hits = ((dist <= thresholds[0]) & scored).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = hits / counts
    names = list(names) if names is not None else [str(i) for i in range(len(counts))]
    out["per_joint"] = {name: float(v) for name, v in zip(names, per)}
    return out


def format_pck(metrics: dict, threshold: float = 0.2) -> str:
    """A plain-text table: the summary figures, then one row per joint."""
    lines = [
        f"PCK@0.2 {metrics['PCK@0.2']:.4f}   PCK@0.1 {metrics['PCK@0.1']:.4f}   AUC(0-0.2) {metrics['AUC']:.4f}"
        + (f"   PCK@0.2 limbs {metrics['PCK@0.2 limbs']:.4f}" if "PCK@0.2 limbs" in metrics else ""),
        f"people scored {metrics['people']} (joints {metrics['joints']}; without a torso, not scored: "
        f"{metrics['skipped']})",
        f"{'joint':<16}PCK@{threshold:g}",
    ]
    for name, value in metrics["per_joint"].items():
        lines.append(f"{name:<16}{'   n/a' if np.isnan(value) else f'{value:.4f}'}")
    return "\n".join(lines)
