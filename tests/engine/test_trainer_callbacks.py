"""Epoch-end callbacks: the run's own (row, checkpoints, plots, line) and a user's, on the toy task."""

from __future__ import annotations

import json

import pytest
import torch
from toy_task import write_toy_config

from edgepose.engine.callbacks import EpochLine, EpochLog, PlotCurves, SaveCheckpoints, default_callbacks
from edgepose.engine.checkpoint import load_checkpoint
from edgepose.engine.config import load_experiment
from edgepose.engine.logging import read_csv_rows
from edgepose.engine.trainer import start_run, train_experiment


class Recorder:
    """A user's callback: what it was called with, and what the run's own callbacks had written by then."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[tuple[int, dict[str, float], int]] = []
        self.seen: list[tuple[int, int]] = []  # (last row's epoch in epochs.csv, last.pt's epoch)
        self.fail_at = fail_at

    def on_epoch_end(self, state, result, metrics) -> None:
        self.calls.append((state.epoch, dict(metrics), result.steps))
        self.seen.append((read_csv_rows(state.out_dir / "epochs.csv")[-1]["epoch"],
                          load_checkpoint(state.out_dir / "last.pt")["epoch"]))  # fmt: skip
        if state.epoch == self.fail_at:
            raise RuntimeError("the user's callback failed")


def test_the_runs_own_callbacks_come_in_the_order_resume_relies_on():
    kinds = [type(cb) for cb in default_callbacks()]
    assert kinds == [EpochLog, SaveCheckpoints, PlotCurves, EpochLine]  # the row before best.pt / last.pt


@pytest.mark.slow
def test_a_user_callback_is_called_once_per_epoch_end_with_the_metrics(tmp_path):
    cfg = load_experiment(write_toy_config(tmp_path, epochs=3, eval_every=2))
    out = tmp_path / "run"
    recorder = Recorder()
    final = train_experiment(cfg, out_dir=out, progress=False, callbacks=[recorder])
    assert [(epoch, steps) for epoch, _, steps in recorder.calls] == [(1, 6), (2, 6), (3, 6)]
    rows = read_csv_rows(out / "epochs.csv")
    logged = [{k[4:]: v for k, v in row.items() if k.startswith("val_") and v is not None} for row in rows]
    assert [metrics for _, metrics, _ in recorder.calls] == logged  # the metrics the run logged, epoch by epoch
    assert logged[0] == {} and logged[1] and recorder.calls[-1][1] == final  # evaluated after epochs 2 and 3
    assert json.loads((out / "metrics.json").read_text())["final"] == final
    assert recorder.seen == [(1, 1), (2, 2), (3, 3)]  # called after the epoch's row and last.pt were written


@pytest.mark.slow
def test_a_failing_user_callback_stops_the_run_after_its_checkpoint_and_resume_goes_on_exactly(tmp_path):
    cfg = load_experiment(write_toy_config(tmp_path, epochs=2))
    train_experiment(cfg, out_dir=tmp_path / "straight", progress=False)
    failing = Recorder(fail_at=1)
    with pytest.raises(RuntimeError, match="the user's callback failed"):
        train_experiment(cfg, out_dir=tmp_path / "cut", progress=False, callbacks=[failing])
    assert len(failing.calls) == 1 and load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 1
    resumed = Recorder()
    train_experiment(cfg, out_dir=tmp_path / "cut", resume=True, progress=False, callbacks=[resumed])
    assert [epoch for epoch, _, _ in resumed.calls] == [2]
    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "cut" / "last.pt")
    assert a["step"] == b["step"] == 12
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_a_callback_without_on_epoch_end_is_refused_before_the_run_starts(tmp_path):
    cfg = load_experiment(write_toy_config(tmp_path))
    with pytest.raises(TypeError, match=r"callback 1 \(function\) has no on_epoch_end\(state, result, metrics\)"):
        start_run(cfg, out_dir=tmp_path / "run", progress=False, callbacks=[Recorder(), lambda *a: None])
    assert not (tmp_path / "run").exists()
