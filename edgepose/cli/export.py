"""`edgepose export` (PyTorch -> ONNX) and `edgepose quantize` (ONNX fp32 -> static INT8).

    edgepose export flpn_sres50 --out flpn.onnx                       # random weights (a warning says so)
    edgepose export runs/flpn/best.pt --out flpn.onnx --json         # a checkpoint rebuilds its own model
    edgepose export xfuse_ghostnet --out xfuse.onnx --input-size 368 368 --opset 17
    edgepose quantize flpn.onnx --calib images/ --out flpn.int8.onnx --max-images 64 --json

Export names the input ``image`` and the outputs ``heatmaps`` (top-down) or ``heatmaps``, ``pafs`` (bottom-up,
final stage only), makes the batch dynamic (bottom-up also height and width), stores the model's metadata for
the torch-free runtime, writes the file atomically and checks ONNX Runtime against PyTorch (the max abs
difference is printed). The file holds the deployment graph (BN folded, Ghost/Smart modules that compute only
the channels they keep, cheapest exact GC blocks; ``--no-deploy`` for the training graph), slimmed with onnxslim
when it is installed. See docs/deployment.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgepose.cli.checks import check_int, output_file
from edgepose.cli.common import add_set_argument
from edgepose.cli.complexity import MIN_INPUT_SIZE
from edgepose.errors import ConfigError


def _stage(command: str):
    """A progress printer: ``edgepose export: <stage>`` lines on stderr (stdout stays for the result/JSON)."""

    def say(message: str) -> None:
        print(f"edgepose {command}: {message} ...", file=sys.stderr, flush=True)

    return say


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a model or checkpoint to ONNX (with a parity check)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL|CKPT", help="a model name (random weights) or an edgepose checkpoint")
    p.add_argument("--out", required=True, metavar="MODEL.onnx", help="where to write the ONNX model")
    add_set_argument(p, help="model option overrides: --set a=1 b=2 or --set a=1 --set b=2")
    p.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"),
                   help="input size (default: the checkpoint's data.input_size, else the model's)")  # fmt: skip
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--dynamic-batch", action=argparse.BooleanOptionalAction, default=True,
                   help="dynamic batch axis (default on)")  # fmt: skip
    p.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript",
                   help="torch.onnx exporter (default torchscript, see docs/deployment.md)")  # fmt: skip
    p.add_argument("--codec", choices=("msra", "dark"), default=None,
                   help="top-down decoder stored in the metadata (default: the checkpoint's, else msra)")  # fmt: skip
    p.add_argument("--slim", action=argparse.BooleanOptionalAction, default=None,
                   help="simplify the graph with onnxslim (default: when it is installed)")  # fmt: skip
    p.add_argument("--deploy", action=argparse.BooleanOptionalAction, default=True,
                   help="export the deployment graph: BN folded, Ghost/Smart modules trimmed, GC blocks "
                   "rewritten, checked against the trained network (default on; see docs/deployment.md)")  # fmt: skip
    p.add_argument("--no-check", dest="check", action="store_false", help="skip the ONNX Runtime parity check")
    p.add_argument("--json", action="store_true", help="print {path, outputs, max_abs_diff, ...} as JSON")
    p.set_defaults(func=run)

    q = subparsers.add_parser(
        "quantize",
        help="static INT8 quantisation of an exported ONNX model",
        description="Static INT8 (QDQ, per-channel) quantisation with ONNX Runtime, calibrated on images "
        "pre-processed like the runtime does; reports the output and keypoint differences to fp32.",
    )
    q.add_argument("model", metavar="MODEL.onnx", help="an fp32 model written by `edgepose export`")
    q.add_argument("--calib", nargs="+", required=True, metavar="DIR_OR_IMAGE", help="calibration images/folders")
    q.add_argument("--out", required=True, metavar="MODEL.int8.onnx")
    q.add_argument("--max-images", type=int, default=32, help="calibration images to use (default 32)")
    q.add_argument("--no-per-channel", dest="per_channel", action="store_false", help="per-tensor weight scales")
    q.add_argument("--reduce-range", action="store_true", help="7-bit weights (older x86 CPUs without VNNI)")
    q.add_argument("--json", action="store_true", help="print the report as JSON")
    q.set_defaults(func=run_quantize)


def run(args: argparse.Namespace) -> int:
    import warnings

    from edgepose.config import parse_overrides
    from edgepose.engine.predict import RANDOM_INIT_WARNING, config_codec, config_input_size, load_model
    from edgepose.export.onnx import export_onnx
    from edgepose.models import MODEL_TABLE

    if args.input_size is not None and min(args.input_size) < MIN_INPUT_SIZE:
        h, w = args.input_size
        if min(h, w) < 1:
            raise ConfigError(f"--input-size must be two positive numbers H W, got {h} {w}")
        # the runtime (and complexity, bench, ssim) refuse such a model: never write a file nothing can run
        raise ConfigError(f"--input-size must be at least {MIN_INPUT_SIZE} x {MIN_INPUT_SIZE}, got {h} {w}")
    check_int(args.opset, "--opset", minimum=7)
    output_file(args.out, "--out")
    say = _stage("export")
    target = Path(args.model)
    is_ckpt = target.suffix in (".pt", ".pth", ".ckpt") or (target.exists() and args.model not in MODEL_TABLE)
    if is_ckpt:
        model, ckpt = load_model(None, target, parse_overrides(args.overrides))
    elif args.model in MODEL_TABLE:
        model, ckpt = load_model(args.model, None, parse_overrides(args.overrides), warn_random=False)
        print(f"edgepose export: warning: {RANDOM_INIT_WARNING.format(name=args.model)}", file=sys.stderr)
    else:
        raise ConfigError(f"{args.model!r} is neither a checkpoint file nor a model name ({', '.join(MODEL_TABLE)})")
    config = (ckpt or {}).get("config")
    size = tuple(args.input_size) if args.input_size else config_input_size(config) if model.task == "topdown" else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = export_onnx(
            model, args.out, input_size=size, opset=args.opset, dynamic_batch=args.dynamic_batch, slim=args.slim,
            check=args.check, exporter=args.exporter, log=say,
            # a training config names the top-down decoder; otherwise (bottom-up, imported) the model's own metadata
            codec=args.codec or (config_codec(config) if config and model.task == "topdown" else None),
            deploy=args.deploy,
        )  # fmt: skip
    for w in caught:
        if "onnxslim" in str(w.message):
            print(f"edgepose export: warning: {w.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        diff = (
            "not checked"
            if result.max_abs_diff is None
            else (f"max |torch - onnxruntime| = {result.max_abs_diff:.3g} (outputs up to {result.max_abs_output:.3g})")
        )
        h, w = result.info.input_size
        print(f"wrote {result.path} ({result.info.model_name}, {result.info.task}, {h}x{w}, "
              f"outputs {', '.join(result.outputs)}); {diff}")  # fmt: skip
    return 0


def run_quantize(args: argparse.Namespace) -> int:
    from edgepose.export.quantize import quantize_onnx

    check_int(args.max_images, "--max-images")
    output_file(args.out, "--out")
    report = quantize_onnx(
        args.model, args.out, args.calib, max_images=args.max_images, per_channel=args.per_channel,
        reduce_range=args.reduce_range, log=_stage("quantize"),
    )  # fmt: skip
    if report.advice:
        print(f"edgepose quantize: warning: {report.advice}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        kp = (
            "no keypoints found by both models"
            if report.keypoint_mean_px is None
            else f"keypoints differ by {report.keypoint_mean_px:.2f} px mean, {report.keypoint_max_px:.2f} px max"
        )
        print(f"wrote {report.path} ({report.size_int8_mb:.1f} MB, fp32 {report.size_fp32_mb:.1f} MB); "
              f"{report.calibration_images} calibration images: outputs differ by {report.max_abs_diff:.3g} max, "
              f"{report.mean_abs_diff:.3g} mean; {kp}")  # fmt: skip
    return 0
