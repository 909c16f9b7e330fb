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
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.cli.checks import check_int, output_dir, output_file
from edgepose.cli.common import add_set_argument
from edgepose.errors import EdgeposeError

if TYPE_CHECKING:
    from edgepose.analysis.ssim_report import SsimRequest

ANALYSIS_ONLY = ("weights", "images", "data", "image_root", "pairs", "per_module", "max_images", "input_size",
                 "layers", "plot", "batch_size", "bands", "ratio_set", "device")  # fmt: skip
SWEEP_ONLY = ("grid", "out", "synth", "synth_images", "retrain", "quiet")
FINETUNE_REFUSED = ("per_module", "layers", "plot", "grid", "synth", "synth_images", "retrain")


# The command's defaults, in one place: the parser takes them, and an option left at its default is "not given"
# (_given). edgepose.analysis.ssim_report.SsimRequest, the package's call, has the same defaults (a test checks).
_DEFAULTS = {"pairs": 1000, "max_images": 32, "bands": "0.25,0.5,0.75", "ratio_set": "2,4,8,16", "batch_size": 8,
             "synth_images": 400, "device": "cpu", "seed": 0}  # fmt: skip


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
    p.add_argument("--seed", type=int, default=_DEFAULTS["seed"],
                   help="seed of the channel-pair sampling (default %(default)s)")
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
    a.add_argument("--pairs", type=int, default=_DEFAULTS["pairs"],
                   help="channel pairs sampled per image and stage; 0 = all pairs (default %(default)s)")
    a.add_argument("--per-module", action="store_true", help="also measure every block of every stage")
    a.add_argument("--max-images", type=int, default=_DEFAULTS["max_images"],
                   help="images (or crops) to use (default %(default)s)")
    a.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), help="default: the model's input size")
    a.add_argument("--layers", metavar="A,B,...", help="module names to measure (default: layer1..layer4)")
    a.add_argument("--bands", metavar="T1,T2,T3", default=_DEFAULTS["bands"],
                   help="ascending mean-SSIM thresholds between ratios (default %(default)s)")
    a.add_argument("--ratio-set", metavar="R0,R1,...", default=_DEFAULTS["ratio_set"],
                   help="ratios of the bands, one more than thresholds (default %(default)s)")
    a.add_argument("--batch-size", type=int, default=_DEFAULTS["batch_size"],
                   help="images per forward pass (default %(default)s)")
    a.add_argument("--plot", metavar="PNG", help="write per-stage SSIM histograms + violins here")
    a.add_argument("--device", default=_DEFAULTS["device"], help="cpu | cuda | cuda:N (default %(default)s)")
    s = p.add_argument_group("sweep (edgepose ssim sweep CONFIG ...)")
    s.add_argument("--grid", nargs="+", metavar="T0,T1",
                   help="(t0, t1) pairs to train, e.g. --grid 2,8 4,4; default: all 16 of {2,4,8,16}^2")  # fmt: skip
    s.add_argument("--out", metavar="DIR", help="sweep folder (default output/ssim_sweep/<config name>)")
    s.add_argument("--synth", metavar="DIR",
                   help="generate (or reuse) a synthetic dataset in DIR and train/evaluate on it")  # fmt: skip
    s.add_argument("--synth-images", type=int, default=_DEFAULTS["synth_images"],
                   help="images of --synth (default %(default)s)")
    s.add_argument("--retrain", action="store_true", help="train again even where a run has finished")
    s.add_argument("--quiet", action="store_true", help="no progress output while training")
    f = p.add_argument_group("finetune (edgepose ssim finetune CONFIG --weights CKPT --images DIR ...)",
                             "takes the analysis options for its measurement, --out and --quiet; --set = experiment "
                             "overrides of the fine-tune run")  # fmt: skip
    f.add_argument("--no-train", action="store_true", help="write OUT/finetune.yaml and stop")
    p.set_defaults(func=run)


def _given(args: argparse.Namespace, names: tuple[str, ...], parser_defaults: dict[str, Any]) -> list[str]:
    return [n for n in names if getattr(args, n, None) not in (None, False, parser_defaults.get(n))]


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
def _request(args: argparse.Namespace) -> SsimRequest:
    """The analysis options of ``args``, checked (each error names its option), as an ``SsimRequest``."""
    from edgepose.analysis.ssim_report import SsimRequest

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
    names = [f.name for f in fields(SsimRequest) if f.name != "progress"]
    return SsimRequest(**{n: getattr(args, n) for n in names}, progress=not args.json and sys.stderr.isatty())


def run_analysis(args: argparse.Namespace) -> int:
    from edgepose.analysis.ssim_report import analyze, format_analysis, to_json

    result = analyze(_request(args))
    print(to_json(result) if args.json else format_analysis(result))
    return 0


# -------------------------------------------------------------------------------------------------- sweep
def run_sweep_command(args: argparse.Namespace) -> int:
    from edgepose.analysis import ratio_sweep as sweep
    from edgepose.engine.config import load_experiment

    grid = sweep.parse_grid(args.grid)
    if args.out:
        output_dir(args.out, "--out", create=False)
    overrides = list(args.overrides)
    if args.synth:
        made = sweep.synth_overrides(args.synth, args.synth_images, args.seed, progress=not args.quiet)
        overrides = [*made, *overrides]
    cfg = load_experiment(args.config, overrides)
    if not args.synth:
        from edgepose.cli.train import check_data_paths

        check_data_paths(cfg, hint="generate synthetic data with --synth DIR, or point the config at yours with "
                         "--set data.train_ann=PATH ...")  # fmt: skip
    out = Path(args.out) if args.out else sweep.default_out_dir(cfg)
    result = sweep.sweep_with_plot(cfg, grid, out, progress=not args.quiet and not args.json, retrain=args.retrain,
                                   warn=lambda msg: print(msg, file=sys.stderr))  # fmt: skip
    print(json.dumps(result, default=str) if args.json else sweep.format_sweep(result))
    return 0


# ----------------------------------------------------------------------------------------------- finetune
def run_finetune_command(args: argparse.Namespace) -> int:
    """The SSIM fine-tune step: measure CKPT, write OUT/finetune.yaml (new ratios, CKPT as the start), train it."""
    from edgepose.analysis.ssim_report import format_finetune, prepare_finetune, train_finetune

    out = Path(args.out) if args.out else Path("output") / "ssim_finetune" / Path(args.config).stem
    output_dir(out, "--out", create=False)
    summary = prepare_finetune(args.config, args.weights, _request(args), args.overrides, out)
    if not args.quiet:
        print(format_finetune(summary))
    if args.no_train:
        print(f"train it with: edgepose train {out / 'finetune.yaml'} --out {out / 'run'}")
        return 0
    metrics = train_finetune(summary, out / "run", progress=not args.quiet)
    print(f"fine-tuned: {json.dumps({k: round(v, 4) for k, v in metrics.items()})} ({out / 'run'})")
    return 0
