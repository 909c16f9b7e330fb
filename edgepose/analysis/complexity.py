"""Parameters, MACs and HR-1024 "GFLOPs" of a model, counted with forward hooks on one forward pass.

The papers edgepose reproduces mix counting conventions, so every figure here says which one it is
(SPEC Part A.0):

``params``
    Every parameter of the model (shared parameters once).
``params_hr1024``
    The parameters HRNet's ``get_model_summary`` sees: only modules whose class name contains ``Conv``,
    ``BatchNorm`` or ``Linear`` (so the LayerNorm of a GC block is missed). Secondary figure.
``macs`` -- true multiply-accumulates (the LWOP / GhostNet / mmengine convention, "1 MAC = 1 FLOP")
    ``Conv``: ``Cout·Cin/g·kh·kw·Hout·Wout``; ``ConvTranspose``: the same product at the **input** resolution
    (``Cin·Cout/g·kh·kw·Hin·Win``: every input pixel is multiplied with the whole kernel once); ``Linear``:
    ``in·out`` per row. Biases, BN, activations, pooling, softmax, element-wise ops and functional
    matrix products are **not** counted. Reported per sample (the pass runs at batch 1).
``matmul_macs``
    Functional matrix products (``torch.matmul`` / ``bmm`` / ``mm`` / ``@``), which ``macs`` leaves out --
    in edgepose only the context pooling of the GC block (``C·H·W`` per block, 5.4 M for FLPN SResNet-50,
    0.4 % of its MACs). Kept separate because the SPEC's reconstruction figures (FLPN-50 1.258 GMACs,
    no-GC 1.250) are conv-only: adding the matmul gives 1.264.
``hr1024_gflops`` -- the HRNet / SimpleBaseline / LPN convention
    For every module whose class name contains ``Conv`` (ConvTranspose2d too): ``weight.numel()·Hout·Wout``,
    plus ``Linear``; divided by 1024³. It over-counts transposed convs by stride² because it uses the output
    size (HRNet issue #257), which is why SimpleBaseline-R50 is "8.9 GFLOPs" but 5.43 GMACs.

Per-part figures follow ``model.parts()`` (an ordered ``name -> submodule`` mapping) when the model has
it, else its top-level children; anything outside every part is reported as ``"other"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = [
    "ComplexityReport",
    "complexity_of",
    "count_complexity",
    "model_parts",
]

GIGA = 1e9
HR_DIVISOR = 1024**3
OTHER_PART = "other"

# The counting conventions, spelled out once (CLI output and docs quote these).
CONVENTIONS: dict[str, str] = {
    "params": "all parameters",
    "params_hr1024": "parameters of Conv/BatchNorm/Linear modules only (HRNet get_model_summary)",
    "macs": "true multiply-accumulates of Conv/ConvTranspose (at input resolution)/Linear, bias excluded; per sample",
    "matmul_macs": "functional matmul/bmm MACs (GC context pooling), not included in macs",
    "hr1024_gflops": "sum over Conv*/Linear modules of weight.numel()*Hout*Wout, divided by 1024^3",
}


@dataclass
class ComplexityReport:
    """The complexity of one model at one input size (batch 1). See the module docstring for conventions."""

    input_size: tuple[int, int]
    params: int
    macs: int
    hr1024_flops: int
    params_hr1024: int = 0
    matmul_macs: int = 0
    parts: dict[str, dict[str, float]] = field(default_factory=dict)
    model: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def hr1024_gflops(self) -> float:
        """The HR-1024 figure as the HRNet family prints it: raw count / 1024³."""
        return self.hr1024_flops / HR_DIVISOR

    @property
    def gmacs(self) -> float:
        return self.macs / GIGA

    @property
    def mparams(self) -> float:
        return self.params / 1e6

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``model, input_size, params, macs, hr1024_gflops, parts`` and the secondary figures."""
        return {
            "model": self.model,
            "input_size": list(self.input_size),
            "overrides": _jsonable(self.overrides),
            "params": self.params,
            "macs": self.macs,
            "hr1024_gflops": self.hr1024_gflops,
            "params_hr1024": self.params_hr1024,
            "matmul_macs": self.matmul_macs,
            "parts": {k: dict(v) for k, v in self.parts.items()},
            "conventions": dict(CONVENTIONS),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def model_parts(model: nn.Module) -> dict[str, nn.Module]:
    """``model.parts()`` when the model defines it, else its direct children."""
    parts_fn = getattr(model, "parts", None)
    if callable(parts_fn):
        parts = parts_fn()
        return {str(k): v for k, v in dict(parts).items() if isinstance(v, nn.Module)}
    return dict(model.named_children())


def _is_hr_conv(module: nn.Module) -> bool:
    """HRNet's rule: class name contains "Conv" and the module has its own weight tensor."""
    weight = getattr(module, "weight", None)
    return "Conv" in type(module).__name__ and isinstance(weight, torch.Tensor)


def _spatial(t: torch.Tensor) -> int:
    return math.prod(t.shape[2:]) if t.dim() > 2 else 1


def _module_counts(module: nn.Module, inputs: tuple, output: Any) -> tuple[int, int]:
    """(true MACs, HR-1024 raw count) of one call of a leaf module, per sample."""
    if not isinstance(output, torch.Tensor) or not inputs or not isinstance(inputs[0], torch.Tensor):
        return 0, 0
    x = inputs[0]
    batch = max(1, x.shape[0]) if x.dim() > 1 else 1
    macs = hr = 0
    if isinstance(module, nn.modules.conv._ConvNd):
        w = module.weight.numel()
        # weight.numel() = Cout·Cin/g·k² (conv) or Cin·Cout/g·k² (transposed): one product per pixel of the
        # resolution the kernel slides over, i.e. the output for a conv and the input for a transposed conv.
        macs = w * (_spatial(x) if module.transposed else _spatial(output))
        hr = w * _spatial(output)
    elif isinstance(module, nn.Linear):
        rows = x.numel() // max(1, module.in_features) // batch
        macs = hr = module.in_features * module.out_features * rows
    elif _is_hr_conv(module):  # a custom "Conv" leaf with a weight: HR-1024 counts it, true MACs cannot guess
        hr = module.weight.numel() * _spatial(output)
    return macs, hr


class _MatmulCounter(TorchFunctionMode):
    """Counts MACs of functional matrix products, attributed to the part being executed."""

    FUNCS: ClassVar[set] = {
        torch.matmul,
        torch.bmm,
        torch.mm,
        torch.Tensor.matmul,
        torch.Tensor.__matmul__,
        torch.Tensor.bmm,
    }

    def __init__(self, current_part: list[str], totals: dict[str, int]) -> None:
        super().__init__()
        self.current_part = current_part
        self.totals = totals

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in self.FUNCS and isinstance(out, torch.Tensor) and args and isinstance(args[0], torch.Tensor):
            a = args[0]
            inner = a.shape[-1] if a.dim() >= 1 else 1
            part = self.current_part[-1]
            self.totals[part] = self.totals.get(part, 0) + out.numel() * inner
        return out


def _param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_complexity(
    model: nn.Module,
    input_size: tuple[int, int] | list[int] | None = None,
    *,
    in_channels: int = 3,
    model_name: str | None = None,
) -> ComplexityReport:
    """Count params, true MACs and HR-1024 of ``model`` with one batch-1 forward pass at ``input_size`` (H, W).

    ``input_size`` defaults to ``model.input_size``. The model is put in eval mode for the pass (so BN
    running statistics are not updated) and every module's training flag is restored afterwards.
    """
    if input_size is None:
        input_size = getattr(model, "input_size", None)
        if input_size is None:
            raise ValueError("input_size not given and the model has no input_size attribute")
    h, w = (int(v) for v in input_size)
    parts = model_parts(model)
    macs, hr, matmul = _count_pass(model, parts, (in_channels, h, w))
    total_params = _param_count(model)
    return ComplexityReport(
        input_size=(h, w),
        params=total_params,
        macs=sum(macs.values()),
        hr1024_flops=sum(hr.values()),
        params_hr1024=_params_hr1024(model),
        matmul_macs=sum(matmul.values()),
        parts=_part_table(parts, total_params, macs, hr, matmul),
        model=model_name or getattr(model, "model_name", None),
        overrides=dict(getattr(model, "model_overrides", {}) or {}),
    )


def _count_pass(
    model: nn.Module, parts: dict[str, nn.Module], shape: tuple[int, int, int]
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(MACs, HR-1024 FLOPs, matmul MACs) per part of one batch-1 forward pass of an input of ``shape`` (C, H, W),
    counted by forward hooks on the leaf convolutions/linears and on the parts (which part is running)."""
    part_of: dict[int, str] = {}
    for name, part in parts.items():
        for m in part.modules():
            part_of.setdefault(id(m), name)
    names = [*parts, OTHER_PART]
    macs, hr, matmul = dict.fromkeys(names, 0), dict.fromkeys(names, 0), dict.fromkeys(names, 0)
    current_part = [OTHER_PART]
    handles = []

    def leaf_hook(module: nn.Module, inputs: tuple, output: Any) -> None:
        m, r = _module_counts(module, inputs, output)
        part = part_of.get(id(module), OTHER_PART)
        macs[part] += m
        hr[part] += r

    def enter(name: str):
        def pre(_module: nn.Module, _inputs: tuple) -> None:
            current_part.append(name)

        return pre

    def leave(_module: nn.Module, _inputs: tuple, _output: Any) -> None:
        if len(current_part) > 1:
            current_part.pop()

    for module in model.modules():
        is_leaf = next(module.children(), None) is None
        if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) or (is_leaf and _is_hr_conv(module)):
            handles.append(module.register_forward_hook(leaf_hook))
    for name, part in parts.items():
        handles.append(part.register_forward_pre_hook(enter(name)))
        handles.append(part.register_forward_hook(leave))

    training_flags = [(m, m.training) for m in model.modules()]
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        x = torch.zeros(1, *shape, device=device, dtype=dtype)
        model.eval()
        with torch.no_grad(), _MatmulCounter(current_part, matmul):
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in training_flags:  # restore per module: a frozen BN stays in eval mode
            module.training = flag
    return macs, hr, matmul


def _params_hr1024(model: nn.Module) -> int:
    """The HRNet-style secondary parameter count: parameters of Conv/BatchNorm/Linear modules only."""
    params_hr = 0
    for module in model.modules():
        cls = type(module).__name__
        if any(key in cls for key in ("Conv", "BatchNorm", "Linear")):
            params_hr += sum(p.numel() for p in module.parameters(recurse=False))
    return params_hr


def _part_table(
    parts: dict[str, nn.Module], total_params: int, macs: dict[str, int], hr: dict[str, int], matmul: dict[str, int]
) -> dict[str, dict[str, float]]:
    """Per-part params / MACs / HR-1024 GFLOPs / matmul MACs; the catch-all part only when it holds anything."""
    part_params = {name: _param_count(part) for name, part in parts.items()}
    part_params[OTHER_PART] = total_params - sum(part_params.values())
    part_table: dict[str, dict[str, float]] = {}
    for name in [*parts, OTHER_PART]:
        entry = {
            "params": part_params.get(name, 0),
            "macs": macs[name],
            "hr1024_gflops": hr[name] / HR_DIVISOR,
            "matmul_macs": matmul.get(name, 0),
        }
        if name == OTHER_PART and not any(entry.values()):
            continue
        part_table[name] = entry
    return part_table


def default_input_size(model: nn.Module) -> tuple[int, int]:
    """The model's own ``input_size`` (H, W); 256×192 for top-down and 368×368 for bottom-up otherwise."""
    size = getattr(model, "input_size", None)
    if size is not None:
        return int(size[0]), int(size[1])
    return (368, 368) if getattr(model, "task", "topdown") == "bottomup" else (256, 192)


def complexity_of(
    name: str,
    input_size: tuple[int, int] | list[int] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    device: str = "meta",
) -> ComplexityReport:
    """Build model ``name`` (with keyword ``overrides``) and count it at ``input_size`` (default: its own).

    By default the model is built and run on PyTorch's ``meta`` device: tensors carry shapes but no data,
    so construction skips weight initialisation and the forward pass does no arithmetic, and a 152-layer
    model is counted in well under a second. The counts depend on shapes only, so they are identical to a
    CPU pass (a test pins that). A model that cannot run on ``meta`` (a data-dependent op) falls back to a
    real CPU pass; ``device="cpu"`` forces one.
    """
    from edgepose.errors import EdgeposeError
    from edgepose.models import build_model

    overrides = dict(overrides or {})
    if device == "meta":
        try:
            with torch.device("meta"):
                model = build_model(name, **overrides)
            size = tuple(input_size) if input_size is not None else default_input_size(model)
            report = count_complexity(model, size, model_name=name)
            report.overrides = overrides
            return report
        except EdgeposeError:
            raise
        except Exception as exc:  # a data-dependent op cannot run on meta tensors: count on the CPU, and say so
            import warnings

            warnings.warn(f"{name} cannot be counted on the meta device ({type(exc).__name__}: {exc}); "
                          "counting with a real CPU pass", RuntimeWarning, stacklevel=2)  # fmt: skip
    model = build_model(name, **overrides)
    size = tuple(input_size) if input_size is not None else default_input_size(model)
    report = count_complexity(model, size, model_name=name)
    report.overrides = overrides
    return report


def report_from_dict(data: Mapping[str, Any]) -> ComplexityReport:
    """Inverse of :meth:`ComplexityReport.to_dict` (for tools that store reports as JSON)."""
    return ComplexityReport(
        input_size=tuple(data["input_size"]),
        params=int(data["params"]),
        macs=int(data["macs"]),
        hr1024_flops=round(float(data["hr1024_gflops"]) * HR_DIVISOR),
        params_hr1024=int(data.get("params_hr1024", 0)),
        matmul_macs=int(data.get("matmul_macs", 0)),
        parts={k: dict(v) for k, v in data.get("parts", {}).items()},
        model=data.get("model"),
        overrides=dict(data.get("overrides") or {}),
    )
