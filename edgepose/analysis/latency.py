"""CPU latency of models measured side by side in one process, as reusable pieces.

The building blocks, from the bottom up:

* :func:`measure` -- time any zero-argument callable: ``warmup`` untimed calls, then ``runs`` timed ones,
  returning a :class:`Timing` (median, p90, mean, min of the per-call wall times in ms).
* :func:`measure_interleaved` -- several callables timed **round-robin** (run 1 of every case, then run 2 of
  every case, ...). On a shared or thermally throttled machine the load drifts during a benchmark; round-robin
  spreads that drift over all cases alike, so the *ratios* between them stay meaningful even when the
  absolute figures are noisy.
* :func:`bench_torch_model` -- one ``nn.Module`` at one input shape, in eval mode under
  ``torch.inference_mode``, optionally in ``channels_last`` memory format.
* :func:`bench_models` -- several edgepose models by name at batch 1 and 8, returning a
  :class:`LatencyReport` (rows + :func:`machine_info`) that :func:`format_latency_table` prints with the ratio
  of each row to the first model of the same batch.

Other back-ends (ONNX Runtime, INT8, decoding/post-processing) plug in by timing their own callable with
:func:`measure` / :func:`measure_interleaved` and appending a :class:`LatencyRow` with their ``backend``
name to a report: the table and JSON output are back-end agnostic.

Clocks: ``wall`` (elapsed, the default) or ``cpu`` (process CPU time, see :data:`CLOCKS`), which with one
torch thread stays meaningful on a machine other jobs are using. ``fuse_bn`` folds BatchNorm into the
convolutions first (:func:`fold_batchnorm`), as ONNX Runtime and other deployment runtimes do.

Memory format: depth-wise convolutions are several times faster in ``channels_last`` with PyTorch's
oneDNN CPU kernels, dense ResNet convs are about even. ``channels_last=None`` ("auto", the default) probes
both formats for each model and batch with a few calls and keeps the faster, and the report says which.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = [
    "LatencyReport",
    "LatencyRow",
    "Timing",
    "bench_models",
    "bench_torch_model",
    "choose_channels_last",
    "fold_batchnorm",
    "format_latency_table",
    "machine_info",
    "measure",
    "measure_interleaved",
    "profile_modules",
    "torch_threads",
]


@dataclass
class Timing:
    """Per-call wall times in milliseconds, and their summary statistics."""

    times_ms: list[float]

    @property
    def runs(self) -> int:
        return len(self.times_ms)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.times_ms)

    @property
    def min_ms(self) -> float:
        return min(self.times_ms)

    @property
    def p90_ms(self) -> float:
        """90th percentile, linear interpolation between order statistics."""
        return _percentile(self.times_ms, 90.0)

    def to_dict(self) -> dict[str, float]:
        return {
            "runs": self.runs,
            "median_ms": self.median_ms,
            "p90_ms": self.p90_ms,
            "mean_ms": self.mean_ms,
            "min_ms": self.min_ms,
        }


def _percentile(values: Sequence[float], q: float) -> float:
    data = sorted(values)
    if not data:
        raise ValueError("no timings")
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
"""``wall``: elapsed time (what a user waits). ``cpu``: CPU time of this process, all threads summed. With one
torch thread, ``cpu`` is the compute time alone and barely moves when other processes compete for the cores,
so it is the robust figure on a shared machine; with several threads it also counts OpenMP spin-waiting."""


def measure(fn: Callable[[], Any], warmup: int = 5, runs: int = 20, clock: str = "wall") -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times timed with ``clock`` (see :data:`CLOCKS`)."""
    return measure_interleaved({"fn": fn}, warmup=warmup, runs=runs, clock=clock)["fn"]


def measure_interleaved(
    fns: Mapping[str, Callable[[], Any]], warmup: int = 5, runs: int = 20, clock: str = "wall"
) -> dict[str, Timing]:
    """Time several callables round-robin: all warm-ups first, then run i of every callable, for i < runs."""
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    now = CLOCKS[clock]
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = now()
            fn()
            times[name].append((now() - start) * 1e3)
    return {name: Timing(t) for name, t in times.items()}


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Temporarily ``torch.set_num_threads(threads)`` (None: leave as is); yields the thread count in use."""
    previous = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def _prepare(model: nn.Module, input_shape: Sequence[int], channels_last: bool, seed: int = 0):
    """(model in eval mode and the requested memory format, a random input of ``input_shape``)."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.eval().to(memory_format=fmt)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*input_shape, generator=gen).contiguous(memory_format=fmt)
    return model, x


