"""Deployment latency: PyTorch eager vs ONNX Runtime fp32 vs ONNX Runtime INT8, network and post-processing
timed separately, edgepose models next to their baselines in one process.

For every model (exported and quantised into a temporary folder first) and every thread count:

* **network**: one forward pass, timed round-robin across the three back-ends
  (:func:`edgepose.analysis.latency.measure_interleaved`, so load drift hits them alike). Torch runs in
  whichever memory format is faster for the model (:func:`~edgepose.analysis.latency.choose_channels_last`).
  Top-down cases: ``batch1`` (one 256×192 crop) and ``crowd10`` (ten crops of one crowded frame, batched).
  Bottom-up case: ``frame`` (one 368×496 image, a 4:3 frame at the inference height 368).
* **pre / post**: what the runtime does around the network, numpy + OpenCV, identical for every back-end.
  Top-down: ``pre`` = affine crops + normalisation of the boxes, ``post`` = heatmap decoding (MSRA) back to
  the image. Bottom-up: ``pre`` = resize + normalisation + padding, ``post`` = upsampling + peaks + PAF
  grouping of a synthetic 20-person scene (:func:`edgepose.analysis.decode_speed.render_scene`).

Weights are random (speed does not depend on them, except that INT8 is calibrated on real images when they are
available, else on noise). :func:`format_deploy_table` prints the figures with the ratios the issue asks for.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from edgepose.analysis.latency import choose_channels_last, machine_info, measure, measure_interleaved, torch_threads
from edgepose.io import atomic_write_image

BACKENDS = ("torch", "onnxruntime", "onnxruntime-int8")
BASELINES = {"topdown": "simplebaseline_r50", "bottomup": "lwop_mobilenet"}
BOTTOMUP_FRAME = (368, 496)


@dataclass
class DeployRow:
    model: str
    task: str
    case: str  # batch1 | crowd10 | frame
    batch: int
    threads: int
    input_size: tuple[int, int]
    network_ms: dict[str, float]  # backend -> median ms
    pre_ms: float
    post_ms: float

    def total_ms(self, backend: str) -> float:
        return self.pre_ms + self.network_ms[backend] + self.post_ms

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["total_ms"] = {b: self.total_ms(b) for b in self.network_ms}
        return d


def _calibration(calib_dir: Path | None, n: int = 8) -> list[Path]:
    if calib_dir is None or not Path(calib_dir).is_dir():
        return []
    from edgepose.runtime.sources import IMAGE_EXTENSIONS

    return sorted(p for p in Path(calib_dir).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)[:n]


def _noise_images(folder: Path, n: int = 4) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = folder / f"noise{i}.png"
        atomic_write_image(p, rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
        paths.append(p)
    return paths


def _sessions(paths: dict[str, Path], threads: int) -> dict[str, Callable]:
    from edgepose.runtime.session import create_session

    out = {}
    for backend, path in paths.items():
        sess = create_session(path, threads=threads)
        out[backend] = sess
    return out


def _topdown_pre_post(frame: np.ndarray, heat: np.ndarray, size: tuple[int, int], runs: int) -> tuple[float, float]:
    """Median ms of cropping ``len(heat)`` boxes out of ``frame`` and of decoding ``heat`` back to the frame."""
    from edgepose.codecs.heatmap import HeatmapCodec
    from edgepose.runtime.preprocess import topdown_inputs

    n = len(heat)
    h, w = frame.shape[:2]
    rng = np.random.default_rng(1)
    boxes = np.stack(
        [rng.uniform(0, w * 0.6, n), rng.uniform(0, h * 0.4, n), np.full(n, w * 0.3), np.full(n, h * 0.55)], axis=1
    )
    from edgepose.geometry import crop_to_image

    codec = HeatmapCodec(size, stride=4)
    _, centers, scales = topdown_inputs(frame, boxes, size)

    def decode() -> np.ndarray:  # decode in the crop, then back to the frame (what the runtime does)
        return crop_to_image(codec.decode(heat).keypoints, centers, scales, size)

    pre = measure(lambda: topdown_inputs(frame, boxes, size), warmup=2, runs=runs).median_ms
    post = measure(decode, warmup=2, runs=runs).median_ms
    return pre, post


def _bottomup_pre_post(frame: np.ndarray, size: tuple[int, int], people: int, runs: int) -> tuple[float, float]:
    """Median ms of the bottom-up input preparation of ``frame`` and of decoding a ``people``-person scene."""
    from edgepose.analysis.decode_speed import render_scene
    from edgepose.codecs.paf import PafCodec
    from edgepose.runtime.preprocess import bottomup_input

    codec = PafCodec(upsample=4, paf_sampling="bilinear")  # the runtime's settings
    heat, pafs, _ = render_scene(people, size[0], size[1], seed=0)
    image = cv2.resize(frame, (size[1], size[0]))
    pre = measure(lambda: bottomup_input(image, size[0], 8), warmup=2, runs=runs).median_ms
    post = measure(lambda: codec.decode(heat, pafs), warmup=2, runs=runs).median_ms
    return pre, post


def bench_model(
    name: str,
    workdir: Path,
    *,
    threads: Sequence[int] = (1, 2),
    warmup: int = 3,
    runs: int = 10,
    int8: bool = True,
    crowd: int = 10,
    people: int = 20,
    calib_dir: Path | None = None,
    image: np.ndarray | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[DeployRow]:
    """Rows of one model (see the module docstring)."""
    from edgepose.export.onnx import export_onnx
    from edgepose.export.quantize import quantize_onnx
    from edgepose.models import build_model

    say = progress or (lambda _msg: None)
    model = build_model(name).eval()
    task = model.task
    size = tuple(model.input_size) if task == "topdown" else BOTTOMUP_FRAME
    say(f"{name}: export")
    fp32 = export_onnx(model, workdir / f"{name}.onnx", input_size=size if task == "topdown" else (368, 368)).path
    paths = {"onnxruntime": fp32}
    if int8:
        say(f"{name}: int8 calibration")
        calib = _calibration(calib_dir) or _noise_images(workdir)
        paths["onnxruntime-int8"] = Path(quantize_onnx(fp32, workdir / f"{name}.int8.onnx", calib, max_images=8).path)

    frame = image if image is not None else np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    cases = [("batch1", 1), ("crowd10", crowd)] if task == "topdown" else [("frame", 1)]
    rows = []
    for t in threads:
        cv2.setNumThreads(t)
        sessions = _sessions(paths, t)
        for case, batch in cases:
            say(f"{name}: threads={t} {case}")
            x = torch.randn(batch, 3, *size)
            xn = x.numpy()
            with torch_threads(t):
                cl = choose_channels_last(model, tuple(x.shape))
                m = (
                    model.to(memory_format=torch.channels_last)
                    if cl
                    else model.to(memory_format=torch.contiguous_format)
                )
                xt = x.to(memory_format=torch.channels_last) if cl else x

                def torch_fn(m=m, xt=xt):
                    with torch.inference_mode():
                        return m(xt)

                fns: dict[str, Callable[[], Any]] = {"torch": torch_fn}
                for backend, sess in sessions.items():
                    fns[backend] = lambda sess=sess, xn=xn: sess.run(None, {"image": xn})
                timings = measure_interleaved(fns, warmup=warmup, runs=runs)
            network = {b: timings[b].median_ms for b in fns}
            if task == "topdown":
                heat = np.asarray(sessions["onnxruntime"].run(None, {"image": xn})[0])
                pre, post = _topdown_pre_post(frame, heat, size, runs)
            else:
                pre, post = _bottomup_pre_post(frame, size, people, runs)
            rows.append(DeployRow(name, task, case, batch, t, size, network, pre, post))
    return rows


def bench_deploy(
    names: Sequence[str],
    *,
    threads: Sequence[int] = (1, 2),
    warmup: int = 3,
    runs: int = 10,
    int8: bool = True,
    calib_dir: str | Path | None = None,
    image_path: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """All models' rows plus the machine description: ``{"rows": [...], "machine": {...}}``."""
    image = None
    if image_path and Path(image_path).is_file():
        from edgepose.runtime.sources import read_image_bgr

        image = read_image_bgr(image_path)
    rows: list[DeployRow] = []
    with tempfile.TemporaryDirectory(prefix="edgepose-deploy-") as tmp:
        for name in names:
            rows.extend(
                bench_model(
                    name,
                    Path(tmp),
                    threads=threads,
                    warmup=warmup,
                    runs=runs,
                    int8=int8,
                    calib_dir=Path(calib_dir) if calib_dir else None,
                    image=image,
                    progress=progress,
                )
            )
    machine = machine_info()
    import onnxruntime

    machine["onnxruntime"] = onnxruntime.__version__
    return {"rows": rows, "machine": machine, "warmup": warmup, "runs": runs}


