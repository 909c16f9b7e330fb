"""The ratio sweep of FLPN Table 7: train and evaluate FLPN for a grid of (stage0, stage1) Smart-module ratios.

The paper varies the ratio ``t`` of the first two stages (``layer1``, ``layer2``) over {2, 4, 8, 16} with the
last two stages fixed at ``t = 2`` and reports parameters, FLOPs (MACs) and AP for each (Table 7; the shipped
FLPN uses (2, 8, 2, 2), SPEC A.1.5). :func:`run_sweep` does this for any top-down experiment config: for each
grid point it sets ``model.overrides.ratios = [t0, t1, 2, 2]``, trains with the shared engine
(:func:`edgepose.engine.trainer.train_experiment`) into ``OUT/t<t0>_<t1>/``, counts the model's complexity
(:mod:`edgepose.analysis.complexity`) and rewrites ``OUT/sweep.csv`` and ``OUT/sweep.md`` after every run.

A finished run (its ``metrics.json`` exists) is not trained again, and an interrupted one resumes from its
``last.pt``: re-running the same command continues a sweep.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgepose.errors import ConfigError
from edgepose.io import atomic_write_text

RATIO_CHOICES = (2, 4, 8, 16)
FULL_GRID: tuple[tuple[int, int], ...] = tuple((a, b) for a in RATIO_CHOICES for b in RATIO_CHOICES)
LATE_RATIOS = (2, 2)  # stages 2 and 3, fixed as in the paper
COLUMNS = ("t0", "t1", "ratios", "params", "macs", "hr1024_gflops", "AP", "AP50", "AP75", "AR", "primary",
           "primary_value", "seconds", "status", "run_dir")  # fmt: skip

TrainFn = Callable[..., Mapping[str, float]]


def parse_grid(items: Iterable[str] | None) -> list[tuple[int, int]]:
    """``["2,8", "4,4"]`` (or ``["all"]``/None for the 16-point grid) -> ``[(2, 8), (4, 4)]``."""
    if not items:
        return list(FULL_GRID)
    out: list[tuple[int, int]] = []
    for item in items:
        for token in str(item).split():
            if token == "all":
                out.extend(p for p in FULL_GRID if p not in out)
                continue
            parts = token.replace("x", ",").replace(":", ",").split(",")
            try:
                pair = (int(parts[0]), int(parts[1]))
                if len(parts) != 2 or min(pair) < 1:
                    raise ValueError
            except (ValueError, IndexError):
                raise ConfigError(f"--grid: {token!r} is not a pair of positive ratios like 2,8") from None
            if pair not in out:
                out.append(pair)
    return out


def run_name(t0: int, t1: int) -> str:
    return f"t{t0}_{t1}"


def _complexity(cfg: Any) -> dict[str, Any]:
    """Params / MACs / HR-1024 of the experiment's model at its data input size; empty on failure."""
    try:
        from edgepose.analysis.complexity import complexity_of
    except ImportError:  # pragma: no cover
        return {}
    overrides = dict(cfg.model.overrides or {})
    size = (cfg.data or {}).get("input_size") or overrides.get("input_size")
    try:
        rep = complexity_of(cfg.model.name, tuple(int(v) for v in size) if size else None, overrides)
    except Exception as exc:
        return {"note": f"complexity failed: {exc}"}
    return {"params": rep.params, "macs": rep.macs, "hr1024_gflops": round(rep.hr1024_gflops, 4)}


def _finished_metrics(run_dir: Path) -> dict[str, float] | None:
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    final = data.get("final")
    return dict(final) if isinstance(final, dict) and final else None


def default_out_dir(cfg: Any) -> Path:
    """Where a sweep of experiment ``cfg`` goes unless told: ``output/ssim_sweep/<experiment name>``."""
    return Path("output") / "ssim_sweep" / (cfg.name or "sweep")


def synth_overrides(folder: str | Path, images: int, seed: int = 0, progress: bool = True) -> list[str]:
    """Generate (or reuse) a synthetic dataset of ``images`` in ``folder``; the ``--set`` items that point an
    experiment's ``data.*`` at it (train and val share its image folder)."""
    from edgepose.data.synthetic import SynthConfig, ensure_dataset

    info = ensure_dataset(folder, SynthConfig(images=images, seed=seed, val_fraction=0.2), progress=progress)
    return [
        f"data.train_ann={info['annotations']['train']}", f"data.train_images={info['image_dir']}",
        f"data.val_ann={info['annotations']['val']}", f"data.val_images={info['image_dir']}",
    ]  # fmt: skip