def _forward_fn(model: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
    def fn() -> Any:
        with torch.inference_mode():
            return model(x)

    return fn


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, bool]:
    """A copy of ``model`` (eval mode) with every Conv→BatchNorm pair folded into the conv, and whether it worked.

    Inference engines (ONNX Runtime, OpenVINO, TensorRT) do this folding themselves, so eager PyTorch with
    separate BN kernels overstates the cost of BN-heavy light networks. Uses ``torch.fx`` tracing; a model
    that cannot be traced is returned unchanged with ``False``. BNs after transposed convs stay.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.fx.experimental touches torch.jit on import
        from torch.fx.experimental.optimization import fuse

        try:
            return fuse(model.eval(), inplace=False), True
        except Exception:
            return model, False


def choose_channels_last(
    model: nn.Module, input_shape: Sequence[int], probe_runs: int = 3, clock: str = "wall"
) -> bool:
    """True if ``model`` runs faster in channels_last at ``input_shape`` (median of ``probe_runs`` calls each).

    The two formats are probed round-robin, like the benchmark itself, on copies: ``model`` is not modified.
    """
    cases = {}
    for cl in (False, True):
        m, x = _prepare(copy.deepcopy(model), input_shape, cl)
        cases[str(cl)] = _forward_fn(m, x)
    timings = measure_interleaved(cases, warmup=1, runs=probe_runs, clock=clock)
    return timings["True"].median_ms < timings["False"].median_ms


def bench_torch_model(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    warmup: int = 5,
    runs: int = 20,
    channels_last: bool | None = None,
    threads: int | None = None,
    clock: str = "wall",
) -> tuple[Timing, bool]:
    """Latency of ``model(x)`` for ``x`` of ``input_shape`` (N, C, H, W): eval mode, inference_mode.

    ``channels_last=None`` picks the faster memory format first (:func:`choose_channels_last`). Returns the
    timing and the memory format used (True = channels_last). The model is left in that format.
    """
    with torch_threads(threads):
        if channels_last is None:
            channels_last = choose_channels_last(model, input_shape, clock=clock)
        m, x = _prepare(model, input_shape, channels_last)
        return measure(_forward_fn(m, x), warmup=warmup, runs=runs, clock=clock), channels_last


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_capability() -> str | None:
    """The SIMD level PyTorch dispatches to ("AVX512", "AVX2", ...), if this torch build reports it."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return None


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: CPU model, cores, torch threads and version, OS, Python."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "cpu_capability": _cpu_capability(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


@dataclass
class LatencyRow:
    """One measured case. ``backend`` is "torch" here; other back-ends (onnxruntime, int8, decode) add theirs."""

    label: str
    batch: int
    input_size: tuple[int, int]
    timing: Timing
    backend: str = "torch"
    channels_last: bool | None = None
    model: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_image_ms(self) -> float:
        return self.timing.median_ms / self.batch

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "model": self.model,
            "overrides": self.overrides,
            "backend": self.backend,
            "batch": self.batch,
            "input_size": list(self.input_size),
            "channels_last": self.channels_last,
            **self.timing.to_dict(),
            "per_image_ms": self.per_image_ms,
            **self.extra,
        }


@dataclass
class LatencyReport:
    """Rows measured in one process plus the machine they ran on (taken at the end of the run)."""

    rows: list[LatencyRow]
    machine: dict[str, Any]
    warmup: int = 0
    runs: int = 0
    clock: str = "wall"

    def ratios(self) -> list[float]:
        """Median of each row / median of the first row with the same batch size (and back-end agnostic)."""
        first: dict[int, float] = {}
        out = []
        for row in self.rows:
            ref = first.setdefault(row.batch, row.timing.median_ms)
            out.append(row.timing.median_ms / ref)
        return out

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for row, ratio in zip(self.rows, self.ratios()):
            rows.append({**row.to_dict(), "ratio_to_first": ratio})
        return {"machine": self.machine, "warmup": self.warmup, "runs": self.runs, "clock": self.clock, "rows": rows}


