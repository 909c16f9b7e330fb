"""Plots of the SSIM redundancy analysis and the ratio sweep (matplotlib Agg, no display needed).

* :func:`plot_stage_distributions`: one panel per stage (or module): histogram of channel-pair SSIM with its
  mean and median, plus a violin overview of all stages, the recommendation bands shaded.
* :func:`plot_sweep`: AP against MACs of every (t0, t1) of the ratio sweep, labelled, marker size by
  parameters, the paper's (2, 8) highlighted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# The default bands of edgepose.analysis.ssim (not imported from there: this module stays torch-free).
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.25, 0.5, 0.75)
DEFAULT_RATIOS: tuple[int, ...] = (2, 4, 8, 16)


def _figure(figsize: tuple[float, float]):
    from matplotlib.figure import Figure  # a bare Figure renders with Agg, never touching pyplot state

    return Figure(figsize=figsize)


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    fig.tight_layout()
    from edgepose.io import atomic_path

    with atomic_path(path, suffix=path.suffix) as tmp:  # the suffix tells savefig the format
        fig.savefig(tmp, dpi=110)
    return path


def plot_stage_distributions(
    stages: Sequence[tuple[str, np.ndarray]],
    path: str | Path,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    ratios: Sequence[int] = DEFAULT_RATIOS,
    title: str = "channel-pair SSIM per stage",
) -> Path | None:
    """Histograms (one per stage) and a violin plot of ``[(name, ssim values), ...]``; ``None`` if empty."""
    stages = [(n, np.asarray(v, dtype=np.float64)) for n, v in stages if np.asarray(v).size]
    if not stages:
        return None
    n = len(stages)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols) + 1
    fig = _figure((3.6 * ncols, 2.8 * nrows))
    fig.suptitle(title)
    grid = fig.add_gridspec(nrows, ncols)
    bands = [-1.0, *thresholds, 1.0]
    shades = ["#e8f1fb", "#d0e3f6", "#b5d2f0", "#98c0ea", "#7aaee3"]
    for k, (name, v) in enumerate(stages):
        ax = fig.add_subplot(grid[k // ncols, k % ncols])
        for b in range(len(bands) - 1):
            ax.axvspan(bands[b], bands[b + 1], color=shades[b % len(shades)], zorder=0)
        ax.hist(v, bins=40, range=(-1, 1), color="#33557f", zorder=2)
        mean = float(np.mean(v))
        ax.axvline(mean, color="#d62728", lw=1.5, label=f"mean {mean:.3f}", zorder=3)
        ax.axvline(float(np.median(v)), color="#ff7f0e", lw=1.0, ls="--", label="median", zorder=3)
        ax.set_title(f"{name}", fontsize=9)
        ax.set_xlim(-1, 1)
        ax.set_xlabel("SSIM")
        ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[nrows - 1, :])
    ax.violinplot([v for _, v in stages], showmeans=True, showmedians=False)
    for b, th in enumerate(thresholds):
        ax.axhline(th, color="grey", lw=0.8, ls=":")
        ax.text(len(stages) + 0.45, th, f"t={ratios[b + 1]} above", fontsize=7, va="bottom", ha="right")
    ax.set_xticks(range(1, len(stages) + 1), [n for n, _ in stages], fontsize=8, rotation=30 if n > 6 else 0)
    ax.set_ylabel("SSIM")
    ax.set_ylim(-1, 1)
    return _save(fig, path)


def plot_sweep(rows: Sequence[Mapping[str, Any]], path: str | Path, *, metric: str = "AP",
               title: str = "ratio sweep: accuracy vs MACs") -> Path | None:  # fmt: skip
    """AP (or ``metric``) against MACs (G) for the rows of :func:`edgepose.analysis.ratio_sweep.run_sweep`."""
    pts = [r for r in rows if r.get("macs") and isinstance(r.get(metric), (int, float))]
    if not pts:
        return None
    fig = _figure((6.4, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    macs = np.array([r["macs"] / 1e9 for r in pts])
    acc = np.array([float(r[metric]) for r in pts])
    params = np.array([(r.get("params") or 0) / 1e6 for r in pts])
    size = 20 + 180 * (params / params.max() if params.max() > 0 else 0)
    ax.scatter(macs, acc, s=size, c=np.log2([r["t0"] * r["t1"] for r in pts]), cmap="viridis", alpha=0.8,
               edgecolors="k", linewidths=0.5)  # fmt: skip
    for r, x, y in zip(pts, macs, acc):
        paper = (r["t0"], r["t1"]) == (2, 8)
        ax.annotate(f"({r['t0']},{r['t1']})", (x, y), fontsize=8, xytext=(4, 3), textcoords="offset points",
                    fontweight="bold" if paper else "normal", color="#d62728" if paper else "black")  # fmt: skip
    ax.set_xlabel("MACs (G)")
    ax.set_ylabel(metric)
    ax.set_title(title + "  (marker size: params; red: the paper's (2, 8))", fontsize=9)
    ax.grid(alpha=0.3)
    return _save(fig, path)
