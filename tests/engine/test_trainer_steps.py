"""The trainer's steps called one at a time on the toy task (start_run, train_one_epoch, evaluate, end_epoch),
which checkpoint a resume picks, stale temporary files, progress during validation, and the engine's shape."""

from __future__ import annotations

import ast
import math
import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from toy_task import SimulatedCrash, write_toy_config

from edgepose.engine import callbacks, trainer
from edgepose.engine.checkpoint import load_checkpoint
from edgepose.engine.config import experiment_from_dict, load_experiment
from edgepose.engine.logging import read_csv_rows, show_progress
from edgepose.engine.trainer import (
    EpochResult,
    end_epoch,
    evaluate,
    find_resume_checkpoint,
    start_run,
    train_experiment,
    train_one_epoch,
)
from edgepose.errors import CheckpointError, EdgeposeError, TrainingError

ENGINE = Path(__file__).resolve().parents[2] / "edgepose" / "engine"
# The checkpoint format: runs started by older code must keep resuming, so these keys stay.
CHECKPOINT_KEYS = {"model", "model_name", "model_overrides", "model_info", "config", "epoch", "step", "optimizer",
                   "scheduler", "scaler", "rng", "best_metric", "best_epoch", "primary_metric", "metrics", "format",
                   "edgepose_version"}  # fmt: skip


def _start(tmp_path: Path, *overrides: str, out: str = "run", resume=None, **train):
    cfg = load_experiment(write_toy_config(tmp_path, **train), list(overrides))
    return start_run(cfg, out_dir=tmp_path / out, resume=resume, progress=False)


def _epoch_result() -> EpochResult:
    return EpochResult(means={"loss": 0.5}, lr=0.01, seconds=2.0, images=48, steps=6)


def test_training_error_lives_in_errors_and_is_a_user_error():
    assert trainer.TrainingError is TrainingError and issubclass(TrainingError, EdgeposeError)


def test_start_run_builds_a_fresh_state_and_its_output_folder(tmp_path):
    state = _start(tmp_path)
    assert (state.epoch, state.step, state.best, state.best_epoch) == (0, 0, None, None)
    assert state.primary == "AP" and state.mode == "max"
    assert state.steps_per_epoch == 6  # 48 samples / batch 8
    assert [g["lr_mult"] for g in state.optimizer.param_groups] == [1.0, 2.0]
    assert (tmp_path / "run" / "config.yaml").is_file() and state.epoch_log is not None


def test_an_output_folder_that_cannot_be_made_is_one_clear_error(tmp_path):
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(EdgeposeError, match=r"taken: cannot create the output folder \(File exists\)"):
        _start(tmp_path, out="taken")


def test_train_one_epoch_alone_steps_logs_and_leaves_checkpoints_to_end_epoch(tmp_path):
    state = _start(tmp_path, log_every=2)
    before = state.model.head.weight.detach().clone()
    result = train_one_epoch(state)
    assert (result.steps, state.step, state.epoch, result.images) == (6, 6, 1, 48)
    assert set(result.means) == {"loss", "mse", "l1"} and math.isfinite(result.means["loss"])
    assert not torch.equal(before, state.model.head.weight)
    assert [r["step"] for r in read_csv_rows(tmp_path / "run" / "steps.csv")] == [2, 4, 6]
    assert not (tmp_path / "run" / "last.pt").exists()


def test_train_one_epoch_stops_on_a_non_finite_loss(tmp_path):
    state = _start(tmp_path, "data.noise=.nan")
    with pytest.raises(TrainingError, match="loss is not finite at epoch 1, step 1"):
        train_one_epoch(state)


def test_evaluate_alone_tracks_the_best_of_the_tasks_primary_metric(tmp_path):
    state = _start(tmp_path, "data.primary=PCK@0.2")
    assert state.primary == "PCK@0.2"
    metrics = evaluate(state)
    assert metrics["n"] == 12 and metrics["AP"] == pytest.approx(1 / (1 + metrics["mse"]))
    assert state.best == metrics["PCK@0.2"] and state.best_epoch == 0 and state.last_metrics == metrics
    state.best = 2.0  # above any PCK: the same weights do not beat it
    evaluate(state)
    assert state.best == 2.0 and state.best_epoch == 0
    state.mode, state.epoch = "min", 1  # lower is better
    evaluate(state)
    assert state.best == metrics["PCK@0.2"] and state.best_epoch == 1


