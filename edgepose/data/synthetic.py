"""A synthetic people generator: COCO-format person-keypoint datasets of drawn human figures.

Each figure comes from a small 3-D skeleton model (torso, head with eyes/ears/nose, two-segment limbs with
hands and feet) with human segment-length ratios and joint-angle ranges, a body lean/twist, a yaw about the
vertical axis (frontal to three-quarter views) and an in-plane roll, projected orthographically and drawn with
OpenCV as thick capsules, a torso polygon and an elliptic head.

Conventions (see docs/synthetic.md):

* **Left/right.** Keypoints are named from the person's point of view, as in COCO: a person facing the
  viewer has their *right* side on the image's *left* (``right_shoulder.x < left_shoulder.x``).
* **Left is marked.** The person's left limbs are drawn in a lighter shade with a dark stripe down their
  middle, and the left ear carries a dot, so a network can tell left from right (without a cue, flip
  ambiguity ruins AP).
* **Visibility.** ``v=2``: the joint is in the image and the pixel under it belongs to a part of the
  same person adjacent to that joint. ``v=1``: in the image but covered (by a later-drawn person, a random
  occluder, another part of the same person, or the back of the head for face points turned away).
  ``v=0`` with ``x=y=0``: outside the image.
* **Boxes and areas.** ``bbox`` is the tight integer box (xywh) around the whole drawn figure, occluded
  parts included, clipped to the image; ``area`` is the figure's pixel area before later persons cover it;
  ``segmentation`` is the figure's outline as polygons.
* **Crowds.** Optionally a cluster of tiny figures that are *not* individually annotated, covered by one
  ``iscrowd=1`` annotation with an uncompressed RLE of their union (COCO's crowd format).
* **Determinism.** Image ``i`` is drawn with ``numpy.random.default_rng(SeedSequence([seed, i]))``, so a
  dataset is byte-identical for a seed whatever the number of worker processes (on one platform and set of
  library versions).

Pure numpy + OpenCV (no torch).
"""

from __future__ import annotations

import colorsys
import contextlib
import json
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgepose.errors import ConfigError
from edgepose.io import atomic_write_image, atomic_write_text
from edgepose.keypoints import COCO_KEYPOINTS, COCO_SKELETON

# ----------------------------------------------------------------------------------------------- config


