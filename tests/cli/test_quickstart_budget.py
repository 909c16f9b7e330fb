"""`edgepose quickstart --minutes`: one budget for the whole command, planned from a measured step time.

The planner is tested on numbers (no timing assertions); the end-to-end test forces a budget that the first step
crosses on any machine, and a slow machine (a measured step that is long) plans fewer steps.
"""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from edgepose.cli.main import main
from edgepose.engine import quickstart
from edgepose.errors import ConfigError


def test_evaluations_and_fit_steps_by_hand():
    assert quickstart.evaluations(6, 2) == 3 and quickstart.evaluations(5, 2) == 3 and quickstart.evaluations(4, 0) == 1
    # 6 epochs x 100 steps at 1 s + 3 evaluations of 10 s = 630 s: fits 700 s as it is
    assert quickstart.fit_steps(6, 100, 2, 1.0, 10.0, 700.0) == (6, 100)
    # 330 s: (330 - 30) / (6 x 1 s) = 50 steps per epoch, the epochs kept
    assert quickstart.fit_steps(6, 100, 2, 1.0, 10.0, 330.0) == (6, 50)
    # 60 s: 6 epochs leave (60 - 30) / 6 = 5 < 10 steps, 5 epochs (60 - 30) / 5 = 6; 4 epochs (2 evaluations):
    # (60 - 20) / 4 = 10 steps, the floor
    assert quickstart.fit_steps(6, 100, 2, 1.0, 10.0, 60.0) == (4, 10)


class _Cfg:
    """The parts of an experiment the planner reads."""

    class train:  # mirrors cfg.train
        epochs, eval_every, batch_size, max_steps_per_epoch, warmup_steps = 6, 2, 32, None, 50

    eval: ClassVar[dict] = {"flip_test": True}


def test_plan_run_keeps_a_measured_reserve_and_a_slow_machine_plans_fewer_steps():
    budget = quickstart.Budget(10.0)
    fast = quickstart.plan_run(_Cfg, budget, (0.5, 2.0, 100, 96, 1.0))  # 0.5 s per step, 100 steps per epoch
    slow = quickstart.plan_run(_Cfg, budget, (2.0, 2.0, 100, 96, 1.0))  # the same machine under load
    assert (fast.epochs, fast.steps_per_epoch) == (6, 100) and not fast.shortened
    assert slow.shortened and slow.epochs * slow.steps_per_epoch < 600
    # what the slow plan trains, its evaluations and its reserve fit the ten minutes
    cost = slow.epochs * slow.steps_per_epoch * 2.0 + quickstart.evaluations(slow.epochs, 2) * slow.eval_s
    assert cost + slow.reserve_s + slow.startup_s <= 600.0
    assert slow.eval_s == pytest.approx(1.0 + 96 * 2 * 2.0 / (3 * 32))  # flip test: two passes over 96 items
    assert "instead of the recipe's 6 x 100" in slow.notes[0]
    items = quickstart.plan_overrides("lspet", _Cfg, slow)
    assert f"train.max_steps_per_epoch={slow.steps_per_epoch}" in items or f"train.epochs={slow.epochs}" in items
    with pytest.raises(ConfigError, match="leaves no time to train"):
        quickstart.plan_run(_Cfg, quickstart.Budget(0.1), (2.0, 2.0, 100, 96, 1.0))
    # a starved process (2 % of a CPU) keeps the fixed post-training work at its wall cost: 5 CPU-s / 0.02 = 250 s
    starved = quickstart.plan_run(_Cfg, quickstart.Budget(10.0), (2.0, 2.0, 100, 96, 0.02))
    assert starved.reserve_s == pytest.approx(1.5 * (starved.eval_s + 2.0 + 250.0))
    with pytest.raises(ConfigError, match=r"gets 2 % of the CPU it asks for: the machine is busy"):
        quickstart.plan_run(_Cfg, quickstart.Budget(3.0), (14.0, 4.0, 14, 19, 0.02))
    assert 0 <= quickstart.process_age() < 3600  # this test process started a while ago, not in the future


@pytest.mark.parametrize("argv,words", [
    (["--seed", "-1"], "--seed must be >= 0, got -1"),
    (["--minutes", "inf"], "--minutes must be a finite number"),
    (["--minutes", "nan"], "--minutes must be a finite number"),
    (["--minutes", "0"], "--minutes must be > 0"),
])  # fmt: skip
def test_bad_numbers_are_one_line_errors_naming_the_option(argv, words, tmp_path, capsys):
    assert main(["quickstart", "--tiny", "--out", str(tmp_path / "qs"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


@pytest.mark.slow
def test_a_budget_cut_quickstart_says_so_and_still_writes_its_report(tmp_path, capsys, monkeypatch):
    def crossed_at_once(cfg, budget, measured, **kwargs):
        plan = plan_run(cfg, budget, measured, **kwargs)
        plan.reserve_s = budget.left_s() - 1e-4  # leaves the trainer 0.1 ms: the first step crosses it
        return plan

    plan_run = quickstart.plan_run
    monkeypatch.setattr(quickstart, "plan_run", crossed_at_once)
    out = tmp_path / "qs"
    argv = ["quickstart", "--data", "synthetic", "--out", str(out), "--tiny", "--no-progress", "--minutes", "3"]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[1].startswith("time budget: 3 min in all")  # said up front, right after the choice of data
    assert any("the time budget ended training" in line for line in err)
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["stopped_by_time_budget"] is True and summary["steps"] == 1 and summary["minutes_budget"] == 3.0
    assert summary["plan"]["step_s"] > 0 and summary["seconds"]["total"] <= 180
    assert (out / "train" / "last.pt").is_file() and (out / "predictions.jpg").is_file()
    assert "the time budget ended training" in (out / "report.md").read_text()
    # run again without --resume: refused, the run left as it was
    before = (out / "train" / "last.pt").read_bytes()
    assert main(argv) == 2
    assert "already holds a quickstart run" in capsys.readouterr().err
    assert (out / "train" / "last.pt").read_bytes() == before


def test_a_budget_the_cpu_share_cannot_hold_is_refused_at_once():
    assert 0.0 < quickstart.cpu_share(cpu_seconds=0.01) <= 1.0
    quickstart.check_feasible(quickstart.Budget(10.0), 1.0)  # 12 CPU-s fit ten minutes of an idle CPU
    with pytest.raises(ConfigError, match=r"--minutes 5 cannot be honoured now: this process gets 1 % of a CPU"):
        quickstart.check_feasible(quickstart.Budget(5.0), 0.01)  # 12 CPU-s at 1 % = 20 min
