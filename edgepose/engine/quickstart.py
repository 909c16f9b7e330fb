"""The quickstart recipe: choose the data, plan the run to fit a wall-clock budget, train, evaluate, draw, report.

``edgepose quickstart`` (:mod:`edgepose.cli.quickstart`) parses its options and calls :func:`run_quickstart`.
It trains on **real people** when it finds an LSPet folder (``$EDGEPOSE_DATA/lspet``, else ``../shared/data/lspet``
beside the current folder or the source checkout, else ``--lspet-root DIR``), and on **synthetic people**
otherwise, and says which one up front. The experiments are the YAML files in the installed package
(``edgepose/configs/quickstart*.yaml``); the repository's ``configs/quickstart*.yaml`` inherit them with ``base:``
and only set data paths, so the two cannot drift. The report is written from the resolved config and the run's own
logs: what it says (model, input size, decoder, images, epochs, time) is what this run did.

**The budget** (``--minutes``) covers the whole command: data generation, building the datasets and the model,
training with its evaluations, the final evaluation, the picture and the report. :class:`Budget` holds one
deadline; :func:`plan_run` measures what a training step and the synthetic data cost *on this machine, now*
(so a loaded machine plans fewer steps), shrinks the data or the epochs to fit, and keeps a reserve measured the
same way for what runs after training. The trainer gets what is left as ``train.max_minutes``, counted from before
it builds its datasets, and checks it after every step.

Layout of ``--out`` (default ``output/quickstart``)::

    data/               synthetic only: the drawn dataset (images/, annotations/person_keypoints_{train,val}.json)
    train/              the trainer's folder: config.yaml, steps.csv, epochs.csv, plots/, last.pt, best.pt, eval/
    predictions.jpg     the trained model's poses on a few validation images
    report.md           what was done, how long it took, the figures, the picture, and what to run next
    metrics.json        final metrics, timings and the plan
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepose.errors import ConfigError, DataError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
RECIPES = {"synthetic": CONFIG_DIR / "quickstart.yaml", "lspet": CONFIG_DIR / "quickstart_lspet.yaml"}

# The synthetic dataset (edgepose.data.synthetic.SynthConfig keys): the generator's settings, not the experiment's.
SYNTH: dict[str, Any] = {
    "images": 1600,
    "seed": 0,
    "width": 192,
    "height": 160,
    "min_people": 1,
    "max_people": 3,
    "small_person_prob": 0.0,
    "crowd_prob": 0.0,
    "partial_prob": 0.0,
    "occluder_prob": 0.0,
    "clutter": 2,
    "noise": 4.0,
    "area": "figure",
    "val_fraction": 120 / 1600,
}

# --tiny: a smoke run for tests and CI (seconds, not minutes); the scores are numbers, not results.
TINY_OVERRIDES: dict[str, Any] = {"train.epochs": 1, "train.max_steps_per_epoch": 3, "train.batch_size": 8,
                                  "train.eval_every": 1, "train.log_every": 1, "train.warmup_steps": 0,
                                  "train.workers": 0}  # fmt: skip
TINY_SYNTH: dict[str, Any] = {"images": 24, "val_fraction": 4 / 24}
TINY_LSPET: dict[str, Any] = {"data.max_images": 12}  # 12 training images (24 items: 3 steps), 12 to score

DEFAULT_MINUTES = 10.0  # --minutes: the whole command's wall-clock budget
# What runs after training (final evaluation, picture, report) is planned from the measured step time, with this
# margin and at least this floor; the synthetic data may take at most DATA_SHARE of the budget.
RESERVE_MARGIN = 1.5
RESERVE_MIN_SECONDS = 15.0
DATA_SHARE = 0.25
MIN_SYNTH_IMAGES = 48  # fewer synthetic images than this leave no validation split worth scoring
MIN_STEPS_PER_EPOCH = 10  # a budget that allows fewer per epoch trains fewer epochs instead
PROBE_STEPS = 2  # timed training steps (after one warm-up) that plan the run
# CPU seconds of what follows training on an idle machine, besides the network's own passes: the final
# evaluation's set-up and COCOeval, checkpoints, plots (matplotlib), the picture and the report. Measured from a
# starved run (benchmarks/results/quickstart_budget_2026-12-07.txt: 11.9 CPU-s in all, of which about 5 after
# training). Divided by the share of a CPU this process gets (measured with the step), it is wall time.
POST_CPU_SECONDS = 5.0
# CPU seconds of the shortest real run (imports, data, the timed steps, a few training steps, evaluation, picture,
# report): the same starved run's 11.9 CPU-s. With the CPU share measured up front, a budget that cannot hold even
# this is refused at once instead of being overrun.
MIN_RUN_CPU_SECONDS = 12.0

PREVIEW_IMAGES = 6  # validation images in predictions.jpg
PREVIEW_HEIGHT = 200  # pixels per image in predictions.jpg
PREVIEW_THRESHOLD = 0.2  # keypoint score to draw (the runtime's threshold for a found keypoint)


# ------------------------------------------------------------------------------------------------ recipes
def quickstart_dict(kind: str) -> dict[str, Any]:
    """The quickstart experiment ``kind`` (``synthetic`` or ``lspet``) as read from the package's YAML."""
    from edgepose.engine.config import read_experiment_dict

    path = RECIPES[kind]
    if not path.is_file():
        raise ConfigError("the quickstart recipe is missing from this installation (reinstall edgepose)", path)
    return read_experiment_dict(path)


