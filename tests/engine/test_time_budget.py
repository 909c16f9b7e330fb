"""``train.max_minutes``: a run stops at the end of the step that crosses its time budget, with valid outputs.

No timing assertions: a budget of a few microseconds is crossed by the very first step on any machine, so the
test checks *where* the run stopped and *what* it wrote, never how long it took.
"""

from __future__ import annotations

import json

import pytest
from toy_task import write_toy_config

from edgepose.engine.checkpoint import load_checkpoint
from edgepose.engine.config import load_experiment
from edgepose.engine.logging import read_csv_rows
from edgepose.engine.trainer import train_experiment
from edgepose.errors import ConfigError

TINY_BUDGET = 1e-7  # minutes: spent before the first step ends


def test_a_spent_budget_stops_after_one_step_with_valid_outputs_and_resumes(tmp_path, capsys):
    path = write_toy_config(tmp_path, epochs=2, max_minutes=TINY_BUDGET, eval_every=0)
    out = tmp_path / "run"
    metrics = train_experiment(load_experiment(path), out_dir=out, progress=False)
    assert "AP" in metrics  # evaluated although eval_every=0 and epoch 1 of 2 is not the last
    for name in ("last.pt", "best.pt", "metrics.json", "epochs.csv", "plots/losses.png", "plots/metrics.png"):
        assert (out / name).is_file(), name
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 1 and ckpt["step"] == 1  # 6 steps per full epoch: cut short after the first
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["stopped_by_time_budget"] is True and summary["max_minutes"] == TINY_BUDGET
    assert [r["epoch"] for r in read_csv_rows(out / "epochs.csv")] == [1]
    assert "time budget of" in capsys.readouterr().err

    # --resume continues from the cut epoch; a generous budget changes nothing
    train_experiment(load_experiment(path, ["train.max_minutes=600"]), out_dir=out, resume=True, progress=False)
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["step"] == 1 + 6  # the resumed run finished epoch 2 in full
    assert json.loads((out / "metrics.json").read_text())["stopped_by_time_budget"] is False
    assert [r["epoch"] for r in read_csv_rows(out / "epochs.csv")] == [1, 2]


def test_max_minutes_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="max_minutes"):
        load_experiment(write_toy_config(tmp_path, max_minutes=0))
