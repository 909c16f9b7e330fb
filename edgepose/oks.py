"""OKS and OKS-NMS in plain numpy (no compiled extensions): keep the best-scoring pose, drop those too similar to it.

Similarity is COCO's object keypoint similarity between two predicted poses,
``OKS = mean_j exp(-d_j² / (2 · s² · k_j²))`` with ``s² = (area_a + area_b) / 2`` and ``k_j = 2 · sigma_j``
(COCOeval's per-keypoint constant), the SimpleBaseline/HRNet ``oks_iou`` convention.

A floor module (numpy + the keypoint tables): the runtime's ``--nms`` and the COCO evaluation both use it, and
the runtime must not reach ``data/`` through ``evaluation/`` to get it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgepose.keypoints import COCO_KEYPOINTS, COCO_SIGMAS, KeypointSpec


def keypoint_sigmas(spec: KeypointSpec) -> tuple[float, ...]:
    """OKS sigmas for any keypoint set: its own, else COCO's for joints of the same name (LSP and MPII share
    COCO's limb joints), else COCO's mean sigma (neck, head top, pelvis, ...), so OKS-NMS works for every
    model the runtime can run, not only COCO-17 ones."""
    if spec.sigmas is not None:
        return tuple(spec.sigmas)
    by_name = dict(zip(COCO_KEYPOINTS, COCO_SIGMAS))
    mean = float(np.mean(COCO_SIGMAS))
    return tuple(float(by_name.get(name, mean)) for name in spec.names)


def oks_iou(
    pose: np.ndarray,
    others: np.ndarray,
    area: float,
    other_areas: np.ndarray,
    sigmas: Sequence[float] = COCO_SIGMAS,
    vis_threshold: float | None = None,
) -> np.ndarray:
    """OKS between one ``(K, 3)`` pose and ``(M, K, 3)`` others (x, y, score). Returns ``(M,)``.

    With ``vis_threshold``, only joints whose score exceeds it in both poses count (0 if none does).
    """
    pose = np.asarray(pose, dtype=np.float64)
    others = np.asarray(others, dtype=np.float64).reshape(-1, *pose.shape)
    var = (2 * np.asarray(sigmas, dtype=np.float64)) ** 2
    d2 = ((others[..., :2] - pose[None, :, :2]) ** 2).sum(-1)
    s2 = (np.asarray(other_areas, dtype=np.float64) + float(area)) / 2 + np.spacing(1)
    e = d2 / var[None, :] / s2[:, None] / 2
    sim = np.exp(-e)
    if vis_threshold is None:
        return sim.mean(axis=1) if sim.shape[1] else np.zeros(len(others))
    mask = (others[..., 2] > vis_threshold) & (pose[None, :, 2] > vis_threshold)
    counts = mask.sum(axis=1)
    return np.where(counts > 0, (sim * mask).sum(axis=1) / np.maximum(counts, 1), 0.0)


def oks_nms(
    poses: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    threshold: float = 0.9,
    sigmas: Sequence[float] = COCO_SIGMAS,
    vis_threshold: float | None = None,
) -> list[int]:
    """Greedy OKS-NMS over ``(N, K, 3)`` poses of one image; returns the kept indices, best score first.

    A pose is suppressed when its OKS with an already kept, higher-scoring pose exceeds ``threshold``.
    """
    poses = np.asarray(poses, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    if len(poses) == 0:
        return []
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        sim = oks_iou(poses[i], poses[rest], areas[i], areas[rest], sigmas, vis_threshold)
        order = rest[sim <= threshold]
    return keep