def quickstart_experiment(out_dir: str | Path, tiny: bool = False, overrides: Any = None, *,
                          lspet_root: str | Path | None = None):  # fmt: skip
    """The quickstart ExperimentConfig: synthetic data under ``out_dir``, or LSPet at ``lspet_root`` when given.

    Relative data paths resolve against ``out_dir`` (where the synthetic data is drawn); the LSPet paths are set
    to the folder found, absolute, so the saved ``train/config.yaml`` keeps working from anywhere.
    """
    from edgepose.engine.config import experiment_from_dict, normalize_overrides

    kind = "lspet" if lspet_root is not None else "synthetic"
    data = quickstart_dict(kind)
    data["config_dir"] = str(Path(out_dir).resolve())
    if lspet_root is not None:
        root = Path(lspet_root).resolve()
        data["data"].update(train_ann=str(root / "joints.mat"), val_ann=str(root / "joints.mat"),
                            train_images=str(root / "images"), val_images=str(root / "images"))  # fmt: skip
    merged = dict(TINY_OVERRIDES) if tiny else {}
    if tiny and lspet_root is not None:
        merged.update(TINY_LSPET)
    merged.update(normalize_overrides(overrides))
    return experiment_from_dict(data, merged)


def lspet_candidates() -> list[Path]:
    """Where the quickstart looks for LSPet, in order: ``$EDGEPOSE_DATA/lspet``, then ``../shared/data/lspet``
    beside the current folder and beside the source checkout (an editable install run from elsewhere)."""
    env = os.environ.get("EDGEPOSE_DATA")
    if env:
        return [Path(env) / "lspet"]
    checkout = Path(__file__).resolve().parents[2]
    found = [Path.cwd().parent / "shared" / "data" / "lspet", checkout.parent / "shared" / "data" / "lspet"]
    return list(dict.fromkeys(p.resolve() for p in found))


def check_lspet(root: Path, val_range: list[int]) -> int:
    """The number of LSPet images in ``root``; DataError naming what is missing (joints.mat, images/, or the
    validation images the quickstart scores)."""
    from edgepose.data.lspet import load_lsp, resolve_lsp_root

    mat, images = resolve_lsp_root(root)
    load_lsp(mat, images, first=val_range[0], last=val_range[1])
    return sum(1 for p in images.iterdir() if p.suffix.lower() == ".jpg")


def choose_data(mode: str, explicit_root: str | None) -> tuple[str, Path | None, str]:
    """``(kind, lspet_root, why)``: LSPet when ``mode`` allows it and a usable folder is found, else synthetic."""
    if mode == "synthetic":
        return "synthetic", None, "--data synthetic"
    val_range = quickstart_dict("lspet")["data"]["val_range"]
    candidates = [Path(explicit_root)] if explicit_root else lspet_candidates()
    problems = []
    for root in candidates:
        if not root.is_dir():
            from edgepose.pathkind import path_kind

            kind = path_kind(root)
            problems.append(f"no folder {root}" if kind is None else f"{root} is {kind}, not a folder")
            continue
        try:
            n = check_lspet(root, val_range)
        except DataError as exc:
            if mode == "lspet" or explicit_root:
                raise
            problems.append(str(exc))
            continue
        return "lspet", root, f"{n} LSPet images found in {root}"
    if mode == "lspet" or explicit_root:
        raise DataError(f"--data lspet: LSPet not found ({'; '.join(problems)}); set EDGEPOSE_DATA or --lspet-root")
    return "synthetic", None, f"no LSPet folder ({'; '.join(problems)})"


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (DataLoader workers); process time off Unix."""
    try:
        import resource
    except ImportError:  # Windows
        return time.process_time()
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Budget:
    """The whole command's wall-clock budget: one deadline, counted from the start (monotonic clock)."""

    minutes: float
    started: float = field(default_factory=time.monotonic)  # the CLI passes its invocation (start-up included)

    def left_s(self) -> float:
        return 60.0 * self.minutes - (time.monotonic() - self.started)

    def spent_s(self) -> float:
        return time.monotonic() - self.started


