"""ONNX export with named outputs, dynamic axes, metadata for the runtime, and a parity check.

* Input ``image`` ``(N, 3, H, W)``; outputs ``heatmaps`` (top-down) or ``heatmaps``, ``pafs`` (bottom-up, the
  final stage only: Lightweight OpenPose users trip over the stage outputs' order, LWOP #58 / #158).
* Axes: the batch is dynamic by default; bottom-up models also get dynamic height and width (images of any
  aspect ratio, any inference height), top-down crops keep the exported size.
* :class:`~edgepose.meta.ModelInfo` goes into ``metadata_props`` so ``edgepose.runtime`` can
  pre-process and decode without torch or the training config.
* :class:`~edgepose.meta.ModelInfo` is the model's own ``model_info`` (born in ``build_model``), never guessed
  from the channel count; a model without it is refused.
* The file is written atomically (:func:`edgepose.io.atomic_path`).
* The exported graph is the *deployment graph* of :mod:`edgepose.export.deploy` (BN folded, Ghost/Smart
  modules without concat-then-slice, GC blocks in their cheapest exact form; ``deploy=False`` exports the
  training graph as it is), then slimmed with onnxslim when it is installed (``slim=None``, the default).
* Parity: ONNX Runtime is run on a seeded random input (batch 2 when the batch is dynamic, and for bottom-up
  models also a second, non-square size) and compared with the *original* PyTorch network (not the rewritten
  one), so the check covers the deployment rewrite too; the max abs difference is returned.

Exporter: torch 2.13 ships the legacy TorchScript exporter (``dynamo=False``) and the ``torch.export`` one
(``dynamo=True``, onnxscript). Both export every edgepose model offline; the TorchScript exporter is the
default because it is ~10x faster, keeps the requested opset (the dynamo one starts at 18 and converts down)
and needs no symbolic-shape constraints for the GC block's reshapes. ``exporter="dynamo"`` selects the other.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgepose import __version__
from edgepose.errors import ConfigError, EdgeposeError
from edgepose.export.deploy import DeployReport, deploy_model
from edgepose.io import atomic_path
from edgepose.meta import ModelInfo, info_of

DEFAULT_OPSET = 17
EXPORTERS = ("torchscript", "dynamo")


@dataclass
class ExportResult:
    path: Path
    outputs: list[str]
    max_abs_diff: float | None  # PyTorch vs ONNX Runtime on the parity inputs
    max_abs_output: float | None  # the PyTorch outputs' largest magnitude (the scale of the difference)
    info: ModelInfo
    slimmed: bool = False
    deploy: DeployReport | None = None  # what the deployment rewrite changed (None: training graph exported)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "outputs": self.outputs,
            "max_abs_diff": self.max_abs_diff,
            "max_abs_output": self.max_abs_output,
            "model_name": self.info.model_name,
            "task": self.info.task,
            "input_size": list(self.info.input_size),
            "slimmed": self.slimmed,
            "deployment_graph": None if self.deploy is None else self.deploy.summary(),
        }


class _ExportWrapper(nn.Module):
    """Returns named tensors in a fixed order: ``heatmaps`` or ``(heatmaps, pafs)`` of the final stage."""

    def __init__(self, model: nn.Module, task: str) -> None:
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, image: torch.Tensor):
        out = self.model(image)
        if self.task == "topdown":
            return out[-1] if isinstance(out, (list, tuple)) else out
        if not isinstance(out, (list, tuple)) or len(out) < 2:
            raise EdgeposeError("a bottom-up model must return a list [..., heatmaps, pafs]")
        return out[-2], out[-1]


def export_info(model: nn.Module, *, input_size: tuple[int, int] | None = None, codec: str | None = None) -> ModelInfo:
    """The metadata written into the file: the model's own (``model.model_info``, set when it was built), with
    the export size and decoder the caller asks for, if any. A model without metadata is refused."""
    info = info_of(model)
    changes: dict[str, Any] = {"edgepose_version": __version__}
    if input_size is not None:
        changes["input_size"] = (int(input_size[0]), int(input_size[1]))
    if codec is not None:
        changes["codec"] = codec
    try:
        return info.replace(**changes)
    except ValueError as exc:
        raise ConfigError(f"cannot export {info.model_name}: {exc}") from None


@contextlib.contextmanager
def _final_only(model: nn.Module):
    """Switch a bottom-up model to its final-stage outputs for the duration (if it can)."""
    setter = getattr(model, "set_final_only", None)
    before = getattr(model, "final_only", None)
    if callable(setter):
        setter(True)
    try:
        yield
    finally:
        if callable(setter) and before is not None:
            setter(before)


def _torch_export(wrapper, example, tmp, *, opset, dynamic_axes, output_names, exporter) -> None:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(
                wrapper, (example,), tmp, input_names=["image"], output_names=output_names,
                opset_version=opset, dynamic_axes=dynamic_axes or None, do_constant_folding=True, dynamo=False,
            )  # fmt: skip
            return
        shapes = None
        if dynamic_axes:
            dims = {axis: torch.export.Dim.AUTO for axis in dynamic_axes["image"]}
            shapes = {"image": dims}
        program = torch.onnx.export(
            wrapper, (example,), input_names=["image"], output_names=output_names, opset_version=opset,
            dynamic_shapes=shapes, dynamo=True, verbose=False,
        )  # fmt: skip
        program.save(tmp)


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    input_size: tuple[int, int] | None = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    slim: bool | None = None,
    check: bool = True,
    deploy: bool = True,
    exporter: str = "torchscript",
    codec: str | None = None,
    log: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export ``model`` (an edgepose top-down or bottom-up model) to ``path``; see the module docstring.

    The input size must be a positive multiple of the model's stride: a 127x95 top-down model would map its
    heatmaps back to the crop with a skewed scale, and the runtime rejects it, so it is refused here, before a
    file is written. ``log`` receives one line per stage (export, check, parity) for long exports.
    ``deploy`` exports the deployment graph (:mod:`edgepose.export.deploy`); ``slim`` runs onnxslim (``None``:
    when it is installed; ``True``: warn when it is not).
    """
    say = log or (lambda _msg: None)
    if exporter not in EXPORTERS:
        raise ConfigError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")
    path = Path(path)
    info = export_info(model, input_size=input_size, codec=codec)
    h, w = info.input_size
    if h < info.stride or w < info.stride or h % info.stride or w % info.stride:
        raise ConfigError(
            f"input size {h}x{w} must be positive multiples of the {info.task} model's stride {info.stride} "
            f"(e.g. {max(1, round(h / info.stride)) * info.stride} {max(1, round(w / info.stride)) * info.stride})"
        )
    device = next(iter(model.parameters()), torch.zeros(())).device
    was_training = model.training
    model.eval()
    wrapper = _ExportWrapper(model, info.task).eval()
    example = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device)
    report = None
    try:
        with _final_only(model) if info.task == "bottomup" else contextlib.nullcontext(), torch.no_grad():
            exported = wrapper
            if deploy:
                deployed, report = deploy_model(model, example)
                exported = _ExportWrapper(deployed, info.task).eval()
            graph = report.summary() if report is not None else "training graph"
            say(f"exporting {info.model_name} ({info.task}, {h}x{w}) with the {exporter} exporter, opset {opset}; "
                f"{graph}")  # fmt: skip
            with atomic_path(path) as tmp:
                slimmed = _write_onnx(exported, example, str(tmp), info, opset=opset, exporter=exporter,
                                      dynamic_axes=_dynamic_axes(info, dynamic_batch), slim=slim, say=say)  # fmt: skip
            diff, scale = (None, None)
            if check:
                say("checking ONNX Runtime against PyTorch on random inputs")
                diff, scale = parity(wrapper, path, info, dynamic_batch=dynamic_batch, device=device)
    finally:
        model.train(was_training)
    return ExportResult(path, list(info.outputs), diff, scale, info, slimmed, report)


