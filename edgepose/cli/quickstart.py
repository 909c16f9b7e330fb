"""`edgepose quickstart`: train a small FLPN end to end on a laptop CPU, evaluate it, and write a report.

It trains on **real people** when it finds an LSPet folder (``$EDGEPOSE_DATA/lspet``, else ``../shared/data/lspet``
beside the current folder or the source checkout, else ``--lspet-root DIR``), and on **synthetic people** otherwise,
and says which one up front:

* **LSPet** (``edgepose/configs/quickstart_lspet.yaml``): the shipped model's recipe at a quickstart budget -- the
  reduced FLPN (``flpn_sres50(blocks=(1, 1, 1, 1), width=0.5)``, 1.2M parameters) at 128x128 on the first 1600
  training images (each as a whole-image item and a labelled-joints item), 6 epochs of 100 steps of 32 crops,
  scored with PCK@0.2 on validation images 8501-8600 with the whole image as the box (flip test).
* **synthetic** (``edgepose/configs/quickstart.yaml``): draws a COCO-format dataset of synthetic people
  (:mod:`edgepose.data.synthetic`; cached between runs), trains the same network at 128x96 (12 epochs of 93 steps),
  and scores COCO AP on the synthetic validation split with ground-truth boxes.

The experiments are the YAML files in the installed package (``edgepose/configs/``), read here; the repository's
``configs/quickstart*.yaml`` inherit them with ``base:`` and only set data paths, so the two cannot drift.

Layout of ``--out`` (default ``output/quickstart``)::

    data/               synthetic only: the drawn dataset (images/, annotations/person_keypoints_{train,val}.json)
    train/              the trainer's folder: config.yaml, steps.csv, epochs.csv, plots/, last.pt, best.pt, eval/
    predictions.jpg     the trained model's poses on a few validation images
    report.md           what was done, how long it took, the figures, the picture, and what to run next
    metrics.json        final metrics and timings

``--tiny`` shrinks either recipe to a smoke run of seconds (used by the test suite; its scores mean nothing).

``--minutes M`` (default :data:`DEFAULT_MINUTES`) is a wall-clock budget for the whole command, honoured on any
machine: what is left of it after the data step, less a reserve for the final evaluation, the picture and the
report (:func:`training_budget`), becomes ``train.max_minutes``, so training stops at the end of the step that
crosses it and the run ends valid (evaluated, checkpointed, resumable) however slow the CPU. The recipe's epochs
are the most it trains; a fast machine finishes them early.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from edgepose.cli.common import add_set_argument
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
# Kept back from the budget for what runs after training: the final evaluation, the picture and the report. On the
# LSPet recipe (100 validation images, flip test, the 1.2M-parameter FLPN) they take well under a minute on 2 cores.
RESERVE_FRACTION = 0.1
RESERVE_MIN_MINUTES = 0.25

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
            problems.append(f"no folder {root}")
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


# ------------------------------------------------------------------------------------------------ command
def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quickstart",
        help="train a small FLPN on real LSPet people (or synthetic ones) -> evaluate -> report, on CPU in minutes",
        description="Train a small FLPN on LSPet's real photos when an LSPet folder is found ($EDGEPOSE_DATA/lspet "
        "or ../shared/data/lspet), else on a synthetic people dataset it draws; evaluate it (PCK@0.2 on LSPet, "
        "COCO AP on synthetic people) and write report.md, metrics.json, predictions.jpg and plots into --out. "
        "Progress is shown throughout.",
    )
    p.add_argument("--out", default="output/quickstart", metavar="DIR", help="output folder (default: %(default)s)")
    p.add_argument("--data", choices=("auto", "lspet", "synthetic"), default="auto",
                   help="auto (default): LSPet if found, else synthetic people")  # fmt: skip
    p.add_argument("--lspet-root", metavar="DIR", help="the LSPet folder (joints.mat + images/) to train on")
    p.add_argument("--tiny", action="store_true", help="a smoke run of seconds (tests/CI); scores are meaningless")
    p.add_argument("--images", type=int, default=None,
                   help=f"training images: LSPet's first N (default: the recipe's data.max_images) or the "
                   f"synthetic images drawn (default {SYNTH['images']})")  # fmt: skip
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's, 6 / 12)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the training (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--minutes", type=float, default=DEFAULT_MINUTES,
                   help="wall-clock budget of the whole command in minutes (default %(default)g): training stops "
                   "at the end of the step that crosses what is left of it, then evaluates and reports")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue an interrupted quickstart in --out")
    add_set_argument(p, help="override experiment keys, e.g. --set train.epochs=4 train.device=cuda (or repeat --set)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


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

    from edgepose.engine.logging import write_json
    from edgepose.engine.trainer import train_experiment

    for name in ("images", "epochs", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name} must be >= 1, got {value}")
    if not args.minutes > 0:
        raise ConfigError(f"--minutes must be > 0, got {args.minutes:g}")
    started = time.time()
    kind, lspet_root, why = choose_data(args.data, args.lspet_root)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    progress = not args.no_progress
    if kind == "lspet":
        _say(f"quickstart on REAL people: {why} -> training on LSPet photos, scored with PCK@0.2")
    else:
        _say(f"quickstart on SYNTHETIC people: {why} -> drawing a synthetic dataset, scored with COCO AP "
             "(set EDGEPOSE_DATA to a folder holding lspet/ to train on real photos)")  # fmt: skip
    _say(f"time budget: {args.minutes:g} min in all (--minutes): training stops when its share runs out, "
         "whatever this machine's speed, then the model is evaluated and the report written")  # fmt: skip

    # 1. data
    overrides = list(args.overrides)
    t0 = time.time()
    data_info: dict[str, Any] = {}
    synth: dict[str, Any] | None = None
    if kind == "synthetic":
        from edgepose.data.synthetic import SynthConfig, ensure_dataset

        synth = {**SYNTH, **(TINY_SYNTH if args.tiny else {}), "seed": args.seed}
        if args.images:
            synth["images"] = args.images
        synth_cfg = SynthConfig(**synth)
        n_train, n_val = synth_cfg.split_sizes()
        _say(f"[1/4] synthetic dataset: {n_train} train + {n_val} val images of {synth_cfg.width}x"
             f"{synth_cfg.height} -> {out / 'data'}")  # fmt: skip
        data_info = ensure_dataset(out / "data", synth_cfg, progress=progress)
        if data_info.get("cached"):
            _say("      (reusing the identical dataset already there)")
    elif args.images:
        overrides.append(f"data.max_images={args.images}")
    data_seconds = time.time() - t0

    # 2. training (the trainer evaluates after the last epoch)
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
        if not args.tiny:  # keep the lr drop at the recipe's place in the schedule
            overrides.append(f"train.lr_milestones=[{_milestone(kind, args.epochs)}]")
    overrides.append(f"train.seed={args.seed}")
    budget = training_budget(args.minutes, time.time() - started)
    overrides.append(f"train.max_minutes={budget:.9f}")
    cfg = quickstart_experiment(out, tiny=args.tiny, overrides=overrides, lspet_root=lspet_root)
    if kind == "lspet":
        lo, hi = cfg.data["val_range"]
        _say(f"[1/4] LSPet at {lspet_root}: the first {cfg.data['max_images']} training images x "
             f"{len(cfg.data['train_boxes'])} boxes ({', '.join(cfg.data['train_boxes'])}); validation images "
             f"{lo}-{hi}, whole-image boxes")  # fmt: skip
        data_info = {"root": str(lspet_root), "train_images": cfg.data["max_images"], "val_range": [lo, hi]}
    from edgepose.engine.topdown import TopdownTask

    params = sum(p.numel() for p in TopdownTask(cfg).build_model().parameters())  # with the dataset's keypoints
    t = cfg.train
    size = cfg.data["input_size"]
    _say(f"[2/4] training {cfg.model.name} ({params / 1e6:.2f}M parameters) at {size[0]}x{size[1]} for "
         f"at most {t.epochs} epochs or {t.max_minutes:.1f} min, batch {t.batch_size}, on {t.device} "
         f"({torch.get_num_threads()} threads) -> {out / 'train'}")  # fmt: skip
    t0 = time.time()
    metrics = train_experiment(cfg, out_dir=out / "train", resume=True if args.resume else None, progress=progress)
    train_seconds = time.time() - t0

    # 3. a picture of the trained model's poses
    _say(f"[3/4] drawing the trained model's poses on {PREVIEW_IMAGES} validation images")
    t0 = time.time()
    picture = draw_predictions(cfg, out / "train" / "best.pt", out / "predictions.jpg")
    picture_seconds = time.time() - t0

    # 4. report
    _say("[4/4] writing the report")
    total_seconds = time.time() - started
    summary = _summary(kind, out, cfg, metrics, params, data_info, synth,
                       {"data": data_seconds, "train_and_eval": train_seconds, "picture": picture_seconds,
                        "total": total_seconds, "cpu": _cpu_seconds()})  # fmt: skip
    summary["picture"] = picture.name if picture else None
    summary["minutes_budget"] = args.minutes
    summary["data_reason"] = why
    write_json(out / "metrics.json", summary)
    _write_report(out, cfg, summary)
    minutes = (f"{total_seconds / 60:.1f} min of the {args.minutes:g} budgeted "
               f"({summary['seconds']['cpu'] / 60:.1f} CPU-min)")  # fmt: skip
    if summary["stopped_by_time_budget"]:
        _say(f"note: the time budget ended training after {summary['steps']} steps, before the recipe's "
             f"{cfg.train.epochs} epochs; a larger --minutes (or --resume) trains further")  # fmt: skip
    if kind == "lspet":
        _say(f"done in {minutes}: LSPet PCK@0.2 {_num(metrics.get('PCK@0.2'))} on images {lo}-{hi} "
             f"(PCK@0.1 {_num(metrics.get('PCK@0.1'))})")  # fmt: skip
        print(f"PCK@0.2 {metrics.get('PCK@0.2', float('nan')):.4f}")
    else:
        _say(f"done in {minutes}: synthetic-val AP {_num(metrics.get('AP'))} (AP50 {_num(metrics.get('AP50'))})")
        print(f"AP {metrics.get('AP', float('nan')):.4f}")
    _say(f"report: {out / 'report.md'}")
    return 0


def training_budget(minutes: float, elapsed_s: float) -> float:
    """Minutes of training left in a ``minutes`` budget after ``elapsed_s`` seconds, less the reserve for the
    evaluation, picture and report; ConfigError when nothing is left (the budget cannot be honoured)."""
    reserve = max(RESERVE_FRACTION * minutes, RESERVE_MIN_MINUTES)
    left = minutes - elapsed_s / 60.0 - reserve
    if left <= 0:
        raise ConfigError(f"--minutes {minutes:g} leaves no time to train ({elapsed_s / 60:.1f} min spent "
                          f"before training, {reserve:.2f} min kept for evaluation and report)")  # fmt: skip
    return left


def _milestone(kind: str, epochs: int) -> int:
    """The lr drop for ``epochs`` at the same fraction of the schedule as the recipe's own."""
    recipe = quickstart_dict(kind)["train"]
    fraction = recipe["lr_milestones"][0] / recipe["epochs"]
    return min(epochs, max(1, round(epochs * fraction)))


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


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
    ok, buf = cv2.imencode(".jpg", row, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise DataError("cannot encode the predictions picture", path)
    buf.tofile(str(path))
    return path


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
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "history": [
            {k: r.get(k) for k in ("epoch", "train_loss", f"val_{primary}", "seconds") if r.get(k) is not None}
            for r in epochs
        ],
    }


