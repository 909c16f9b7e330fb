"""Where one frame's time goes: read, pre-process, network, decode, draw, through the torch-free runtime.

``edgepose bench frame`` times the path a user's frame takes through :class:`~edgepose.runtime.PoseEstimator`
(ONNX Runtime, numpy, OpenCV; no torch in the measured code), stage by stage:

* **top-down**, ``N`` people with their boxes given (a detector's job, not timed): read the JPEG, cut and
  normalise the ``N`` crops (:func:`~edgepose.runtime.preprocess.topdown_inputs`), run the network on all of
  them in **one batched call** (:meth:`PoseEstimator.topdown_heatmaps`; two with the flip test), decode the
  heatmaps and map them back to the image (the estimator's codec and :func:`~edgepose.geometry.crop_to_image`),
  draw the skeletons (:func:`~edgepose.vis.draw.draw_poses`);
* **bottom-up**: read, resize and pad (:func:`~edgepose.runtime.preprocess.bottomup_input`), one network call,
  decode (peaks + PAF grouping, :meth:`PoseEstimator.decode_bottomup`), draw. A network with random weights
  finds no real people, so its decode time would say nothing: then the decode stage runs on synthetic maps of
  the same size holding ``people`` people (:func:`edgepose.analysis.decode_speed.render_scene`), and the row
  says so.

Every case runs once per round, the cases in rotated order (:func:`~edgepose.analysis.timing.round_order`), so
load drift hits all alike; each stage is timed on the wall and CPU clocks. The share of a stage is its median over
the sum of the stage medians.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.analysis.timing import Timing, round_order, timed

__all__ = ["STAGES", "FrameCase", "FrameResult", "bottomup_case", "format_frame_table", "run_frames", "topdown_case"]

STAGES = ("read", "preprocess", "network", "decode", "draw")

Recorder = Callable[[str, Callable[[], Any]], Any]


@dataclass
class FrameCase:
    """One frame pipeline to time: ``run(record)`` runs it once, passing each stage through ``record``."""

    label: str
    task: str
    people: int
    run: Callable[[Recorder], None]
    input_size: tuple[int, ...] = ()
    note: str = ""


@dataclass
class FrameResult:
    """The stage timings of one case over all rounds."""

    case: FrameCase
    stages: dict[str, Timing] = field(default_factory=dict)

    @property
    def total_ms(self) -> float:
        return sum(t.median_ms for t in self.stages.values())

    def shares(self) -> dict[str, float]:
        """Each stage's median as a fraction of the sum of the stage medians."""
        total = self.total_ms or 1.0
        return {name: t.median_ms / total for name, t in self.stages.items()}

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        c = self.case
        return {
            "label": c.label, "task": c.task, "people": c.people, "input_size": list(c.input_size), "note": c.note,
            "total_ms": self.total_ms,
            "total_cpu_ms": sum(statistics.median(t.cpu_ms or t.times_ms) for t in self.stages.values()),
            "stages": {name: {**t.to_dict(raw=raw), "share": share}
                       for (name, t), share in zip(self.stages.items(), self.shares().values())},
        }  # fmt: skip


