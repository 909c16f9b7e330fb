"""Bottom-up post-processing speed: upsampling + peaks + grouping on rendered maps of synthetic crowds.

The Python grouping of Lightweight OpenPose is its CPU bottleneck (SPEC Part C: LWOP #22, #39, #91); this
benchmark times our vectorised decoder separately from the network, on the maps a perfect network would
output (:meth:`PafCodec.encode` of synthetic scenes of N people at an input height of 368).

``edgepose bench decode`` and ``benchmarks/decode_speed.py`` print :func:`benchmark_decode`'s rows.
numpy + OpenCV only.

The decoder returns more groups than people drawn once people overlap: where two people's limbs cross, the
greedy PAF grouping (OpenPose's, kept on purpose) splits a few limbs of one person off as a separate group of
2-5 keypoints. The rows therefore count both: ``found`` (every group decoded, what the timing covers) and
``whole`` (groups with at least :data:`WHOLE_MIN_KEYPOINTS` keypoints), so ``found - whole`` are the fragments;
with 1 person drawn both equal 1.
"""

from __future__ import annotations

import math
import time

import numpy as np

from edgepose.codecs.paf import PafCodec
from edgepose.keypoints import coco_to_openpose

# A decoded group with fewer keypoints (of 18, neck included) is counted as a fragment split off a person.
WHOLE_MIN_KEYPOINTS = 6

FOUND_NOTE = (
    "found = groups decoded per image (mean), whole = groups with >= {k} keypoints; found > people where "
    "overlapping people leave limb fragments of 2-5 keypoints (greedy PAF grouping, as OpenPose)"
)

# A standing person in COCO-17 order, (x, y) in units of its height, centred on the hips' midpoint.
_TEMPLATE = np.array(
    [
        [0.0, -0.43], [-0.03, -0.46], [0.03, -0.46], [-0.07, -0.44], [0.07, -0.44],
        [-0.12, -0.32], [0.12, -0.32], [-0.16, -0.15], [0.16, -0.15], [-0.18, 0.0], [0.18, 0.0],
        [-0.08, 0.0], [0.08, 0.0], [-0.09, 0.24], [0.09, 0.24], [-0.1, 0.47], [0.1, 0.47],
    ]
)  # fmt: skip


def synthetic_people(
    n: int, height: int, width: int, rng: np.random.Generator, *, min_height: float = 0.25, max_height: float = 0.9
) -> np.ndarray:
    """``(n, 17, 3)`` COCO keypoints of ``n`` jittered, rotated, scaled template people inside the image.

    Persons are ``U[min_height, max_height] x height`` tall, rotated by up to 30 degrees, limbs jittered by
    4% of their height; centres are uniform over the image (overlaps happen, as in crowds). All keypoints
    are labelled (v = 2); the ones outside the image stay there (the encoder clips).
    """
    out = np.zeros((n, 17, 3))
    for i in range(n):
        h = rng.uniform(min_height, max_height) * height
        ang = math.radians(rng.uniform(-30, 30))
        rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
        pts = (_TEMPLATE + rng.normal(0, 0.04, _TEMPLATE.shape)) * h
        if rng.random() < 0.5:  # facing away: mirror
            pts[:, 0] *= -1
        cx, cy = rng.uniform(0.1, 0.9) * width, rng.uniform(0.2, 0.8) * height
        out[i, :, :2] = pts @ rot.T + (cx, cy)
        out[i, :, 2] = 2
    return out


def render_scene(
    n: int, height: int = 368, width: int | None = None, seed: int = 0, codec: PafCodec | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(heatmaps, pafs, COCO keypoints) of a synthetic ``n``-person scene at ``height x width`` input pixels."""
    codec = codec or PafCodec()
    width = width or round(height * 4 / 3 / codec.stride) * codec.stride
    rng = np.random.default_rng(seed)
    kps = synthetic_people(n, height, width, rng)
    heat, pafs = codec.encode(coco_to_openpose(kps), (height, width))
    return heat, pafs, kps


def benchmark_decode(
    people: tuple[int, ...] = (1, 5, 10, 20),
    repeats: int = 20,
    height: int = 368,
    *,
    upsample: int | None = None,
    codec: PafCodec | None = None,
    threads: int | None = 2,
) -> list[dict]:
    """Decode time per image (ms) for synthetic scenes of each person count; one dict per count.

    Keys: ``people``, ``ms_mean``, ``ms_median`` (total wall clock), ``ms_upsample``, ``ms_peaks``, ``ms_group``
    (means), ``cpu_ms_mean`` (process CPU time per image: all threads, insensitive to other processes on a busy
    machine), ``found`` (groups decoded per scene, mean over the repeats: fragments included, see the module
    docstring), ``whole`` (groups with >= :data:`WHOLE_MIN_KEYPOINTS` keypoints, mean). ``repeats`` different
    scenes per count (seeds 0..), each decoded once after one warm-up decode. ``threads`` caps OpenCV's threads
    (2 = the target device class).
    """
    import cv2

    if threads is not None:
        cv2.setNumThreads(int(threads))
    codec = codec or PafCodec()
    if upsample is not None:
        from dataclasses import replace

        codec = replace(codec, upsample=int(upsample))
    rows = []
    for n in people:
        scenes = [render_scene(n, height, seed=1000 * n + r, codec=codec) for r in range(repeats)]
        codec.decode(scenes[0][0], scenes[0][1])  # warm-up
        totals, cpu, parts = [], [], {"upsample": [], "peaks": [], "group": []}
        found, whole = [], []
        for heat, pafs, _ in scenes:
            timings: dict[str, float] = {}
            c0, t0 = time.process_time(), time.perf_counter()
            poses = codec.decode(heat, pafs, timings=timings)
            totals.append((time.perf_counter() - t0) * 1000.0)
            cpu.append((time.process_time() - c0) * 1000.0)
            for k in parts:
                parts[k].append(timings[k])
            found.append(len(poses))
            whole.append(int((np.asarray(poses.counts) >= WHOLE_MIN_KEYPOINTS).sum()))
        rows.append(
            {
                "people": int(n),
                "ms_mean": float(np.mean(totals)),
                "ms_median": float(np.median(totals)),
                "ms_upsample": float(np.mean(parts["upsample"])),
                "ms_peaks": float(np.mean(parts["peaks"])),
                "ms_group": float(np.mean(parts["group"])),
                "cpu_ms_mean": float(np.mean(cpu)),
                "found": float(np.mean(found)),
                "whole": float(np.mean(whole)),
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    """A plain-text table of :func:`benchmark_decode` rows."""
    head = (
        f"{'people':>6s} {'mean ms':>8s} {'median':>8s} {'upsample':>9s} {'peaks':>7s} {'group':>7s} "
        f"{'cpu ms':>7s} {'found':>6s} {'whole':>6s}"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['people']:6d} {r['ms_mean']:8.2f} {r['ms_median']:8.2f} {r['ms_upsample']:9.2f} "
            f"{r['ms_peaks']:7.2f} {r['ms_group']:7.2f} {r.get('cpu_ms_mean', float('nan')):7.2f} "
            f"{r.get('found', 0):6.1f} {r.get('whole', float('nan')):6.1f}"
        )
    lines.append(FOUND_NOTE.format(k=WHOLE_MIN_KEYPOINTS))
    return "\n".join(lines)
