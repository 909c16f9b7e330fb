"""`edgepose quickstart`: the whole top-down pipeline end to end on a laptop CPU in about ten minutes.

1. draws a synthetic COCO-format dataset of people (:mod:`edgepose.data.synthetic`; cached between runs),
2. trains a reduced FLPN (SResNet with one Smart bottleneck per stage at half width, GC blocks, two-conv stem,
   group-deconvolution head: ``flpn_sres50(blocks=(1, 1, 1, 1), width=0.5)``, 1.2M parameters) at 128x96
   with the training engine (about 1100 steps of 32 crops),
3. evaluates it on the synthetic validation split (GT boxes, flip test, OKS rescoring + NMS, COCOeval),
4. writes ``report.md`` and ``metrics.json`` beside the trainer's output (plots, checkpoints, logs).

Layout of ``--out`` (default ``output/quickstart``)::

    data/               the synthetic dataset (images/, annotations/person_keypoints_{train,val}.json)
    train/              the trainer's folder: config.yaml, steps.csv, epochs.csv, plots/, last.pt, best.pt
    report.md           what was done, how long it took, the figures, and what to run next
    metrics.json        final metrics and timings

The experiment is :data:`QUICKSTART` (``configs/quickstart.yaml`` is the same experiment as a file);
``--tiny`` shrinks it to a smoke run of well under a minute (used by the test suite).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path
from typing import Any

# The quickstart experiment. Data paths are relative to the --out folder (the config's config_dir).
QUICKSTART: dict[str, Any] = {
    "name": "quickstart",
    "task": "topdown",
    "model": {
        "name": "flpn_sres50",
        "overrides": {"input_size": [128, 96], "blocks": [1, 1, 1, 1], "width": 0.5, "deconv_channels": 128},
    },
    "data": {
        "dataset": "coco",
        "train_ann": "data/annotations/person_keypoints_train.json",
        "train_images": "data/images",
        "val_ann": "data/annotations/person_keypoints_val.json",
        "val_images": "data/images",
        "input_size": [128, 96],
        "heatmap_stride": 4,
        "sigma": 2.0,
        "codec": "dark",
        "scale_factor": 0.25,
        "rotation_factor": 20.0,
        "rotation_prob": 0.5,
        "flip": True,
        "half_body_prob": 0.0,
    },
    "eval": {"flip_test": True, "use_gt_boxes": True},
    "train": {
        "epochs": 12,
        "batch_size": 32,
        "optimizer": "adam",
        "lr": 2.0e-3,
        "weight_decay": 0.0,
        "lr_milestones": [9],
        "lr_gamma": 0.1,
        "warmup_steps": 30,
        "workers": 1,
        "seed": 0,
        "amp": False,
        "eval_every": 4,
        "log_every": 10,
        "device": "cpu",
        "channels_last": True,
    },
}

# The synthetic dataset (edgepose.data.synthetic.SynthConfig keys).
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

# --tiny: a smoke run for tests and CI (seconds, not minutes); AP is a number, not a result.
TINY_OVERRIDES: dict[str, Any] = {"train.epochs": 1, "train.max_steps_per_epoch": 3, "train.batch_size": 8,
                                  "train.eval_every": 1, "train.log_every": 1, "train.warmup_steps": 0,
                                  "train.workers": 0}  # fmt: skip
TINY_SYNTH: dict[str, Any] = {"images": 24, "val_fraction": 4 / 24}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quickstart",
        help="synthetic data -> train a small FLPN -> evaluate -> report, on CPU in ~10 minutes",
        description="Generate a synthetic people dataset, train a small FLPN on it, evaluate it (GT boxes, flip "
        "test, COCO AP) and write report.md, metrics.json and plots into --out. Progress is shown throughout.",
    )
    p.add_argument("--out", default="output/quickstart", metavar="DIR", help="output folder (default: %(default)s)")
    p.add_argument("--tiny", action="store_true", help="a smoke run of a few seconds (tests/CI); AP is meaningless")
    p.add_argument("--images", type=int, default=None, help=f"synthetic images (default {SYNTH['images']})")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"training epochs (default {QUICKSTART['train']['epochs']})")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the training (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted quickstart in --out")
    p.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override experiment keys, e.g. train.epochs=4 train.device=cuda")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def quickstart_experiment(out_dir: str | Path, tiny: bool = False, overrides: Any = None):
    """The quickstart ExperimentConfig with data paths under ``out_dir``."""
    from edgepose.engine.config import experiment_from_dict, normalize_overrides

    data = copy.deepcopy(QUICKSTART)
    data["config_dir"] = str(Path(out_dir).resolve())
    merged = dict(TINY_OVERRIDES) if tiny else {}
    merged.update(normalize_overrides(overrides))
    return experiment_from_dict(data, merged)


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


def run(args: argparse.Namespace) -> int:
    import torch

    from edgepose.data.synthetic import SynthConfig, ensure_dataset
    from edgepose.engine.logging import write_json
    from edgepose.engine.trainer import train_experiment

    started = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    progress = not args.no_progress

    # 1. data
    synth = {**SYNTH, **(TINY_SYNTH if args.tiny else {}), "seed": args.seed}
    if args.images:
        synth["images"] = args.images
    synth_cfg = SynthConfig(**synth)
    n_train, n_val = synth_cfg.split_sizes()
    _say(f"[1/3] synthetic dataset: {n_train} train + {n_val} val images of {synth_cfg.width}x{synth_cfg.height} "
         f"-> {out / 'data'}")  # fmt: skip
    t0 = time.time()
    data_info = ensure_dataset(out / "data", synth_cfg, progress=progress)
    data_seconds = time.time() - t0
    if data_info.get("cached"):
        _say("      (reusing the identical dataset already there)")

    # 2. training (the trainer evaluates after the last epoch)
    overrides = list(args.overrides)
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
        if not args.tiny:  # keep the lr drop at 3/4 of the schedule
            overrides.append(f"train.lr_milestones=[{max(1, round(args.epochs * 0.75))}]")
    overrides.append(f"train.seed={args.seed}")
    cfg = quickstart_experiment(out, tiny=args.tiny, overrides=overrides)
    from edgepose.models import build_model

    params = sum(p.numel() for p in build_model(cfg.model.name, **cfg.model.overrides).parameters())
    t = cfg.train
    _say(f"[2/3] training {cfg.model.name} ({params / 1e6:.2f}M parameters) at {cfg.data['input_size'][0]}x"
         f"{cfg.data['input_size'][1]} for {t.epochs} epochs, batch {t.batch_size}, on {t.device} "
         f"({torch.get_num_threads()} threads) -> {out / 'train'}")  # fmt: skip
    t0 = time.time()
    metrics = train_experiment(cfg, out_dir=out / "train", resume=True if args.resume else None, progress=progress)
    train_seconds = time.time() - t0

    # 3. report
    _say("[3/3] writing the report")
    total_seconds = time.time() - started
    cpu_seconds = _cpu_seconds()
    summary = _summary(out, cfg, metrics, params, data_info, synth, data_seconds, train_seconds, total_seconds)
    summary["seconds"]["cpu"] = round(cpu_seconds, 1)
    write_json(out / "metrics.json", summary)
    _write_report(out, cfg, summary)
    ap = metrics.get("AP", float("nan"))
    ap50 = metrics.get("AP50", float("nan"))
    minutes = f"{total_seconds / 60:.1f} min ({cpu_seconds / 60:.1f} CPU-min)"
    _say(f"done in {minutes}: synthetic-val AP {ap:.3f} (AP50 {ap50:.3f})")
    _say(f"report: {out / 'report.md'}")
    print(f"AP {ap:.4f}")
    return 0


def _summary(out: Path, cfg: Any, metrics: dict, params: int, data_info: dict, synth: dict, data_s: float,
             train_s: float, total_s: float) -> dict[str, Any]:  # fmt: skip
    from edgepose.engine.logging import read_csv_rows

    epochs = read_csv_rows(out / "train" / "epochs.csv")
    return {
        "AP": metrics.get("AP"),
        "metrics": metrics,
        "model": cfg.model.name,
        "model_overrides": cfg.model.overrides,
        "parameters": params,
        "input_size": cfg.data["input_size"],
        "epochs": cfg.train.epochs,
        "steps": epochs[-1]["step"] if epochs else 0,
        "synthetic": {k: v for k, v in synth.items()},
        "dataset_counts": data_info.get("counts"),
        "seconds": {"data": round(data_s, 1), "train_and_eval": round(train_s, 1), "total": round(total_s, 1)},
        "threads": __import__("torch").get_num_threads(),
        "cpu_count": os.cpu_count(),
        "history": [
            {k: r.get(k) for k in ("epoch", "train_loss", "val_AP", "seconds") if r.get(k) is not None} for r in epochs
        ],
    }


def _write_report(out: Path, cfg: Any, s: dict[str, Any]) -> None:
    from edgepose.config import atomic_write_text

    m = s["metrics"]

    def f(key: str) -> str:
        v = m.get(key)
        return "n/a" if v is None else f"{v:.3f}"

    rows = "\n".join(
        f"| {h['epoch']} | {h.get('train_loss', float('nan')):.6f} | "
        f"{'' if h.get('val_AP') is None else format(h['val_AP'], '.3f')} | {h.get('seconds', 0):.0f} |"
        for h in s["history"]
    )
    train = out / "train"
    text = f"""# edgepose quickstart report