def bench_models(
    names: Sequence[str],
    *,
    batches: Sequence[int] = (1, 8),
    input_size: Sequence[int] | None = None,
    warmup: int = 5,
    runs: int = 20,
    threads: int | None = None,
    channels_last: bool | None = None,
    overrides: Mapping[str, Any] | None = None,
    fuse_bn: bool = False,
    clock: str = "wall",
    progress: Callable[[str], None] | None = None,
) -> LatencyReport:
    """Measure edgepose models ``names`` side by side in this process, for each batch size.

    Each model is built once (``build_model(name, **overrides)``), at ``input_size`` or its own default;
    overrides apply to every model. The cases of one batch size are timed round-robin
    (:func:`measure_interleaved`) after their warm-ups. ``fuse_bn`` folds BatchNorm into the convs of every
    model first (:func:`fold_batchnorm`), as a deployment runtime would. ``clock="cpu"`` times CPU time
    instead of wall time (see :data:`CLOCKS`; use it with ``threads=1`` on a busy machine).
    """
    from edgepose.analysis.complexity import default_input_size
    from edgepose.models import build_model

    say = progress or (lambda _msg: None)
    overrides = dict(overrides or {})
    with torch_threads(threads):
        models = []
        for name in names:
            say(f"building {name}")
            model = build_model(name, **overrides).eval()
            size = tuple(int(v) for v in input_size) if input_size is not None else default_input_size(model)
            fused = False
            if fuse_bn:
                model, fused = fold_batchnorm(model)
            models.append((name, model, size, fused))
        rows: list[LatencyRow] = []
        for batch in batches:
            if batch < 1:
                raise ValueError(f"batch sizes must be >= 1, got {batch}")
            cases, formats = {}, {}
            for name, model, (h, w), _fused in models:
                shape = (batch, 3, h, w)
                cl = channels_last
                if cl is None:
                    say(f"choosing the memory format of {name} at batch {batch}")
                    cl = choose_channels_last(model, shape, clock=clock)
                m, x = _prepare(model, shape, cl)
                cases[name] = _forward_fn(m, x)
                formats[name] = cl
            say(f"timing batch {batch}: {warmup} warm-up + {runs} runs of {', '.join(cases)}")
            timings = measure_interleaved(cases, warmup=warmup, runs=runs, clock=clock)
            for name, _model, size, fused in models:
                rows.append(
                    LatencyRow(
                        label=name, batch=batch, input_size=size, timing=timings[name],
                        channels_last=formats[name], model=name, overrides=overrides, extra={"fused_bn": fused},
                    )
                )  # fmt: skip
        machine = machine_info()
    return LatencyReport(rows=rows, machine=machine, warmup=warmup, runs=runs, clock=clock)


def _module_kind(module: nn.Module) -> str:
    """A label that separates the cost classes a CPU cares about: dense / depth-wise / grouped convs, etc."""
    if isinstance(module, nn.modules.conv._ConvNd):
        kernel = "x".join(map(str, module.kernel_size))
        if module.transposed:
            return f"{type(module).__name__} {kernel} groups={module.groups}"
        if module.groups > 1 and module.groups == module.in_channels:
            return f"{type(module).__name__} {kernel} depthwise"
        return f"{type(module).__name__} {kernel}" + (" grouped" if module.groups > 1 else "")
    name = type(module).__name__
    return f"{name} (own ops)" if next(module.children(), None) is not None else name