def cpu_share(cpu_seconds: float = 0.05, max_wall: float = 3.0) -> float:
    """The share of one CPU this process gets now: a busy loop's CPU time over its wall time (1 on an idle
    machine, 0.02 when fifty other processes compete for each core)."""
    t0, c0 = time.perf_counter(), time.process_time()
    x = 0
    while time.process_time() - c0 < cpu_seconds and time.perf_counter() - t0 < max_wall:
        x = (x * 31 + 7) % 1000003
    return min(1.0, max(1e-3, (time.process_time() - c0) / max(1e-9, time.perf_counter() - t0)))


def check_feasible(budget: Budget, share: float) -> None:
    """ConfigError at once when even the shortest run cannot fit what is left of the budget at this CPU share."""
    need = MIN_RUN_CPU_SECONDS / share
    if need > budget.left_s():
        raise ConfigError(
            f"--minutes {budget.minutes:g} cannot be honoured now: this process gets {100 * share:.2g} % of a CPU "
            f"(the machine is busy), so even the shortest run would take about {need / 60:.0f} min; give a larger "
            "--minutes or run it when the machine is quieter"
        )


def process_age() -> float:
    """Seconds since this process started (for a command, Python's start-up and imports count against its
    budget too); 0 where the system does not say (Linux's /proc gives it)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/self/stat", encoding="ascii") as fh:
            start = int(fh.read().rsplit(")", 1)[1].split()[19]) / ticks
        with open("/proc/uptime", encoding="ascii") as fh:
            return max(0.0, float(fh.read().split()[0]) - start)
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


@dataclass
class Plan:
    """What the run will do to fit its budget, and the measurements it was planned from (in the report)."""

    step_s: float  # seconds per training step measured here, now (loading the batch included)
    startup_s: float  # building the datasets and the model
    eval_s: float  # estimated seconds of one evaluation
    cpu_share: float  # the share of the CPUs this process got during the timed steps (1: all it asked for)
    reserve_s: float  # kept for the final evaluation, the picture and the report
    epochs: int
    steps_per_epoch: int
    recipe_epochs: int
    recipe_steps: int
    max_minutes: float = 0.0  # the trainer's hard stop, set just before training
    notes: list[str] = field(default_factory=list)

    @property
    def shortened(self) -> bool:
        return (self.epochs, self.steps_per_epoch) != (self.recipe_epochs, self.recipe_steps)


def evaluations(epochs: int, eval_every: int) -> int:
    """Evaluations in a run of ``epochs``: every ``eval_every``-th epoch and always after the last."""
    periodic = epochs // eval_every if eval_every else 0
    return periodic + (0 if eval_every and epochs % eval_every == 0 else 1)


def fit_steps(epochs: int, steps: int, eval_every: int, step_s: float, eval_s: float,
              train_s: float) -> tuple[int, int]:  # fmt: skip
    """``(epochs, steps per epoch)`` of the recipe's that fit ``train_s`` seconds: shorter epochs first (the lr
    schedule keeps its shape), then fewer epochs once an epoch would fall under :data:`MIN_STEPS_PER_EPOCH`."""

    def cost(e: int, s: int) -> float:
        return e * s * step_s + evaluations(e, eval_every) * eval_s

    if cost(epochs, steps) <= train_s:
        return epochs, steps
    floor = min(steps, MIN_STEPS_PER_EPOCH)
    for e in range(epochs, 0, -1):
        s = min(steps, math.floor((train_s - evaluations(e, eval_every) * eval_s) / (e * step_s)))
        if s >= floor:
            return e, s
    return 1, max(1, math.floor((train_s - eval_s) / step_s))


def measure_training(cfg: Any, steps: int = PROBE_STEPS) -> tuple[float, float, int, int, float]:
    """``(seconds per step, startup seconds, steps per epoch, validation items, CPU share)`` of ``cfg`` here, now.

    Builds the task's datasets and model as the trainer will (timed: the startup), then times ``steps`` training
    steps after a warm-up one, each with its batch loaded in this process: a loaded machine measures slower and
    plans fewer steps. The CPU share is the process's CPU time over the wall time of all its threads (a machine
    busy with other work gives less than 1). The weights are thrown away.
    """
    import torch
    from torch.utils.data import DataLoader

    from edgepose.engine.task import build_task

    t0 = time.perf_counter()
    task = build_task(cfg)
    train_set, val_set = task.train_dataset(), task.val_dataset()
    model = task.build_model()
    startup = time.perf_counter() - t0
    model.train()
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loader = DataLoader(train_set, batch_size=cfg.train.batch_size, shuffle=False, num_workers=0,
                        collate_fn=getattr(task, "collate_fn", None))  # fmt: skip
    times, cpu = [], []
    batches = iter(loader)
    for _ in range(steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            batch = next(batches)
        except StopIteration:
            break
        loss, _ = task.loss(model, batch)
        loss.backward()
        model.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    timed = slice(1, None) if len(times) > 1 else slice(None)
    step_s = sorted(times[timed])[len(times[timed]) // 2]
    share = min(1.0, sum(cpu[timed]) / max(1e-9, sum(times[timed]) * torch.get_num_threads()))
    per_epoch = len(train_set) // cfg.train.batch_size or 1
    return step_s, startup, per_epoch, len(val_set), max(share, 1e-3)


def plan_run(cfg: Any, budget: Budget, measured: tuple[float, float, int, int, float], fixed: bool = False) -> Plan:
    """The epochs and steps of ``cfg`` that fit what is left of ``budget`` (see the module docstring).

    ``fixed`` (``--tiny``): keep the recipe's steps and never refuse; only ``train.max_minutes`` limits the run.
    """
    step_s, startup_s, per_epoch, n_val, share = measured
    t = cfg.train
    steps = min(per_epoch, t.max_steps_per_epoch or per_epoch)
    flips = 2 if (cfg.eval or {}).get("flip_test", True) else 1
    # an evaluation runs the network forward only (about a third of a training step per image), with flip test twice
    eval_s = 1.0 + n_val * flips * step_s / (3.0 * t.batch_size)
    reserve_s = max(RESERVE_MIN_SECONDS, RESERVE_MARGIN * (eval_s + startup_s + POST_CPU_SECONDS / share))
    train_s = budget.left_s() - reserve_s - startup_s
    if fixed:
        return Plan(step_s=step_s, startup_s=startup_s, eval_s=eval_s, cpu_share=share, reserve_s=reserve_s,
                    epochs=t.epochs, steps_per_epoch=steps, recipe_epochs=t.epochs, recipe_steps=steps)  # fmt: skip
    if train_s < step_s:
        busy = f" (this process gets {100 * share:.2g} % of the CPU it asks for: the machine is busy)"
        busy = busy if share < 0.5 else ""
        raise ConfigError(f"--minutes {budget.minutes:g} leaves no time to train: {budget.spent_s():.0f} s spent, "
                          f"a training step takes {step_s:.2f} s here{busy} and {reserve_s:.0f} s are kept for "
                          "the evaluation and report; give a larger --minutes")  # fmt: skip
    epochs, steps_fit = fit_steps(t.epochs, steps, t.eval_every, step_s, eval_s, train_s)
    plan = Plan(step_s=step_s, startup_s=startup_s, eval_s=eval_s, cpu_share=share, reserve_s=reserve_s,
                epochs=epochs, steps_per_epoch=steps_fit, recipe_epochs=t.epochs, recipe_steps=steps)  # fmt: skip
    if plan.shortened:
        plan.notes.append(f"planned {epochs} epochs x {steps_fit} steps instead of the recipe's {t.epochs} x {steps} "
                          f"to fit the budget ({step_s:.2f} s per step measured here)")  # fmt: skip
    return plan


def plan_overrides(kind: str, cfg: Any, plan: Plan) -> list[str]:
    """``--set`` items that apply ``plan`` to ``cfg`` (the lr drop and warm-up kept in proportion)."""
    items = []
    if plan.epochs != cfg.train.epochs:
        items += [f"train.epochs={plan.epochs}", f"train.lr_milestones=[{_milestone(kind, plan.epochs)}]"]
    if plan.steps_per_epoch != plan.recipe_steps:
        items.append(f"train.max_steps_per_epoch={plan.steps_per_epoch}")
    total = plan.epochs * plan.steps_per_epoch
    if cfg.train.warmup_steps > total // 4:
        items.append(f"train.warmup_steps={total // 4}")
    return items


def plan_synthetic_images(synth: dict[str, Any], budget: Budget, out: Path) -> tuple[dict[str, Any], str | None]:
    """``synth`` with fewer images when drawing them all would take more than :data:`DATA_SHARE` of the budget
    (timed on a few images here); a note saying so, or None. A dataset already drawn costs nothing."""
    from edgepose.data.synthetic import SynthConfig, dataset_matches, image_rng, render_scene

    cfg = SynthConfig(**synth)
    if dataset_matches(out, cfg):
        return synth, None
    probe = 4
    t0 = time.perf_counter()
    for i in range(probe):
        render_scene(image_rng(cfg.seed, i), cfg)
    per_image = 1.3 * (time.perf_counter() - t0) / probe  # + encoding and writing the files
    allowed = DATA_SHARE * budget.left_s()
    if per_image * cfg.images <= allowed:
        return synth, None
    images = max(MIN_SYNTH_IMAGES, math.floor(allowed / per_image))
    if images >= cfg.images:
        return synth, None
    note = (f"drawing {images} synthetic images instead of {cfg.images} to fit the budget "
            f"({per_image:.2f} s per image measured here)")  # fmt: skip
    return {**synth, "images": images}, note


def _milestone(kind: str, epochs: int) -> int:
    """The lr drop for ``epochs`` at the same fraction of the schedule as the recipe's own."""
    recipe = quickstart_dict(kind)["train"]
    fraction = recipe["lr_milestones"][0] / recipe["epochs"]
    return min(epochs, max(1, round(epochs * fraction)))


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# ------------------------------------------------------------------------------------------------ the run
@dataclass
class QuickstartOptions:
    """What ``edgepose quickstart`` was asked for (its options, checked by the CLI)."""

    out: Path = Path("output/quickstart")
    data: str = "auto"  # auto | lspet | synthetic
    lspet_root: str | None = None
    tiny: bool = False
    images: int | None = None
    epochs: int | None = None
    seed: int = 0
    threads: int | None = None
    minutes: float = DEFAULT_MINUTES
    resume: bool = False
    overrides: list[str] = field(default_factory=list)
    progress: bool = True
    started: float | None = None  # time.monotonic() of the invocation (default: when run_quickstart is called)


