"""The device-resident data path (data.pipeline: device) against the loader path it replaces.

References: the loader's own items (edgepose.data.topdown.TopdownDataset, cv2 warps and the numpy codec),
geometry.get_affine_transform and HeatmapCodec.encode. On CPU, with augmentation off and with fixed augmentation
parameters, the device path must give the same heatmap peaks, weights, crop joints and (within interpolation
rounding) crop pixels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from edgepose.codecs.heatmap import HeatmapCodec
from edgepose.data.device_store import load_store, store_matches
from edgepose.data.topdown import build_topdown_dataset
from edgepose.engine.config import experiment_from_dict
from edgepose.engine.device_batches import (
    AugmentParams,
    DeviceBatches,
    crop_matrices,
    device_train_dataset,
    encode_heatmaps,
    wrap_training_model,
)
from edgepose.engine.topdown import TopdownTask
from edgepose.errors import ConfigError, TrainingError
from edgepose.geometry import get_affine_transform

N_IMAGES = 10


@pytest.fixture(scope="module")
def lsp_root(tmp_path_factory, make_lsp_subset) -> Path:
    return make_lsp_subset(tmp_path_factory.mktemp("lsp") / "lsp", N_IMAGES)


def _task(root: Path, tmp: Path, codec: str = "msra", **data) -> TopdownTask:
    mat, images = str(root / "joints.mat"), str(root / "images")
    cfg = experiment_from_dict({
        "name": "dev", "task": "topdown",
        "model": {"name": "flpn_sres50", "overrides": {"blocks": [1, 1, 1, 1], "width": 0.25, "deconv_channels": 32}},
        "data": {"dataset": "lspet", "train_ann": mat, "train_images": images, "val_ann": mat, "val_images": images,
                 "val_range": [N_IMAGES - 1, N_IMAGES], "input_size": [128, 96], "codec": codec,
                 "train_boxes": ["image", "joints"], "pipeline": "device",
                 "device_pipeline": {"store": str(tmp / f"store_{codec}.npz"), "format": "png", "max_side": None},
                 **data},
        "train": {"batch_size": 4, "workers": 0, "device": "cpu", "amp": False},
        "output_dir": str(tmp / "out"),
    })  # fmt: skip
    return TopdownTask(cfg)


def _pair(task: TopdownTask):
    """(loader dataset, device batches) over the same records, the store decoded without loss."""
    store_ds = device_train_dataset(task, progress=False)
    files = build_topdown_dataset(task.data, "train", ann=task._path("x", task.data.train_ann),
                                  images=task._path("x", task.data.train_images), codec=task.codec)  # fmt: skip
    index = load_store(store_ds.device_store)
    batches = DeviceBatches(index, index.decode(), task.data, task.codec, task.spec.flip_index, batch_size=4)
    return files, batches


def _compare(files, batches, params: AugmentParams, n: int) -> None:
    got = batches.make_batch(torch.arange(n), params)
    for i in range(n):
        item = files[i]
        w_ref = item["target_weight"][:, 0]
        np.testing.assert_array_equal(got["target_weight"][i, :, 0].numpy(), w_ref)
        tgt, ref = got["target"][i].numpy(), item["target"]
        hw = ref.shape[-1]
        for k in np.flatnonzero(w_ref):
            a, b = np.unravel_index(tgt[k].argmax(), tgt[k].shape), np.unravel_index(ref[k].argmax(), ref[k].shape)
            assert abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1, (i, k, a, b)
        assert np.abs(tgt - ref).max() < 0.05, (i, hw)  # same Gaussians (a shift of one pixel would differ by ~0.4)
        img = got["image"][i].numpy()
        diff = np.abs(img - item["image"]) * 0.226 * 255  # back to grey levels (about)
        assert np.percentile(diff, 99) < 3.0 and diff.mean() < 0.6, (i, diff.mean(), np.percentile(diff, 99))


@pytest.mark.parametrize("codec", ["msra", "dark"])
def test_device_batches_match_the_loader_without_augmentation(lsp_root, tmp_path, codec):
    task = _task(lsp_root, tmp_path, codec, scale_factor=0.0, rotation_factor=0.0, flip=False)
    files, batches = _pair(task)
    n = len(files)
    assert n == 2 * (N_IMAGES - 2) and len(batches.center) == n
    _compare(files, batches, AugmentParams.identity(n), n)


class _Scripted:
    """A numpy Generator stand-in that returns scripted draws (random() and standard_normal() queues)."""

    def __init__(self, uniform: list[float], normal: list[float]) -> None:
        self.uniform, self.normal = list(uniform), list(normal)

    def random(self) -> float:
        return self.uniform.pop(0)

    def standard_normal(self) -> float:
        return self.normal.pop(0)


def test_device_batches_match_the_loader_with_fixed_augmentation(lsp_root, tmp_path, monkeypatch):
    task = _task(lsp_root, tmp_path, "msra", scale_factor=0.25, rotation_factor=30.0, rotation_prob=1.0)
    files, batches = _pair(task)
    n = len(files)
    rng = np.random.default_rng(3)
    z_scale, z_rot = rng.normal(size=n), rng.normal(size=n)
    flips = np.arange(n) % 2 == 0
    draws = iter(range(n))

    def scripted():
        i = next(draws)  # the loader asks: N (scale), U (rotation?), N (angle), U (flip)
        return _Scripted([0.0, 0.0 if flips[i] else 0.9], [z_scale[i], z_rot[i]])

    monkeypatch.setattr("edgepose.data.topdown._item_rng", scripted)
    sf, rf = 0.25, 30.0
    params = AugmentParams(
        torch.as_tensor(np.clip(z_scale * sf + 1, 1 - sf, 1 + sf)),
        torch.as_tensor(np.clip(z_rot * rf, -2 * rf, 2 * rf)),
        torch.as_tensor(flips),
    )
    items = [files[i] for i in range(n)]  # consume the script in order
    assert sum(bool(it["meta"]["flipped"]) for it in items) == flips.sum()
    files.__class__ = type("Cached", (type(files),), {"__getitem__": lambda self, i: items[i]})
    _compare(files, batches, params, n)


def test_crop_matrices_are_the_geometry_affine():
    rng = np.random.default_rng(0)
    c, s, r = rng.uniform(0, 500, (20, 2)), rng.uniform(0.3, 3, (20, 2)), rng.uniform(-80, 80, 20)
    got = crop_matrices(torch.as_tensor(c), torch.as_tensor(s), torch.as_tensor(r), (96, 128)).numpy()
    for i in range(20):
        ref = get_affine_transform(c[i], s[i], r[i], (96, 128))
        np.testing.assert_allclose(got[i], ref, atol=2e-3, rtol=1e-4)


@pytest.mark.parametrize("kind", ["msra", "dark"])
def test_encode_heatmaps_is_the_codec(kind):
    codec = HeatmapCodec((128, 96), sigma=2.0, kind=kind)
    rng = np.random.default_rng(1)
    joints = np.concatenate([rng.uniform(-40, 140, (6, 14, 2)), (rng.random((6, 14, 1)) > 0.2)], -1)
    joints[0, :4, :2] = [[-0.3, 5], [-25.9, 10], [95.5, 127.6], [-2.1, -26.0]]  # truncation at the edges
    target, weight = encode_heatmaps(torch.as_tensor(joints), codec)
    for i in range(len(joints)):
        ref_t, ref_w = codec.encode(joints[i])
        np.testing.assert_array_equal(weight[i].numpy(), ref_w)
        np.testing.assert_allclose(target[i].numpy(), ref_t, atol=1e-6)


def test_store_is_compact_reused_and_rebuilt_for_other_options(lsp_root, tmp_path):
    task = _task(lsp_root, tmp_path, device_pipeline={"store": str(tmp_path / "s.npz"), "max_side": 64})
    ds = device_train_dataset(task, progress=False)
    index = load_store(ds.device_store)
    assert len(index) == N_IMAGES - 2 and index.arrays["stored_hw"].max() <= 64
    source = sum((lsp_root / "images" / f"im{i:05d}.jpg").stat().st_size for i in range(1, N_IMAGES - 1))
    assert index.nbytes < source / 4  # WebP at 64 px: a fraction of the original JPEGs
    key = index.meta["key"]
    assert store_matches(ds.device_store, key)
    stamp = ds.device_store.stat().st_mtime_ns
    device_train_dataset(task, progress=False)  # same options: reused
    assert ds.device_store.stat().st_mtime_ns == stamp
    other = _task(lsp_root, tmp_path, device_pipeline={"store": str(tmp_path / "s.npz"), "max_side": 48})
    device_train_dataset(other, progress=False)
    assert load_store(ds.device_store).meta["key"] != key
    canvas = load_store(ds.device_store).decode()
    assert canvas.shape[1:] == (48, 48, 3) and canvas.dtype == np.uint8


def test_epochs_are_a_function_of_the_seed_and_epoch(lsp_root, tmp_path):
    task = _task(lsp_root, tmp_path)
    index = load_store(device_train_dataset(task, progress=False).device_store)
    batches = DeviceBatches(index, index.decode(), task.data, task.codec, task.spec.flip_index, batch_size=4, seed=5)
    assert len(batches) == (2 * (N_IMAGES - 2)) // 4

    def epoch(e: int) -> list[torch.Tensor]:
        batches.sampler.set_epoch(e)
        batches.generator.manual_seed(100 + e)  # what the trainer does at every epoch start
        return [b["image"] for b in batches]

    first, again, other = epoch(0), epoch(0), epoch(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])


def test_half_body_and_bad_options_are_config_errors(lsp_root, tmp_path):
    with pytest.raises(ConfigError, match="half_body"):
        device_train_dataset(_task(lsp_root, tmp_path, half_body_prob=0.3), progress=False)
    with pytest.raises(ConfigError, match="device_pipeline.format"):
        device_train_dataset(_task(lsp_root, tmp_path, device_pipeline={"format": "gif"}), progress=False)
    with pytest.raises(ConfigError, match="data.pipeline"):
        _task(lsp_root, tmp_path, pipeline="gpu")


def test_bf16_autocast_on_cpu_and_compile_failure_is_one_line(monkeypatch):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    cfg = experiment_from_dict({"task": "topdown", "model": {"name": "flpn_sres50"},
                                "train": {"amp": True, "amp_dtype": "bfloat16", "device": "cpu"}})  # fmt: skip
    wrapped = wrap_training_model(net, cfg, torch.device("cpu"))
    out = wrapped(torch.randn(2, 3, 8, 8))
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.dtype == torch.float32

    def broken(module, **_):
        def fail(*a, **k):
            raise RuntimeError("inductor: no C++ compiler found\nlong traceback ...")

        return fail

    monkeypatch.setattr(torch, "compile", broken)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, compile=True, amp=False))
    with pytest.raises(TrainingError) as err:
        wrap_training_model(net, cfg, torch.device("cpu"))(torch.randn(1, 3, 8, 8))
    assert "train.compile" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow  # three short runs with evaluation: ~30 CPU-s
def test_trainer_trains_on_the_device_path_and_resumes_exactly(lsp_root, tmp_path):
    from edgepose.engine.checkpoint import load_checkpoint
    from edgepose.engine.logging import read_csv_rows
    from edgepose.engine.trainer import train_experiment

    def cfg(epochs: int):
        task = _task(lsp_root, tmp_path, input_size=[64, 64], device_pipeline={"store": str(tmp_path / "t.npz")})
        train = {"epochs": epochs, "batch_size": 4, "max_steps_per_epoch": 2, "eval_every": 0, "deterministic": True,
                 "workers": 0, "device": "cpu", "amp": False, "lr_milestones": [1], "log_every": 1}  # fmt: skip
        return dataclasses.replace(task.cfg, train=dataclasses.replace(task.cfg.train, **train))

    metrics = train_experiment(cfg(2), out_dir=tmp_path / "a", progress=False)
    assert 0 <= metrics["PCK@0.2"] <= 1
    rows = read_csv_rows(tmp_path / "a" / "epochs.csv")
    assert len(rows) == 2 and all(np.isfinite(float(r["train_loss"])) and float(r["train_loss"]) > 0 for r in rows)
    train_experiment(cfg(1), out_dir=tmp_path / "b", progress=False)
    torch.manual_seed(999)  # disturbed in between: the device augmentation must not depend on it
    train_experiment(cfg(2), out_dir=tmp_path / "b", resume=True, progress=False)
    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    assert a["step"] == b["step"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


@pytest.mark.slow  # builds a tiny model, times a few steps of both pipelines
def test_bench_train_times_both_pipelines_and_names_the_device(lsp_root, tmp_path):
    import yaml

    from edgepose.analysis.train_throughput import bench_train, format_train_table
    from edgepose.config import to_dict

    task = _task(lsp_root, tmp_path, input_size=[64, 64], device_pipeline={"store": str(tmp_path / "b.npz")})
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(to_dict(task.cfg)))
    result = bench_train(str(path), steps=1, warmup=1, workers=[0], pipelines=["loader", "device"])
    rows = {r["pipeline"]: r for r in result["loaders"]}
    assert set(rows) == {"loader", "device"} and result["device"] == "cpu" and result["device_name"]
    for r in rows.values():
        assert r["loader_images_per_s"] > 0 and r["loop_images_per_s"] > 0 and 0 <= r["wait_share"] <= 1
    table = format_train_table(result)
    assert "device" in table and result["device_name"] in table
