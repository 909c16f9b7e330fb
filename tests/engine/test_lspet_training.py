"""A short training run on real LSPet photos: the top-down task's data, model and loss learn real joints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgepose.data.lspet import LSPET_VAL_RANGE
from edgepose.engine.config import load_experiment
from edgepose.engine.topdown import TopdownTask
from edgepose.keypoints import LSP

REPO = Path(__file__).resolve().parents[2]
LSPET_CONFIGS = sorted((REPO / "configs").glob("*lspet*.yaml"))

@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: a second thread only adds synchronisation, and on a busy machine its spin-waits cost more than
    the arithmetic (measured here: 100 s for one step with 2 threads under load, 1 s with one)."""
    torch.set_num_threads(1)


def test_loss_falls_on_real_lspet_images(tmp_path, make_lsp_subset, tiny_lsp_experiment):
    """16 real images x (whole-image box, joints box), augmented once and replayed for 40 Adam steps.

    The network starts by predicting nothing (zero heatmaps); "falls by a real margin" means it ends at under
    60 % of the loss of predicting nothing, which only heatmaps with peaks near the labelled joints achieve.
    """
    torch.manual_seed(0)  # weights, and each item's augmentation (drawn from torch's RNG)
    root = make_lsp_subset(tmp_path / "lsp", 18)
    task = TopdownTask(tiny_lsp_experiment(root, [17, 18]))
    model = task.build_model()
    train = task.train_dataset()
    assert len(train) == 32 and {int(r.image_id) for r in train.records} == set(range(1, 17))
    batches = list(
        torch.utils.data.DataLoader(train, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    )
    assert batches[0]["image"].shape == (8, 3, 64, 64) and batches[0]["target"].shape == (8, 14, 16, 16)

    def nothing_loss(batch) -> float:
        return float(task.criterion(torch.zeros_like(batch["target"]), batch["target"], batch["target_weight"]))

    baseline = float(np.mean([nothing_loss(b) for b in batches]))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for step in range(40):
        loss, _ = task.loss(model, batches[step % len(batches)])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all()
    last = float(np.mean(losses[-8:]))
    assert losses[0] > 0.8 * baseline, (losses[0], baseline)  # it starts at about predicting nothing
    assert last < 0.6 * baseline and last < 0.6 * losses[0], (losses, baseline)


def test_there_are_lspet_configs_for_the_three_papers_models():
    names = {p.name for p in LSPET_CONFIGS}
    for name in ("flpn_sres50", "simplebaseline_r50", "lpn50"):
        assert f"{name}_lspet_256x256.yaml" in names
    recipes = [
        load_experiment(REPO / "configs" / f"{n}_lspet_256x256.yaml")
        for n in ("flpn_sres50", "simplebaseline_r50", "lpn50")
    ]
    assert [c.model.name for c in recipes] == ["flpn_sres50", "simplebaseline_r50", "lpn50"]
    # one recipe: everything but the model is the same
    assert all(c.data == recipes[0].data and c.train == recipes[0].train and c.eval == recipes[0].eval for c in recipes)


@pytest.mark.parametrize("path", LSPET_CONFIGS, ids=lambda p: p.stem)
def test_lspet_config_builds_a_14_joint_model_at_input_over_4(path):
    """Every LSPet config: LSP-14 (its flip pairs from the spec), the fixed split, square input with rotation and
    scale augmentation, both box kinds for training, and a model whose output is 14 heatmaps at input / 4. The
    model is built and run on the meta device: shapes only, no arithmetic, so the 34M-parameter baseline is free."""
    cfg = load_experiment(path)
    task = TopdownTask(cfg)
    d = task.data
    assert d.dataset == "lspet" and task.spec is LSP and task.primary_metric == "PCK@0.2"
    lo, hi = LSPET_VAL_RANGE  # validation within the fixed split (a quick config may score part of it)
    assert (
        lo <= d.val_range[0] <= d.val_range[1] <= hi and d.box == "image" and set(d.train_boxes) == {"image", "joints"}
    )
    assert d.input_size[0] == d.input_size[1] and d.flip and d.rotation_factor > 0 and d.scale_factor > 0
    assert Path(task._path("data.train_ann", d.train_ann)).name == "joints.mat"
    with torch.device("meta"):
        model = task.build_model().eval()
        out = model(torch.zeros(2, 3, *d.input_size))
    out = out[-1] if isinstance(out, (list, tuple)) else out
    assert tuple(out.shape) == (2, 14, d.input_size[0] // 4, d.input_size[1] // 4)