def run_quickstart(opts: QuickstartOptions) -> dict[str, Any]:
    """Data, plan, training (with its evaluations), picture and report within ``opts.minutes``; the summary."""
    budget = Budget(opts.minutes) if opts.started is None else Budget(opts.minutes, started=opts.started)
    if not opts.tiny:  # before importing torch: a real run refuses at once rather than overrun (a smoke run never)
        check_feasible(budget, cpu_share())
    import torch

    from edgepose.engine.logging import write_json
    from edgepose.engine.trainer import train_experiment

    kind, lspet_root, why = choose_data(opts.data, opts.lspet_root)
    out = opts.out
    if not opts.resume and any((out / "train" / n).exists() for n in ("last.pt", "best.pt")):
        raise DataError("--out already holds a quickstart run (train/last.pt); continue it with --resume, or use "
                        "another --out (nothing was changed)", out)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    _announce(kind, why, opts.minutes)
    notes: list[str] = []
    overrides = list(opts.overrides)
    data_info, synth, data_seconds = _prepare_data(kind, opts, budget, overrides, notes)
    if opts.epochs:
        overrides.append(f"train.epochs={opts.epochs}")
        if not opts.tiny:  # keep the lr drop at the recipe's place in the schedule
            overrides.append(f"train.lr_milestones=[{_milestone(kind, opts.epochs)}]")
    overrides.append(f"train.seed={opts.seed}")
    cfg = quickstart_experiment(out, tiny=opts.tiny, overrides=overrides, lspet_root=lspet_root)
    if kind == "lspet":
        lo, hi = cfg.data["val_range"]
        _say(f"[1/4] LSPet at {lspet_root}: the first {cfg.data['max_images']} training images x "
             f"{len(cfg.data['train_boxes'])} boxes ({', '.join(cfg.data['train_boxes'])}); validation images "
             f"{lo}-{hi}, whole-image boxes")  # fmt: skip
        data_info = {"root": str(lspet_root), "train_images": cfg.data["max_images"], "val_range": [lo, hi],
                     "train_boxes": list(cfg.data["train_boxes"])}

    # 2. plan from a measured step, then train (the trainer evaluates after the last epoch)
    plan = plan_run(cfg, budget, measure_training(cfg), fixed=opts.tiny)
    planned = plan_overrides(kind, cfg, plan)
    plan.max_minutes = (budget.left_s() - plan.reserve_s) / 60.0
    if plan.max_minutes <= 0:
        if not opts.tiny:
            raise ConfigError(f"--minutes {opts.minutes:g}: the budget ran out before training could start")
        plan.max_minutes = 1e-3  # a smoke run still takes its first step
    planned.append(f"train.max_minutes={plan.max_minutes:.9f}")
    cfg = quickstart_experiment(out, tiny=opts.tiny, lspet_root=lspet_root, overrides=[*overrides, *planned])
    notes += plan.notes
    for note in plan.notes:
        _say(f"      {note}")
    params = sum(p.numel() for p in _build_model(cfg).parameters())
    t = cfg.train
    size = cfg.data["input_size"]
    _say(f"[2/4] training {cfg.model.name} ({params / 1e6:.2f}M parameters) at {size[0]}x{size[1]} for "
         f"at most {t.epochs} epochs of {plan.steps_per_epoch} steps or {t.max_minutes:.1f} min, batch "
         f"{t.batch_size}, on {t.device} ({torch.get_num_threads()} threads) -> {out / 'train'}")  # fmt: skip
    t0 = time.time()
    metrics = train_experiment(cfg, out_dir=out / "train", resume=True if opts.resume else None,
                               progress=opts.progress)  # fmt: skip
    train_seconds = time.time() - t0

    # 3. a picture of the trained model's poses
    _say(f"[3/4] drawing the trained model's poses on {PREVIEW_IMAGES} validation images")
    t0 = time.time()
    picture = draw_predictions(cfg, out / "train" / "best.pt", out / "predictions.jpg")
    picture_seconds = time.time() - t0

    # 4. report
    _say("[4/4] writing the report")
    summary = _summary(kind, out, cfg, metrics, params, data_info, synth,
                       {"data": data_seconds, "train_and_eval": train_seconds, "picture": picture_seconds,
                        "total": budget.spent_s(), "cpu": _cpu_seconds()})  # fmt: skip
    summary.update(picture=picture.name if picture else None, minutes_budget=opts.minutes, data_reason=why,
                   notes=notes, plan={k: round(v, 3) if isinstance(v, float) else v
                                      for k, v in vars(plan).items() if k != "notes"})  # fmt: skip
    write_json(out / "metrics.json", summary)
    _write_report(out, cfg, summary)
    summary["seconds"]["total"] = round(budget.spent_s(), 1)  # the report included
    write_json(out / "metrics.json", summary)
    return summary


