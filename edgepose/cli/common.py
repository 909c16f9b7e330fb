"""Argument helpers shared by every subcommand, so the same option reads the same everywhere.

``--set`` is the one that matters most: users copy ``--set a=1 b=2`` from one command's docs to another's,
and write ``--set a=1 --set b=2`` out of habit from other tools. :func:`add_set_argument` accepts both forms
(and any mix) in every command that takes overrides; the values land in ``args.overrides`` as a flat list of
``KEY=VALUE`` strings, in order, for :func:`edgepose.config.parse_overrides`.

Range and output-path checks of option values live in :mod:`edgepose.cli.checks`. The model and person-box
options shared by ``predict``, ``demo`` and ``pck`` are resolved here, once: :func:`load_estimator` (``--weights``
/ ``--onnx`` / ``--model`` / the shipped model) and :func:`box_source` (``--boxes`` / ``--detector``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgepose.errors import ConfigError, EdgeposeError

DETECTOR_HELP = ("person boxes for top-down models: 'default' (the shipped people detector, Intel's Lightweight "
                 "OpenPose), 'none' (the whole image is one person's box), 'hog' (OpenCV's people detector), or a "
                 "bottom-up model: an .onnx file or a checkpoint")  # fmt: skip


def detector_refine(kind: str, refine: int | None) -> int | None:
    """Refinement passes on the box source's boxes: the user's ``--refine`` if given, else none on a bottom-up
    detector's tight boxes (:data:`edgepose.runtime.boxes.DETECTOR_REFINE`), else the model's default."""
    from edgepose.runtime.boxes import DETECTOR_REFINE

    if refine is not None:
        return refine
    return DETECTOR_REFINE if kind == "detector" else None


def add_set_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup, help: str | None = None) -> None:
    """Add ``--set KEY=VALUE [KEY=VALUE ...]`` (repeatable) storing a flat list in ``args.overrides``.

    ``nargs="+"`` with ``action="extend"`` is what makes ``--set a=1 b=2`` and ``--set a=1 --set b=2`` equal;
    a plain ``action="append"`` would leave ``b=2`` to the positional arguments and fail with the top-level
    usage line.
    """
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help=help or "override options, YAML-typed: --set a=1 b=2 or --set a=1 --set b=2",
    )



def add_refine_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--refine N`` (top-down models): extra passes per box, each re-cropped around the last pass's joints.

    The default, :data:`edgepose.runtime.estimator.DEFAULT_REFINE`, is the same for ``predict``, ``demo`` and
    ``pck``, so the PCK that ``pck`` prints is measured on exactly what ``predict`` runs.
    """
    from edgepose.runtime.estimator import DEFAULT_REFINE, MAX_REFINE

    def passes(text: str) -> int:
        value = int(text)
        if not 0 <= value <= MAX_REFINE:
            raise argparse.ArgumentTypeError(f"must be in 0..{MAX_REFINE} (extra passes per box), got {value}")
        return value

    parser.add_argument(
        "--refine",
        type=passes,
        default=None,
        metavar="N",
        help="top-down: extra passes per box, each re-cropped around the last pass's confident joints, 0 to "
        f"{MAX_REFINE} (default: the model's, {DEFAULT_REFINE} unless its metadata says otherwise; 0 = one pass)",
    )


def add_backend_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--backend {auto,ort,openvino}``: which inference back-end runs an ONNX model.

    ``auto`` (the default) measures the available ones once per model and machine and keeps the fastest
    (:func:`edgepose.runtime.session.choose_backend`); the others force one. The commands call
    :func:`use_backend` with the parsed arguments before they open a model.
    """
    from edgepose.runtime.session import BACKENDS

    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="inference back-end for ONNX models: auto = the fastest available here, measured once per model "
        "(ONNX Runtime, OpenVINO if installed, the NAME.int8.onnx sibling if present); ort / openvino force one",
    )


def use_backend(args: argparse.Namespace) -> None:
    """Make ``args.backend`` the runtime's back-end for this command (``auto`` when the command has no flag)."""
    from edgepose.runtime.session import set_default_backend

    set_default_backend(getattr(args, "backend", "auto"))


# ------------------------------------------------------------------------------------------ models
def onnx_providers(device: str) -> list[str]:
    """ONNX Runtime providers for ``--device``; a GPU that onnxruntime cannot use here is a one-line error."""
    kind = device.split(":")[0].lower()
    if kind == "cpu":
        return ["cpu"]
    from edgepose.runtime.session import PROVIDER_ALIASES, _import_ort

    provider = PROVIDER_ALIASES.get(kind)
    if provider is None:
        raise ConfigError(f"--device {device!r}: unknown device; use cpu or cuda")
    available = _import_ort().get_available_providers()
    if provider not in available:
        raise ConfigError(f"--device {device}: this onnxruntime has no {provider} (it has {', '.join(available)}); "
                          "use --device cpu or install onnxruntime-gpu")  # fmt: skip
    return [kind, "cpu"]


def _onnx_file(path: str | Path, option: str) -> Path:
    """An existing ONNX file for ``option``; a folder, a pipe or a missing path is named as what it is."""
    from edgepose.pathkind import require_file

    return require_file(path, f"{option} model", ConfigError)


