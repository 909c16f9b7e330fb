"""CPU latency of models measured side by side in one process, as reusable pieces.

The building blocks, from the bottom up:

The timing core lives in :mod:`edgepose.analysis.timing` (torch-free) and is re-exported here:

* :func:`measure` -- time any zero-argument callable: ``warmup`` untimed calls, then ``runs`` timed ones,
  returning a :class:`Timing` (median, p90, mean, min of the per-call wall times in ms).
* :func:`measure_interleaved` -- several callables timed **round-robin**: one timed call of every case per
  round, over many rounds, the order rotated each round (round 2 starts with the second case, ...). On a shared
  or thermally throttled machine the load drifts during a benchmark; round-robin spreads that drift over all
  cases alike, so the *ratios* between them stay meaningful even when the absolute figures are noisy, and the
  rotation keeps any "who runs after whom" cache effect from favouring one case. Every call is timed on both
  clocks, wall and process CPU time, so a figure inflated by other processes shows as wall >> CPU.
* :func:`bench_torch_model` -- one ``nn.Module`` at one input shape, in eval mode under
  ``torch.inference_mode``, optionally in ``channels_last`` memory format.
* :func:`bench_models` -- several edgepose models by name at batch 1 and 8, returning a
  :class:`LatencyReport` (rows + :func:`machine_info`) that :func:`format_latency_table` prints with the ratio
  of each row to the first model of the same batch.

Other back-ends (ONNX Runtime, INT8, decoding/post-processing) plug in by timing their own callable with
:func:`measure` / :func:`measure_interleaved` and appending a :class:`LatencyRow` with their ``backend``
name to a report: the table and JSON output are back-end agnostic.

Clocks: ``wall`` (elapsed, the default) or ``cpu`` (process CPU time, see :data:`CLOCKS`) decides which one the
medians and ratios use; the other is reported beside it. With one torch thread CPU time stays meaningful on a
machine other jobs are using.

OpenMP waiting: with its default *active* wait policy, an OpenMP thread that runs out of work spins for a while
before sleeping. On an idle machine that shaves microseconds; on a loaded one the spinning threads compete with
the very work they wait for and 2-thread figures swing by tens of percent. ``edgepose bench`` therefore sets
``OMP_WAIT_POLICY=PASSIVE`` before torch (and its OpenMP runtime, which reads the variable once, when it loads) is
imported, unless the variable is already set; the report's ``omp_wait_policy`` says what was in force
(:func:`omp_wait_policy`). The load average is recorded before and after the measurements.

``fuse_bn`` folds BatchNorm into the convolutions first (:func:`fold_batchnorm`), as ONNX Runtime and other
deployment runtimes do.

Memory format: depth-wise convolutions are several times faster in ``channels_last`` with PyTorch's
oneDNN CPU kernels, dense ResNet convs are about even. ``channels_last=None`` ("auto", the default) probes
both formats for each model and batch, interleaved over :data:`PROBE_RUNS` calls each, and keeps
``channels_last`` only when it wins by more than :data:`PROBE_MARGIN` (so near-ties do not flip between runs);
the report says which.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgepose.analysis.timing import (
    CLOCKS,
    Timing,
    cpu_model,
    load_average,
    measure,
    measure_interleaved,
    round_order,
)

__all__ = [
    "CLOCKS",
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
    "omp_wait_policy",
    "profile_modules",
    "round_order",
    "torch_threads",
]


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
        except Exception as exc:  # not traceable by torch.fx: timed unfolded, and the caller reports "not folded"
            logging.getLogger(__name__).info("BN folding skipped for %s: %s: %s", type(model).__name__,
                                             type(exc).__name__, exc)  # fmt: skip
            return model, False


PROBE_RUNS = 7
"""Calls per memory format when probing (interleaved). Three calls chose different formats from run to run."""
PROBE_MARGIN = 0.03
"""channels_last must be this much faster (relative, median) to be chosen; near-ties keep the contiguous format."""


def choose_channels_last(
    model: nn.Module, input_shape: Sequence[int], probe_runs: int = PROBE_RUNS, clock: str = "wall"
) -> bool:
    """True if ``model`` runs faster in channels_last at ``input_shape`` by more than :data:`PROBE_MARGIN`
    (medians of ``probe_runs`` interleaved calls each).

    The two formats are probed round-robin, like the benchmark itself, on copies: ``model`` is not modified.
    """
    cases = {}
    for cl in (False, True):
        m, x = _prepare(copy.deepcopy(model), input_shape, cl)
        cases[str(cl)] = _forward_fn(m, x)
    timings = measure_interleaved(cases, warmup=1, runs=probe_runs, clock=clock)
    return timings["True"].median_ms < (1.0 - PROBE_MARGIN) * timings["False"].median_ms


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


def _cpu_capability() -> str | None:
    """The SIMD level PyTorch dispatches to ("AVX512", "AVX2", ...), if this torch build reports it."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return None