def _announce(kind: str, why: str, minutes: float) -> None:
    """The first two lines: which data and why, and the budget (said up front, before any work)."""
    if kind == "lspet":
        _say(f"quickstart on REAL people: {why} -> training on LSPet photos, scored with PCK@0.2")
    else:
        _say(f"quickstart on SYNTHETIC people: {why} -> drawing a synthetic dataset, scored with COCO AP "
             "(set EDGEPOSE_DATA to a folder holding lspet/ to train on real photos)")  # fmt: skip
    _say(f"time budget: {minutes:g} min in all (--minutes), data, training, evaluation and report included: "
         "the run is planned from a step timed on this machine and training stops when its share runs out")  # fmt: skip


def _build_model(cfg: Any) -> Any:
    from edgepose.engine.task import build_task

    return build_task(cfg).build_model()  # with the dataset's keypoints


def _prepare_data(kind: str, opts: QuickstartOptions, budget: Budget, overrides: list[str],
                  notes: list[str]) -> tuple[dict[str, Any], dict[str, Any] | None, float]:  # fmt: skip
    """Step 1: draw (or reuse) the synthetic dataset within its share of the budget, or cap the LSPet images."""
    t0 = time.time()
    if kind != "synthetic":
        if opts.images:
            overrides.append(f"data.max_images={opts.images}")
        return {}, None, time.time() - t0
    from edgepose.data.synthetic import SynthConfig, ensure_dataset

    synth = {**SYNTH, **(TINY_SYNTH if opts.tiny else {}), "seed": opts.seed}
    if opts.images:
        synth["images"] = opts.images
    synth, note = plan_synthetic_images(synth, budget, opts.out / "data")
    if note:
        notes.append(note)
        _say(f"      {note}")
    synth_cfg = SynthConfig(**synth)
    n_train, n_val = synth_cfg.split_sizes()
    _say(f"[1/4] synthetic dataset: {n_train} train + {n_val} val images of {synth_cfg.width}x"
         f"{synth_cfg.height} -> {opts.out / 'data'}")  # fmt: skip
    info = ensure_dataset(opts.out / "data", synth_cfg, progress=opts.progress)
    if info.get("cached"):
        _say("      (reusing the identical dataset already there)")
    return info, synth, time.time() - t0


