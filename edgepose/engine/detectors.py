"""The PyTorch side of ``--detector``: a bottom-up checkpoint as a person-box source.

:func:`edgepose.runtime.boxes.detector_from_spec` resolves the torch-free values (``hog``, an ``.onnx`` export);
:func:`resolve_detector` adds edgepose checkpoints (``--detector best.pt``), run with PyTorch through the same
:class:`~edgepose.runtime.estimator.PoseEstimator`, and otherwise defers to it, so every command that has torch
takes every form of the spec with the same errors.
"""

from __future__ import annotations

from pathlib import Path

from edgepose.errors import EdgeposeError
from edgepose.runtime.boxes import BoxSource, bad_detector, detector_from_spec, pose_boxes

__all__ = ["resolve_detector"]


def resolve_detector(
    spec: str,
    *,
    min_score: float = 0.0,
    padding: float = 0.1,
    threads: int | None = None,
    height: int | None = None,
    device: str = "cpu",
) -> BoxSource:
    """The box source of ``spec``: ``hog``, a bottom-up ``.onnx`` model or a bottom-up edgepose checkpoint.

    A checkpoint that cannot be read, or whose model is top-down, is one ConfigError line naming ``spec``.
    """
    path = Path(str(spec).strip())
    if not (path.is_file() and path.suffix.lower() != ".onnx"):
        return detector_from_spec(spec, min_score=min_score, padding=padding, threads=threads, height=height)
    from edgepose.engine.predict import load_model, torch_estimator

    try:
        model, ckpt = load_model(None, path)
    except EdgeposeError as exc:
        raise bad_detector(spec, str(exc).removeprefix(f"{path}: ")) from None
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))
    kwargs = {"height": height} if height else {}
    estimator = torch_estimator(model, ckpt=ckpt, device=device, batch_size=1, **kwargs)
    return pose_boxes(estimator, spec, min_score=min_score, padding=padding)