def run_sweep(
    config: str | Path | Any,
    grid: Sequence[tuple[int, int]] | None = None,
    out_dir: str | Path | None = None,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
    *,
    late_ratios: Sequence[int] = LATE_RATIOS,
    train_fn: TrainFn | None = None,
    progress: bool = True,
    retrain: bool = False,
) -> list[dict[str, Any]]:
    """Train and evaluate ``config`` once per ``(t0, t1)`` of ``grid``; return the table rows (also written
    to ``out_dir/sweep.csv`` and ``out_dir/sweep.md`` after every run).

    ``config`` is an experiment YAML path or an :class:`~edgepose.engine.config.ExperimentConfig`;
    ``overrides`` are ``--set`` items applied to every run. ``train_fn(cfg, out_dir=..., resume=...,
    progress=...) -> metrics`` defaults to the engine's ``train_experiment``. ``retrain`` ignores finished runs.
    """
    from edgepose.config import apply_overrides
    from edgepose.engine.config import ExperimentConfig, load_experiment, normalize_overrides

    if isinstance(config, ExperimentConfig):
        base = apply_overrides(config, normalize_overrides(overrides)) if overrides else config
    else:
        base = load_experiment(config, overrides)
    if not base.model.name.startswith("flpn"):
        raise ConfigError(f"the ratio sweep needs an FLPN model (model.name), got {base.model.name!r}")
    grid = list(grid) if grid else list(FULL_GRID)
    out = Path(out_dir) if out_dir is not None else default_out_dir(base)
    out.mkdir(parents=True, exist_ok=True)
    if train_fn is None:
        from edgepose.engine.trainer import train_experiment

        train_fn = train_experiment
    rows: list[dict[str, Any]] = []
    for t0, t1 in grid:
        ratios = [int(t0), int(t1), *(int(r) for r in late_ratios)]
        cfg = apply_overrides(base, {"model.overrides.ratios": ratios})
        run_dir = out / run_name(t0, t1)
        row: dict[str, Any] = {"t0": t0, "t1": t1, "ratios": ratios, "run_dir": str(run_dir)}
        row.update(_complexity(cfg))
        started = time.time()
        metrics = None if retrain else _finished_metrics(run_dir)
        if metrics is not None:
            row["status"] = "cached"
        else:
            if progress:
                print(f"== sweep {run_name(t0, t1)}: ratios {ratios} -> {run_dir}", flush=True)
            try:
                metrics = dict(train_fn(cfg, out_dir=run_dir, resume=True, progress=progress))
                row["status"] = "trained"
            except KeyboardInterrupt:
                _write_tables(rows, out, base)
                raise
        row["seconds"] = round(time.time() - started, 1)
        for key in ("AP", "AP50", "AP75", "AR"):
            if key in metrics:
                row[key] = float(metrics[key])
        primary = "AP" if "AP" in metrics else next(iter(metrics), None)
        row["primary"] = primary
        row["primary_value"] = float(metrics[primary]) if primary is not None else None
        rows.append(row)
        _write_tables(rows, out, base)
    return rows


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def rows_to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_fmt(row.get(c), 6) if c != "ratios" else " ".join(str(v) for v in row.get(c, []))
                         for c in COLUMNS])  # fmt: skip
    return buf.getvalue()


def rows_to_markdown(rows: Sequence[Mapping[str, Any]], title: str = "") -> str:
    """The Table 7 layout: stage ratios, Params (M), MACs (G), HR-1024 GFLOPs, AP, AP50, AR."""
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| t0 (layer1) | t1 (layer2) | ratios | Params (M) | MACs (G) | HR-1024 GFLOPs | AP | AP50 | AR |")
    lines.append("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        params = f"{r['params'] / 1e6:.2f}" if r.get("params") else ""
        macs = f"{r['macs'] / 1e9:.3f}" if r.get("macs") else ""
        hr = f"{r['hr1024_gflops']:.3f}" if r.get("hr1024_gflops") else ""
        cells = [str(r["t0"]), str(r["t1"]), _fmt(r.get("ratios")), params, macs, hr,
                 _fmt(r.get("AP"), 3), _fmt(r.get("AP50"), 3), _fmt(r.get("AR"), 3)]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Paper (COCO val2017, 256x192, Table 7 / SPEC A.1.5): (2, 8) -> 10.19M params, 1.26G MACs, AP 71.3.")
    return "\n".join(lines) + "\n"


def _write_tables(rows: Sequence[Mapping[str, Any]], out: Path, cfg: Any) -> None:
    atomic_write_text(out / "sweep.csv", rows_to_csv(rows))
    title = f"Ratio sweep: {cfg.model.name} on {cfg.dataset_name} ({cfg.name})"
    atomic_write_text(out / "sweep.md", rows_to_markdown(rows, title))
    atomic_write_text(out / "sweep.json", json.dumps(list(rows), indent=2, default=str))


def sweep_with_plot(cfg: Any, grid: Sequence[tuple[int, int]], out: Path, *, progress: bool = True,
                    retrain: bool = False, warn: Callable[[str], None] = print) -> dict[str, Any]:  # fmt: skip
    """:func:`run_sweep` into ``out``, then the AP-vs-MACs plot beside its tables: ``{"out", "rows", "plot"}``
    (paths as strings, ``plot`` None when it could not be drawn). A plot that fails is reported through ``warn``
    and does not lose the finished sweep."""
    rows = run_sweep(cfg, grid, out, progress=progress, retrain=retrain)
    plot = None
    try:
        from edgepose.vis.ssim_plots import plot_sweep

        plot = plot_sweep(rows, out / "sweep_ap_vs_macs.png")
    except Exception as exc:  # plotting must not lose a finished sweep
        warn(f"warning: could not draw the sweep plot ({type(exc).__name__}: {exc})")
    return {"out": str(out), "rows": rows, "plot": str(plot) if plot else None}


def format_sweep(result: Mapping[str, Any]) -> str:
    """The sweep's Markdown table (as written to ``sweep.md``) and a line naming the files written."""
    out = Path(result["out"])
    wrote = f"wrote {out / 'sweep.csv'}, {out / 'sweep.md'}" + (f", {result['plot']}" if result["plot"] else "")
    return (out / "sweep.md").read_text(encoding="utf-8") + "\n" + wrote


def read_sweep(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``sweep.json`` written by :func:`run_sweep` (or the folder holding it)."""
    p = Path(path)
    if p.is_dir():
        p = p / "sweep.json"
    from edgepose.data.coco import read_json

    data = read_json(p)
    if not isinstance(data, list):
        raise ConfigError("a sweep.json must hold a list of rows", p)
    return data
