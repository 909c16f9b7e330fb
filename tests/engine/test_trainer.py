"""The training engine with a toy task: outputs, logs, schedule, parameter groups, evaluation, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from toy_task import ToyNet, ToyTask, write_toy_config

from edgepose.cli.main import main
from edgepose.engine.checkpoint import load_checkpoint
from edgepose.engine.config import load_experiment
from edgepose.engine.logging import CsvLogger, read_csv_rows
from edgepose.engine.trainer import (
    MultiStepWarmup,
    TrainingError,
    evaluate_experiment,
    move_to_device,
    train_experiment,
)


@pytest.mark.slow
def test_training_writes_the_output_folder_and_learns(tmp_path):
    cfg = load_experiment(write_toy_config(tmp_path, epochs=3, lr_milestones=[2]))
    out = tmp_path / "run"
    metrics = train_experiment(cfg, out_dir=out, progress=False)
    for name in ("config.yaml", "steps.csv", "epochs.csv", "last.pt", "best.pt", "metrics.json",
                 "plots/losses.png", "plots/metrics.png", "eval/results.json"):  # fmt: skip
        assert (out / name).is_file(), name
    assert metrics["n"] == 12
    # the toy AP is 1 / (1 + mean squared error): recompute it from the per-sample errors the evaluation wrote,
    # and check that training beat the untrained network on the validation set
    errors = json.loads((out / "eval" / "results.json").read_text())
    assert len(errors) == 12 and metrics["AP"] == pytest.approx(1 / (1 + sum(errors.values()) / 12))
    task = ToyTask(cfg)
    with torch.no_grad():
        untrained = task.evaluate(ToyNet().eval(), task.val_dataset(), device=torch.device("cpu"), out_dir=tmp_path)
    assert metrics["AP"] > untrained["AP"]
    epochs = read_csv_rows(out / "epochs.csv")
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert {"train_loss", "train_mse", "train_l1", "val_AP", "lr", "seconds"} <= set(epochs[0])
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert [r["lr"] for r in epochs] == pytest.approx([0.01, 0.01, 0.001])  # x0.1 from epoch index 2
    steps = read_csv_rows(out / "steps.csv")
    assert [r["step"] for r in steps] == list(range(2, 19, 2)) and {"loss", "mse", "l1"} <= set(steps[0])
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["final"]["AP"] == pytest.approx(metrics["AP"])
    assert summary["best"]["value"] == pytest.approx(max(r["val_AP"] for r in epochs))
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 3 and ckpt["step"] == 18 and ckpt["model_name"] == "toy"
    assert ckpt["config"]["train"]["epochs"] == 3
    # The task's second parameter group runs at 2x the base lr; its weight decay is its own.
    groups = ckpt["optimizer"]["param_groups"]
    assert [g["lr_mult"] for g in groups] == [1.0, 2.0]
    assert groups[1]["lr"] == pytest.approx(2 * groups[0]["lr"]) and groups[1]["weight_decay"] == 0.0
    best = load_checkpoint(out / "best.pt")
    assert best["best_metric"] == pytest.approx(summary["best"]["value"])


@pytest.mark.slow
def test_max_steps_eval_every_channels_last_and_default_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_toy_config(tmp_path, epochs=3, max_steps_per_epoch=2, eval_every=2, log_every=1, channels_last=True)
    cfg = load_experiment(path)
    train_experiment(cfg, progress=False)
    out = Path("output/toy/toy/toy")
    assert load_checkpoint(out / "last.pt")["step"] == 6
    rows = read_csv_rows(out / "epochs.csv")
    assert [r.get("val_AP") is not None for r in rows] == [False, True, True]  # epoch 2, and the last


@pytest.mark.slow
def test_evaluate_experiment_reproduces_the_training_evaluation(tmp_path):
    cfg = load_experiment(write_toy_config(tmp_path, epochs=1))
    out = tmp_path / "run"
    metrics = train_experiment(cfg, out_dir=out, progress=False)
    again = evaluate_experiment(cfg, out / "last.pt", out_dir=tmp_path / "ev", progress=False)
    assert again["AP"] == pytest.approx(metrics["AP"])
    written = json.loads((tmp_path / "ev" / "eval_metrics.json").read_text())
    assert written["metrics"]["AP"] == pytest.approx(again["AP"])


def test_diverging_loss_stops_with_a_clear_error(tmp_path):
    cfg = load_experiment(write_toy_config(tmp_path, epochs=1), ["data.noise=.nan"])
    with pytest.raises(TrainingError, match="loss is not finite at epoch 1, step 1"):
        train_experiment(cfg, out_dir=tmp_path / "nan", progress=False)


def test_schedule_warmup_milestones_and_multipliers():
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.Adam([{"params": [params[0]], "lr_mult": 1.0}, {"params": [params[1]], "lr_mult": 4.0}], lr=1)
    sched = MultiStepWarmup(opt, 1e-3, [2, 4], 0.1, warmup_steps=4)
    assert sched.set(0, 0) == pytest.approx(2.5e-4)
    assert sched.set(0, 3) == pytest.approx(1e-3)
    assert sched.set(2, 100) == pytest.approx(1e-4) and opt.param_groups[1]["lr"] == pytest.approx(4e-4)
    assert sched.set(5, 200) == pytest.approx(1e-5)
    assert sched.state_dict()["epoch"] == 5


def test_cosine_schedule_runs_from_lr_towards_zero_per_epoch():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1)
    sched = MultiStepWarmup(opt, 1e-3, [1], 0.1, warmup_steps=2, cosine_epochs=4)
    assert sched.set(0, 0) == pytest.approx(5e-4)  # warm-up still applies
    assert sched.set(0, 5) == pytest.approx(1e-3)
    assert sched.set(2, 50) == pytest.approx(5e-4)  # half way: half the lr, milestones ignored
    assert sched.set(3, 80) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 3 / 4)))
    assert sched.set(9, 200) == pytest.approx(0.0, abs=1e-12)  # past the end: stays at the floor


def test_pretrained_weights_start_the_run_and_a_foreign_file_is_refused(tmp_path):
    from edgepose.engine.checkpoint import load_pretrained
    from edgepose.engine.trainer import build_state
    from edgepose.errors import CheckpointError

    source = ToyNet()
    torch.nn.init.constant_(next(source.parameters()), 0.25)
    weights = tmp_path / "weights.pt"
    torch.save(source.state_dict(), weights)  # a bare state dict is accepted as well as a checkpoint
    cfg = load_experiment(write_toy_config(tmp_path, epochs=1), [f"model.pretrained={weights}"])
    state = build_state(cfg, out_dir=tmp_path / "run")
    assert Path(state.cfg.model.pretrained).is_absolute()  # the saved config.yaml finds it from anywhere
    for (name, mine), theirs in zip(state.model.state_dict().items(), source.state_dict().values()):
        assert torch.equal(mine, theirs), name
    other = tmp_path / "other.pt"
    torch.save({"unrelated.weight": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="no tensor of these weights fits"):
        load_pretrained(ToyNet(), other, show=False)
    with pytest.raises(CheckpointError, match="not found"):
        load_pretrained(ToyNet(), tmp_path / "missing.pt", show=False)


def test_move_to_device_handles_nested_batches():
    batch = {"image": torch.zeros(2), "meta": {"index": torch.ones(2), "name": ["a", "b"]}, "n": 3,
             "list": [torch.zeros(1), "x"]}  # fmt: skip
    moved = move_to_device(batch, torch.device("meta"))
    assert moved["image"].device.type == "meta" and moved["meta"]["index"].device.type == "meta"
    assert moved["meta"]["name"] == ["a", "b"] and moved["n"] == 3
    assert moved["list"][0].device.type == "meta" and moved["list"][1] == "x"


def test_csv_logger_widens_columns_and_survives_a_torn_line(tmp_path):
    path = tmp_path / "log.csv"
    log = CsvLogger(path)
    log.log({"step": 1, "loss": 0.5})
    log.log({"step": 2, "loss": 0.25, "extra": 1.5})
    log.log({"step": 3, "loss": math.inf})
    with open(path, "a") as fh:
        fh.write("4,0.1")  # a crash mid-line
    rows = read_csv_rows(path)
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[0]["extra"] is None and rows[1]["extra"] == 1.5
    resumed = CsvLogger(path, resume=True)
    resumed.truncate("step", 2)
    assert [r["step"] for r in read_csv_rows(path)] == [1, 2]


@pytest.mark.slow
def test_cli_train_resume_and_eval(tmp_path, capsys):
    path = write_toy_config(tmp_path, epochs=1)
    out = tmp_path / "cli"
    assert main(["train", str(path), "--out", str(out), "--no-progress", "--set", "train.seed=3"]) == 0
    assert "final metrics" in capsys.readouterr().out
    assert main(["train", str(path), "--out", str(out), "--no-progress", "--resume", "--set", "train.epochs=2"]) == 0
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    ev = ["--out", str(tmp_path / "ev"), "--no-progress"]
    assert main(["eval", str(out / "config.yaml"), "--weights", str(out / "best.pt"), *ev]) == 0
    assert '"AP"' in capsys.readouterr().out
    # User errors: one line naming the key / file, exit status 2.
    assert main(["train", str(path), "--set", "train.lr_sheduler=1"]) == 2
    assert "train.lr_sheduler" in capsys.readouterr().err
    assert main(["eval", str(path), "--weights", str(tmp_path / "missing.pt"), *ev]) == 2
    assert "missing.pt: checkpoint not found" in capsys.readouterr().err