@dataclass
class SynthConfig:
    """What :func:`generate_dataset` draws. Sizes are pixels, fractions are of the image height."""

    images: int = 200
    seed: int = 0
    width: int = 320
    height: int = 256
    min_people: int = 1
    max_people: int = 4
    person_height: tuple[float, float] = (0.4, 0.9)  # standing height as a fraction of the image height
    small_person_prob: float = 0.15  # chance that a person is small instead ...
    small_person_height: tuple[float, float] = (0.15, 0.35)  # ... with this height range
    max_iou: float = 0.35  # placement tries to keep person boxes below this IoU (overlaps still happen)
    partial_prob: float = 0.15  # chance that a person may be placed partly outside the frame
    max_yaw_deg: float = 60.0  # turn about the vertical axis: 0 = facing the viewer
    max_roll_deg: float = 25.0  # in-plane lean of the whole figure (rarely up to 3x this)
    crowd_prob: float = 0.1  # chance per image of a crowd region (iscrowd=1) of tiny unannotated figures
    occluder_prob: float = 0.3  # chance per image of 1-2 random occluding shapes drawn over the people
    clutter: int = 6  # number of random background shapes (0 = plain gradients and noise)
    noise: float = 6.0  # amplitude (grey levels) of the pixel noise added to the whole image
    val_fraction: float = 0.2  # the last round(images * val_fraction) images form the "val" split
    jpeg_quality: int = 92
    area: str = "figure"  # annotation "area" (the OKS scale): "figure" | "bbox", see AREA_MODES
    workers: int = 1  # processes; the output does not depend on it

    def validate(self) -> None:
        if self.images < 1:
            raise ConfigError(f"synth: images must be >= 1, got {self.images}")
        if self.width < 32 or self.height < 32:
            raise ConfigError(f"synth: image size {self.width}x{self.height} is too small (min 32x32)")
        if not 0 <= self.min_people <= self.max_people or self.max_people < 1:
            raise ConfigError(f"synth: need 0 <= min_people <= max_people and max_people >= 1, got "
                              f"{self.min_people}..{self.max_people}")  # fmt: skip
        for name in ("crowd_prob", "occluder_prob", "small_person_prob", "partial_prob", "max_iou"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"synth: {name} must be in [0, 1], got {value}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"synth: val_fraction must be in [0, 1), got {self.val_fraction}")
        for name in ("person_height", "small_person_height"):
            lo, hi = getattr(self, name)
            if not 0.0 < lo <= hi <= 2.0:
                raise ConfigError(f"synth: {name} must satisfy 0 < lo <= hi <= 2, got ({lo}, {hi})")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"synth: jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if self.workers < 1:
            raise ConfigError(f"synth: workers must be >= 1, got {self.workers}")
        if self.area not in AREA_MODES:
            raise ConfigError(f"synth: area must be one of {', '.join(AREA_MODES)}, got {self.area!r}")

    def split_sizes(self) -> tuple[int, int]:
        """(train, val) image counts."""
        n_val = round(self.images * self.val_fraction)
        if self.val_fraction > 0 and self.images > 1:
            n_val = max(n_val, 1)
        n_val = min(n_val, self.images - 1)
        return self.images - n_val, n_val


# What the annotation's "area" (OKS's squared scale) is: "figure" = the drawn figure's pixel area (about
# 0.2 x standing height^2, like a COCO person's segment: COCO-strength OKS); "bbox" = the box area (about 2.5x
# larger: a lenient OKS, and larger still for spread limbs).
AREA_MODES = ("figure", "bbox")

# ---------------------------------------------------------------------------------------------- the body

K = len(COCO_KEYPOINTS)
(NOSE, L_EYE, R_EYE, L_EAR, R_EAR, L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI,
 L_HIP, R_HIP, L_KNE, R_KNE, L_ANK, R_ANK) = range(K)  # fmt: skip

# Part ids in the label map (1..31 within a person). Left parts are odd, right parts are even where paired.
P_TORSO, P_NECK, P_HEAD, P_NOSE, P_LEYE, P_REYE, P_LEAR, P_REAR = 1, 2, 3, 4, 5, 6, 7, 8
P_LUARM, P_RUARM, P_LFARM, P_RFARM, P_LTHIGH, P_RTHIGH, P_LSHIN, P_RSHIN = 9, 10, 11, 12, 13, 14, 15, 16
P_LHAND, P_RHAND, P_LFOOT, P_RFOOT = 17, 18, 19, 20
PARTS_PER_PERSON = 32
# Bumped whenever the drawing changes, so ensure_dataset() does not reuse a dataset drawn differently.
GENERATOR_VERSION = "3"
CROWD_LABEL = 0xF000  # crowd figures use labels >= this
OCCLUDER_LABEL = 0xFFFF
MAX_LABELLED_PERSONS = CROWD_LABEL // PARTS_PER_PERSON - 2

# The parts whose pixels count as "the joint is visible" for each keypoint.
JOINT_PARTS: tuple[frozenset[int], ...] = (
    frozenset({P_HEAD, P_NOSE}),
    frozenset({P_HEAD, P_LEYE}), frozenset({P_HEAD, P_REYE}),
    frozenset({P_HEAD, P_LEAR}), frozenset({P_HEAD, P_REAR}),
    frozenset({P_TORSO, P_NECK, P_LUARM}), frozenset({P_TORSO, P_NECK, P_RUARM}),
    frozenset({P_LUARM, P_LFARM}), frozenset({P_RUARM, P_RFARM}),
    frozenset({P_LFARM, P_LHAND}), frozenset({P_RFARM, P_RHAND}),
    frozenset({P_TORSO, P_LTHIGH}), frozenset({P_TORSO, P_RTHIGH}),
    frozenset({P_LTHIGH, P_LSHIN}), frozenset({P_RTHIGH, P_RSHIN}),
    frozenset({P_LSHIN, P_LFOOT}), frozenset({P_RSHIN, P_RFOOT}),
)  # fmt: skip
_JOINT_PART_TABLE = np.zeros((K, PARTS_PER_PERSON), dtype=bool)
for _j, _parts in enumerate(JOINT_PARTS):
    _JOINT_PART_TABLE[_j, list(_parts)] = True

# Mean segment lengths and widths in units of the standing height (adult proportions, roughly Drillis &
# Contini): the figure is ~1.0 tall from ankle to crown.
UPPER_ARM, FOREARM, THIGH, SHIN = 0.170, 0.150, 0.245, 0.245
TORSO, NECK = 0.290, 0.105
SHOULDER_WIDTH, HIP_WIDTH = 0.235, 0.175
HEAD_W, HEAD_H = 0.058, 0.072  # semi-axes of the head ellipse
WIDTH = {"upper_arm": 0.062, "forearm": 0.052, "thigh": 0.088, "shin": 0.070, "neck": 0.05, "hand": 0.03,
         "foot": 0.034}  # fmt: skip
# Face points relative to the head centre in the head frame (x = person's left, y = down, z = forward).
FACE_OFFSETS = np.array([
    [0.0, 0.014, 0.066],  # nose
    [0.027, -0.012, 0.056], [-0.027, -0.012, 0.056],  # eyes
    [0.064, 0.004, -0.006], [-0.064, 0.004, -0.006],  # ears
])  # fmt: skip
# A face point is hidden by the head itself when its depth relative to the head centre is below this.
FACE_HIDDEN_BELOW = np.array([0.015, 0.01, 0.01, -0.03, -0.03])


def _rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _bend(direction: np.ndarray, toward: np.ndarray, fallback: np.ndarray, angle: float) -> np.ndarray:
    """Rotate unit ``direction`` by ``angle`` toward ``toward`` (its component orthogonal to ``direction``)."""
    perp = toward - direction * float(direction @ toward)
    if np.linalg.norm(perp) < 0.2:
        perp = fallback - direction * float(direction @ fallback)
    perp = _unit(perp)
    return math.cos(angle) * direction + math.sin(angle) * perp


def _limb_dir(flexion: float, abduction: float, side: int) -> np.ndarray:
    """A limb hanging down, raised forward by ``flexion`` then outward (to ``side``: +1 left) by ``abduction``."""
    down = np.array([0.0, 1.0, 0.0])
    return _rz(-side * abduction) @ _rx(flexion) @ down


@dataclass
class Pose:
    """A figure in image coordinates: everything :func:`render_person` draws and the annotation needs.

    ``joints`` is (17, 3): x, y in pixels (pixel centres at integers), z depth in pixels (toward the viewer
    positive). ``self_hidden[j]`` marks face points turned away from the viewer (behind the head).
    """

    joints: np.ndarray
    self_hidden: np.ndarray
    head_center: np.ndarray  # (3,)
    head_axes: tuple[float, float]  # semi-axes in pixels (across, along the head's up direction)
    head_angle: float  # degrees, the ellipse's rotation in the image
    head_facing: float  # z of the head's forward unit vector (>0: face toward the viewer)
    neck: np.ndarray  # (3,)
    hands: np.ndarray  # (2, 3) left, right hand centres
    feet: np.ndarray  # (2, 2, 3) left/right foot capsules (start, end)
    torso: np.ndarray  # (4, 3) left shoulder, right shoulder, right hip, left hip corners (widened)
    scale: float  # pixels per unit of standing height (the standing height in pixels)

    def extent(self) -> np.ndarray:
        """[x0, y0, x1, y1] of everything drawn (unclipped)."""
        s = self.scale
        pts = [self.joints[:, :2], self.torso[:, :2], self.hands[:, :2], self.feet.reshape(-1, 3)[:, :2]]
        pad = max(WIDTH["thigh"], WIDTH["foot"], WIDTH["hand"]) * s / 2 + 1.5
        body = np.concatenate(pts, 0)
        lo = body.min(0) - pad
        hi = body.max(0) + pad
        r = max(self.head_axes) + 0.012 * s + 1.5
        hc = self.head_center[:2]
        lo = np.minimum(lo, hc - r)
        hi = np.maximum(hi, hc + r)
        return np.array([lo[0], lo[1], hi[0], hi[1]])

    def translated(self, dx: float, dy: float) -> Pose:
        d3 = np.array([dx, dy, 0.0])
        return Pose(
            joints=self.joints + d3, self_hidden=self.self_hidden, head_center=self.head_center + d3,
            head_axes=self.head_axes, head_angle=self.head_angle, head_facing=self.head_facing,
            neck=self.neck + d3, hands=self.hands + d3, feet=self.feet + d3, torso=self.torso + d3, scale=self.scale,
        )  # fmt: skip


@dataclass
class _Angles:
    """A figure's posture before it is drawn: view, segment-length factors, trunk and head turns, limbs.

    ``arms`` holds (flexion, abduction, elbow, bend-toward direction) and ``legs`` (flexion, abduction, knee),
    left side first; angles are radians.
    """

    yaw: float
    roll: float
    lens: np.ndarray  # upper arm, forearm, thigh, shin
    lean: float
    bend: float
    twist: float
    head: tuple[float, float, float]
    arms: list[tuple[float, float, float, np.ndarray]]
    legs: list[tuple[float, float, float]]


def _neutral_angles(yaw_deg: float | None, roll_deg: float | None) -> _Angles:
    """The upright frontal figure of ``sample_pose(neutral=True)``: arms slightly out, legs straight."""
    d = math.radians
    return _Angles(
        yaw=d(yaw_deg or 0.0), roll=d(roll_deg or 0.0), lens=np.ones(4), lean=0.0, bend=0.0, twist=0.0,
        head=(0.0, 0.0, 0.0), arms=[(0.0, d(18.0), 0.0, np.array([0.0, 0.0, 1.0]))] * 2, legs=[(0.0, d(6.0), 0.0)] * 2,
    )  # fmt: skip


def _sample_view(rng: np.random.Generator, max_yaw_deg: float, max_roll_deg: float, yaw_deg: float | None,
                 roll_deg: float | None) -> tuple[float, float]:  # fmt: skip
    """(yaw, roll) in radians: pinned when given, else drawn (the roll now and then well past its range)."""
    d, u = math.radians, rng.uniform
    yaw = d(yaw_deg) if yaw_deg is not None else d(u(-max_yaw_deg, max_yaw_deg))
    if roll_deg is not None:
        return yaw, d(roll_deg)
    roll = d(rng.normal(0.0, max_roll_deg / 2.5))
    roll = float(np.clip(roll, -d(max_roll_deg), d(max_roll_deg)))
    if rng.random() < 0.04:  # now and then a falling / lying figure
        roll = d(u(-3 * max_roll_deg, 3 * max_roll_deg))
    return yaw, roll


def _sample_arms(rng: np.random.Generator) -> list[tuple[float, float, float, np.ndarray]]:
    """Both arms: a relaxed pose (45%) or anything in the range of motion."""
    d, u = math.radians, rng.uniform
    style = rng.random()
    arms = []
    for _side in (1, -1):
        if style < 0.45:  # relaxed
            arm_f, arm_a, elbow = d(u(-30, 50)), d(u(5, 45)), d(u(0, 70))
        else:  # anything in the range of motion
            arm_f, arm_a, elbow = d(u(-40, 150)), d(u(5, 170)), d(u(0, 145))
        toward = np.array([0.0, 0.0, 1.0]) * u(0.2, 1.0) + np.array([-_side * u(0, 0.7), -u(0, 1.0), 0.0])
        arms.append((arm_f, arm_a, elbow, toward))
    return arms


def _sample_legs(rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """Both legs: a crouch (12%), or a walking stride with now and then one leg raised."""
    d, u = math.radians, rng.uniform
    crouch = rng.random() < 0.12
    walk = d(rng.normal(0.0, 18.0))
    legs = []
    for i, _side in enumerate((1, -1)):
        if crouch:
            hip_f, hip_a, knee = d(u(40, 100)), d(u(0, 35)), d(u(60, 130))
        else:
            hip_f = (walk if i == 0 else -walk) + d(rng.normal(0.0, 8.0))
            hip_f = float(np.clip(hip_f, d(-25), d(100)))
            hip_a, knee = d(u(-5, 25)), d(abs(rng.normal(0.0, 20.0)))
            if rng.random() < 0.15:
                hip_f, knee = d(u(20, 90)), d(u(30, 120))  # a raised leg
        legs.append((hip_f, hip_a, knee))
    return legs


def _sample_angles(rng: np.random.Generator, max_yaw_deg: float, max_roll_deg: float, yaw_deg: float | None,
                   roll_deg: float | None) -> _Angles:  # fmt: skip
    """A random posture within the joints' ranges of motion (see :func:`sample_pose`), drawn in a fixed order."""
    d = math.radians
    yaw, roll = _sample_view(rng, max_yaw_deg, max_roll_deg, yaw_deg, roll_deg)
    lens = rng.normal(1.0, 0.05, size=4).clip(0.85, 1.15)  # upper arm, forearm, thigh, shin
    lean = d(rng.normal(0.0, 7.0))
    bend = d(rng.normal(0.0, 5.0))
    twist = d(rng.normal(0.0, 8.0))
    head = (d(rng.normal(0.0, 15.0)), d(rng.normal(0.0, 8.0)), d(rng.normal(0.0, 8.0)))
    arms = _sample_arms(rng)
    return _Angles(yaw, roll, lens, lean, bend, twist, head, arms, _sample_legs(rng))


@dataclass
class _Body:
    """A posed skeleton in the body frame (x = the person's left, y = down, z = forward; pelvis at the
    origin), in units of standing height."""

    joints: np.ndarray
    neck: np.ndarray
    head_center: np.ndarray
    r_head: np.ndarray  # the head's rotation
    hands: list[np.ndarray]
    feet: list[np.ndarray]
    torso: np.ndarray


def _pose_body(a: _Angles) -> _Body:
    """Build the skeleton of ``a``: trunk, limbs from the shoulders and hips, head and face points."""
    r_torso = _rz(a.bend) @ _rx(-a.lean) @ _ry(a.twist)
    neck = r_torso @ np.array([0.0, -TORSO, 0.0])
    joints = np.zeros((K, 3))
    sho = {s: neck + r_torso @ np.array([s * SHOULDER_WIDTH / 2, 0.02, 0.0]) for s in (1, -1)}
    hip = {s: np.array([s * HIP_WIDTH / 2, 0.0, 0.0]) for s in (1, -1)}
    hands, feet = [], []
    lens = a.lens
    for k, s in enumerate((1, -1)):
        arm_f, arm_a, elbow, toward = a.arms[k]
        up_dir = r_torso @ _limb_dir(arm_f, arm_a, s)
        fore_dir = _bend(up_dir, r_torso @ toward, r_torso @ np.array([0.0, -1.0, 0.0]), elbow)
        e = sho[s] + UPPER_ARM * lens[0] * up_dir
        w = e + FOREARM * lens[1] * fore_dir
        joints[L_SHO if s == 1 else R_SHO] = sho[s]
        joints[L_ELB if s == 1 else R_ELB] = e
        joints[L_WRI if s == 1 else R_WRI] = w
        hands.append(w + 0.035 * fore_dir)
        hip_f, hip_a, knee = a.legs[k]
        thigh_dir = _limb_dir(hip_f, hip_a, s)
        shin_dir = _bend(thigh_dir, np.array([0.0, 0.0, -1.0]), np.array([0.0, 1.0, 0.0]), knee)
        kn = hip[s] + THIGH * lens[2] * thigh_dir
        an = kn + SHIN * lens[3] * shin_dir
        joints[L_HIP if s == 1 else R_HIP] = hip[s]
        joints[L_KNE if s == 1 else R_KNE] = kn
        joints[L_ANK if s == 1 else R_ANK] = an
        foot_dir = _unit(np.array([s * 0.3, 0.25, 1.0]))
        feet.append(np.stack([an + 0.01 * foot_dir, an + 0.075 * foot_dir]))
    r_head = r_torso @ _ry(a.head[0]) @ _rx(a.head[1]) @ _rz(a.head[2])
    head_center = neck + r_torso @ np.array([0.0, -NECK, 0.0])
    joints[[NOSE, L_EYE, R_EYE, L_EAR, R_EAR]] = head_center + FACE_OFFSETS @ r_head.T
    torso = np.stack([
        sho[1] + r_torso @ np.array([0.03, 0.0, 0.0]), sho[-1] + r_torso @ np.array([-0.03, 0.0, 0.0]),
        hip[-1] + np.array([-0.025, 0.02, 0.0]), hip[1] + np.array([0.025, 0.02, 0.0]),
    ])  # fmt: skip
    return _Body(joints, neck, head_center, r_head, hands, feet, torso)


def _view_pose(body: _Body, yaw: float, roll: float, height_px: float) -> Pose:
    """``body`` seen from the camera: yaw about the vertical, then roll in the image plane; orthographic
    projection, scaled to ``height_px`` (box not yet placed)."""
    r_view = _rz(roll) @ _ry(yaw)
    r_head = body.r_head
    face_rel_z = (FACE_OFFSETS @ r_head.T @ r_view.T)[:, 2]
    self_hidden = np.zeros(K, dtype=bool)
    self_hidden[[NOSE, L_EYE, R_EYE, L_EAR, R_EAR]] = face_rel_z < FACE_HIDDEN_BELOW
    head_up = r_view @ r_head @ np.array([0.0, -1.0, 0.0])
    head_fwd = r_view @ r_head @ np.array([0.0, 0.0, 1.0])
    head_angle = math.degrees(math.atan2(head_up[0], -head_up[1]))  # ellipse's rotation from vertical
    scale = float(height_px)
    return Pose(
        joints=(body.joints @ r_view.T) * scale, self_hidden=self_hidden,
        head_center=(body.head_center @ r_view.T) * scale, head_axes=(HEAD_W * scale, HEAD_H * scale),
        head_angle=head_angle, head_facing=float(head_fwd[2]), neck=(body.neck @ r_view.T) * scale,
        hands=(np.stack(body.hands) @ r_view.T) * scale, feet=(np.stack(body.feet) @ r_view.T) * scale,
        torso=(body.torso @ r_view.T) * scale, scale=scale,
    )  # fmt: skip


def sample_pose(
    rng: np.random.Generator,
    height_px: float,
    center: Sequence[float] = (0.0, 0.0),
    *,
    max_yaw_deg: float = 60.0,
    max_roll_deg: float = 25.0,
    neutral: bool = False,
    yaw_deg: float | None = None,
    roll_deg: float | None = None,
) -> Pose:
    """Sample an anatomically plausible figure ``height_px`` tall (standing) with its box centred at ``center``.

    ``neutral=True`` gives a deterministic upright frontal figure (arms slightly out, legs straight) whatever
    ``rng`` holds; ``yaw_deg``/``roll_deg`` pin the view. Angles follow joint ranges of motion: shoulder
    flexion -40..150 deg, abduction 5..170, elbow 0..145; hip flexion -25..100, abduction -5..40, knee 0..130.
    """
    if neutral:
        angles = _neutral_angles(yaw_deg, roll_deg)
    else:
        angles = _sample_angles(rng, max_yaw_deg, max_roll_deg, yaw_deg, roll_deg)
    pose = _view_pose(_pose_body(angles), angles.yaw, angles.roll, height_px)
    x0, y0, x1, y1 = pose.extent()
    return pose.translated(center[0] - (x0 + x1) / 2, center[1] - (y0 + y1) / 2)


def standing_pose(height_px: float, center: Sequence[float], yaw_deg: float = 0.0, roll_deg: float = 0.0) -> Pose:
    """A deterministic upright figure facing the viewer (``yaw_deg=0``); handy for tests and docs."""
    return sample_pose(np.random.default_rng(0), height_px, center, neutral=True, yaw_deg=yaw_deg,
                       roll_deg=roll_deg)  # fmt: skip


# ------------------------------------------------------------------------------------------------ drawing

_SHIFT = 4  # OpenCV sub-pixel drawing: coordinates in 1/16 px
_ONE = 1 << _SHIFT
SKIN_TONES = ((224, 200, 175), (198, 160, 130), (160, 120, 90), (120, 85, 60), (90, 60, 45), (235, 210, 190))
HAIR_COLOURS = ((20, 20, 25), (60, 40, 30), (110, 80, 50), (180, 150, 90), (120, 120, 120))


@dataclass
class PersonStyle:
    """Colours of one figure (BGR)."""

    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    outline: tuple[int, int, int] = (25, 25, 25)


def sample_style(rng: np.random.Generator, hue: float | None = None) -> PersonStyle:
    """Distinct-ish clothes: a random (or given) hue for the shirt and a different one for the trousers."""
    h = float(rng.random()) if hue is None else hue
    shirt = colorsys.hsv_to_rgb(h % 1.0, rng.uniform(0.55, 1.0), rng.uniform(0.45, 0.95))
    pants = colorsys.hsv_to_rgb((h + rng.uniform(0.25, 0.75)) % 1.0, rng.uniform(0.3, 0.9), rng.uniform(0.25, 0.8))

    def bgr(c: tuple[float, float, float]) -> tuple[int, int, int]:
        return (int(c[2] * 255), int(c[1] * 255), int(c[0] * 255))

    skin = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
    hair = HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))]
    return PersonStyle(shirt=bgr(shirt), pants=bgr(pants), skin=skin[::-1], hair=hair[::-1])