def load_estimator(
    command: str,
    *,
    onnx: str | None = None,
    weights: str | None = None,
    model: str | None = None,
    overrides: list[str] | None = None,
    device: str = "cpu",
    threads: int | None = None,
    announce: bool = True,
    **kwargs: Any,
) -> tuple[Any, str]:
    """``(PoseEstimator, model path or name)`` of ``--onnx``, ``--weights`` / ``--model`` (PyTorch) or, with none
    of them, the model shipped inside edgepose (torch-free). ``kwargs`` go to the estimator; ``refine=None``
    is the model's own default (:func:`edgepose.runtime.estimator.default_refine`)."""
    from edgepose.runtime import PoseEstimator

    check_threads(threads)
    if onnx or not (weights or model):
        path = _onnx_file(onnx, "--onnx") if onnx else None
        estimator = PoseEstimator(path, threads=threads, providers=onnx_providers(device), **kwargs)
        if path is None:
            from edgepose.assets import shipped_onnx

            path = shipped_onnx()
            if announce:
                say_shipped(command, estimator)
        return estimator, str(path)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise EdgeposeError("--weights/--model need PyTorch (pip install 'edgepose[torch]'); use --onnx") from None
    from edgepose.config import parse_overrides
    from edgepose.engine.predict import RANDOM_INIT_WARNING, checkpoint_estimator

    if weights:
        from edgepose.pathkind import require_file

        require_file(weights, "--weights checkpoint", ConfigError)
    estimator, has_weights = checkpoint_estimator(weights, model, parse_overrides(overrides or []) or None,
                                                  device=device, threads=threads, **kwargs)  # fmt: skip
    if kwargs.get("refine") is None:  # the model's default, as for model files
        from edgepose.runtime.estimator import default_refine

        estimator.refine = default_refine(estimator.info)
    if not has_weights:
        print(f"edgepose {command}: warning: {RANDOM_INIT_WARNING.format(name=model)}", file=sys.stderr)
    return estimator, str(weights or model)


def say_shipped(command: str, estimator: Any) -> None:
    """The stderr note that no model was given and the shipped one runs (after every option was checked, so an
    error stays the only line)."""
    info = estimator.info
    print(f"edgepose {command}: using the shipped model ({info.model_name}, {info.task}, {info.keypoints} "
          "keypoints; --weights/--onnx choose another)", file=sys.stderr)  # fmt: skip


def check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")


# ------------------------------------------------------------------------------------------- boxes
def box_source(
    estimator: Any,
    *,
    boxes: str | None = None,
    detector: str | None = None,
    box_threshold: float = 0.3,
    threads: int | None = None,
    device: str = "cpu",
    height: int | None = None,
) -> tuple[Any, str]:
    """``(box source or None, its name)`` for ``--boxes`` / ``--detector`` (None: the whole image).

    No ``--detector`` is the shipped people detector (:data:`edgepose.runtime.boxes.SHIPPED_DETECTOR`), ``none``
    the whole image. Bottom-up models find people themselves: either option with one is a one-line error."""
    if estimator.task != "topdown":
        if boxes or detector:
            option = "--boxes" if boxes else "--detector"
            raise ConfigError(f"{option} applies to top-down models; {estimator.info.model_name} is bottom-up and "
                              f"finds people itself (drop {option})")  # fmt: skip
        return None, "model"
    from edgepose.runtime.boxes import NO_DETECTOR, SHIPPED_DETECTOR, DetectionFile

    if boxes:
        return DetectionFile(boxes, min_score=box_threshold), "detections"
    detector = SHIPPED_DETECTOR if detector is None else detector
    if detector.strip().lower() == NO_DETECTOR:
        return None, "image"
    source = resolve_detector(detector, box_threshold=box_threshold, threads=threads, device=device, height=height)
    return source, "hog" if detector.lower() == "hog" else "detector"


def resolve_detector(
    spec: str, *, box_threshold: float = 0.3, threads: int | None = None, device: str = "cpu", height: int | None = None
):
    """The box source of ``--detector SPEC``: ``hog``, a bottom-up ``.onnx`` file or a bottom-up checkpoint.

    The one place the CLI resolves the flag (``predict``, ``demo`` and ``pck`` call it): torch-free values through
    :func:`edgepose.runtime.boxes.detector_from_spec`, checkpoints through
    :func:`edgepose.engine.detectors.resolve_detector`; anything else is a one-line error naming the value.
    ``--box-threshold`` applies to HOG's scores (a bottom-up model keeps every person it finds)."""
    from edgepose.runtime.boxes import detector_from_spec

    min_score = box_threshold if str(spec).strip().lower() == "hog" else 0.0
    path = Path(str(spec).strip())
    if path.is_file() and path.suffix.lower() != ".onnx":  # a checkpoint: the torch side
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            raise ConfigError(f"--detector {spec!r}: a checkpoint needs PyTorch (pip install 'edgepose[torch]'); "
                              "or give its .onnx export")  # fmt: skip
        from edgepose.engine.detectors import resolve_detector as torch_detector

        return torch_detector(spec, min_score=min_score, threads=threads, height=height, device=device)
    return detector_from_spec(spec, min_score=min_score, threads=threads, height=height)
