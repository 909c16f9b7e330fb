"""Resuming an interrupted run ends with exactly the weights of an uninterrupted one (CPU, deterministic)."""

from __future__ import annotations

import pytest
import torch
from toy_task import SimulatedCrash, ToyDataset, write_toy_config

from edgepose.engine.checkpoint import load_checkpoint
from edgepose.engine.config import load_experiment
from edgepose.engine.logging import read_csv_rows
from edgepose.engine.trainer import train_experiment

TIMING = {"seconds", "images_per_s"}


def _strip_timing(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def _assert_same_state(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.slow
def test_crash_and_resume_gives_identical_weights(tmp_path):
    path = write_toy_config(tmp_path, epochs=3, lr_milestones=[2], warmup_steps=3)
    cfg = load_experiment(path)

    straight = tmp_path / "straight"
    train_experiment(cfg, out_dir=straight, progress=False)

    # Same run, "crashing" in the middle of epoch 2 (after last.pt of epoch 1 was written) ...
    crashed = tmp_path / "crashed"
    ToyDataset.reads = 0
    with pytest.raises(SimulatedCrash):
        train_experiment(load_experiment(path, ["data.crash_after=80"]), out_dir=crashed, progress=False)
    assert load_checkpoint(crashed / "last.pt")["epoch"] == 1
    assert len(read_csv_rows(crashed / "steps.csv")) > 3  # rows of the unfinished epoch 2 were logged

    # ... then resumed (torch's global RNG deliberately disturbed in between).
    torch.manual_seed(12345)
    train_experiment(cfg, out_dir=crashed, resume=True, progress=False)

    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(crashed / "last.pt")
    assert a["epoch"] == b["epoch"] == 3 and a["step"] == b["step"] == 18
    assert set(a["model"]) == set(b["model"])
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    _assert_same_state(a["optimizer"], b["optimizer"], "optimizer")
    _assert_same_state(a["rng"], b["rng"], "rng")
    assert a["scheduler"] == b["scheduler"] and a["best_metric"] == b["best_metric"]
    # The logs of the resumed run read like those of the uninterrupted run (stale rows of epoch 2 dropped).
    assert _strip_timing(read_csv_rows(straight / "epochs.csv")) == _strip_timing(read_csv_rows(crashed / "epochs.csv"))
    assert read_csv_rows(straight / "steps.csv") == read_csv_rows(crashed / "steps.csv")


@pytest.mark.slow
def test_resume_with_more_epochs_continues_and_finished_run_is_not_retrained(tmp_path):
    path = write_toy_config(tmp_path, epochs=1)
    out = tmp_path / "run"
    train_experiment(load_experiment(path), out_dir=out, progress=False)
    first = load_checkpoint(out / "last.pt")
    # Asking to resume a finished run does nothing more ...
    train_experiment(load_experiment(path), out_dir=out, resume=True, progress=False)
    assert load_checkpoint(out / "last.pt")["step"] == first["step"]
    # ... but extending the schedule continues from the checkpoint (an explicit path works too).
    train_experiment(load_experiment(path, ["train.epochs=2"]), out_dir=out, resume=out / "last.pt", progress=False)
    second = load_checkpoint(out / "last.pt")
    assert second["epoch"] == 2 and second["step"] == 2 * first["step"]
    assert [r["epoch"] for r in read_csv_rows(out / "epochs.csv")] == [1, 2]


def test_resume_without_checkpoint_starts_fresh_and_missing_path_is_an_error(tmp_path):
    from edgepose.errors import CheckpointError

    path = write_toy_config(tmp_path, epochs=1)
    out = tmp_path / "fresh"
    train_experiment(load_experiment(path), out_dir=out, resume=True, progress=False)
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    with pytest.raises(CheckpointError, match="nope.pt"):
        train_experiment(load_experiment(path), out_dir=out, resume=tmp_path / "nope.pt", progress=False)


@pytest.mark.slow
def test_runs_with_dataloader_workers_are_reproducible(tmp_path):
    # Workers draw their seeds from a per-epoch generator, so augmentation (numpy's global RNG in the toy
    # dataset) and data order repeat exactly, whatever the global RNG state of the launching process.
    cfg = load_experiment(write_toy_config(tmp_path, epochs=1, workers=2))
    train_experiment(cfg, out_dir=tmp_path / "a", progress=False)
    torch.manual_seed(999)
    train_experiment(cfg, out_dir=tmp_path / "b", progress=False)
    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
