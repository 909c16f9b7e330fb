"""`edgepose quickstart --minutes`: the budget is announced up front, passed to the trainer as
``train.max_minutes`` (less what the data step took and a reserve), and a run it cuts short still reports.

No timing assertions: the end-to-end test forces a budget that the first step crosses on any machine.
"""

from __future__ import annotations

import json

import pytest

from edgepose.cli import quickstart
from edgepose.cli.main import main
from edgepose.errors import ConfigError


def test_training_budget_keeps_a_reserve_and_refuses_an_impossible_budget():
    assert quickstart.training_budget(10.0, 0.0) == pytest.approx(9.0)  # 10 % kept for evaluation and report
    assert quickstart.training_budget(10.0, 60.0) == pytest.approx(8.0)  # a minute already spent on the data
    assert quickstart.training_budget(1.0, 0.0) == pytest.approx(0.75)  # the reserve's floor
    with pytest.raises(ConfigError, match="leaves no time to train"):
        quickstart.training_budget(0.2, 0.0)
    assert main(["quickstart", "--minutes", "0", "--tiny"]) == 2


@pytest.mark.slow
def test_a_budget_cut_quickstart_says_so_and_still_writes_its_report(tmp_path, capsys, monkeypatch):
    seen = {}

    def tiny_budget(minutes: float, elapsed_s: float) -> float:
        seen["minutes"] = minutes
        return 1e-7  # crossed by the first training step

    monkeypatch.setattr(quickstart, "training_budget", tiny_budget)
    out = tmp_path / "qs"
    argv = ["quickstart", "--data", "synthetic", "--out", str(out), "--tiny", "--no-progress", "--minutes", "3"]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert seen == {"minutes": 3.0}
    assert err[1].startswith("time budget: 3 min")  # said up front, right after the choice of data
    assert any("the time budget ended training" in line for line in err)
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["stopped_by_time_budget"] is True and summary["steps"] == 1 and summary["minutes_budget"] == 3.0
    assert (out / "train" / "last.pt").is_file() and (out / "predictions.jpg").is_file()
    assert "the time budget ended training" in (out / "report.md").read_text()