def deploy_json(result: dict[str, Any]) -> dict[str, Any]:
    """:func:`bench_deploy`'s result with its rows as plain dicts, ready for ``json.dumps(..., default=str)``."""
    return {**result, "rows": [r.to_dict() for r in result["rows"]]}


def format_deploy_table(result: dict[str, Any], markdown: bool = False) -> str:
    """Network ms per back-end, the speed-ups over torch eager, pre/post ms and the post share of the ONNX
    Runtime total, and each model's total relative to its family's baseline (same case, threads, back-end)."""
    rows: list[DeployRow] = result["rows"]
    base = {(r.task, r.case, r.threads): r for r in rows if r.model == BASELINES.get(r.task)}
    head = ["model", "case", "thr", "torch ms", "ORT ms", "INT8 ms", "ORT×", "INT8×", "pre ms", "post ms",
            "post %", "total ORT ms", "vs baseline"]  # fmt: skip
    lines = []
    for r in rows:
        t, o = r.network_ms["torch"], r.network_ms["onnxruntime"]
        q = r.network_ms.get("onnxruntime-int8")
        total = r.total_ms("onnxruntime")
        b = base.get((r.task, r.case, r.threads))
        rel = f"{total / b.total_ms('onnxruntime'):.2f}" if b is not None else "-"
        lines.append([
            r.model, r.case, str(r.threads), f"{t:.1f}", f"{o:.1f}", "-" if q is None else f"{q:.1f}",
            f"{t / o:.2f}", "-" if q is None else f"{t / q:.2f}", f"{r.pre_ms:.1f}", f"{r.post_ms:.1f}",
            f"{100 * r.post_ms / total:.0f}", f"{total:.1f}", rel,
        ])  # fmt: skip
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
    else:
        widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(head)] if lines else map(len, head)
        widths = list(widths)
        out = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
        out += ["  ".join(c.rjust(w) for c, w in zip(cells, widths)) for cells in lines]
    return "\n".join(out)