def _dynamic_axes(info: ModelInfo, dynamic_batch: bool) -> dict[str, dict[int, str]]:
    """ONNX dynamic axes: the batch (if asked); bottom-up inputs also height and width, their maps input/stride."""
    axes: dict[int, str] = {0: "batch"} if dynamic_batch else {}
    if info.task == "bottomup":
        axes.update({2: "height", 3: "width"})
    dynamic_axes = {name: dict(axes) for name in ["image", *info.outputs]} if axes else {}
    for name in info.outputs:  # output maps are input / stride, not the input's own axis names
        if info.task == "bottomup":
            dynamic_axes[name].update({2: "map_height", 3: "map_width"})
    return dynamic_axes


def _write_onnx(
    exported: nn.Module, example: torch.Tensor, tmp: str, info: ModelInfo, *, opset: int, exporter: str,
    dynamic_axes: dict[str, dict[int, str]], slim: bool | None, say: Callable[[str], None],
) -> bool:  # fmt: skip
    """Export ``exported`` into the temporary file ``tmp``, slim it, attach the metadata and check the graph;
    returns whether onnxslim ran. An exporter failure is one EdgeposeError line naming the model."""
    import onnx

    try:
        _torch_export(exported, example, tmp, opset=opset, dynamic_axes=dynamic_axes,
                      output_names=list(info.outputs), exporter=exporter)  # fmt: skip
    except EdgeposeError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        why = f"{type(exc).__name__}: {first[:300]}"
        raise EdgeposeError(f"ONNX export of {info.model_name} failed with the {exporter} exporter ({why})") from exc
    proto = onnx.load(tmp)
    slimmed = False
    if slim or slim is None:
        proto, slimmed = _slim(proto, warn=bool(slim))
    info.attach(proto)
    say("checking the ONNX graph")
    onnx.checker.check_model(proto)
    onnx.save(proto, tmp)
    return slimmed


