"""Training plots show something on short runs and no fake −1 curves (issue 15 item 7).

The figures are inspected through matplotlib's artists (panels drawn, markers of each line, the points
plotted), and the PNG files are checked to be written.
"""

from __future__ import annotations

from edgepose.vis.plots import loss_curves_figure, metric_curves_figure, plot_loss_curves, plot_metric_curves


def _panels(fig) -> dict[str, object]:
    return {ax.get_title(): ax for ax in fig.axes if ax.axison}


def test_metric_panels_skip_cocos_minus_one(tmp_path):
    rows = [
        {"epoch": 1, "val_AP": 0.1, "val_AP50": 0.3, "val_APL": -1.0, "val_ARL": -1.0},
        {"epoch": 2, "val_AP": 0.2, "val_AP50": 0.4, "val_APL": -1.0, "val_ARL": -1.0},
    ]
    assert set(_panels(metric_curves_figure(rows))) == {"AP", "AP50"}  # APL/ARL are undefined, not -1
    rows[1]["val_APL"] = 0.5  # defined in one evaluation: a panel with only that point
    panels = _panels(metric_curves_figure(rows))
    assert set(panels) == {"AP", "AP50", "APL"}
    assert list(panels["APL"].lines[0].get_ydata()) == [0.5]
    path = plot_metric_curves(rows, tmp_path / "metrics.png")
    assert path is not None and path.stat().st_size > 1000


def test_metric_plot_with_only_undefined_metrics_is_none(tmp_path):
    assert plot_metric_curves([{"epoch": 1, "val_APL": -1.0}], tmp_path / "m.png") is None
    assert not (tmp_path / "m.png").exists()


def test_short_runs_get_markers_long_ones_plain_lines(tmp_path):
    short = _panels(loss_curves_figure([{"step": 1, "loss": 0.02}, {"step": 2, "loss": 0.01}]))
    assert short["loss"].lines[0].get_marker() not in (None, "None", "", " "), "two steps drew no visible mark"
    long_rows = [{"step": s, "loss": 1.0 / s, "heatmap_mse": 0.5 / s} for s in range(1, 200)]
    long = _panels(loss_curves_figure(long_rows))
    assert set(long) == {"loss", "heatmap_mse"}
    assert long["loss"].lines[0].get_marker() in (None, "None", "")
    assert len(long["loss"].lines[0].get_xdata()) == 199
    path = plot_loss_curves(long_rows, tmp_path / "losses.png")
    assert path is not None and path.stat().st_size > 1000
