"""The PyTorch side of prediction and evaluation: a model from a checkpoint or a name, wrapped in the runtime's
:class:`~edgepose.runtime.estimator.PoseEstimator`.

The estimator's pre-processing, flip test and decoding are the torch-free runtime's (numpy + OpenCV, the same
codecs and geometry as training); only the network call differs between ``--weights`` (:class:`TorchNetwork`)
and ``--onnx`` (ONNX Runtime), so both paths give the same poses up to floating-point noise (tested).
``edgepose eval`` and the validation during training wrap the model the same way, so evaluation and
``edgepose predict`` give identical keypoints for the same image, box and weights (tested).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgepose.codecs.heatmap import CODECS
from edgepose.errors import ConfigError
from edgepose.meta import ModelInfo, info_of
from edgepose.runtime.estimator import PoseEstimator

RANDOM_INIT_WARNING = (
    "model {name!r} has random weights (no --weights given): its predictions are meaningless; "
    "pass --weights CKPT for real poses"
)


def final_heatmaps(output: Any) -> torch.Tensor:
    """The final heatmaps of a top-down model output: a tensor, the last of a list of stage outputs, or a dict's
    ``heatmaps``."""
    if isinstance(output, (list, tuple)):
        output = output[-1]
    if isinstance(output, dict):
        output = output.get("heatmaps", next(iter(output.values())))
    return output


def final_maps(outputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(heatmaps, pafs) of a bottom-up model output: a list whose last two entries are the final stage's, or a
    dict with ``heatmaps`` and ``pafs``."""
    if isinstance(outputs, dict):
        return outputs["heatmaps"], outputs["pafs"]
    if isinstance(outputs, (list, tuple)) and len(outputs) >= 2:
        return outputs[-2], outputs[-1]
    raise ConfigError("a bottom-up model must return [..., heatmaps, pafs] (or a dict with both)")


class TorchNetwork:
    """``(N, 3, H, W) float32 numpy -> {"heatmaps": ..., ["pafs": ...]}`` with a PyTorch model, no grad.

    The model is switched to eval mode; callers that train it (the trainer's validation) switch it back.
    """

    def __init__(self, model: nn.Module, info: ModelInfo, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.info = info

    @torch.no_grad()
    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        out = self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device))
        if self.info.task == "topdown":
            return {"heatmaps": final_heatmaps(out).float().cpu().numpy()}
        heat, pafs = final_maps(out)
        return {"heatmaps": heat.float().cpu().numpy(), "pafs": pafs.float().cpu().numpy()}


def config_codec(config: Mapping[str, Any] | None) -> str:
    """The top-down decoder a training config asked for (``eval.codec``, else ``data.codec``), default MSRA."""
    for section in ("eval", "data"):
        value = ((config or {}).get(section) or {}).get("codec")
        if isinstance(value, str) and value in CODECS:
            return value
    return "msra"


def config_input_size(config: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """``data.input_size`` of a training config as ``(H, W)``, if it has one."""
    size = ((config or {}).get("data") or {}).get("input_size")
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]), int(size[1])
    if isinstance(size, int):
        return size, size
    return None


def load_model(
    model_name: str | None = None,
    weights: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    warn_random: bool = True,
) -> tuple[nn.Module, dict[str, Any] | None]:
    """The model of a checkpoint (``weights`` alone rebuilds it) or a fresh ``model_name`` (random weights,
    with a warning). Returns ``(model in eval mode, checkpoint or None)``."""
    from edgepose.models import build_model

    if weights is not None:
        from edgepose.engine.checkpoint import build_model_from_checkpoint

        model, ckpt = build_model_from_checkpoint(weights)  # NaN/inf weights are refused there (models.weights)
        if model_name and model_name != ckpt.get("model_name"):
            raise ConfigError(
                f"--model {model_name!r} does not match the checkpoint's model {ckpt.get('model_name')!r} ({weights})"
            )
        if overrides:
            raise ConfigError("--set overrides cannot change a checkpoint's model; drop --set or --weights")
        return model.eval(), ckpt
    if not model_name:
        raise ConfigError("give a model: --model NAME, --weights CKPT or --onnx MODEL.onnx")
    model = build_model(model_name, **dict(overrides or {}))
    if warn_random:
        warnings.warn(RANDOM_INIT_WARNING.format(name=model_name), UserWarning, stacklevel=2)
    return model.eval(), None


def torch_estimator(
    model: nn.Module,
    *,
    ckpt: Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
    **kwargs: Any,
) -> PoseEstimator:
    """A :class:`PoseEstimator` running ``model`` with PyTorch (pre-/post-processing of the runtime)."""
    info = info_of(model)  # the model's own metadata (born in build_model, read back from its checkpoint)
    return PoseEstimator(TorchNetwork(model, info, device), info, **kwargs)


def torch_device(device: str) -> torch.device:
    """The PyTorch device of ``--device``; CUDA without a usable GPU is a one-line error, not a traceback."""
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {device!r} is not a PyTorch device (cpu, cuda, cuda:1, ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: PyTorch sees no CUDA GPU here; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    return dev


def checkpoint_estimator(
    weights: str | Path | None,
    model_name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    device: str = "cpu",
    threads: int | None = None,
    **kwargs: Any,
) -> tuple[PoseEstimator, bool]:
    """The estimator of ``--weights`` (or a random ``--model``) on ``device``: what the CLI's torch path runs.

    Returns ``(estimator, has_weights)``; the caller warns when there are no weights (random predictions)."""
    dev = torch_device(device)
    if threads:
        torch.set_num_threads(threads)
    model, ckpt = load_model(model_name, weights, overrides, warn_random=False)
    return torch_estimator(model, ckpt=ckpt, device=dev, **kwargs), ckpt is not None
