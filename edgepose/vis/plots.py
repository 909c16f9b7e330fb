"""Training curves as PNG files (matplotlib's Agg backend; no display needed).

:func:`plot_loss_curves` draws one panel per logged loss term, so the bottom-up network's per-output terms
(heat/PAF x u/v x stage) give the paper's Figs. 5-6 directly; :func:`plot_metric_curves` draws validation
metrics (AP, AP50, ...) against the epoch. Both read the rows of the trainer's CSV logs.

Two things made panels useless before: a line through one or two points draws nothing visible (a run of a few
steps, a first evaluation), so short series get markers; and COCOeval reports -1 for a metric it cannot define
(APL / ARL when the validation set has no large person), which drew a flat line at -1 that reads as a
catastrophic score, so negative metric values are dropped and a metric with none left gets no panel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Columns of the step log that are bookkeeping, not curves.
NON_CURVE_COLUMNS = frozenset({"epoch", "step", "lr", "time", "seconds", "images_per_s", "split"})


def _numeric_columns(rows: Sequence[Mapping[str, Any]], exclude: frozenset[str]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        for k, v in row.items():
            if k in exclude or k in cols:
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                cols.append(k)
    return cols


# Below this many points a series is drawn with markers as well as a line, so that it is visible at all.
MARKER_BELOW = 30


def _series(
    rows: Sequence[Mapping[str, Any]], x: str, y: str, minimum: float | None = None
) -> tuple[list[float], list[float]]:
    """Finite ``(x, y)`` pairs of the rows holding both; values below ``minimum`` (COCO's -1) are dropped."""
    xs, ys = [], []
    for row in rows:
        xv, yv = row.get(x), row.get(y)
        if isinstance(xv, (int, float)) and isinstance(yv, (int, float)) and math.isfinite(yv):
            if minimum is not None and yv < minimum:
                continue
            xs.append(float(xv))
            ys.append(float(yv))
    return xs, ys


def _style(n: int) -> dict[str, Any]:
    return {"marker": "o", "ms": 3} if n < MARKER_BELOW else {}


def _figure(n: int, title: str):
    # A bare Figure (no pyplot): renders with Agg, never touches a display or global pyplot state.
    from matplotlib.figure import Figure

    ncols = min(4, max(1, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(4.0 * ncols, 3.0 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    fig.suptitle(title)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


def _save(fig: Any, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    from edgepose.io import atomic_path

    with atomic_path(path, suffix=path.suffix) as tmp:  # the suffix tells savefig the format
        fig.savefig(tmp, dpi=90)
    return path


def plot_loss_curves(
    step_rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    epoch_rows: Sequence[Mapping[str, Any]] = (),
    title: str = "training losses",
) -> Path | None:
    """One panel per loss term: per-step values (thin) and the per-epoch means (dots, at the epoch's last step).

    ``step_rows`` need ``step`` and the terms; ``epoch_rows`` (optional) need ``step`` and ``train_<term>``.
    Returns the PNG path, or ``None`` when there is nothing to plot.
    """
    fig = loss_curves_figure(step_rows, epoch_rows, title)
    return None if fig is None else _save(fig, path)


def loss_curves_figure(
    step_rows: Sequence[Mapping[str, Any]], epoch_rows: Sequence[Mapping[str, Any]] = (), title: str = ""
) -> Any:
    """The matplotlib Figure of :func:`plot_loss_curves` (``None`` when there is nothing to plot)."""
    terms = _numeric_columns(step_rows, NON_CURVE_COLUMNS)
    if not terms:
        return None
    fig, axes = _figure(len(terms), title)
    for ax, term in zip(axes, terms):
        xs, ys = _series(step_rows, "step", term)
        ax.plot(xs, ys, lw=0.8, alpha=0.7, label="step", **_style(len(xs)))
        ex, ey = _series(epoch_rows, "step", f"train_{term}")
        if ex:
            ax.plot(ex, ey, "o-", ms=3, lw=1.2, label="epoch mean")
        ax.set_title(term, fontsize=9)
        ax.set_xlabel("step")
        if ys and min(ys) > 0 and max(ys) / max(min(ys), 1e-12) > 50:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def plot_metric_curves(
    epoch_rows: Sequence[Mapping[str, Any]], path: str | Path, prefix: str = "val_", title: str = "validation"
) -> Path | None:
    """One panel per validation metric (columns ``val_AP``, ``val_AP50``, ...) against the epoch."""
    fig = metric_curves_figure(epoch_rows, prefix, title)
    return None if fig is None else _save(fig, path)


def metric_curves_figure(epoch_rows: Sequence[Mapping[str, Any]], prefix: str = "val_", title: str = "") -> Any:
    """The matplotlib Figure of :func:`plot_metric_curves` (``None`` when no metric has a defined value)."""
    metrics = [c for c in _numeric_columns(epoch_rows, NON_CURVE_COLUMNS) if c.startswith(prefix)]
    # COCOeval's -1 means "undefined here" (no large people for APL/ARL), not a score: no point, no panel
    metrics = [m for m in metrics if _series(epoch_rows, "epoch", m, minimum=0.0)[0]]
    if not metrics:
        return None
    fig, axes = _figure(len(metrics), title)
    for ax, m in zip(axes, metrics):
        xs, ys = _series(epoch_rows, "epoch", m, minimum=0.0)
        ax.plot(xs, ys, "o-", ms=3)
        ax.set_title(m[len(prefix) :], fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    return fig
