"""Exact resume of the real top-down task (a tiny FLPN on real LSPet images) with DataLoader worker processes.

The toy task's resume test (test_resume.py) covers the engine; this one covers what the real task adds: its
random augmentation drawn inside worker processes, the codec's targets and the evaluation between epochs. A run
stopped after epoch 1 and resumed to epoch 2 must end bit-identical to an uninterrupted 2-epoch run.
"""

from __future__ import annotations

import pytest
import torch

from edgepose.config import apply_overrides
from edgepose.engine.checkpoint import load_checkpoint
from edgepose.engine.trainer import train_experiment

SMALL = {"train.workers": 2, "train.batch_size": 4, "train.max_steps_per_epoch": 2, "train.eval_every": 1,
         "train.log_every": 1, "train.deterministic": True, "train.seed": 5, "train.amp": False}  # fmt: skip


@pytest.mark.slow
def test_resumed_topdown_run_with_loader_workers_is_bit_identical(tmp_path, make_lsp_subset, tiny_lsp_experiment):
    root = make_lsp_subset(tmp_path / "lsp", 10)
    base = tiny_lsp_experiment(root, [9, 10])

    def cfg(epochs: int):
        return apply_overrides(base, {**SMALL, "train.epochs": epochs})

    train_experiment(cfg(2), out_dir=tmp_path / "straight", progress=False)
    train_experiment(cfg(1), out_dir=tmp_path / "stopped", progress=False)  # stopped after epoch 1 ...
    after_one = load_checkpoint(tmp_path / "stopped" / "last.pt")["model"]
    torch.manual_seed(999)  # ... the global RNG disturbed in between ...
    train_experiment(cfg(2), out_dir=tmp_path / "stopped", resume=True, progress=False)  # ... and resumed

    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "stopped" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2 and a["step"] == b["step"] == 4
    assert set(a["model"]) == set(b["model"])
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for key, value in a["optimizer"]["state"].items():
        for name, tensor in value.items():
            assert torch.equal(torch.as_tensor(tensor), torch.as_tensor(b["optimizer"]["state"][key][name])), name
    assert a["metrics"] == b["metrics"]  # the final evaluation of identical weights
    # and epoch 2 really trained (a resume that trained nothing would not match, but say it plainly)
    assert any(not torch.equal(after_one[k], b["model"][k]) for k in after_one if after_one[k].is_floating_point())
