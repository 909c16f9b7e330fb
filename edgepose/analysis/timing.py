"""The torch-free timing core of the benchmarks: per-call timings on two clocks, interleaved rounds.

:mod:`edgepose.analysis.latency` (torch models) and :mod:`edgepose.analysis.frame_budget` (the torch-free runtime)
both time through here, so every ``edgepose bench`` figure is taken the same way: warm-ups first, then many rounds
of one call per case, the order rotated each round, each call on the wall clock and on the process CPU clock.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLOCKS",
    "Timing",
    "cpu_model",
    "load_average",
    "machine_summary",
    "measure",
    "measure_interleaved",
    "round_order",
    "timed",
]


@dataclass
class Timing:
    """Per-call times in milliseconds on the chosen clock (``times_ms``), and their summary statistics.

    ``wall_ms`` / ``cpu_ms`` hold the same calls on both clocks when the harness recorded them (it always does).
    """

    times_ms: list[float]
    wall_ms: list[float] | None = None
    cpu_ms: list[float] | None = None

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

    @property
    def spread_pct(self) -> float:
        """Interquartile range over the median, in percent: how far the calls scatter around the median."""
        return 100.0 * (_percentile(self.times_ms, 75.0) - _percentile(self.times_ms, 25.0)) / self.median_ms

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        """Summary statistics, both clocks' medians when recorded, and with ``raw`` every call's times."""
        out: dict[str, Any] = {
            "runs": self.runs,
            "median_ms": self.median_ms,
            "p90_ms": self.p90_ms,
            "mean_ms": self.mean_ms,
            "min_ms": self.min_ms,
            "spread_pct": self.spread_pct,
        }
        for name, values in (("wall", self.wall_ms), ("cpu", self.cpu_ms)):
            if values:
                out[f"{name}_median_ms"] = statistics.median(values)
                if raw:
                    out[f"{name}_ms"] = [round(v, 4) for v in values]
        return out


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


def round_order(names: Sequence[str], round_index: int) -> list[str]:
    """The order of one round: ``names`` rotated left by ``round_index`` (round 0 in the given order)."""
    k = round_index % len(names) if names else 0
    return [*names[k:], *names[:k]]


def measure_interleaved(
    fns: Mapping[str, Callable[[], Any]], warmup: int = 5, runs: int = 20, clock: str = "wall"
) -> dict[str, Timing]:
    """Time several callables round-robin: all warm-ups first, then ``runs`` rounds of one timed call of every
    callable, in :func:`round_order` (rotated each round). Each call is timed on the wall and CPU clocks;
    ``clock`` picks the one the returned timings' statistics use."""
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(runs):
        for name in round_order(names, r):
            fn = fns[name]
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            w1, c1 = time.perf_counter(), time.process_time()
            wall[name].append((w1 - w0) * 1e3)
            cpu[name].append((c1 - c0) * 1e3)
    primary = wall if clock == "wall" else cpu
    return {name: Timing(primary[name], wall_ms=wall[name], cpu_ms=cpu[name]) for name in names}


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``(fn(), wall ms, CPU ms)`` of one call: for pipelines whose stages feed each other."""
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    w1, c1 = time.perf_counter(), time.process_time()
    return out, (w1 - w0) * 1e3, (c1 - c0) * 1e3


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (None where the OS has none): how busy the machine was."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine_summary() -> dict[str, Any]:
    """What a figure was measured on, without torch: CPU, cores (all / usable by this process), OS, Python, load."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg": load_average(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default (active)"),
    }
