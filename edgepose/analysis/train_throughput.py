"""Training throughput: does the data loader keep the network busy?

``edgepose bench train CONFIG`` builds the experiment exactly as ``edgepose train`` does
(:func:`edgepose.engine.trainer.build_state`: task, model, datasets, optimiser, AMP scaler, device) and its real
training loader (:func:`~edgepose.engine.trainer.build_train_loader`: the same workers, pinned memory, persistent
workers and worker initialisation), then times, in images/s:

* **network** -- :func:`~edgepose.engine.trainer.train_step` alone on batches already in memory (the ceiling);
* **loader** -- the loader alone (read and decode the image, the affine crop, the target encoding, collation);
* **loader + network** -- the real loop: wait for the next batch, move it to the device, step.

for each requested worker count. The network-only block runs before and after the loader blocks and the two are
averaged, so a load change during the run shows up as a difference between them (both are reported). ``ratio``
is loader+network over network: 1.0 means the loader never makes the network wait. CPU ms per image (this
process's CPU time) are given for the network step and for the loader without workers: on a busy machine they
compare the two costs where wall-clock images/s cannot. ``first_batch_s`` is how
long a fresh loader iterator takes to deliver its first batch: what every epoch pays when workers are respawned
(``persistent_workers`` off).

``pipelines`` adds the device-resident path (``data.pipeline: device``, :mod:`edgepose.engine.device_batches`):
its row times the batches made on the device alone and feeding the step (``workers`` 0, ``first_batch_s`` the
store's load and decode plus the first batch). The device is named (the GPU's name, or the CPU model).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from edgepose.analysis.timing import load_average, machine_summary

__all__ = ["bench_train", "format_train_table"]


def _batches(loader: Iterable, n: int) -> list[Any]:
    it = iter(loader)
    return [next(it) for _ in range(n)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _network_block(state: Any, batches: Sequence[Any], lr: float) -> tuple[float, float]:
    """(images/s, CPU ms per image of this process) of train_step on ``batches`` (already on the device)."""
    from edgepose.engine.trainer import batch_size_of, train_step

    _sync(state.device)
    start, cpu = time.perf_counter(), time.process_time()
    images = 0
    for batch in batches:
        train_step(state, batch, lr)
        images += batch_size_of(batch)
    _sync(state.device)
    return images / (time.perf_counter() - start), (time.process_time() - cpu) * 1e3 / images


def _loader_blocks(state: Any, workers: int, steps: int, warmup: int, lr: float) -> dict[str, float]:
    """The loader alone and the loader feeding train_step, with ``workers`` worker processes."""
    from edgepose.engine.trainer import batch_size_of, build_train_loader, move_to_device, to_channels_last, train_step

    cfg = dataclasses.replace(state.cfg, train=dataclasses.replace(state.cfg.train, workers=workers))
    loader = build_train_loader(state.task, state.train_set, cfg, state.dist, state.device)
    loader.sampler.set_epoch(0)  # type: ignore[union-attr]
    need = warmup + steps
    if len(loader) < need:
        from edgepose.errors import ConfigError

        raise ConfigError(f"the training loader has {len(loader)} batches; warmup + steps = {need} needs more")
    t0 = time.perf_counter()
    it = iter(loader)
    next(it)
    first_batch_s = time.perf_counter() - t0
    for _ in range(warmup - 1 if warmup else 0):
        next(it)
    start, cpu, images = time.perf_counter(), time.process_time(), 0
    for _ in range(steps):
        images += batch_size_of(next(it))
    loader_only = images / (time.perf_counter() - start)
    # CPU per image of the loader itself: measurable in this process only when it does the loading (no workers)
    loader_cpu = (time.process_time() - cpu) * 1e3 / images if workers == 0 else None
    non_blocking = state.device.type == "cuda"
    # A fresh loader, as at a run's start: re-iterating a persistent-worker loader left mid-epoch hung here
    del it, loader
    loader = build_train_loader(state.task, state.train_set, cfg, state.dist, state.device)
    loader.sampler.set_epoch(0)  # type: ignore[union-attr]
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    wait = 0.0
    _sync(state.device)
    start, images = time.perf_counter(), 0
    for _ in range(steps):
        w0 = time.perf_counter()
        batch = move_to_device(next(it), state.device, non_blocking=non_blocking)
        wait += time.perf_counter() - w0
        if state.cfg.train.channels_last:
            batch = to_channels_last(batch)
        images += batch_size_of(batch)
        train_step(state, batch, lr)
    _sync(state.device)
    seconds = time.perf_counter() - start
    del it, loader
    return {"workers": workers, "loader_images_per_s": loader_only, "loader_cpu_ms_per_image": loader_cpu,
            "loop_images_per_s": images / seconds,
            "wait_share": wait / seconds, "first_batch_s": first_batch_s}  # fmt: skip


def _device_block(state: Any, steps: int, warmup: int, lr: float) -> dict[str, float]:
    """The device pipeline alone and feeding train_step (its store built or reused first, untimed)."""
    from edgepose.engine.device_batches import DeviceBatches, device_train_dataset
    from edgepose.engine.trainer import batch_size_of, train_step

    t = state.cfg.train
    path = device_train_dataset(state.task).device_store  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    batches = DeviceBatches.from_store(path, state.task, batch_size=t.batch_size, seed=t.seed, device=state.device,
                                       channels_last=t.channels_last, progress=False)  # fmt: skip
    if len(batches) < warmup + steps:
        from edgepose.errors import ConfigError

        need = warmup + steps
        raise ConfigError(f"the device pipeline has {len(batches)} batches; warmup + steps = {need} needs more")
    it = iter(batches)
    next(it)
    _sync(state.device)
    first_batch_s = time.perf_counter() - t0
    for _ in range(warmup - 1 if warmup else 0):
        next(it)
    _sync(state.device)
    start, cpu, images = time.perf_counter(), time.process_time(), 0
    for _ in range(steps):
        images += batch_size_of(next(it))
    _sync(state.device)
    alone, cpu_ms = images / (time.perf_counter() - start), (time.process_time() - cpu) * 1e3 / images
    it = iter(batches)
    for _ in range(warmup):
        train_step(state, next(it), lr)
    _sync(state.device)
    start, images, wait = time.perf_counter(), 0, 0.0
    for _ in range(steps):
        w0 = time.perf_counter()
        batch = next(it)
        wait += time.perf_counter() - w0
        images += batch_size_of(batch)
        train_step(state, batch, lr)
    _sync(state.device)
    seconds = time.perf_counter() - start
    return {"pipeline": "device", "workers": 0, "loader_images_per_s": alone, "loader_cpu_ms_per_image": cpu_ms,
            "loop_images_per_s": images / seconds, "wait_share": wait / seconds,
            "first_batch_s": first_batch_s}  # fmt: skip


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model, of ``device``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return str(machine_summary()["cpu"])


def bench_train(
    config: str,
    *,
    overrides: Sequence[str] = (),
    steps: int = 10,
    warmup: int = 2,
    workers: Sequence[int] | None = None,
    batch_size: int | None = None,
    threads: int | None = None,
    device: str | None = None,
    pipelines: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Images/s of the network step alone, of the loader alone and of the two together (module docstring)."""
    from edgepose.engine.config import load_experiment
    from edgepose.engine.trainer import build_state, build_train_loader, move_to_device, to_channels_last

    say = progress or (lambda _msg: None)
    extra = [*overrides, *([f"train.batch_size={batch_size}"] if batch_size else []),
             *([f"train.device={device}"] if device else [])]  # fmt: skip
    cfg = load_experiment(config, extra)
    pipelines = list(pipelines or [cfg.data.get("pipeline", "loader")])
    if "device" in pipelines or cfg.data.get("pipeline") == "device":
        from edgepose.engine.device_batches import pipeline_options, store_path
        from edgepose.engine.task import build_task

        # the network-only batches come from the loader when it is timed; the store is cached beside the output
        base = "loader" if "loader" in pipelines else "device"
        store = pipeline_options(build_task(cfg).data).store or str(store_path(build_task(cfg)))  # type: ignore[attr-defined]
        cfg = load_experiment(config, [*extra, f"data.pipeline={base}", f"data.device_pipeline.store={store}"])
    if threads:
        torch.set_num_threads(threads)
    load_before = load_average()
    with tempfile.TemporaryDirectory() as out:
        say(f"building {cfg.name}: model, datasets, optimiser")
        state = build_state(cfg, out_dir=out)
        from edgepose.engine.device_batches import wrap_training_model

        state.train_model = wrap_training_model(state.model, cfg, state.device)  # train.compile / bf16, as training
        lr = cfg.train.lr
        state.model.train()
        say(f"collecting {warmup + steps} batches for the network-only figure")
        cfg0 = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, workers=0))
        if cfg.data.get("pipeline") == "device":
            from edgepose.engine.device_batches import fast_path_loader

            source: Iterable = fast_path_loader(dataclasses.replace(state, train_model=state.model))  # type: ignore[assignment]
        else:
            source = build_train_loader(state.task, state.train_set, cfg0, state.dist, state.device)
        held = _batches(source, warmup + steps)
        held = [move_to_device(b, state.device) for b in held]
        if cfg.train.channels_last:
            held = [to_channels_last(b) for b in held]
        _network_block(state, held[:warmup] or held[:1], lr)  # warm-up
        say(f"timing the network step alone ({steps} steps)")
        blocks = [_network_block(state, held[warmup:], lr)]
        rows = []
        for w in (workers if workers is not None else [cfg.train.workers]) if "loader" in pipelines else []:
            say(f"timing the loader alone and loader + network with {w} worker(s)")
            rows.append({"pipeline": "loader", **_loader_blocks(state, w, steps, warmup, lr)})
        if "device" in pipelines:
            say("timing the device pipeline alone and feeding the network")
            rows.append(_device_block(state, steps, warmup, lr))
        say("timing the network step alone again")
        blocks.append(_network_block(state, held[warmup:], lr))
    network = [b[0] for b in blocks]
    net = sum(network) / len(network)
    for row in rows:
        row["ratio"] = row["loop_images_per_s"] / net
    machine = {**machine_summary(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    return {
        "config": str(config), "model": cfg.model.name, "device": str(state.device), "amp": state.amp,
        "device_name": device_name(state.device), "pipelines": pipelines, "amp_dtype": cfg.train.amp_dtype,
        "compile": cfg.train.compile,
        "batch_size": cfg.train.batch_size, "input_size": cfg.data.get("input_size"), "steps": steps,
        "warmup": warmup, "channels_last": cfg.train.channels_last, "network_images_per_s": net,
        "network_blocks_images_per_s": network, "network_cpu_ms_per_image": [b[1] for b in blocks],
        "loaders": rows, "machine": machine,
        "load_avg_before": load_before, "load_avg_after": load_average(),
    }  # fmt: skip


def format_train_table(result: dict[str, Any]) -> str:
    """One line per worker count: loader alone, loader + network, the network alone, their ratio."""
    net = result["network_images_per_s"]
    lines = [f"{result['model']} at {result['input_size']}, batch {result['batch_size']} on {result['device']} "
             f"({result.get('device_name', '?')})"
             f"{' with AMP' if result['amp'] else ''}: network step alone {net:.1f} images/s (blocks before / "
             f"after: {' / '.join(f'{v:.1f}' for v in result['network_blocks_images_per_s'])}; CPU ms/image "
             f"{' / '.join(f'{v:.1f}' for v in result['network_cpu_ms_per_image'])})",
             f"{'pipeline':>9}{'workers':>8}{'loader img/s':>14}{'loop img/s':>12}{'x network':>11}{'waiting':>9}"
             f"{'1st batch s':>13}"]  # fmt: skip
    for r in result["loaders"]:
        lines.append(f"{r.get('pipeline', 'loader'):>9}"
                     f"{r['workers']:>8}{r['loader_images_per_s']:>14.1f}{r['loop_images_per_s']:>12.1f}"
                     f"{r['ratio']:>11.2f}{r['wait_share']:>9.0%}{r['first_batch_s']:>13.2f}"
                     + (f"   loader CPU {r['loader_cpu_ms_per_image']:.2f} ms/image"
                        if r.get("loader_cpu_ms_per_image") is not None else ""))  # fmt: skip
    m = result["machine"]
    lines.append(f"machine: {m['cpu']} ({m['cpus_usable']} CPUs usable), torch {m['torch']} with "
                 f"{m['torch_threads']} threads, OMP_WAIT_POLICY {m['omp_wait_policy']}, load avg "
                 f"{result['load_avg_before']} before / {result['load_avg_after']} after; {result['steps']} timed "
                 f"steps per figure after {result['warmup']} warm-up")  # fmt: skip
    return "\n".join(lines)