# ------------------------------------------------------------------------------------------------ picture
def preview_items(cfg: Any) -> list[tuple[Path, list[list[float]]]]:
    """``(image, person boxes)`` of the first validation images: LSPet with the whole image as the box (what it
    is scored with), synthetic people with their ground-truth boxes (likewise)."""
    import json

    from edgepose.engine.config import resolve_path

    data = cfg.data
    if data["dataset"] == "lspet":
        from edgepose.data.lspet import load_lsp

        lo, hi = data["val_range"]
        people = load_lsp(resolve_path(cfg, data["val_ann"]), resolve_path(cfg, data["val_images"]), first=lo,
                          last=min(hi, lo + PREVIEW_IMAGES - 1))  # fmt: skip
        return [(p.image, []) for p in people]
    ann = json.loads(resolve_path(cfg, data["val_ann"]).read_text())
    images = resolve_path(cfg, data["val_images"])
    boxes: dict[int, list[list[float]]] = {}
    for a in ann["annotations"]:
        if not a.get("iscrowd") and a.get("num_keypoints", 0) > 0:
            boxes.setdefault(a["image_id"], []).append(a["bbox"])
    return [(images / im["file_name"], boxes[im["id"]]) for im in ann["images"] if im["id"] in boxes][:PREVIEW_IMAGES]


