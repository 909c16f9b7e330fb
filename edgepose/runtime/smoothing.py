"""Temporal smoothing of keypoints on video: a tiny tracker plus the One-Euro filter.

The One-Euro filter (Casiez, Roussel & Vogel, CHI 2012) is a low-pass filter whose cut-off rises with speed:
still joints are smoothed hard (no jitter), fast ones barely (little lag). Lightweight OpenPose's webcam demo
uses it per keypoint coordinate; :class:`PoseSmoother` does the same on whole ``(K, 2)`` arrays per person,
after matching people frame to frame by box IoU (greedy, highest IoU first) to give them stable ``track_id``.

numpy only.
"""

from __future__ import annotations

import math

import numpy as np

from edgepose.runtime.poses import Person, box_iou


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter over arrays of any fixed shape.

    Args:
        min_cutoff: cut-off frequency (Hz) at zero speed; lower = smoother, more lag when still.
        beta: speed coefficient; higher = less lag on fast motion.
        d_cutoff: cut-off for the derivative estimate.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("min_cutoff and d_cutoff must be > 0 and beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.x_prev: np.ndarray | None = None
        self.dx_prev: np.ndarray | None = None

    def reset(self) -> None:
        self.x_prev = self.dx_prev = None

    def __call__(self, x: np.ndarray, dt: float = 1.0 / 30) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if dt <= 0:
            raise ValueError(f"dt must be positive, got {dt}")
        if self.x_prev is None or self.x_prev.shape != x.shape:
            self.x_prev, self.dx_prev = x.copy(), np.zeros_like(x)
            return x.copy()
        dx = (x - self.x_prev) / dt
        a_d = _alpha(self.d_cutoff, dt)
        dx_hat = a_d * dx + (1 - a_d) * self.dx_prev
        cutoff = self.min_cutoff + self.beta * np.abs(dx_hat)
        a = _alpha(cutoff, dt)
        x_hat = a * x + (1 - a) * self.x_prev
        self.x_prev, self.dx_prev = x_hat, dx_hat
        return x_hat.copy()


class PoseSmoother:
    """Track people across frames and One-Euro-filter each track's keypoints.

    A keypoint below ``threshold`` confidence is passed through unfiltered (and does not disturb its filter's
    state); a track not seen for ``max_missing`` frames is dropped.
    """

    def __init__(
        self,
        fps: float = 30.0,
        *,
        min_cutoff: float = 1.0,
        beta: float = 0.05,
        iou_threshold: float = 0.3,
        threshold: float = 0.1,
        max_missing: int = 5,
    ) -> None:
        self.dt = 1.0 / float(fps if fps and fps > 0 else 30.0)
        self.min_cutoff, self.beta = min_cutoff, beta
        self.iou_threshold, self.threshold, self.max_missing = iou_threshold, threshold, max_missing
        self.tracks: dict[int, dict] = {}
        self._next_id = 0

    def _match(self, persons: list[Person]) -> list[int | None]:
        pairs = sorted(
            ((box_iou(p.box, t["box"]), i, tid) for i, p in enumerate(persons) for tid, t in self.tracks.items()),
            reverse=True,
        )
        assigned: list[int | None] = [None] * len(persons)
        used: set[int] = set()
        for iou, i, tid in pairs:
            if iou < self.iou_threshold:
                break
            if assigned[i] is None and tid not in used:
                assigned[i] = tid
                used.add(tid)
        return assigned

    def __call__(self, persons: list[Person]) -> list[Person]:
        """Smooth (in place) and return ``persons``, each with a ``track_id``."""
        assigned = self._match(persons)
        for person, tid in zip(persons, assigned):
            if tid is None:
                tid = self._next_id
                self._next_id += 1
                self.tracks[tid] = {"filter": OneEuroFilter(self.min_cutoff, self.beta), "missing": 0}
            track = self.tracks[tid]
            kp = person.keypoints
            good = kp[:, 2] >= self.threshold
            prev = track["filter"].x_prev
            raw = kp[:, :2].astype(np.float64)
            if prev is not None:
                raw = np.where(good[:, None], raw, prev)  # unseen joints keep the filter's state
            smoothed = track["filter"](raw, self.dt)
            kp[good, :2] = smoothed[good]
            track["box"], track["missing"] = person.box, -1
            person.track_id = tid
        for tid in list(self.tracks):
            self.tracks[tid]["missing"] += 1
            if self.tracks[tid]["missing"] > self.max_missing:
                del self.tracks[tid]
        return persons