**Synthetic-val AP {f("AP")}** (AP50 {f("AP50")}, AP75 {f("AP75")}, AR {f("AR")}) after {s["epochs"]} epochs
({s["steps"]} steps) of `{s["model"]}` ({s["parameters"] / 1e6:.2f}M parameters, overrides `{s["model_overrides"]}`)
at {s["input_size"][0]}x{s["input_size"][1]} input, in {s["seconds"]["total"] / 60:.1f} minutes
({s["threads"]} torch threads, {s["cpu_count"]} CPUs).

Evaluation: the synthetic validation split, ground-truth person boxes, flip test, DARK decoding, OKS rescoring
and OKS-NMS, COCOeval (AP over OKS 0.50:0.95). The figures are synthetic people, so this AP shows that the
whole pipeline learns; it says nothing about accuracy on real photographs.

| step | seconds |
|---|---|
| synthetic data | {s["seconds"]["data"]} |
| training + evaluation | {s["seconds"]["train_and_eval"]} |
| total | {s["seconds"]["total"]} |
| CPU time (all threads and workers) | {s["seconds"].get("cpu", "n/a")} |

| epoch | train loss | val AP | seconds |
|---|---|---|---|
{rows}

![losses](train/plots/losses.png)

![metrics](train/plots/metrics.png)

## Files

- `data/`: the synthetic dataset ({s["dataset_counts"]})
- `train/config.yaml`: the resolved experiment; `train/epochs.csv`, `train/steps.csv`: logs
- `train/best.pt`, `train/last.pt`: checkpoints (`last.pt` continues with `--resume`)
- `metrics.json`: these figures as JSON

## Next

    edgepose eval {train / "config.yaml"} --weights {train / "best.pt"}
    edgepose train {train / "config.yaml"} --resume --set train.epochs={cfg.train.epochs + 4}
    edgepose train configs/flpn_sres50_coco_256x192.yaml      # the paper's recipe on COCO (docs/training.md)
"""
    atomic_write_text(out / "report.md", text)
