"""The work behind ``edgepose bench frame``: load the estimators, build the frame cases, time them and report.

:mod:`edgepose.cli.bench` checks the options and calls :func:`bench_frames`; the timing itself is
:mod:`edgepose.analysis.frame_budget`. The top-down model defaults to the shipped ONNX file; the bottom-up one to
``xfuse_ghostnet`` exported with random weights into a temporary folder (which needs PyTorch), whose decode stage
then runs on synthetic maps of ``bottomup_people`` people (a random network finds nobody to group).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edgepose.errors import EdgeposeError

__all__ = ["bench_frames", "format_frame_report", "frame_estimators", "frame_json"]

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    """The default of the ``progress`` / ``note`` callbacks: say nothing."""


def _bottomup_estimator(path: str | Path | None, workdir: str, threads: int, note: Say) -> tuple[Any, bool, str]:
    """(bottom-up estimator, whether its weights are trained, what it is in words)."""
    from edgepose.runtime import PoseEstimator

    trained = bool(path)
    if not trained:
        from edgepose.export.onnx import export_onnx
        from edgepose.models import build_model

        note("exporting xfuse_ghostnet (random weights) for the bottom-up frame")
        path = export_onnx(build_model("xfuse_ghostnet").eval(), Path(workdir) / "xfuse.onnx",
                           input_size=(368, 368)).path  # fmt: skip
    bottom = PoseEstimator.from_onnx(Path(path), threads=threads)
    if bottom.task != "bottomup":
        raise EdgeposeError(f"{Path(path)}: --bottomup-onnx must be a bottom-up model, this one is {bottom.task}")
    return bottom, trained, str(Path(path)) if trained else "xfuse_ghostnet, random weights (exported for this run)"


def frame_estimators(onnx: str | Path | None, bottomup_onnx: str | Path | None, *, bottomup: bool = True,
                     threads: int = 2, flip: bool = True, workdir: str,
                     note: Say = _quiet) -> tuple[Any, tuple[Any, bool] | None, dict[str, str]]:  # fmt: skip
    """(top-down estimator, (bottom-up estimator, trained) or None, where the models came from).

    ``onnx`` defaults to the shipped model; ``bottomup_onnx`` to ``xfuse_ghostnet`` exported with random weights
    into ``workdir`` (``note`` says so: it takes a while).
    """
    from edgepose.runtime import PoseEstimator

    if onnx:
        top_path = Path(onnx)
    else:
        from edgepose.assets import shipped_onnx

        top_path = shipped_onnx()
    top = PoseEstimator.from_onnx(top_path, threads=threads, flip_test=flip)
    if top.task != "topdown":
        raise EdgeposeError(f"{top_path}: --onnx must be a top-down model, this one is {top.task}")
    if not bottomup:
        return top, None, {"topdown": str(top_path)}
    bottom, trained, bottom_name = _bottomup_estimator(bottomup_onnx, workdir, threads, note)
    return top, (bottom, trained), {"topdown": str(top_path), "bottomup": bottom_name}


def bench_frames(*, image: str | Path | None = None, onnx: str | Path | None = None,
                 bottomup_onnx: str | Path | None = None, people: Sequence[int] = (1, 5, 10), bottomup: bool = True,
                 bottomup_people: int = 5, threads: int = 2, flip: bool = True, runs: int = 20, warmup: int = 2,
                 omp_wait_policy: str = "", progress: Say = _quiet,
                 note: Say = _quiet) -> tuple[dict[str, Any], list[Any]]:  # fmt: skip
    """Time a top-down frame per count of ``people`` (and a bottom-up frame) of ``image`` (default: a bundled
    photo), interleaved over ``runs`` rounds: ``(info, results)`` -- what was measured on what (models, machine,
    load before and after), and one :class:`~edgepose.analysis.frame_budget.FrameResult` per frame."""
    import cv2

    from edgepose.analysis.frame_budget import bottomup_case, run_frames, topdown_case
    from edgepose.analysis.timing import load_average, machine_summary

    if image is None:
        from edgepose.assets import demo_photos

        image = demo_photos()[0]
    image = Path(image)
    cv2.setNumThreads(threads)
    load_before = load_average()
    with tempfile.TemporaryDirectory() as workdir:
        top, bottom, models = frame_estimators(onnx, bottomup_onnx, bottomup=bottomup, threads=threads, flip=flip,
                                               workdir=workdir, note=note)  # fmt: skip
        cases = [topdown_case(top, image, n) for n in people]
        if bottom is not None:
            estimator, trained = bottom
            cases.append(bottomup_case(estimator, image, None if trained else bottomup_people))
        progress(f"timing {len(cases)} frame(s): {warmup} warm-up + {runs} interleaved rounds")
        results = run_frames(cases, warmup=warmup, runs=runs)
    machine = {**machine_summary(), "omp_wait_policy": omp_wait_policy, "ort_threads": threads}
    info = {"image": str(image), "models": models, "runs": runs, "warmup": warmup, "machine": machine,
            "load_avg_before": load_before, "load_avg_after": load_average(),
            "order": "interleaved: one run of every frame per round, order rotated each round"}  # fmt: skip
    return info, results


def frame_json(info: dict[str, Any], results: Sequence[Any]) -> dict[str, Any]:
    """The JSON report of :func:`bench_frames`: ``info`` and every frame with each call's stage times."""
    return {**info, "frames": [r.to_dict(raw=True) for r in results]}


def format_frame_report(info: dict[str, Any], results: Sequence[Any]) -> str:
    """The table of :func:`bench_frames` (stage medians and shares per frame), captioned with what it ran on."""
    from edgepose.analysis.frame_budget import format_frame_table

    machine = info["machine"]
    caption = (f"image {Path(info['image']).name}; models {info['models']}; {machine['cpu']} "
               f"({machine['cpus_usable']} CPUs usable), {machine['ort_threads']} ORT/OpenCV threads, OMP_WAIT_POLICY "
               f"{machine['omp_wait_policy']}, load avg {info['load_avg_before']} before / {info['load_avg_after']} "
               f"after; medians of {info['runs']} rounds, share = stage / sum")  # fmt: skip
    return format_frame_table(results, caption)