def test_end_epoch_alone_writes_the_row_checkpoints_and_plots(tmp_path):
    state = _start(tmp_path, "data.primary=PCK@0.2", epochs=3)
    out = tmp_path / "run"
    state.epoch, state.step = 1, 6  # as train_one_epoch leaves it
    end_epoch(state, _epoch_result(), {})  # no evaluation this epoch: last.pt only
    assert load_checkpoint(out / "last.pt")["epoch"] == 1 and not (out / "best.pt").exists()
    assert not (out / "plots").exists()
    [row] = read_csv_rows(out / "epochs.csv")
    assert (row["epoch"], row["step"], row["train_loss"], row["images_per_s"]) == (1, 6, 0.5, 24.0)
    state.epoch, state.step, state.best, state.best_epoch = 2, 12, 0.75, 2
    end_epoch(state, _epoch_result(), {"PCK@0.2": 0.75, "AP": 0.1})
    best = load_checkpoint(out / "best.pt")
    assert set(best) == CHECKPOINT_KEYS
    assert (best["epoch"], best["best_metric"], best["primary_metric"]) == (2, 0.75, "PCK@0.2")
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    assert read_csv_rows(out / "epochs.csv")[-1]["val_PCK@0.2"] == 0.75
    assert (out / "plots" / "metrics.png").is_file()


def _two_checkpoints(tmp_path: Path):
    """A run folder with best.pt and last.pt of epoch 1 (no training: end_epoch on a fresh state)."""
    state = _start(tmp_path)
    state.epoch, state.step, state.best, state.best_epoch = 1, 6, 0.5, 1
    end_epoch(state, _epoch_result(), {"AP": 0.5})
    return state, tmp_path / "run"


def test_run_files_honour_the_umask_like_the_plots(tmp_path):
    old = os.umask(0o022)
    try:
        _, out = _two_checkpoints(tmp_path)
    finally:
        os.umask(old)
    names = ("config.yaml", "epochs.csv", "last.pt", "best.pt", "plots/metrics.png")
    assert {n: oct(stat.S_IMODE((out / n).stat().st_mode)) for n in names} == dict.fromkeys(names, "0o644")


def test_resume_falls_back_to_best_when_last_is_damaged_and_never_restarts_over_bad_files(tmp_path):
    _, out = _two_checkpoints(tmp_path)
    (out / "last.pt").write_bytes(b"\x00garbage")
    path, ckpt, notes = find_resume_checkpoint(out)
    assert path == out / "best.pt" and ckpt["epoch"] == 1
    assert len(notes) == 1 and "last.pt: corrupt" in notes[0]
    (out / "last.pt").unlink()  # killed in the first epoch after best.pt, before any last.pt
    assert find_resume_checkpoint(out)[0] == out / "best.pt"
    (out / "best.pt").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="nothing to resume from"):
        find_resume_checkpoint(out)
    assert find_resume_checkpoint(tmp_path / "empty") == (None, None, [])


def test_a_best_pt_left_by_an_earlier_run_is_not_resumed(tmp_path):
    state, out = _two_checkpoints(tmp_path)
    state.epoch, state.step, state.best_epoch = 2, 12, 2  # the earlier run got further
    end_epoch(state, _epoch_result(), {"AP": 0.5})
    fresh = _start(tmp_path)  # a fresh start in the same folder: its log starts over, best.pt stays
    fresh.epoch, fresh.step = 1, 6
    end_epoch(fresh, _epoch_result(), {})
    path, ckpt, notes = find_resume_checkpoint(out)
    assert path == out / "last.pt" and ckpt["step"] == 6
    assert "not in this run's epochs.csv" in notes[0]