def draw_predictions(cfg: Any, weights: Path, path: Path) -> Path | None:
    """Draw the poses of ``weights`` on a few validation images into one JPEG (``path``), through the same
    predictor as ``edgepose predict --weights`` (flip test on). None, with a note, when nothing could be drawn."""
    import cv2
    import numpy as np

    from edgepose.engine.predict import load_model, torch_estimator
    from edgepose.io import atomic_write_image
    from edgepose.runtime.sources import read_image_bgr
    from edgepose.vis.draw import draw_poses

    if not weights.is_file():
        _say(f"      no {weights.name} to draw with: skipped")
        return None
    model, ckpt = load_model(weights=weights)
    estimator = torch_estimator(model, ckpt=ckpt)
    tiles = []
    for image_path, boxes in preview_items(cfg):
        image = read_image_bgr(image_path)
        persons = estimator(image, boxes or None)
        canvas = draw_poses(image, persons, skeleton=estimator.draw_skeleton, threshold=PREVIEW_THRESHOLD,
                            boxes=bool(boxes), scores=False)  # fmt: skip
        scale = PREVIEW_HEIGHT / canvas.shape[0]
        tiles.append(cv2.resize(canvas, (max(1, round(canvas.shape[1] * scale)), PREVIEW_HEIGHT),
                                interpolation=cv2.INTER_AREA))  # fmt: skip
    if not tiles:
        _say("      no validation image to draw on: skipped")
        return None
    gap = np.full((PREVIEW_HEIGHT, 4, 3), 255, np.uint8)
    row = np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
    try:
        return atomic_write_image(path, row, [cv2.IMWRITE_JPEG_QUALITY, 90], ext=".jpg")
    except ValueError:
        raise DataError("cannot encode the predictions picture", path) from None