def _lighter(c: Sequence[int], t: float = 0.45) -> tuple[int, int, int]:
    return tuple(int(v + (255 - v) * t) for v in c)  # type: ignore[return-value]


def _darker(c: Sequence[int], t: float = 0.55) -> tuple[int, int, int]:
    return tuple(int(v * t) for v in c)  # type: ignore[return-value]


def _fx(p: np.ndarray) -> tuple[int, int]:
    return (round(float(p[0]) * _ONE), round(float(p[1]) * _ONE))


def _capsule(img, lab, a, b, width, colour, outline, label, stripe=None) -> None:
    t = max(round(width), 2)
    pa, pb = _fx(a), _fx(b)
    if img is not None:
        cv2.line(img, pa, pb, outline, t + 2, cv2.LINE_AA, _SHIFT)
        cv2.line(img, pa, pb, colour, t, cv2.LINE_AA, _SHIFT)
        if stripe is not None and t >= 4:
            cv2.line(img, pa, pb, stripe, max(t // 4, 1), cv2.LINE_AA, _SHIFT)
    cv2.line(lab, pa, pb, int(label), t + 2, cv2.LINE_8, _SHIFT)


def _disc(img, lab, c, radius, colour, outline, label) -> None:
    r = max(radius, 1.0)
    pc = _fx(c)
    if img is not None:
        if outline is not None:
            cv2.circle(img, pc, round((r + 1) * _ONE), outline, -1, cv2.LINE_AA, _SHIFT)
        cv2.circle(img, pc, round(r * _ONE), colour, -1, cv2.LINE_AA, _SHIFT)
    if lab is not None:
        cv2.circle(lab, pc, round((r + (1 if outline is not None else 0)) * _ONE), int(label), -1, cv2.LINE_8,
                   _SHIFT)  # fmt: skip


_DrawItems = list[tuple[float, int, Callable[[], None]]]  # (depth, tie-break, draw call)


def _add_item(items: _DrawItems, depth: float, fn: Callable[[], None]) -> None:
    items.append((depth, len(items), fn))


def _limb_items(items: _DrawItems, image: np.ndarray | None, labels: np.ndarray, pose: Pose, style: PersonStyle,
                label_base: int) -> None:  # fmt: skip
    """Queue the arms (upper arm, forearm, hand) and legs (thigh, shin, foot), left side first."""
    s, j, ol = pose.scale, pose.joints, style.outline
    arm_bias = 0.06 * s  # arms hang in front of the torso unless turned well away
    for side, sho, elb, wri, pu, pf, ph, hand in (
        (1, L_SHO, L_ELB, L_WRI, P_LUARM, P_LFARM, P_LHAND, 0),
        (-1, R_SHO, R_ELB, R_WRI, P_RUARM, P_RFARM, P_RHAND, 1),
    ):
        colour = _lighter(style.shirt) if side == 1 else style.shirt
        stripe = _darker(style.shirt, 0.35) if side == 1 else None
        skin_c = _lighter(style.skin, 0.25) if side == 1 else style.skin
        for a, b, wkey, part, col, st in (
            (sho, elb, "upper_arm", pu, colour, stripe),
            (elb, wri, "forearm", pf, colour, stripe),
        ):
            depth = (j[a, 2] + j[b, 2]) / 2 + arm_bias
            _add_item(items, depth, lambda a=a, b=b, w=WIDTH[wkey] * s, c=col, p=part, st=st: _capsule(
                image, labels, j[a], j[b], w, c, ol, label_base + p, st))  # fmt: skip
        hc = pose.hands[hand]
        _add_item(items, hc[2] + arm_bias + 0.01 * s, lambda hc=hc, c=skin_c, p=ph: _disc(
            image, labels, hc, WIDTH["hand"] * s, c, ol, label_base + p))  # fmt: skip
    for side, hip, kne, ank, pt, ps, pfoot, foot in (
        (1, L_HIP, L_KNE, L_ANK, P_LTHIGH, P_LSHIN, P_LFOOT, 0),
        (-1, R_HIP, R_KNE, R_ANK, P_RTHIGH, P_RSHIN, P_RFOOT, 1),
    ):
        colour = _lighter(style.pants) if side == 1 else style.pants
        stripe = _darker(style.pants, 0.3) if side == 1 else None
        for a, b, wkey, part in ((hip, kne, "thigh", pt), (kne, ank, "shin", ps)):
            depth = (j[a, 2] + j[b, 2]) / 2 - 0.01 * s
            _add_item(items, depth, lambda a=a, b=b, w=WIDTH[wkey] * s, c=colour, p=part, st=stripe: _capsule(
                image, labels, j[a], j[b], w, c, ol, label_base + p, st))  # fmt: skip
        fa, fb = pose.feet[foot]
        shoe = _darker(colour, 0.6)
        _add_item(items, (fa[2] + fb[2]) / 2 - 0.005 * s, lambda fa=fa, fb=fb, p=pfoot, c=shoe: _capsule(
            image, labels, fa, fb, WIDTH["foot"] * s, c, ol, label_base + p))  # fmt: skip


def _draw_torso(image: np.ndarray | None, labels: np.ndarray, pose: Pose, style: PersonStyle,
                label_base: int) -> None:  # fmt: skip
    """The torso polygon and the neck."""
    j, ol = pose.joints, style.outline
    pts = np.array([_fx(p) for p in pose.torso], dtype=np.int32)
    if image is not None:
        cv2.fillPoly(image, [pts], _darker(style.shirt, 0.8), cv2.LINE_AA, _SHIFT)
        cv2.polylines(image, [pts], True, ol, 1, cv2.LINE_AA, _SHIFT)
    cv2.fillPoly(labels, [pts], int(label_base + P_TORSO), cv2.LINE_8, _SHIFT)
    mid_sho = (j[L_SHO] + j[R_SHO]) / 2
    _capsule(image, labels, mid_sho, pose.neck + (pose.head_center - pose.neck) * 0.5, WIDTH["neck"] * pose.scale,
             style.skin, ol, label_base + P_NECK)  # fmt: skip


def _draw_head(image: np.ndarray | None, labels: np.ndarray, pose: Pose, style: PersonStyle,
               label_base: int) -> None:  # fmt: skip
    """The head (skin facing the viewer, hair turned away) and the face points not turned away."""
    j, ol = pose.joints, style.outline
    hc = _fx(pose.head_center)
    ax = (round(pose.head_axes[0] * _ONE), round(pose.head_axes[1] * _ONE))
    ang = pose.head_angle
    facing = pose.head_facing > 0
    if image is not None:
        cv2.ellipse(image, hc, (ax[0] + _ONE, ax[1] + _ONE), ang, 0, 360, ol, -1, cv2.LINE_AA, _SHIFT)
        cv2.ellipse(image, hc, ax, ang, 0, 360, style.skin if facing else style.hair, -1, cv2.LINE_AA, _SHIFT)
        if facing:  # hair: the top of the head
            cv2.ellipse(image, hc, ax, ang, 180, 360, style.hair, -1, cv2.LINE_AA, _SHIFT)
    cv2.ellipse(labels, hc, (ax[0] + _ONE, ax[1] + _ONE), ang, 0, 360, int(label_base + P_HEAD), -1,
                cv2.LINE_8, _SHIFT)  # fmt: skip
    r_feat = max(0.011 * pose.scale, 1.0)
    # Ears first (they sit behind the face), then eyes and nose.
    for kp, part, left in ((L_EAR, P_LEAR, True), (R_EAR, P_REAR, False)):
        if not pose.self_hidden[kp]:
            _disc(image, labels, j[kp], r_feat * 1.35, _darker(style.skin, 0.85), ol, label_base + part)
            if left and image is not None:
                _disc(image, None, j[kp], r_feat * 0.55, (40, 40, 40), None, 0)
    for kp, part in ((L_EYE, P_LEYE), (R_EYE, P_REYE)):
        if not pose.self_hidden[kp]:
            _disc(image, labels, j[kp], r_feat, (255, 255, 255), None, label_base + part)
            if image is not None:
                _disc(image, None, j[kp], r_feat * 0.6, (30, 20, 10), None, 0)
    if not pose.self_hidden[NOSE]:
        _disc(image, labels, j[NOSE], r_feat * 0.9, (40, 40, 170), None, label_base + P_NOSE)


def render_person(
    image: np.ndarray | None,
    labels: np.ndarray,
    pose: Pose,
    style: PersonStyle,
    label_base: int,
) -> None:
    """Draw ``pose`` into ``image`` (BGR uint8, or None for labels only) and its part ids into ``labels``.

    ``labels`` (uint16, same height and width) receives ``label_base + part`` for every pixel the figure
    covers, painted in the same order as the image, so it records which part of which figure is on top.
    Parts are painted back to front by depth; the person's left limbs are lighter and striped.
    """
    items: _DrawItems = []
    _limb_items(items, image, labels, pose, style, label_base)
    torso_depth = float(pose.torso[:, 2].mean())
    args = (image, labels, pose, style, label_base)
    _add_item(items, torso_depth, lambda: _draw_torso(*args))
    _add_item(items, max(float(pose.head_center[2]), torso_depth) + 0.05 * pose.scale, lambda: _draw_head(*args))
    for _, _, fn in sorted(items, key=lambda t: (t[0], t[1])):
        fn()


def annotate_keypoints(pose: Pose, labels: np.ndarray, label_base: int) -> np.ndarray:
    """(17, 3) COCO keypoints (x, y, v) of a drawn figure, read off the final label map (see module doc)."""
    h, w = labels.shape
    out = np.zeros((K, 3))
    xy = pose.joints[:, :2]
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
    for k in np.flatnonzero(inside):
        x, y = xy[k]
        lab = int(labels[round(y), round(x)]) - label_base
        on_top = 0 < lab < PARTS_PER_PERSON and bool(_JOINT_PART_TABLE[k, lab])
        out[k] = (x, y, 2.0 if on_top and not pose.self_hidden[k] else 1.0)
    return out


# ------------------------------------------------------------------------------------- backgrounds & scene


def random_background(rng: np.random.Generator, width: int, height: int, clutter: int = 6) -> np.ndarray:
    """A textured BGR background: a gradient, low-frequency colour noise, stripes and random shapes."""
    cells = int(rng.integers(3, 12))
    c0 = rng.integers(30, 226, size=3).astype(np.float32)
    c1 = rng.integers(30, 226, size=3).astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    g = np.linspace(0.0, 1.0, cells, dtype=np.float32)
    t = g[None, :] * math.cos(angle) + g[:, None] * math.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    low = c0 + (c1 - c0) * t[..., None] + rng.uniform(-40, 40, size=(cells, cells, 3)).astype(np.float32)
    low = low.clip(0, 255).astype(np.uint8)
    img = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.35:  # translucent stripes
        period = rng.uniform(8, 40)
        sa = rng.uniform(0, math.pi)
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        overlay = img.copy()
        diag = math.hypot(width, height)
        nx, ny = math.cos(sa), math.sin(sa)  # stripe normal
        cx, cy = width / 2, height / 2
        k = int(diag / period) + 2
        for i in range(-k, k + 1):
            ox, oy = cx + nx * i * period, cy + ny * i * period
            p0 = (int(ox - ny * diag), int(oy + nx * diag))
            p1 = (int(ox + ny * diag), int(oy - nx * diag))
            cv2.line(overlay, p0, p1, colour, max(int(period / 2), 1))
        img = cv2.addWeighted(img, 0.7, overlay, 0.3, 0.0)
    for _ in range(int(rng.integers(0, clutter + 1)) if clutter > 0 else 0):
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        kind = rng.random()
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(max(height // 20, 2), max(height // 4, 3)))
        if kind < 0.35:
            cv2.rectangle(img, (cx - size, cy - size // 2), (cx + size, cy + size // 2), colour, -1)
        elif kind < 0.65:
            cv2.circle(img, (cx, cy), size // 2 + 1, colour, -1, cv2.LINE_AA)
        elif kind < 0.85:
            pts = rng.integers(-size, size + 1, size=(int(rng.integers(3, 6)), 2)) + np.array([cx, cy])
            cv2.fillPoly(img, [pts.astype(np.int32)], colour, cv2.LINE_AA)
        else:  # a thin line: less limb-like than a thick one
            ex, ey = int(rng.integers(0, width)), int(rng.integers(0, height))
            cv2.line(img, (cx, cy), (ex, ey), colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    return img


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _place(rng: np.random.Generator, pose: Pose, width: int, height: int, partial: bool,
           boxes: list[np.ndarray], max_iou: float) -> Pose:  # fmt: skip
    """Move ``pose`` to a random position: inside the frame (or partly outside), avoiding heavy overlap."""
    x0, y0, x1, y1 = pose.extent()
    bw, bh = x1 - x0, y1 - y0
    out = 0.4 if partial else 0.05
    best, best_iou = pose, 2.0
    for _ in range(8):
        lo_x, hi_x = -out * bw, width - (1 - out) * bw
        lo_y, hi_y = -out * bh, height - (1 - out) * bh
        nx = rng.uniform(lo_x, hi_x) if hi_x > lo_x else (width - bw) / 2
        ny = rng.uniform(lo_y, hi_y) if hi_y > lo_y else (height - bh) / 2
        cand = pose.translated(nx - x0, ny - y0)
        box = cand.extent()
        iou = max((_box_iou(box, b) for b in boxes), default=0.0)
        if iou < best_iou:
            best, best_iou = cand, iou
        if iou <= max_iou:
            break
    return best


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """COCO's uncompressed RLE of a binary mask (column-major runs, starting with a run of zeros)."""
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).flatten(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return {"counts": [int(r) for r in runs], "size": [int(h), int(w)]}


def _polygons(mask: np.ndarray, ox: int, oy: int) -> list[list[float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        c = cv2.approxPolyDP(c, 1.0, True)
        if len(c) >= 3:
            pts = c.reshape(-1, 2).astype(np.float64) + np.array([ox, oy])
            polys.append([round(float(v), 1) for v in pts.reshape(-1)])
    return polys


@dataclass
class Scene:
    """One generated image: BGR pixels, the part-label map, and COCO annotation dicts (no ids yet)."""

    image: np.ndarray
    labels: np.ndarray
    annotations: list[dict[str, Any]] = field(default_factory=list)
    poses: list[Pose] = field(default_factory=list)


def _person_record(pose: Pose, kps: np.ndarray, box: np.ndarray, area: int, seg: list) -> dict[str, Any]:
    x0, y0, x1, y1 = box
    return {
        "category_id": 1,
        "iscrowd": 0,
        "keypoints": [v for x, y, vis in kps for v in (round(float(x), 2), round(float(y), 2), int(vis))],
        "num_keypoints": int((kps[:, 2] > 0).sum()),
        "bbox": [int(x0), int(y0), int(x1 - x0), int(y1 - y0)],
        "area": int(area),
        "segmentation": seg,
    }


def _draw_crowd(rng: np.random.Generator, cfg: SynthConfig, scene: Scene) -> tuple[int, int, int, int] | None:
    """Maybe (``cfg.crowd_prob``) draw a cluster of tiny unannotated figures and its one ``iscrowd=1``
    annotation; returns the crowd's box (x0, y0, x1, y1) or None."""
    w, h = cfg.width, cfg.height
    image, labels = scene.image, scene.labels
    if rng.random() >= cfg.crowd_prob:
        return None
    cw = int(rng.uniform(0.2, 0.4) * w)
    ch = int(rng.uniform(0.12, 0.22) * h)
    cx0, cy0 = int(rng.integers(0, w - cw)), int(rng.integers(0, h - ch))
    n = int(rng.integers(5, 13))
    for i in range(n):
        ph = rng.uniform(0.5, 1.0) * ch
        c = (cx0 + rng.uniform(0.1, 0.9) * cw, cy0 + ch - ph / 2)
        p = sample_pose(rng, ph, c, max_yaw_deg=cfg.max_yaw_deg, max_roll_deg=10.0)
        render_person(image, labels, p, sample_style(rng), CROWD_LABEL + (i % 64) * PARTS_PER_PERSON)
    crowd_mask = labels >= CROWD_LABEL
    if not crowd_mask.any():
        return None
    ys, xs = np.nonzero(crowd_mask)
    crowd_box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    x0, y0, x1, y1 = crowd_box
    scene.annotations.append({
        "category_id": 1, "iscrowd": 1, "keypoints": [0] * (3 * K), "num_keypoints": 0,
        "bbox": [x0, y0, x1 - x0, y1 - y0], "area": int(crowd_mask.sum()),
        "segmentation": rle_encode(crowd_mask),
    })  # fmt: skip
    return crowd_box


def _sample_people(rng: np.random.Generator, cfg: SynthConfig) -> list[tuple[float, int, Pose, PersonStyle, bool]]:
    """The people of one image as (height, index, pose, style, may be partly outside), small (far) ones first,
    so near ones overlap them."""
    n_people = int(rng.integers(cfg.min_people, cfg.max_people + 1))
    n_people = min(n_people, MAX_LABELLED_PERSONS)
    hue0 = float(rng.random())
    specs = []
    for i in range(n_people):
        rng_h = cfg.small_person_height if rng.random() < cfg.small_person_prob else cfg.person_height
        height_px = rng.uniform(*rng_h) * cfg.height
        pose = sample_pose(rng, height_px, (0.0, 0.0), max_yaw_deg=cfg.max_yaw_deg, max_roll_deg=cfg.max_roll_deg)
        style = sample_style(rng, hue=hue0 + i * 0.618034)
        specs.append((height_px, i, pose, style, rng.random() < cfg.partial_prob))
    specs.sort(key=lambda t: (t[0], t[1]))
    return specs


def _drawn_box(pose: Pose, mine: np.ndarray, bx0: int, by0: int, w: int, h: int) -> tuple[int, int, int, int]:
    """The tight box of a figure's drawn pixels ``mine`` (a crop at ``bx0, by0``), grown to hold every in-frame
    joint (a face point turned away may sit a pixel outside the head's outline), clipped to the image."""
    ys, xs = np.nonzero(mine)
    tx0, ty0, tx1, ty1 = bx0 + int(xs.min()), by0 + int(ys.min()), bx0 + int(xs.max()) + 1, by0 + int(ys.max()) + 1
    jx, jy = pose.joints[:, 0], pose.joints[:, 1]
    inside = (jx >= 0) & (jx <= w - 1) & (jy >= 0) & (jy <= h - 1)
    if inside.any():
        tx0, ty0 = min(tx0, math.floor(jx[inside].min())), min(ty0, math.floor(jy[inside].min()))
        tx1, ty1 = max(tx1, math.ceil(jx[inside].max())), max(ty1, math.ceil(jy[inside].max()))
    return (tx0, ty0, min(tx1, w), min(ty1, h))


def _draw_people(rng: np.random.Generator, cfg: SynthConfig, scene: Scene, crowd_box: tuple[int, ...] | None,
                 specs: list[tuple[float, int, Pose, PersonStyle, bool]]) -> list[tuple[Any, ...]]:  # fmt: skip
    """Place and draw each person; returns (pose, label base, box, area, polygons) of those left visible."""
    w, h = cfg.width, cfg.height
    labels = scene.labels
    boxes: list[np.ndarray] = [] if crowd_box is None else [np.asarray(crowd_box, dtype=np.float64)]
    placed = []
    for slot, (_, _, pose, style, partial) in enumerate(specs):
        pose = _place(rng, pose, w, h, partial, boxes, cfg.max_iou)
        boxes.append(pose.extent())
        base = (slot + 1) * PARTS_PER_PERSON
        render_person(scene.image, labels, pose, style, base)
        x0, y0, x1, y1 = pose.extent()
        bx0, by0 = max(math.floor(x0), 0), max(math.floor(y0), 0)
        bx1, by1 = min(math.ceil(x1), w), min(math.ceil(y1), h)
        if bx1 - bx0 < 2 or by1 - by0 < 2:
            continue
        crop = labels[by0:by1, bx0:bx1]
        mine = (crop > base) & (crop < base + PARTS_PER_PERSON)
        area = int(mine.sum())
        if area == 0:
            continue
        placed.append((pose, base, _drawn_box(pose, mine, bx0, by0, w, h), area, _polygons(mine, bx0, by0)))
    return placed


def _draw_occluders(rng: np.random.Generator, cfg: SynthConfig, image: np.ndarray, labels: np.ndarray) -> None:
    """Maybe (``cfg.occluder_prob``) draw 1-2 random rectangles or ellipses over the people."""
    w, h = cfg.width, cfg.height
    if rng.random() >= cfg.occluder_prob:
        return
    for _ in range(int(rng.integers(1, 3))):
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        ow, oh = int(rng.uniform(0.08, 0.3) * w), int(rng.uniform(0.08, 0.3) * h)
        ox, oy = int(rng.integers(-ow // 2, w - ow // 2)), int(rng.integers(-oh // 2, h - oh // 2))
        if rng.random() < 0.5:
            cv2.rectangle(image, (ox, oy), (ox + ow, oy + oh), colour, -1)
            cv2.rectangle(labels, (ox, oy), (ox + ow, oy + oh), OCCLUDER_LABEL, -1)
        else:
            centre, axes = (ox + ow // 2, oy + oh // 2), (max(ow // 2, 1), max(oh // 2, 1))
            cv2.ellipse(image, centre, axes, 0, 0, 360, colour, -1, cv2.LINE_AA)
            cv2.ellipse(labels, centre, axes, 0, 0, 360, OCCLUDER_LABEL, -1)
            # the anti-aliased rim may spill one pixel beyond the label; fine for visibility


def render_scene(rng: np.random.Generator, cfg: SynthConfig, background: np.ndarray | None = None) -> Scene:
    """Draw one image of ``cfg`` from ``rng``: background, an optional crowd, people, optional occluders."""
    w, h = cfg.width, cfg.height
    image = random_background(rng, w, h, cfg.clutter) if background is None else background.copy()
    labels = np.zeros((h, w), dtype=np.uint16)
    scene = Scene(image=image, labels=labels)
    crowd_box = _draw_crowd(rng, cfg, scene)
    placed = _draw_people(rng, cfg, scene, crowd_box, _sample_people(rng, cfg))
    _draw_occluders(rng, cfg, image, labels)
    for pose, base, box, area, seg in placed:
        kps = annotate_keypoints(pose, labels, base)
        if cfg.area == "bbox":
            area = (box[2] - box[0]) * (box[3] - box[1])
        scene.annotations.append(_person_record(pose, kps, np.asarray(box), area, seg))
        scene.poses.append(pose)
    if cfg.noise > 0:
        amp = int(cfg.noise)
        noise = cv2.cvtColor(rng.integers(0, 2 * amp + 1, size=(h, w), dtype=np.uint8), cv2.COLOR_GRAY2BGR)
        scene.image = cv2.subtract(cv2.add(image, noise), np.full_like(image, amp))
    return scene


# ---------------------------------------------------------------------------------------------- datasets


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator image ``index`` of a dataset with ``seed`` is drawn from."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def image_file_name(image_id: int) -> str:
    return f"{image_id:012d}.jpg"


def _render_chunk(args: tuple[dict[str, Any], str, list[int]]) -> list[list[dict[str, Any]]]:
    cfg_dict, image_dir, indices = args
    cfg = SynthConfig(**cfg_dict)
    out = []
    params = [cv2.IMWRITE_JPEG_QUALITY, int(cfg.jpeg_quality)]
    for index in indices:
        scene = render_scene(image_rng(cfg.seed, index), cfg)
        atomic_write_image(Path(image_dir, image_file_name(index + 1)), scene.image, params)
        out.append(scene.annotations)
    return out


def categories() -> list[dict[str, Any]]:
    """COCO's person category, with the keypoint names and the 1-based skeleton."""
    return [{
        "id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO_KEYPOINTS),
        "skeleton": [[a + 1, b + 1] for a, b in COCO_SKELETON],
    }]  # fmt: skip


def annotation_path(out_dir: str | Path, split: str) -> Path:
    return Path(out_dir) / "annotations" / f"person_keypoints_{split}.json"


def _cfg_dict(cfg: SynthConfig) -> dict[str, Any]:
    """The settings that determine the output (``workers`` does not), JSON-ready."""
    d = asdict(cfg)
    d.pop("workers")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _render_images(cfg: SynthConfig, image_dir: Path, progress: bool) -> list[list[dict[str, Any]]]:
    """Draw and write every image of ``cfg`` (in chunks, over ``cfg.workers`` processes); returns each image's
    annotations (no ids yet), in image order."""
    cfg_dict = _cfg_dict(cfg)
    indices = list(range(cfg.images))
    workers = min(cfg.workers, max(1, cfg.images // 8))
    chunk = max(1, min(64, math.ceil(cfg.images / (workers * 4))))
    jobs = [(cfg_dict, str(image_dir), indices[i : i + chunk]) for i in range(0, cfg.images, chunk)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.images, desc="synth", unit="img")
    results: list[list[dict[str, Any]]] = []
    with contextlib.ExitStack() as stack:
        if workers > 1:
            parts = stack.enter_context(ProcessPoolExecutor(max_workers=workers)).map(_render_chunk, jobs)
        else:
            parts = map(_render_chunk, jobs)
        for part in parts:
            results.extend(part)
            if bar is not None:
                bar.update(len(part))
    if bar is not None:
        bar.close()
    return results


def _split_document(cfg: SynthConfig, split: str, idx: range, results: list[list[dict[str, Any]]],
                    first_ann_id: int) -> dict[str, Any]:  # fmt: skip
    """The COCO document of one split: its images, their annotations numbered from ``first_ann_id``."""
    images, anns = [], []
    ann_id = first_ann_id
    for index in idx:
        image_id = index + 1
        images.append({"id": image_id, "file_name": image_file_name(image_id), "width": cfg.width,
                       "height": cfg.height})  # fmt: skip
        for rec in results[index]:
            anns.append({"id": ann_id, "image_id": image_id, **rec})
            ann_id += 1
    return {
        "info": {
            "description": "edgepose synthetic people",
            "version": GENERATOR_VERSION,
            "split": split,
            "generator": "edgepose.data.synthetic",
            "config": _cfg_dict(cfg),
        },
        "licenses": [],
        "images": images,
        "annotations": anns,
        "categories": categories(),
    }


def generate_dataset(out_dir: str | Path, cfg: SynthConfig | None = None, progress: bool = False) -> dict[str, Any]:
    """Write a COCO-format synthetic dataset under ``out_dir``; return its paths and counts.

    Layout: ``out_dir/images/<id:012d>.jpg`` (one folder for both splits) and
    ``out_dir/annotations/person_keypoints_{train,val}.json`` (only ``train`` when ``val_fraction`` is 0).
    The JSON files are written last and atomically: if they exist, the dataset is complete.
    """
    cfg = cfg or SynthConfig()
    cfg.validate()
    out_dir = Path(out_dir)
    image_dir = out_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = _render_images(cfg, image_dir, progress)
    render_s = time.perf_counter() - t0

    n_train, n_val = cfg.split_sizes()
    splits = {"train": range(0, n_train)}
    if n_val:
        splits["val"] = range(n_train, cfg.images)
    paths: dict[str, str] = {}
    counts: dict[str, dict[str, int]] = {}
    ann_id = 1
    for split, idx in splits.items():
        doc = _split_document(cfg, split, idx, results, ann_id)
        anns = doc["annotations"]
        ann_id += len(anns)
        path = annotation_path(out_dir, split)
        atomic_write_text(path, json.dumps(doc, separators=(",", ":")))
        paths[split] = str(path)
        persons = [a for a in anns if not a["iscrowd"]]
        counts[split] = {
            "images": len(doc["images"]), "persons": len(persons), "crowd_regions": len(anns) - len(persons),
            "labelled_keypoints": sum(a["num_keypoints"] for a in persons),
        }  # fmt: skip
    total_s = time.perf_counter() - t0
    return {
        "out_dir": str(out_dir),
        "image_dir": str(image_dir),
        "annotations": paths,
        "counts": counts,
        "seconds": round(total_s, 3),
        "render_seconds": round(render_s, 3),
        "images_per_second": round(cfg.images / max(total_s, 1e-9), 1),
    }


def dataset_matches(out_dir: str | Path, cfg: SynthConfig) -> bool:
    """True when ``out_dir`` already holds a complete dataset generated with ``cfg`` (workers aside)."""
    want = _cfg_dict(cfg)
    n_train, n_val = cfg.split_sizes()
    for split, n in (("train", n_train), ("val", n_val)):
        path = annotation_path(out_dir, split)
        if n == 0:
            continue
        try:
            info = json.loads(path.read_text(encoding="utf-8")).get("info", {})
        except (OSError, ValueError):
            return False
        if info.get("config") != want or info.get("version") != GENERATOR_VERSION:
            return False
    last = Path(out_dir) / "images" / image_file_name(cfg.images)
    return last.is_file()


def ensure_dataset(out_dir: str | Path, cfg: SynthConfig, progress: bool = False) -> dict[str, Any]:
    """Generate ``cfg`` under ``out_dir`` unless an identical dataset is already there (quickstart's cache)."""
    if dataset_matches(out_dir, cfg):
        _, n_val = cfg.split_sizes()
        paths = {"train": str(annotation_path(out_dir, "train"))}
        if n_val:
            paths["val"] = str(annotation_path(out_dir, "val"))
        return {"out_dir": str(out_dir), "image_dir": str(Path(out_dir) / "images"), "annotations": paths,
                "cached": True}  # fmt: skip
    return {**generate_dataset(out_dir, cfg, progress=progress), "cached": False}
