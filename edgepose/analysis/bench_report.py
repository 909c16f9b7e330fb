"""The work behind ``edgepose bench profile`` and ``edgepose bench decode``: run the measurement, build the report
and its text table. :mod:`edgepose.cli.bench` checks the options and calls these; the measurements themselves are
:func:`edgepose.analysis.latency.profile_modules` and :func:`edgepose.analysis.decode_speed.benchmark_decode`.

Nothing here imports torch at module level: the benchmark commands set the OpenMP wait policy
(:mod:`edgepose.analysis.omp_wait`) before torch loads, and a report module imported early must not undo that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgepose.errors import EdgeposeError

__all__ = ["decode_rows", "format_decode_rows", "format_profile", "profile_model"]

DECODE_KEYS = ("people", "ms_median", "ms_mean", "ms_p90", "ms_min")


def profile_model(name: str, overrides: Mapping[str, Any], *, batch: int = 1, input_size: Sequence[int] | None = None,
                  runs: int = 5, warmup: int = 2, channels_last: bool = False,
                  fuse_bn: bool = False) -> dict[str, Any]:  # fmt: skip
    """Single-threaded self CPU time per module of model ``name`` (built with ``overrides``, BatchNorm folded when
    ``fuse_bn``): what was profiled (model, batch, input size, memory format, clock) and
    :func:`~edgepose.analysis.latency.profile_modules`' tables, in one dict."""
    from edgepose.analysis.complexity import default_input_size
    from edgepose.analysis.latency import fold_batchnorm, profile_modules
    from edgepose.models import build_model

    model = build_model(name, **overrides).eval()
    h, w = input_size or default_input_size(model)
    if fuse_bn:
        model, _ = fold_batchnorm(model)
    result = profile_modules(model, (batch, 3, h, w), runs=runs, warmup=warmup, channels_last=channels_last)
    info = {
        "model": name, "overrides": dict(overrides), "batch": batch, "input_size": [h, w],
        "channels_last": channels_last, "fused_bn": fuse_bn, "threads": 1, "clock": "thread cpu",
    }  # fmt: skip
    return {**info, **result}


def format_profile(report: Mapping[str, Any], top: int = 15) -> str:
    """The text report of :func:`profile_model`: the total, then the ``top`` lines by module kind and by path."""
    total = report["total_ms"]
    h, w = report["input_size"]
    fmt = "channels_last" if report["channels_last"] else "contiguous"
    lines = [f"{report['model']} batch {report['batch']} at {h}x{w}, {fmt}"
             f"{', BN folded' if report['fused_bn'] else ''}: {total:.1f} ms CPU per forward (1 thread, hooks "
             "included)"]  # fmt: skip
    for title, table in (("by module kind", report["by_kind"]), ("by module path", report["by_path"])):
        lines.append(f"\n  {title}:")
        lines += [f"    {label:<48}{ms:>9.2f} ms{ms / total:>7.1%}" for label, ms in list(table.items())[:top]]
    return "\n".join(lines)


def decode_rows(people: Sequence[int], repeats: int, height: int) -> list[dict[str, Any]]:
    """:func:`~edgepose.analysis.decode_speed.benchmark_decode`'s rows; a one-line error when that module is
    missing from this installation (it is optional: the command then says so instead of a traceback)."""
    try:
        from edgepose.analysis.decode_speed import benchmark_decode
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("edgepose.analysis.decode_speed"):
            raise EdgeposeError(
                "the decode benchmark is not available: module edgepose.analysis.decode_speed is missing"
            ) from None
        raise
    return benchmark_decode(people=tuple(people), repeats=repeats, height=height)


def format_decode_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    """A table of the decode rows: the timing columns first, then whatever else the rows carry, and the note on
    what "found" counts when the rows have it."""
    keys = [k for k in DECODE_KEYS if any(k in r for r in rows)]
    keys += [k for k in (rows[0] if rows else {}) if k not in keys]
    lines = ["  ".join(f"{k:>12}" for k in keys)]
    for r in rows:
        lines.append("  ".join(f"{r.get(k):>12.2f}" if isinstance(r.get(k), float) else f"{r.get(k)!s:>12}"
                               for k in keys))  # fmt: skip
    if any("found" in r for r in rows):
        from edgepose.analysis.decode_speed import FOUND_NOTE, WHOLE_MIN_KEYPOINTS

        lines.append(FOUND_NOTE.format(k=WHOLE_MIN_KEYPOINTS))
    return "\n".join(lines)