def _write_report(out: Path, cfg: Any, s: dict[str, Any]) -> None:
    from edgepose.config import atomic_write_text

    m = s["metrics"]
    primary = s["primary"]

    def f(key: str) -> str:
        return _num(m.get(key))

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
    if s["data"] == "lspet":
        d = s["dataset"]
        lo, hi = d["val_range"]
        n_val = min(hi - lo + 1, d["train_images"] or hi - lo + 1)  # data.max_images also caps the validation
        joints = "\n".join(f"| {k.split('/', 1)[1]} | {_num(v)} |" for k, v in m.items() if k.startswith("PCK@0.2/"))
        headline = f"""**LSPet PCK@0.2 {f("PCK@0.2")}** (PCK@0.1 {f("PCK@0.1")}, AUC 0-0.2 {f("AUC")}) after training
{what} on real photos.

Data: LSPet at `{d["root"]}` (research-use images, see its SOURCES.md): the first {d["train_images"]} training
images, each as two items (the whole image as the box, and the box of its labelled joints). Evaluation: validation
images {lo}-{lo + n_val - 1} ({int(m.get("people", 0))} people scored; {int(m.get("skipped", 0))} without a torso
not scored), the whole image as the box (nothing from the labels is
used at test time), flip test, DARK decoding; PCK against the torso (left shoulder to right hip). This is a short
run of the shipped model's recipe (`configs/flpn_small_lspet_160x160.yaml`, 160x160, all 8500 training images,
~2 hours on 2 cores): it shows the model learning real people, not its final accuracy.

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

Evaluation: the synthetic validation split, ground-truth person boxes, flip test, DARK decoding, OKS rescoring
and OKS-NMS, COCOeval (AP over OKS 0.50:0.95). The figures are synthetic people, so this AP shows that the
whole pipeline learns; it says nothing about accuracy on real photographs.
"""
        score_col = "val AP"
        data_row = f"| synthetic data | {s['seconds']['data']} |\n"
        score_next = (f"    edgepose eval {train / 'config.yaml'} --weights {train / 'best.pt'}   # evaluate again\n"
                      "    edgepose pck --root DIR --range FIRST LAST --json   # the shipped model's PCK on LSP-format "
                      "images")  # fmt: skip
        files = (f"- `data/`: the synthetic dataset ({s['dataset']})\n"
                 "- `predictions.jpg`: the trained model's poses on the first validation images "
                 "(ground-truth boxes)")  # fmt: skip
    picture = "![predictions](predictions.jpg)" if s.get("picture") else "(no picture: no checkpoint to draw with)"
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
