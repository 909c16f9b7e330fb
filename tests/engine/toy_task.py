"""A tiny task implementing the engine's Task protocol, for testing the trainer without real pipelines.

Random 16x16 images; a small conv net (with BatchNorm and Dropout, so buffers and the torch RNG matter)
regresses a fixed per-image target. The dataset adds numpy noise (so the numpy RNG matters), ``evaluate``
shards by index and gathers like the real tasks and returns ``{"AP": 1 / (1 + mse), "PCK@0.2": share of
samples with mse < 0.2, ...}``; ``data.primary`` picks which one ranks ``best.pt``. ``data.crash_after``
raises after that many samples were read in this process, to simulate a crash mid-run.

Used as ``task: toy``: ``tests/engine/conftest.py`` adds ``toy -> toy_task:ToyTask`` to the fixed task table for
each test (``tests/engine`` must be importable: pytest puts it on ``sys.path``); the torchrun test runs
``python -m toy_main``, which adds the same row, with ``PYTHONPATH`` set.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from edgepose.engine import distributed as du
from edgepose.engine.logging import progress_bar
from edgepose.errors import ConfigError

DATA_KEYS = {"dataset", "n_train", "n_val", "crash_after", "noise", "primary"}


class SimulatedCrash(RuntimeError):
    pass


class ToyDataset(Dataset):
    reads = 0  # per process, across datasets

    def __init__(self, n: int, seed: int, noise: float = 0.05, crash_after: int | None = None) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, 16, 16, generator=g)
        self.targets = self.images.mean(dim=(2, 3)) * 2.0 + 0.5  # (n, 3)
        self.noise, self.crash_after = noise, crash_after

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        ToyDataset.reads += 1
        if self.crash_after is not None and ToyDataset.reads > self.crash_after:
            raise SimulatedCrash(f"simulated crash after {self.crash_after} samples")
        noise = np.random.randn(3, 16, 16).astype(np.float32)  # noqa: NPY002 - the global RNG, on purpose
        image = self.images[i] + torch.from_numpy(noise) * self.noise
        return {"image": image, "target": self.targets[i], "meta": {"index": torch.tensor(i), "name": f"img{i}"}}


class ToyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.1))
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))


class ToyTask:
    primary_metric = "AP"
    collate_fn = None

    def __init__(self, cfg) -> None:
        unknown = set(cfg.data) - DATA_KEYS
        if unknown:
            raise ConfigError(f"unknown config key 'data.{sorted(unknown)[0]}'")
        self.cfg = cfg
        self.n_train = int(cfg.data.get("n_train", 64))
        self.n_val = int(cfg.data.get("n_val", 20))
        self.noise = float(cfg.data.get("noise", 0.05))
        self.crash_after = cfg.data.get("crash_after")
        self.primary_metric = str(cfg.data.get("primary", "AP"))

    def build_model(self) -> nn.Module:
        return ToyNet()

    def train_dataset(self) -> Dataset:
        return ToyDataset(self.n_train, seed=1, noise=self.noise, crash_after=self.crash_after)

    def val_dataset(self) -> Dataset:
        return ToyDataset(self.n_val, seed=2, noise=0.0)

    def loss(self, model, batch):
        assert batch["meta"]["index"].device == batch["image"].device  # nested tensors moved too
        assert isinstance(batch["meta"]["name"], list)
        pred = model(batch["image"])
        mse = ((pred - batch["target"]) ** 2).mean()
        return mse, {"mse": float(mse.detach()), "l1": float((pred - batch["target"]).abs().mean().detach())}

    def param_groups(self, model):
        return [
            {"params": list(model.body.parameters())},
            {"params": list(model.head.parameters()), "lr_mult": 2.0, "weight_decay": 0.0},
        ]

    def evaluate(self, model, dataset, *, device, rank=0, world_size=1, out_dir: Path):
        assert not model.training and not torch.is_grad_enabled()
        errors = {}
        for i in progress_bar(du.shard_indices(len(dataset), rank, world_size), desc="validation"):
            item = dataset[i]
            pred = model(item["image"][None].to(device))[0].cpu()
            errors[i] = float(((pred - item["target"]) ** 2).mean())
        gathered = du.all_gather_object(errors)
        if rank != 0:
            return {}
        merged = {k: v for d in gathered for k, v in d.items()}
        assert sorted(merged) == list(range(len(dataset)))
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "results.json").write_text(json.dumps(merged))
        mse = float(np.mean(list(merged.values())))
        pck = float(np.mean([e < 0.2 for e in merged.values()]))
        return {"AP": 1.0 / (1.0 + mse), "PCK@0.2": pck, "mse": mse, "n": float(len(merged))}


def toy_net(width: int = 8) -> nn.Module:
    """A model constructor in the style of edgepose.models (for build_model_from_checkpoint tests)."""
    net = ToyNet()
    # the pose-network contract build_model reads the metadata from (a 17-keypoint top-down model)
    net.task, net.stride, net.input_size, net.num_keypoints = "topdown", 4, (8, 8), 17
    net.input_normalization = "imagenet"
    if width != 8:
        net.body[0] = nn.Conv2d(3, width, 3, padding=1)
        net.body[1] = nn.BatchNorm2d(width)
        net.head = nn.Linear(width, 3)
    return net


def write_toy_config(folder: Path, name: str = "toy", **train) -> Path:
    """A toy experiment YAML in ``folder`` (train keys overridable), returning its path."""
    import yaml

    recipe = {"epochs": 2, "batch_size": 8, "lr": 0.01, "lr_milestones": [1], "workers": 0, "log_every": 2,
              "deterministic": True, "seed": 7}  # fmt: skip
    recipe.update(train)
    cfg = {
        "task": "toy",
        "model": {"name": "toy"},
        "data": {"dataset": "toy", "n_train": 48, "n_val": 12},
        "train": recipe,
    }
    path = Path(folder) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