def omp_wait_policy() -> str:
    """The OpenMP wait policy in force for this process's torch: ``OMP_WAIT_POLICY`` as the OpenMP runtime read it
    when torch loaded (``"default (active)"`` when unset). Set by ``edgepose bench`` before torch is imported."""
    return os.environ.get("OMP_WAIT_POLICY", "default (active)")


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: CPU model, cores, torch threads and version, OS, Python."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "cpu_capability": _cpu_capability(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg": load_average(),
        "omp_wait_policy": omp_wait_policy(),
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

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        return {
            "label": self.label,
            "model": self.model,
            "overrides": self.overrides,
            "backend": self.backend,
            "batch": self.batch,
            "input_size": list(self.input_size),
            "channels_last": self.channels_last,
            **self.timing.to_dict(raw=raw),
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
    load_before: list[float] | None = None  # load averages when the measurements started (machine: at the end)

    def ratios(self, clock: str | None = None) -> list[float]:
        """Median of each row / median of the first row with the same batch size (and back-end agnostic), on the
        report's clock or on ``clock`` ("wall" / "cpu") when the rows recorded it."""
        first: dict[int, float] = {}
        out = []
        for row in self.rows:
            values = row.timing.times_ms if clock is None else getattr(row.timing, f"{clock}_ms") or row.timing.times_ms
            median = statistics.median(values)
            ref = first.setdefault(row.batch, median)
            out.append(median / ref)
        return out

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        """The report as JSON-ready data; ``raw`` adds every call's wall and CPU times to each row."""
        rows = []
        for row, ratio, wall, cpu in zip(self.rows, self.ratios(), self.ratios("wall"), self.ratios("cpu")):
            rows.append({**row.to_dict(raw=raw), "ratio_to_first": ratio, "wall_ratio_to_first": wall,
                         "cpu_ratio_to_first": cpu})  # fmt: skip
        return {"machine": self.machine, "warmup": self.warmup, "runs": self.runs, "clock": self.clock,
                "order": "interleaved: one timed call per model per round, order rotated each round",
                "load_avg_before": self.load_before, "load_avg_after": self.machine.get("load_avg"),
                "omp_wait_policy": self.machine.get("omp_wait_policy"), "rows": rows}  # fmt: skip


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
    load_before = load_average()
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
    return LatencyReport(rows=rows, machine=machine, warmup=warmup, runs=runs, clock=clock, load_before=load_before)


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


def format_machine(machine: Mapping[str, Any], load_before: Sequence[float] | None = None) -> str:
    load = machine.get("load_avg")
    load_txt = f", load avg {load[0]:.2f}" if load else ""
    if load and load_before:
        load_txt = f", load avg {load_before[0]:.2f} before / {load[0]:.2f} after"
    if machine.get("omp_wait_policy"):
        load_txt += f", OMP_WAIT_POLICY {machine['omp_wait_policy']}"
    return (
        f"{machine.get('cpu')} ({machine.get('cpus_usable')} of {machine.get('cpu_count')} CPUs usable, "
        f"{machine.get('cpu_capability') or '?'}), "
        f"torch {machine.get('torch')} with {machine.get('torch_threads')} threads, "
        f"python {machine.get('python')}{load_txt}"
    )


def format_latency_table(report: LatencyReport, markdown: bool = False) -> str:
    """The rows with median / p90 / per-image ms, the memory format and the ratio to the first model."""
    header = ["model", "backend", "batch", "input", "format", "median ms", "p90 ms", "IQR %", "CPU ms", "ms/image",
              "× first", "CPU × first"]  # fmt: skip
    table = []
    for row, ratio, cpu_ratio in zip(report.rows, report.ratios(), report.ratios("cpu")):
        cpu = f"{statistics.median(row.timing.cpu_ms):.1f}" if row.timing.cpu_ms else "—"
        fmt = {True: "channels_last", False: "contiguous", None: "—"}[row.channels_last]
        if row.extra.get("fused_bn"):
            fmt += "+BN folded"
        table.append([
            row.label, row.backend, str(row.batch), "x".join(map(str, row.input_size)), fmt,
            f"{row.timing.median_ms:.1f}", f"{row.timing.p90_ms:.1f}", f"{row.timing.spread_pct:.0f}", cpu,
            f"{row.per_image_ms:.1f}", f"{ratio:.2f}", f"{cpu_ratio:.2f}",
        ])  # fmt: skip
    caption = (
        f"machine: {format_machine(report.machine, report.load_before)}; {report.warmup} warm-up + {report.runs} "
        f"interleaved rounds, medians on the {report.clock} clock, CPU = process CPU time (all threads)"
    )
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in table]
        return "\n".join([*lines, "", caption])
    widths = [max(len(header[i]), *(len(r[i]) for r in table)) for i in range(len(header))] if table else []
    fmt_row = lambda cells: "  ".join(c.rjust(widths[i]) if i >= 5 else c.ljust(widths[i])  # noqa: E731
                                      for i, c in enumerate(cells)).rstrip()  # fmt: skip
    return "\n".join([fmt_row(header), *map(fmt_row, table), caption]) if table else caption
