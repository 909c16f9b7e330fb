"""Checkpoints: atomic writes, errors that name the file, strict loading, rebuilding the model from a file."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
import torch
from toy_task import ToyNet, toy_net, write_toy_config

from edgepose.engine.checkpoint import (
    build_model_from_checkpoint,
    export_weights,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
    strip_module_prefix,
)
from edgepose.engine.trainer import capture_rng, restore_rng
from edgepose.errors import CheckpointError


def _state(model, **extra):
    return {"model": model.state_dict(), "model_name": "toy_net", "model_overrides": {}, "epoch": 1, **extra}


def test_round_trip_keeps_tensors_and_plain_data(tmp_path):
    model = ToyNet()
    path = save_checkpoint(tmp_path / "sub" / "last.pt", _state(model, rng=[capture_rng()], metrics={"AP": 0.5}))
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 1 and ckpt["metrics"] == {"AP": 0.5}
    assert ckpt["format"] == "edgepose-checkpoint" and ckpt["edgepose_version"]
    for k, v in model.state_dict().items():
        assert torch.equal(ckpt["model"][k], v)
    # The RNG snapshot loads with weights_only and restores the generators exactly.
    expected = torch.rand(3)
    torch.rand(5)
    restore_rng(ckpt["rng"][0])
    import random

    import numpy as np

    state = capture_rng()
    a = (random.random(), np.random.rand(), torch.rand(1))  # noqa: NPY002
    restore_rng(state)
    assert (random.random(), np.random.rand(), torch.rand(1)) == a  # noqa: NPY002
    assert not torch.equal(expected, torch.zeros(3))
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary files left behind


def test_a_crash_while_saving_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state(ToyNet(), epoch=1))

    def exploding_save(obj, fh, *args, **kwargs):
        fh.write(b"partial bytes")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", exploding_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _state(ToyNet(), epoch=2))
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_disk_full_is_one_line_naming_the_file_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", _state(ToyNet(), epoch=1))

    def disk_full(obj, fh, *args, **kwargs):
        fh.write(b"partial bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError) as info:
        save_checkpoint(path, _state(ToyNet(), epoch=2))
    intact = "(the previous checkpoint there is intact)"
    assert str(info.value) == f"{path}: cannot write checkpoint: no space left on device {intact}"
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_really_full_device_is_reported_as_disk_full(tmp_path, monkeypatch):
    # On a full disk torch.save reports "RuntimeError: unexpected pos ..."; the write's own OSError is what we say.
    import edgepose.io

    # the one atomic writer opens its temporary file with open(); here that file is /dev/full
    monkeypatch.setattr(edgepose.io, "open", lambda *args, **kwargs: open("/dev/full", "wb"), raising=False)
    with pytest.raises(CheckpointError, match=r"new\.pt: cannot write checkpoint: no space left on device \(nothing"):
        save_checkpoint(tmp_path / "new.pt", _state(ToyNet(), big=torch.zeros(100_000)))
    assert list(tmp_path.iterdir()) == []


def test_disk_full_during_training_is_one_line_from_the_cli(tmp_path, monkeypatch, capsys):
    from edgepose.cli.main import main

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    path = write_toy_config(tmp_path, epochs=1, max_steps_per_epoch=1)
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    written_first = tmp_path / "run" / "best.pt"  # best.pt (the epoch improved) is written before last.pt
    assert err.strip().splitlines()[-1] == (f"edgepose train: error: {written_first}: cannot write checkpoint: no "
                                            "space left on device (nothing was written)")  # fmt: skip


def test_checkpoints_honour_the_umask_like_open(tmp_path):
    old = os.umask(0o022)
    try:
        shared = save_checkpoint(tmp_path / "a.pt", _state(ToyNet()))
        os.umask(0o077)
        private = save_checkpoint(tmp_path / "b.pt", _state(ToyNet()))
    finally:
        os.umask(old)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_missing_corrupt_truncated_and_foreign_files_raise_naming_the_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nothing\.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "nothing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match=r"garbage\.pt: corrupt"):
        load_checkpoint(garbage)
    good = save_checkpoint(tmp_path / "good.pt", _state(ToyNet()))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.pt: corrupt"):
        load_checkpoint(truncated)
    bare = tmp_path / "bare.pt"
    torch.save(ToyNet().state_dict(), bare)
    with pytest.raises(CheckpointError, match=r"bare\.pt: not an edgepose checkpoint \(it is a bare state dict"):
        load_checkpoint(bare)
    with pytest.raises(CheckpointError, match="not an edgepose checkpoint"):
        torch.save([1, 2, 3], tmp_path / "list.pt")
        load_checkpoint(tmp_path / "list.pt")


def test_state_that_does_not_fit_lists_keys_and_shapes(tmp_path):
    small, wide = toy_net(), toy_net(width=16)
    pattern = r"w\.pt: weights do not fit.*body\.0\.weight: checkpoint \(16, 3, 3, 3\) vs model \(8, 3, 3, 3\)"
    with pytest.raises(CheckpointError, match=pattern):
        load_model_state(small, wide.state_dict(), tmp_path / "w.pt")
    state = small.state_dict()
    state.pop("head.bias")
    state["extra.weight"] = torch.zeros(1)
    pattern = r"missing from the checkpoint: head\.bias.*unexpected keys: extra\.weight"
    with pytest.raises(CheckpointError, match=pattern):
        load_model_state(toy_net(), state)


def test_ddp_prefix_is_stripped(tmp_path):
    src = toy_net()
    prefixed = {f"module.{k}": v for k, v in src.state_dict().items()}
    assert set(strip_module_prefix(prefixed)) == set(src.state_dict())
    dst = toy_net()
    load_model_state(dst, prefixed)
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values()))


def test_build_model_from_checkpoint_uses_name_and_overrides(tmp_path, monkeypatch):
    from edgepose import models

    monkeypatch.setitem(models.MODEL_TABLE, "toy_net", "toy_task:toy_net")
    src = models.build_model("toy_net", width=16)
    path = save_checkpoint(tmp_path / "c.pt", models.checkpoint_fields(src))
    model, ckpt = build_model_from_checkpoint(path)
    assert not model.training and ckpt["model_overrides"] == {"width": 16}
    assert model.head.in_features == 16
    assert torch.equal(model.head.weight, src.head.weight)
    # Overrides the constructor does not know, or weights of another shape, are CheckpointErrors naming the file.
    bad = save_checkpoint(tmp_path / "bad.pt", {**models.checkpoint_fields(src), "model_overrides": {"depth": 3}})
    with pytest.raises(CheckpointError, match=r"bad\.pt: cannot rebuild.*depth"):
        build_model_from_checkpoint(bad)
    wrong = save_checkpoint(tmp_path / "wrong.pt", {**models.checkpoint_fields(src), "model_overrides": {}})
    with pytest.raises(CheckpointError, match=r"wrong\.pt: weights do not fit"):
        build_model_from_checkpoint(wrong)
    # A weights-only export drops the optimizer but still rebuilds.
    slim = export_weights(path, tmp_path / "slim.pt")
    assert "optimizer" not in load_checkpoint(slim) or load_checkpoint(slim).get("optimizer") is None
    assert build_model_from_checkpoint(slim)[0].head.in_features == 16