@pytest.mark.slow
def test_kill_between_best_and_last_resumes_from_best_bit_identically(tmp_path, monkeypatch, capsys):
    cfg = load_experiment(write_toy_config(tmp_path, epochs=3))
    train_experiment(cfg, out_dir=tmp_path / "straight", progress=False)
    real_save = callbacks.save_checkpoint

    def killed_after_best(path, state):
        real_save(path, state)
        if Path(path).name == "best.pt" and state["epoch"] == 2:
            raise SimulatedCrash("killed between best.pt and last.pt")

    monkeypatch.setattr(callbacks, "save_checkpoint", killed_after_best)  # what SaveCheckpoints calls
    with pytest.raises(SimulatedCrash):
        train_experiment(cfg, out_dir=tmp_path / "killed", progress=False)
    monkeypatch.undo()
    killed = tmp_path / "killed"
    assert (load_checkpoint(killed / "last.pt")["epoch"], load_checkpoint(killed / "best.pt")["epoch"]) == (1, 2)
    capsys.readouterr()
    train_experiment(cfg, out_dir=killed, resume=True, progress=False)
    err = capsys.readouterr().err
    assert "best.pt is further along than last.pt" in err and "finished epochs: 2" in err
    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(killed / "last.pt")
    assert a["step"] == b["step"] == 18
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_stale_temporaries_of_killed_writes_are_removed_on_the_next_start(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    done = subprocess.Popen(["true"])
    done.wait()
    stale = [out / ".last.pt.k2j4_x9a.tmp", out / f".best.pt.{done.pid}-0a1b2c3d.tmp", out / ".epochs.csv.q8w7e6r5"]
    writing = out / f".last.pt.{os.getppid()}-0a1b2c3d.tmp"  # a live process's write in progress
    for p in (*stale, writing):
        p.write_bytes(b"x" * 1000)
    _start(tmp_path, resume=True)
    assert [p for p in stale if p.exists()] == [] and writing.exists()
    assert "removed 3 temporary file(s) left by an interrupted write" in capsys.readouterr().err


def test_validation_shows_progress_only_when_asked(tmp_path, capsys):
    state = _start(tmp_path)
    evaluate(state)
    assert "validation" not in capsys.readouterr().err
    state.show = True
    evaluate(state)
    assert "validation" in capsys.readouterr().err


def test_topdown_and_bottomup_validation_loops_draw_a_bar(coco_mini, tmp_path, capsys, monkeypatch):
    from edgepose.engine import bottomup
    from edgepose.engine.topdown import TopdownTask

    ann = str(coco_mini / "annotations" / "person_keypoints_val2017_mini.json")
    images = str(coco_mini / "images" / "val2017")
    task = TopdownTask(experiment_from_dict({
        "name": "t", "task": "topdown", "model": {"name": "lpn50"}, "eval": {"flip_test": False},
        "data": {"train_ann": ann, "train_images": images, "val_ann": ann, "val_images": images, "max_images": 1},
        "train": {"batch_size": 4, "workers": 0},
    }))  # fmt: skip
    from edgepose.meta import describe_network

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 17, 1), torch.nn.AvgPool2d(4)).eval()
    model.task, model.stride, model.num_keypoints = "topdown", 4, 17  # a stand-in network with lpn50's metadata
    model.input_size, model.input_normalization = tuple(task.data.input_size), "imagenet"
    model.model_info = describe_network(model, model_name="lpn50", keypoints="coco", codec="msra")
    with show_progress(True):
        preds = task.predict_dataset(model, task.val_dataset(), device=torch.device("cpu"))
    assert preds and "validation" in capsys.readouterr().err
    task.predict_dataset(model, task.val_dataset(), device=torch.device("cpu"))
    assert "validation" not in capsys.readouterr().err

    monkeypatch.setattr(bottomup, "predict_poses", lambda *args, **kwargs: None)  # the loop, not the network
    monkeypatch.setattr(bottomup, "poses_to_records", lambda image_id, poses, codec: [{"image_id": image_id}])
    up = bottomup.BottomupTask(experiment_from_dict({"name": "b", "task": "bottomup", "model": {"name": "x"},
                                                     "data": {"input_size": 64}, "train": {"workers": 0}}))  # fmt: skip
    images_only = [{"image_id": i, "image": np.zeros((8, 8, 3), np.uint8)} for i in range(3)]
    with show_progress(True):
        records = up.predict_dataset(None, images_only, device=torch.device("cpu"))
    assert [r["image_id"] for r in records] == [0, 1, 2]
    assert "validation" in capsys.readouterr().err


def test_no_engine_function_is_longer_than_80_lines():
    long = []
    for path in sorted(ENGINE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                long.append(f"{path.name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert long == []
