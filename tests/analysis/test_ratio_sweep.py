"""The Table 7 ratio sweep driver (edgepose.analysis.ratio_sweep, `edgepose ssim sweep`) and its plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from edgepose.analysis.ratio_sweep import FULL_GRID, parse_grid, read_sweep, rows_to_markdown, run_sweep
from edgepose.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "ssim_sweep_synthetic.yaml"


def test_parse_grid() -> None:
    assert parse_grid(["2,8", "4,4", "2,8"]) == [(2, 8), (4, 4)]
    assert parse_grid(["16x2", "8:8"]) == [(16, 2), (8, 8)]
    assert parse_grid(None) == list(FULL_GRID) and len(FULL_GRID) == 16
    assert parse_grid(["all"]) == list(FULL_GRID)
    for bad in ("2", "a,b", "0,4", "2,4,8"):
        with pytest.raises(ConfigError):
            parse_grid([bad])


def test_the_config_file_loads_and_builds() -> None:
    from edgepose.engine.config import load_experiment

    cfg = load_experiment(CONFIG)
    assert cfg.task == "topdown" and cfg.model.name == "flpn_sres50"
    assert list(cfg.data["input_size"]) == [128, 96]


class FakeTrainer:
    """Stands in for train_experiment: records the configs and writes metrics.json like the engine."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[int], Path]] = []

    def __call__(self, cfg: Any, out_dir: Path, resume: Any = None, progress: bool = True) -> dict[str, float]:
        ratios = list(cfg.model.overrides["ratios"])
        self.calls.append((ratios, Path(out_dir)))
        ap = 0.5 + 0.01 * ratios[0] - 0.002 * ratios[1]
        metrics = {"AP": ap, "AP50": ap + 0.2, "AP75": ap - 0.1, "AR": ap + 0.05}
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "metrics.json").write_text(json.dumps({"final": metrics}))
        return metrics


def test_sweep_trains_each_grid_point_and_writes_the_tables(tmp_path: Path) -> None:
    fake = FakeTrainer()
    rows = run_sweep(CONFIG, [(2, 8), (4, 4)], tmp_path, ["train.epochs=1"], train_fn=fake, progress=False)
    assert [c[0] for c in fake.calls] == [[2, 8, 2, 2], [4, 4, 2, 2]]
    assert [c[1].name for c in fake.calls] == ["t2_8", "t4_4"]
    assert [r["status"] for r in rows] == ["trained", "trained"]
    assert rows[0]["AP"] == pytest.approx(0.5 + 0.02 - 0.016)
    # complexity is counted per point: (4, 4) has a different parameter count from (2, 8)
    assert rows[0]["params"] > 0 and rows[0]["macs"] > 0 and rows[0]["params"] != rows[1]["params"]
    with (tmp_path / "sweep.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert [(r["t0"], r["t1"], r["ratios"]) for r in table] == [("2", "8", "2 8 2 2"), ("4", "4", "4 4 2 2")]
    assert float(table[1]["AP"]) == pytest.approx(rows[1]["AP"])
    md = (tmp_path / "sweep.md").read_text()
    assert "| 2 | 8 | [2, 8, 2, 2] |" in md and "MACs (G)" in md and "AP" in md
    assert read_sweep(tmp_path) == json.loads(json.dumps(rows, default=str))


def test_finished_runs_are_not_trained_again(tmp_path: Path) -> None:
    fake = FakeTrainer()
    run_sweep(CONFIG, [(2, 8)], tmp_path, train_fn=fake, progress=False)
    again = FakeTrainer()
    rows = run_sweep(CONFIG, [(2, 8), (8, 2)], tmp_path, train_fn=again, progress=False)
    assert [c[0] for c in again.calls] == [[8, 2, 2, 2]]
    assert [r["status"] for r in rows] == ["cached", "trained"]
    assert rows[0]["AP"] == pytest.approx(0.5 + 0.02 - 0.016)  # read back from metrics.json
    forced = FakeTrainer()
    run_sweep(CONFIG, [(2, 8)], tmp_path, train_fn=forced, progress=False, retrain=True)
    assert len(forced.calls) == 1


def test_sweep_rejects_non_flpn_models(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="FLPN"):
        run_sweep(CONFIG, [(2, 8)], tmp_path, ["model.name=simplebaseline_r50"], train_fn=FakeTrainer())


def test_markdown_and_plot(tmp_path: Path) -> None:
    from edgepose.vis.ssim_plots import plot_stage_distributions, plot_sweep

    rows = [
        {"t0": 2, "t1": 8, "ratios": [2, 8, 2, 2], "params": 10.19e6, "macs": 1.26e9, "AP": 0.713, "AR": 0.745},
        {"t0": 4, "t1": 4, "ratios": [4, 4, 2, 2], "params": 10.3e6, "macs": 1.3e9, "AP": 0.70, "AR": 0.73},
    ]
    md = rows_to_markdown(rows, "t")
    assert "| 2 | 8 | [2, 8, 2, 2] | 10.19 | 1.260 |" in md
    png = plot_sweep(rows, tmp_path / "sweep.png")
    assert png is not None and png.stat().st_size > 1000
    assert plot_sweep([{"t0": 2, "t1": 2}], tmp_path / "none.png") is None
    import numpy as np

    dist = plot_stage_distributions([("layer1", np.random.default_rng(0).random(100))], tmp_path / "d.png")
    assert dist is not None and dist.is_file()


@pytest.mark.slow
def test_cli_sweep_trains_one_point_on_synthetic_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from edgepose.cli.main import main

    rc = main([
        "ssim", "sweep", str(CONFIG), "--synth", str(tmp_path / "synth"), "--synth-images", "10",
        "--grid", "2,8", "--out", str(tmp_path / "sweep"), "--quiet", "--json",
        "--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=1", "--set", "train.batch_size=4",
        "--set", "train.workers=0", "--set", "data.input_size=[96,64]", "--set", "input_size=[96,64]",
        "--set", "eval.flip_test=false",
    ])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["rows"]
    assert row["ratios"] == [2, 8, 2, 2] and row["status"] == "trained"
    # the row reports what the trained run wrote, and its parameter count is the model's (independently built)
    run = json.loads((tmp_path / "sweep" / "t2_8" / "metrics.json").read_text())
    assert row["AP"] == pytest.approx(run["final"]["AP"], abs=1e-12)
    from edgepose.models import build_model

    model = build_model("flpn_sres50", ratios=[2, 8, 2, 2])  # the size of the input does not change the count
    assert row["params"] == sum(p.numel() for p in model.parameters())
    assert (tmp_path / "sweep" / "sweep.md").is_file()


def test_plot_module_defaults_match_the_analysis_and_do_not_need_torch() -> None:
    import subprocess
    import sys

    from edgepose.analysis import ssim
    from edgepose.vis import ssim_plots

    assert ssim_plots.DEFAULT_THRESHOLDS == ssim.DEFAULT_THRESHOLDS
    assert ssim_plots.DEFAULT_RATIOS == ssim.DEFAULT_RATIOS
    code = "import sys, edgepose.vis.ssim_plots; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