def _people_boxes(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """``n`` person-shaped boxes (xywh) spread over an image of ``shape``: what a detector would hand over."""
    h, w = shape[:2]
    rng = np.random.default_rng(seed)
    bw, bh = w * rng.uniform(0.15, 0.35, n), h * rng.uniform(0.4, 0.8, n)
    x, y = rng.uniform(0, 1, n) * (w - bw), rng.uniform(0, 1, n) * (h - bh)
    return np.stack([x, y, bw, bh], axis=1)


def topdown_case(estimator: Any, image_path: Path, people: int) -> FrameCase:
    """A top-down frame with ``people`` boxes, all crops in one batched network call."""
    from edgepose.geometry import crop_to_image
    from edgepose.runtime.poses import Person
    from edgepose.runtime.preprocess import topdown_inputs
    from edgepose.runtime.sources import read_image_bgr
    from edgepose.vis.draw import draw_poses

    boxes = _people_boxes(read_image_bgr(image_path).shape, people)
    size = tuple(estimator.codec.input_size)

    def decode(heat: np.ndarray, centers: np.ndarray, scales: np.ndarray) -> list:
        keypoints, scores = estimator.codec.decode(heat)
        xy = crop_to_image(keypoints, centers, scales, size)
        kp = np.concatenate([xy, scores[..., None]], axis=-1)
        return [Person(kp[i], float(scores[i].mean()), box=boxes[i]) for i in range(len(kp))]

    def run(record: Recorder) -> None:
        image = record("read", lambda: read_image_bgr(image_path))
        batch, centers, scales = record("preprocess", lambda: topdown_inputs(image, boxes, size))
        heat = record("network", lambda: estimator.topdown_heatmaps(batch))
        persons = record("decode", lambda: decode(heat, centers, scales))
        record("draw", lambda: draw_poses(image, persons, skeleton=estimator.draw_skeleton))

    calls = -(-people // estimator.batch_size) * (2 if estimator.flip_test else 1)
    note = f"{calls} network call(s) of up to {estimator.batch_size} crops" + (", flip test" if estimator.flip_test
                                                                                else "")  # fmt: skip
    return FrameCase(f"top-down, {people} people", "topdown", people, run, size, note)


def bottomup_case(estimator: Any, image_path: Path, people: int | None = None) -> FrameCase:
    """A bottom-up frame; with ``people``, the decode stage runs on synthetic maps holding that many people."""
    from edgepose.runtime.preprocess import bottomup_input
    from edgepose.runtime.sources import read_image_bgr
    from edgepose.vis.draw import draw_poses

    image0 = read_image_bgr(image_path)
    batch0, _, _ = bottomup_input(image0, estimator.height, estimator.info.stride)
    synthetic = None
    if people is not None:
        from edgepose.analysis.decode_speed import render_scene
        from edgepose.codecs.paf import PafCodec

        heat, pafs, _ = render_scene(people, batch0.shape[2], batch0.shape[3], seed=0,
                                     codec=PafCodec(stride=estimator.info.stride))  # fmt: skip
        synthetic = (heat.astype(np.float32), pafs.astype(np.float32))

    def run(record: Recorder) -> None:
        image = record("read", lambda: read_image_bgr(image_path))
        batch, scales, valid = record("preprocess", lambda: bottomup_input(image, estimator.height,
                                                                           estimator.info.stride))  # fmt: skip
        out = record("network", lambda: estimator.network(batch))
        heat, pafs = synthetic or (np.asarray(out["heatmaps"])[0], np.asarray(out["pafs"])[0])
        persons = record("decode", lambda: estimator.decode_bottomup(heat, pafs, scales, valid))
        record("draw", lambda: draw_poses(image, persons, skeleton=estimator.draw_skeleton))

    note = (f"decode on synthetic maps of {people} people (network weights untrained)" if people is not None
            else "decode on the network's own maps")  # fmt: skip
    label = f"bottom-up, {people if people is not None else '?'} people"
    return FrameCase(label, "bottomup", people or 0, run, tuple(batch0.shape[2:]), note)


def run_frames(cases: Sequence[FrameCase], *, warmup: int = 2, runs: int = 20) -> list[FrameResult]:
    """Time every case ``runs`` times (after ``warmup`` untimed runs each), one run per case per round."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0, got {runs} and {warmup}")
    walls: dict[str, dict[str, list[float]]] = {c.label: {s: [] for s in STAGES} for c in cases}
    cpus: dict[str, dict[str, list[float]]] = {c.label: {s: [] for s in STAGES} for c in cases}

    def recorder(label: str | None) -> Recorder:
        def record(stage: str, fn: Callable[[], Any]) -> Any:
            out, wall, cpu = timed(fn)
            if label is not None:
                walls[label][stage].append(wall)
                cpus[label][stage].append(cpu)
            return out

        return record

    for case in cases:
        for _ in range(warmup):
            case.run(recorder(None))
    by_label = {c.label: c for c in cases}
    for r in range(runs):
        for label in round_order(list(by_label), r):
            by_label[label].run(recorder(label))
    return [
        FrameResult(c, {s: Timing(walls[c.label][s], wall_ms=walls[c.label][s], cpu_ms=cpus[c.label][s])
                        for s in STAGES})
        for c in cases
    ]  # fmt: skip


def format_frame_table(results: Sequence[FrameResult], caption: str = "") -> str:
    """One line per case: each stage's median ms and share, the frame total (sum of stage medians)."""
    header = f"{'case':<26}" + "".join(f"{s:>16}" for s in STAGES) + f"{'frame ms':>10}{'CPU ms':>9}"
    lines = [header]
    for res in results:
        d = res.to_dict()
        cells = "".join(f"{d['stages'][s]['median_ms']:>9.1f} ({d['stages'][s]['share']:>4.0%})" for s in STAGES)
        lines.append(f"{res.case.label:<26}{cells}{d['total_ms']:>10.1f}{d['total_cpu_ms']:>9.1f}")
        lines.append(f"{'':<26}  input {'x'.join(map(str, res.case.input_size))}; {res.case.note}")
    return "\n".join([*lines, caption] if caption else lines)