# ------------------------------------------------------------------------------------------------- report
def _summary(kind: str, out: Path, cfg: Any, metrics: dict, params: int, data_info: dict, synth: dict | None,
             seconds: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    import json

    import torch

    from edgepose.engine.logging import read_csv_rows

    epochs = read_csv_rows(out / "train" / "epochs.csv")
    run = out / "train" / "metrics.json"
    stopped = bool(json.loads(run.read_text()).get("stopped_by_time_budget")) if run.is_file() else False
    primary = "PCK@0.2" if kind == "lspet" else "AP"
    return {
        "data": kind,
        "primary": primary,
        primary: metrics.get(primary),
        "metrics": metrics,
        "model": cfg.model.name,
        "model_overrides": cfg.model.overrides,
        "parameters": params,
        "input_size": cfg.data["input_size"],
        "epochs": cfg.train.epochs,
        "steps": epochs[-1]["step"] if epochs else 0,
        "epochs_done": epochs[-1]["epoch"] if epochs else 0,
        "stopped_by_time_budget": stopped,
        "synthetic": synth,
        "dataset": data_info.get("counts") if kind == "synthetic" else data_info,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "decoding": _decoding(cfg),
        "boxes": "ground-truth person boxes" if (cfg.eval or {}).get("use_gt_boxes") else "detected person boxes",
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "history": [
            {k: r.get(k) for k in ("epoch", "train_loss", f"val_{primary}", "seconds") if r.get(k) is not None}
            for r in epochs
        ],
    }


def _decoding(cfg: Any) -> str:
    """The evaluation's decoding as the config set it: codec and flip test."""
    codec = str(cfg.data.get("codec", "msra"))
    name = {"dark": "DARK decoding", "msra": "standard (MSRA) decoding"}.get(codec, f"{codec} decoding")
    flip = (cfg.eval or {}).get("flip_test", True)
    return f"{'flip test, ' if flip else 'no flip test, '}{name}"


def _sections(train: Path, s: dict[str, Any], what: str) -> tuple[str, str, str, str, str]:
    """The report's parts that differ by data: headline, score column, data row, next commands, files."""
    m = s["metrics"]

    def f(key: str) -> str:
        return _num(m.get(key))

    if s["data"] == "lspet":
        d = s["dataset"]
        lo, hi = d["val_range"]
        n_val = min(hi - lo + 1, d["train_images"] or hi - lo + 1)  # data.max_images also caps the validation
        joints = "\n".join(f"| {k.split('/', 1)[1]} | {_num(v)} |" for k, v in m.items() if k.startswith("PCK@0.2/"))
        headline = f"""**LSPet PCK@0.2 {f("PCK@0.2")}** (PCK@0.1 {f("PCK@0.1")}, AUC 0-0.2 {f("AUC")}) after training
{what} on real photos.

Data: LSPet at `{d["root"]}` (research-use images, see its SOURCES.md): the first {d["train_images"]} training
images, each as {len(d["train_boxes"])} item(s) (boxes: {", ".join(d["train_boxes"])}). Evaluation: validation
images {lo}-{lo + n_val - 1} ({int(m.get("people", 0))} people scored; {int(m.get("skipped", 0))} without a torso
not scored), the whole image as the box (nothing from the labels is used at test time), {s["decoding"]}; PCK
against the torso (left shoulder to right hip). This is a short run at a quickstart budget: it shows the model
learning real people, not the accuracy a full training reaches (docs/training.md).

| joint | PCK@0.2 |
|---|---|
{joints}
"""
        score_col = "val PCK@0.2"
        data_row = ""  # the LSPet images are read by the training's data loader
        score_next = (f"    edgepose pck --root {d['root']} --range {lo} {hi} --weights {train / 'best.pt'}   "
                      f"# PCK on any LSP-format folder\n"
                      f"    edgepose pck --root {d['root']} --range 8501 9000 --weights {train / 'best.pt'}   "
                      f"# the whole validation split")  # fmt: skip
        files = "- `predictions.jpg`: the trained model's poses on the first validation images (whole-image boxes)"
    else:
        headline = f"""**Synthetic-val AP {f("AP")}** (AP50 {f("AP50")}, AP75 {f("AP75")}, AR {f("AR")}) after training
{what} on synthetic people ({s.get("data_reason", "no LSPet folder")}; set `EDGEPOSE_DATA` to a folder holding
`lspet/`, or pass `--lspet-root DIR`, to train on real photos).

Evaluation: the synthetic validation split, {s["boxes"]}, {s["decoding"]}, COCOeval (AP over OKS 0.50:0.95).
The figures are synthetic people, so this AP shows that the whole pipeline learns; it says nothing about accuracy
on real photographs.
"""
        score_col = "val AP"
        data_row = f"| synthetic data | {s['seconds']['data']} |\n"
        score_next = (f"    edgepose eval {train / 'config.yaml'} --weights {train / 'best.pt'}   # evaluate again\n"
                      "    edgepose pck --root DIR --range FIRST LAST --json   # the shipped model's PCK on LSP-format "
                      "images")  # fmt: skip
        files = (f"- `data/`: the synthetic dataset ({s['dataset']})\n"
                 "- `predictions.jpg`: the trained model's poses on the first validation images "
                 "(ground-truth boxes)")  # fmt: skip
    return headline, score_col, data_row, score_next, files


def _write_report(out: Path, cfg: Any, s: dict[str, Any]) -> None:
    from edgepose.config import atomic_write_text

    primary = s["primary"]
    rows = "\n".join(
        f"| {h['epoch']} | {h.get('train_loss', float('nan')):.6f} | "
        f"{'' if h.get(f'val_{primary}') is None else format(h[f'val_{primary}'], '.3f')} | {h.get('seconds', 0):.0f} |"
        for h in s["history"]
    )
    train = out / "train"
    size = s["input_size"]
    what = (f"`{s['model']}` ({s['parameters'] / 1e6:.2f}M parameters, overrides `{s['model_overrides']}`) at "
            f"{size[0]}x{size[1]} input, {s['epochs_done']} of {s['epochs']} epochs ({s['steps']} steps"
            f"{'; the time budget ended training' if s['stopped_by_time_budget'] else ''}), in "
            f"{s['seconds']['total'] / 60:.1f} minutes ({s['threads']} torch threads, "
            f"{s['cpu_count']} CPUs)")  # fmt: skip
    headline, score_col, data_row, score_next, files = _sections(out / "train", s, what)
    picture = "![predictions](predictions.jpg)" if s.get("picture") else "(no picture: no checkpoint to draw with)"
    if s.get("notes"):
        picture += "\n\nTo fit the " + f"{s['minutes_budget']:g}-minute budget: " + "; ".join(s["notes"]) + "."
    text = f"""# edgepose quickstart report

{headline}
{picture}

| step | seconds |
|---|---|
{data_row}| training + evaluation | {s["seconds"]["train_and_eval"]} |
| predictions picture | {s["seconds"]["picture"]} |
| total | {s["seconds"]["total"]} |
| CPU time (all threads and workers) | {s["seconds"]["cpu"]} |

| epoch | train loss | {score_col} | seconds |
|---|---|---|---|
{rows}

![losses](train/plots/losses.png)

![metrics](train/plots/metrics.png)

## Files

{files}
- `train/config.yaml`: the resolved experiment; `train/epochs.csv`, `train/steps.csv`: logs
- `train/best.pt`, `train/last.pt`: checkpoints (`last.pt` continues with `--resume`)
- `metrics.json`: these figures as JSON

## Next

    edgepose predict photo.jpg --weights {train / "best.pt"} --out {out / "predict"}   # your own photos
    edgepose export {train / "best.pt"} --out {out / "model.onnx"}   # ONNX, checked against PyTorch
    edgepose predict photo.jpg --onnx {out / "model.onnx"} --out {out / "predict"}   # the torch-free runtime
{score_next}
    edgepose train {train / "config.yaml"} --resume --set train.epochs={cfg.train.epochs + 4}   # train longer
    edgepose demo                                # the shipped model (trained on LSPet) on the bundled photos
    edgepose train configs/flpn_small_lspet_160x160.yaml   # the shipped model's full recipe (docs/training.md)
"""
    atomic_write_text(out / "report.md", text)
