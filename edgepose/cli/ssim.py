"""``edgepose ssim``: FLPN's SSIM redundancy analysis, and the Table 7 ratio sweep.

    edgepose ssim MODEL --images DIR [--weights CKPT] [--pairs 1000] [--per-module] [--plot ssim.png] [--json]
    edgepose ssim MODEL --data ANN.json --image-root DIR [--max-images 64]
    edgepose ssim sweep CONFIG [--grid 2,8 4,4 ...] [--set train.epochs=10] [--out DIR] [--synth DIR]
    edgepose ssim finetune CONFIG --weights CKPT --images DIR [--set train.epochs=20] [--out DIR] [--no-train]

The first form runs images (or person-box crops) through MODEL, measures the SSIM between pairs of channels
of each stage's output and recommends a Smart-module ratio per stage (docs/ssim.md). ``MODEL`` is a model name
(``edgepose models``), an experiment YAML (its model and overrides) or a checkpoint ``.pt``. The word
``sweep`` in place of MODEL selects the second form: train and evaluate FLPN for a grid of (stage0, stage1)
ratios and write the table (CSV + Markdown) and the AP-vs-MACs plot. The word ``finetune`` selects the third,
the FLPN paper's "SSIM to fine tune the proposed network" (Sec. IV-A, V-B-3): measure the SSIM of CONFIG's model
trained to CKPT, re-choose the ratios of stages 0-1 (stages 2-3 stay at t=2, the paper's protocol), rebuild,
start from CKPT's tensors that still fit (``model.pretrained``) and train further with CONFIG's recipe.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edgepose.cli.checks import check_int, output_dir, output_file
from edgepose.cli.common import add_set_argument
from edgepose.errors import EdgeposeError

ANALYSIS_ONLY = ("weights", "images", "data", "image_root", "pairs", "per_module", "max_images", "input_size",
                 "layers", "plot", "batch_size", "bands", "ratio_set", "device")  # fmt: skip
SWEEP_ONLY = ("grid", "out", "synth", "synth_images", "retrain", "quiet")
FINETUNE_REFUSED = ("per_module", "layers", "plot", "grid", "synth", "synth_images", "retrain")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ssim",
        help="SSIM redundancy of a model's feature maps -> recommended FLPN ratios; `ssim sweep` = Table 7 grid",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL|sweep|finetune",
                   help="model name, experiment YAML or checkpoint; or 'sweep' or 'finetune'")  # fmt: skip
    p.add_argument("config", metavar="CONFIG", nargs="?",
                   help="(sweep, finetune) the top-down experiment YAML to sweep / fine-tune")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the channel-pair sampling (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_set_argument(
        p, help="analysis: model option overrides (ratios=[2,2,2,2]); sweep: experiment overrides "
        "(train.epochs=5 data.input_size=[128,96]); --set a=1 b=2 or --set a=1 --set b=2",
    )  # fmt: skip
    a = p.add_argument_group("analysis (edgepose ssim MODEL ...)")
    a.add_argument("--weights", metavar="CKPT", help="trained weights (a checkpoint or state dict) to load")
    a.add_argument("--images", metavar="DIR", help="folder of images, each resized whole to the input size")
    a.add_argument("--data", metavar="ANN.json", help="COCO keypoint file: person-box crops (top-down)")
    a.add_argument("--image-root", metavar="DIR", help="image folder of --data")
    a.add_argument("--pairs", type=int, default=1000,
                   help="channel pairs sampled per image and stage; 0 = all pairs (default 1000)")  # fmt: skip
    a.add_argument("--per-module", action="store_true", help="also measure every block of every stage")
    a.add_argument("--max-images", type=int, default=32, help="images (or crops) to use (default 32)")
    a.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), help="default: the model's input size")
    a.add_argument("--layers", metavar="A,B,...", help="module names to measure (default: layer1..layer4)")
    a.add_argument("--bands", metavar="T1,T2,T3", default="0.25,0.5,0.75",
                   help="ascending mean-SSIM thresholds between ratios (default 0.25,0.5,0.75)")  # fmt: skip
    a.add_argument("--ratio-set", metavar="R0,R1,...", default="2,4,8,16",
                   help="ratios of the bands, one more than thresholds (default 2,4,8,16)")  # fmt: skip
    a.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    a.add_argument("--plot", metavar="PNG", help="write per-stage SSIM histograms + violins here")
    a.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default cpu)")
    s = p.add_argument_group("sweep (edgepose ssim sweep CONFIG ...)")
    s.add_argument("--grid", nargs="+", metavar="T0,T1",
                   help="(t0, t1) pairs to train, e.g. --grid 2,8 4,4; default: all 16 of {2,4,8,16}^2")  # fmt: skip
    s.add_argument("--out", metavar="DIR", help="sweep folder (default output/ssim_sweep/<config name>)")
    s.add_argument("--synth", metavar="DIR",
                   help="generate (or reuse) a synthetic dataset in DIR and train/evaluate on it")  # fmt: skip
    s.add_argument("--synth-images", type=int, default=400, help="images of --synth (default 400)")
    s.add_argument("--retrain", action="store_true", help="train again even where a run has finished")
    s.add_argument("--quiet", action="store_true", help="no progress output while training")
    f = p.add_argument_group("finetune (edgepose ssim finetune CONFIG --weights CKPT --images DIR ...)",
                             "takes the analysis options for its measurement, --out and --quiet; --set = experiment "
                             "overrides of the fine-tune run")  # fmt: skip
    f.add_argument("--no-train", action="store_true", help="write OUT/finetune.yaml and stop")
    p.set_defaults(func=run)


def _given(args: argparse.Namespace, names: tuple[str, ...], parser_defaults: dict[str, Any]) -> list[str]:
    return [n for n in names if getattr(args, n, None) not in (None, False, parser_defaults.get(n))]


_DEFAULTS = {"pairs": 1000, "max_images": 32, "bands": "0.25,0.5,0.75", "ratio_set": "2,4,8,16", "batch_size": 8,
             "synth_images": 400, "device": "cpu"}  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if args.model == "finetune":
        extra = _given(args, FINETUNE_REFUSED, _DEFAULTS)
        if extra:
            raise EdgeposeError(f"`ssim finetune` does not take --{extra[0].replace('_', '-')}")
        if not args.config or not args.weights:
            raise EdgeposeError("usage: edgepose ssim finetune CONFIG --weights CKPT (--images DIR | --data ANN.json "
                                "--image-root DIR) [--out DIR] [--no-train]")  # fmt: skip
        return run_finetune_command(args)
    if getattr(args, "no_train", False):
        raise EdgeposeError("--no-train is a finetune option (edgepose ssim finetune CONFIG ...)")
    if args.model == "sweep":
        extra = _given(args, ANALYSIS_ONLY, _DEFAULTS)
        if extra:
            raise EdgeposeError(f"`ssim sweep` does not take --{extra[0].replace('_', '-')} (an analysis option)")
        if not args.config:
            raise EdgeposeError("usage: edgepose ssim sweep CONFIG [--grid 2,8 4,4] [--out DIR]")
        return run_sweep_command(args)
    extra = _given(args, SWEEP_ONLY, _DEFAULTS)
    if extra:
        raise EdgeposeError(f"--{extra[0].replace('_', '-')} is a sweep option (edgepose ssim sweep CONFIG ...)")
    if args.config:
        raise EdgeposeError(f"unexpected argument {args.config!r} (did you mean `edgepose ssim sweep CONFIG`?)")
    return run_analysis(args)


# ----------------------------------------------------------------------------------------------- analysis
def _load_model(args: argparse.Namespace) -> tuple[Any, str, dict[str, Any], tuple[int, int] | None]:
    """(model, name, overrides, input size from a config) for MODEL = name | experiment YAML | checkpoint."""
    from edgepose.config import parse_overrides
    from edgepose.models import build_model

    overrides = parse_overrides(args.overrides)
    spec = args.model
    size = None
    if spec.endswith(".pt") or spec.endswith(".pth"):
        from edgepose.engine.checkpoint import build_model_from_checkpoint

        if overrides:
            raise EdgeposeError("--set does not apply to a checkpoint MODEL (its model is rebuilt as saved)")
        model, ckpt = build_model_from_checkpoint(spec)
        return model, str(ckpt.get("model_name") or "model"), dict(ckpt.get("model_overrides") or {}), None
    if spec.endswith((".yaml", ".yml")):
        from edgepose.engine.config import load_experiment

        cfg = load_experiment(spec)
        name = cfg.model.name
        merged = {**dict(cfg.model.overrides or {}), **overrides}
        data_size = (cfg.data or {}).get("input_size")
        size = (int(data_size[0]), int(data_size[1])) if data_size else None
        if size and "input_size" not in merged:
            merged["input_size"] = list(size)
        overrides = merged
    else:
        name = spec
    model = build_model(name, **overrides)
    return model, name, overrides, size


def _load_weights(model: Any, path: str) -> None:
    from edgepose.engine.checkpoint import load_checkpoint, load_model_state

    ckpt = load_checkpoint(path)
    state = ckpt["model"] if isinstance(ckpt, dict) and isinstance(ckpt.get("model"), dict) else ckpt
    load_model_state(model, state, path)


def run_analysis(args: argparse.Namespace) -> int:
    result = analyze(args)
    if args.json:
        print(json.dumps(result, default=_json_default))
    else:
        print(format_analysis(result))
    return 0


def analyze(args: argparse.Namespace) -> dict[str, Any]:
    """The analysis of MODEL on the images of ``args``: per-stage SSIM summaries and the recommended ratios."""

    from edgepose.analysis import ssim as S

    if bool(args.images) == bool(args.data):
        raise EdgeposeError("give either --images DIR or --data ANN.json --image-root DIR")
    if args.data and not args.image_root:
        raise EdgeposeError("--data needs --image-root DIR")
    if args.pairs < 0 or args.max_images < 1 or args.batch_size < 1:
        raise EdgeposeError("--pairs must be >= 0, --max-images and --batch-size >= 1")
    for v in args.input_size or ():
        check_int(v, "--input-size", minimum=32)  # stride-32 networks: smaller inputs leave no feature map
    if args.plot:
        output_file(args.plot, "--plot")
    thresholds, ratio_set = S.parse_bands(args.bands, args.ratio_set)
    model, name, overrides, cfg_size = _load_model(args)
    if args.weights:
        _load_weights(model, args.weights)
    # what the printed title says the features come from: --weights, else a checkpoint MODEL's own weights
    weights_source = args.weights or (args.model if args.model.endswith((".pt", ".pth")) else None)
    from edgepose.engine.predict import torch_device

    device = torch_device(args.device)
    model.to(device)
    size = tuple(args.input_size) if args.input_size else cfg_size or tuple(getattr(model, "input_size", (256, 192)))
    layer_names = [x for x in (args.layers or "").split(",") if x] or None
    stage_layers = S.resolve_layers(model, layer_names)
    layers = dict(stage_layers)
    if args.per_module:
        layers.update(S.resolve_layers(model, layer_names, per_module=True))
    if args.images:
        files = S.list_images(args.images, args.max_images)
        batches = S.image_batches(files, size, args.batch_size)
        n_inputs, source = len(files), f"{len(files)} images from {args.images}"
    else:
        crops = S.person_crops(args.data, args.image_root, size, args.max_images, args.seed)
        if not crops:
            raise EdgeposeError("no person boxes with keypoints in the annotation file", args.data)
        batches = S.crop_batches(crops, size, args.batch_size)
        n_inputs, source = len(crops), f"{len(crops)} person crops from {args.data}"
    stats = S.analyze_model(model, batches, layers, pairs=args.pairs or None, seed=args.seed, device=device,
                            progress=not args.json and sys.stderr.isatty())  # fmt: skip
    summaries = S.summarize(stats, thresholds, ratio_set)
    stage_summaries = [s for s in summaries if s["name"] in stage_layers]
    module_summaries = [s for s in summaries if s["name"] not in stage_layers]
    result: dict[str, Any] = {
        "model": name, "overrides": overrides, "weights": weights_source, "input_size": list(size), "source": source,
        "inputs": n_inputs, "pairs_per_image": args.pairs or "all", "seed": args.seed,
        "bands": {"thresholds": list(thresholds), "ratios": list(ratio_set),
                  "note": "ours: the FLPN paper gives no thresholds"},
        "stages": stage_summaries, "modules": module_summaries,
    }  # fmt: skip
    if len(stage_summaries) == 4:
        target = S.target_model(name)
        rec = S.recommendation(stage_summaries, target)
        rec_paper = S.recommendation(stage_summaries, target, fixed={2: 2, 3: 2})
        rec["complexity"] = S.recommended_complexity(target, rec["ratios"], size)
        rec_paper["complexity"] = (
            rec["complexity"]
            if rec_paper["ratios"] == rec["ratios"]
            else S.recommended_complexity(target, rec_paper["ratios"], size)
        )
        result["recommended"] = rec
        result["recommended_paper_protocol"] = rec_paper
    if args.plot:
        from edgepose.vis.ssim_plots import plot_stage_distributions

        plotted = plot_stage_distributions([(s.name, s.all_values) for s in stats], args.plot,
                                           thresholds=thresholds, ratios=ratio_set,
                                           title=f"channel-pair SSIM: {name} ({source})")  # fmt: skip
        result["plot"] = str(plotted) if plotted else None
    return result


def _json_default(value: Any) -> Any:
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)


def _fmt_complexity(c: dict[str, Any]) -> str:
    if "params" not in c:
        return c.get("note", "complexity not available")
    return f"{c['params'] / 1e6:.2f}M params, {c['macs'] / 1e9:.3f}G MACs at {c['input_size'][0]}x{c['input_size'][1]}"


def format_analysis(result: dict[str, Any]) -> str:
    weights = f"weights {result['weights']}" if result["weights"] else "random init"
    lines = [
        f"SSIM redundancy of {result['model']} ({weights}), input {result['input_size'][0]}x"
        f"{result['input_size'][1]}, {result['source']}, {result['pairs_per_image']} pairs/image",
        "",
        f"{'stage':<14} {'C x H x W':>16} {'win':>4} {'pairs':>8} {'mean':>7} {'median':>7} {'std':>6} "
        f"{'const':>6} {'t':>3}",
    ]
    for s in [*result["stages"], *result["modules"]]:
        c, h, w = s["shape"]
        lines.append(
            f"{s['name']:<14} {f'{c} x {h} x {w}':>16} {s['window']:>4} {s['pairs']:>8} {s['mean']:>7.3f} "
            f"{s['median']:>7.3f} {s['std']:>6.3f} {s['constant_channel_fraction']:>6.1%} "
            f"{s['recommended_ratio'] if s['recommended_ratio'] is not None else '-':>3}"
        )
        if s["name"] == result["stages"][-1]["name"] and result["modules"]:
            lines.append("")
    b = result["bands"]
    bands = ", ".join(
        [f"< {t:g} -> {r}" for t, r in zip(b["thresholds"], b["ratios"])] + [f"else {b['ratios'][-1]}"]
    )
    lines += ["", f"bands (mean SSIM -> t): {bands}  ({b['note']}; --bands/--ratio-set change them)"]
    for key, label in (("recommended", "all stages"), ("recommended_paper_protocol", "paper protocol: "
                                                                                     "stages 2-3 fixed at t=2")):
        rec = result.get(key)
        if rec:
            lines += ["", f"recommended ({label}): ratios {rec['ratios']} -> {_fmt_complexity(rec['complexity'])}",
                      f"  YAML:  {rec['yaml']}", f"  CLI:   {rec['set']}   (edgepose train CONFIG {rec['set']})"]
    if result.get("plot"):
        lines += ["", f"plot: {result['plot']}"]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------------- sweep
def run_sweep_command(args: argparse.Namespace) -> int:
    from edgepose.analysis.ratio_sweep import parse_grid, run_sweep
    from edgepose.engine.config import load_experiment

    grid = parse_grid(args.grid)
    overrides = list(args.overrides)
    if args.out:
        output_dir(args.out, "--out", create=False)
    if args.synth:
        from edgepose.data.synthetic import SynthConfig, ensure_dataset

        info = ensure_dataset(args.synth, SynthConfig(images=args.synth_images, seed=args.seed, val_fraction=0.2),
                              progress=not args.quiet)  # fmt: skip
        overrides = [
            f"data.train_ann={info['annotations']['train']}", f"data.train_images={info['image_dir']}",
            f"data.val_ann={info['annotations']['val']}", f"data.val_images={info['image_dir']}", *overrides,
        ]  # fmt: skip
    cfg = load_experiment(args.config, overrides)
    if not args.synth:
        from edgepose.cli.train import check_data_paths

        check_data_paths(cfg, hint="generate synthetic data with --synth DIR, or point the config at yours with "
                         "--set data.train_ann=PATH ...")  # fmt: skip
    out = Path(args.out) if args.out else Path("output") / "ssim_sweep" / (cfg.name or "sweep")
    rows = run_sweep(cfg, grid, out, progress=not args.quiet and not args.json, retrain=args.retrain)
    plot = None
    try:
        from edgepose.vis.ssim_plots import plot_sweep

        plot = plot_sweep(rows, out / "sweep_ap_vs_macs.png")
    except Exception as exc:  # plotting must not lose a finished sweep
        print(f"warning: could not draw the sweep plot ({type(exc).__name__}: {exc})", file=sys.stderr)
    if args.json:
        print(json.dumps({"out": str(out), "rows": rows, "plot": str(plot) if plot else None}, default=str))
        return 0
    print((out / "sweep.md").read_text(encoding="utf-8"))
    print(f"wrote {out / 'sweep.csv'}, {out / 'sweep.md'}" + (f", {plot}" if plot else ""))
    return 0


# ----------------------------------------------------------------------------------------------- finetune
def run_finetune_command(args: argparse.Namespace) -> int:
    """The SSIM fine-tune step: measure CKPT, write OUT/finetune.yaml (new ratios, CKPT as the start), train it."""
    from edgepose.analysis.ssim import finetune_experiment
    from edgepose.config import save_yaml
    from edgepose.engine.config import load_experiment

    out = Path(args.out) if args.out else Path("output") / "ssim_finetune" / Path(args.config).stem
    output_dir(out, "--out", create=False)
    base = load_experiment(args.config, args.overrides)  # fails early on a bad CONFIG or --set
    measured = analyze(argparse.Namespace(**{**vars(args), "model": args.weights, "weights": None, "overrides": [],
                                             "per_module": False, "layers": None, "plot": None}))  # fmt: skip
    rec = measured.get("recommended_paper_protocol")
    if rec is None:
        raise EdgeposeError(f"{measured['model']} has no four stages (layer1..layer4) to re-choose ratios for",
                            args.weights)  # fmt: skip
    before = list((base.model.overrides or {}).get("ratios") or [])
    experiment = finetune_experiment(args.config, args.weights, rec["model"], rec["ratios"], args.overrides)
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(experiment, out / "finetune.yaml")
    summary = {"config": str(args.config), "weights": str(args.weights), "stages": measured["stages"],
               "ratios_before": before or "model default", "ratios_after": rec["ratios"],
               "complexity_after": rec["complexity"], "finetune_config": str(out / "finetune.yaml")}  # fmt: skip
    (out / "ssim_finetune.json").write_text(json.dumps(summary, indent=1, default=_json_default) + "\n")
    if not args.quiet:
        print(f"SSIM of {args.weights}: stage means {[round(s['mean'], 3) for s in measured['stages']]} -> ratios "
              f"{rec['ratios']} ({_fmt_complexity(rec['complexity'])}); wrote {out / 'finetune.yaml'}")  # fmt: skip
    if args.no_train:
        print(f"train it with: edgepose train {out / 'finetune.yaml'} --out {out / 'run'}")
        return 0
    from edgepose.engine.trainer import train_experiment

    metrics = train_experiment(load_experiment(out / "finetune.yaml"), out_dir=out / "run", progress=not args.quiet)
    print(f"fine-tuned: {json.dumps({k: round(v, 4) for k, v in metrics.items()})} ({out / 'run'})")
    return 0