def _slim(proto, *, warn: bool = True):
    """Run onnxslim (constant folding, dead-node removal, shape folding) if it is installed; skip otherwise
    (with a warning when it was asked for explicitly). Metadata is re-attached by the caller."""
    try:
        import onnxslim
    except ImportError:
        if warn:
            warnings.warn("onnxslim is not installed; exported without --slim (pip install onnxslim)", stacklevel=3)
        return proto, False
    with contextlib.redirect_stdout(io.StringIO()):
        return onnxslim.slim(proto), True


def parity(
    wrapper: nn.Module, path: Path, info: ModelInfo, *, dynamic_batch: bool = True, device=None
) -> tuple[float, float]:
    """Max abs difference between PyTorch and ONNX Runtime outputs on seeded random inputs, and the largest
    output magnitude (what the difference is relative to)."""
    from edgepose.runtime.session import create_session

    session = create_session(path)
    h, w = info.input_size
    shapes = [(2 if dynamic_batch else 1, h, w)]
    if info.task == "bottomup":
        shapes.append((1, h + 2 * info.stride, max(info.stride, w - 2 * info.stride)))
    rng = np.random.default_rng(0)
    worst = scale = 0.0
    for n, hh, ww in shapes:
        x = rng.standard_normal((n, 3, hh, ww)).astype(np.float32)
        with torch.no_grad():
            ref = wrapper(torch.from_numpy(x).to(device or "cpu"))
        ref = [ref] if isinstance(ref, torch.Tensor) else list(ref)
        got = session.run(None, {"image": x})
        for r, g in zip(ref, got):
            r = r.float().cpu().numpy()
            if r.shape != g.shape:
                raise EdgeposeError(f"ONNX output shape {g.shape} differs from PyTorch {r.shape}", path)
            worst = max(worst, float(np.abs(r - g).max()))
            scale = max(scale, float(np.abs(r).max()))
    return worst, scale