def profile_modules(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    runs: int = 5,
    warmup: int = 2,
    channels_last: bool = False,
) -> dict[str, Any]:
    """Where a forward pass spends its time: per-module *self* CPU time, grouped by kind and by module path.

    Runs single-threaded (``torch.set_num_threads(1)`` for the duration) and reads the thread's CPU clock in
    forward pre/post hooks, so the figures survive a busy machine. A module's self time is its time minus its
    children's; what a container does itself (``torch.cat``, residual adds, functional ReLUs, GC's softmax and
    matmul) shows up as ``"<Class> (own ops)"``. Paths are collapsed over repeated blocks (``layer3.4.gc`` →
    ``layerN.gc``), so every bottleneck of every ResNet stage adds to one line. Hook overhead is included (a few µs
    per module call). Returns ``{"total_ms", "by_kind": {label: ms}, "by_path": {path: ms}}``, sorted by
    decreasing time, all per forward pass.
    """
    import re
    from collections import defaultdict

    with torch_threads(1):
        m, x = _prepare(model, input_shape, channels_last)
        inclusive: dict[int, int] = defaultdict(int)
        children: dict[int, int] = defaultdict(int)
        stack: list[tuple[int, int]] = []

        def pre(module: nn.Module, _inputs: tuple) -> None:
            stack.append((id(module), time.thread_time_ns()))

        def post(module: nn.Module, _inputs: tuple, _output: Any) -> None:
            key, start = stack.pop()
            elapsed = time.thread_time_ns() - start
            inclusive[key] += elapsed
            if stack:
                children[stack[-1][0]] += elapsed

        handles = []
        for module in m.modules():
            handles.append(module.register_forward_pre_hook(pre))
            handles.append(module.register_forward_hook(post))
        try:
            fn = _forward_fn(m, x)
            for _ in range(warmup):
                fn()
            inclusive.clear()
            children.clear()
            start = time.thread_time_ns()
            for _ in range(runs):
                fn()
            total = (time.thread_time_ns() - start) / runs / 1e6
        finally:
            for handle in handles:
                handle.remove()
    by_kind: dict[str, float] = defaultdict(float)
    by_path: dict[str, float] = defaultdict(float)
    for path, module in m.named_modules():
        own = (inclusive[id(module)] - children[id(module)]) / runs / 1e6
        by_kind[_module_kind(module)] += own
        collapsed = re.sub(r"\.\d+(?=\.|$)", "", path)
        collapsed = re.sub(r"^layer\d+", "layerN", collapsed) or "(model itself)"
        by_path[collapsed] += own
    order = lambda d: dict(sorted(d.items(), key=lambda kv: -kv[1]))  # noqa: E731
    return {"total_ms": total, "by_kind": order(by_kind), "by_path": order(by_path)}


def format_machine(machine: Mapping[str, Any]) -> str:
    load = machine.get("load_avg")
    load_txt = f", load avg {load[0]:.2f}" if load else ""
    return (
        f"{machine.get('cpu')} ({machine.get('cpus_usable')} of {machine.get('cpu_count')} CPUs usable, "
        f"{machine.get('cpu_capability') or '?'}), "
        f"torch {machine.get('torch')} with {machine.get('torch_threads')} threads, "
        f"python {machine.get('python')}{load_txt}"
    )


def format_latency_table(report: LatencyReport, markdown: bool = False) -> str:
    """The rows with median / p90 / per-image ms, the memory format and the ratio to the first model."""
    header = ["model", "backend", "batch", "input", "format", "median ms", "p90 ms", "ms/image", "× first"]
    table = []
    for row, ratio in zip(report.rows, report.ratios()):
        fmt = {True: "channels_last", False: "contiguous", None: "—"}[row.channels_last]
        if row.extra.get("fused_bn"):
            fmt += "+BN folded"
        table.append([
            row.label, row.backend, str(row.batch), "x".join(map(str, row.input_size)), fmt,
            f"{row.timing.median_ms:.1f}", f"{row.timing.p90_ms:.1f}", f"{row.per_image_ms:.1f}", f"{ratio:.2f}",
        ])  # fmt: skip
    caption = (
        f"machine: {format_machine(report.machine)}; {report.warmup} warm-up + {report.runs} timed runs, "
        f"{report.clock} clock"
    )
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in table]
        return "\n".join([*lines, "", caption])
    widths = [max(len(header[i]), *(len(r[i]) for r in table)) for i in range(len(header))] if table else []
    fmt_row = lambda cells: "  ".join(c.rjust(widths[i]) if i >= 5 else c.ljust(widths[i])  # noqa: E731
                                      for i, c in enumerate(cells)).rstrip()  # fmt: skip
    return "\n".join([fmt_row(header), *map(fmt_row, table), caption]) if table else caption
