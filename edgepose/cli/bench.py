"""``edgepose bench``: speed measurements, as sub-commands.

    edgepose bench latency flpn_sres50 simplebaseline_r50 lpn50 --threads 2 --batch 1 8
    edgepose bench latency lwop_mobilenet xfuse_ghostnet --runs 20 --json
    edgepose bench decode --people 1 5 10 20 --repeats 20 --json
    edgepose bench deploy flpn_sres50 simplebaseline_r50 --threads 1 2 --markdown

``latency`` times network forward passes side by side in one process (round-robin after warm-up; median,
p90 and the ratio to the first model). ``decode`` times the bottom-up post-processing (peaks + PAF grouping)
separately from the network, as users of Lightweight OpenPose keep asking for.
Further back-ends register here as sub-commands of their own (see ``edgepose.analysis.latency``).
"""

from __future__ import annotations

import argparse
import json
import sys

from edgepose.cli.common import add_set_argument
from edgepose.errors import EdgeposeError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench", help="latency of models side by side, and of the bottom-up decoding",
        description="Speed benchmarks. Timings depend on the machine and its load: compare ratios measured "
        "in one run, not figures from different runs.",
    )  # fmt: skip
    sub = p.add_subparsers(dest="bench_command", metavar="WHAT")
    p.set_defaults(func=_no_subcommand, _bench_parser=p)

    lat = sub.add_parser(
        "latency", help="CPU latency of models, measured side by side in one process",
        description="Warm up, then time the models round-robin; print median and p90 ms per batch size, the "
        "ratio to the first model and the machine. Memory format: by default each model runs in whichever of "
        "channels_last / contiguous is faster for it (probed first).",
    )  # fmt: skip
    lat.add_argument("models", nargs="+", metavar="MODEL", help="model names (see `edgepose models`)")
    lat.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's current setting)")
    lat.add_argument("--batch", type=int, nargs="+", default=[1, 8], metavar="N", help="batch sizes (default 1 8)")
    lat.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"), help="input size (default: each model's)")
    lat.add_argument("--runs", type=int, default=20, help="timed runs per case (default 20)")
    lat.add_argument("--warmup", type=int, default=5, help="untimed warm-up runs per case (default 5)")
    lat.add_argument(
        "--channels-last", action=argparse.BooleanOptionalAction, default=None,
        help="force channels_last (or contiguous with --no-channels-last); default: the faster per model",
    )  # fmt: skip
    lat.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall",
        help="wall: elapsed time (default); cpu: process CPU time, robust on a busy machine with --threads 1",
    )  # fmt: skip
    lat.add_argument(
        "--fuse-bn", action="store_true",
        help="fold BatchNorm into the preceding convs of every model first (torch.fx), as deployment runtimes do",
    )  # fmt: skip
    add_set_argument(lat, help="model option overrides applied to every model (YAML-typed): --set a=1 b=2")
    lat.add_argument("--json", action="store_true", help="print one JSON object")
    lat.add_argument("--markdown", action="store_true", help="print a Markdown table")
    lat.set_defaults(func=run_latency)

    prof = sub.add_parser(
        "profile", help="where one model's forward time goes: self CPU time per module kind and path",
        description="Single-threaded per-module self CPU time (forward hooks on the thread's CPU clock, robust "
        "on a busy machine), grouped by module kind (dense / depth-wise / grouped conv, BN, container ops) and "
        "by module path collapsed over repeated blocks.",
    )  # fmt: skip
    prof.add_argument("model", help="model name (see `edgepose models`)")
    prof.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    prof.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"), help="input size (default: the model's)")
    prof.add_argument("--runs", type=int, default=5, help="profiled runs (default 5)")
    prof.add_argument("--warmup", type=int, default=2, help="untimed warm-up runs (default 2)")
    prof.add_argument("--channels-last", action="store_true", help="profile in channels_last memory format")
    prof.add_argument("--fuse-bn", action="store_true", help="fold BatchNorm into the convs first")
    prof.add_argument("--top", type=int, default=15, help="lines per table (default 15)")
    add_set_argument(prof, help="model option overrides (YAML-typed): --set a=1 b=2 or --set a=1 --set b=2")
    prof.add_argument("--json", action="store_true", help="print one JSON object")
    prof.set_defaults(func=run_profile)

    dec = sub.add_parser(
        "decode", help="bottom-up decoding time (peaks + PAF grouping) per number of people",
        description="Time the bottom-up post-processing on synthetic maps with N people, separately from "
        "the network.",
    )  # fmt: skip
    dec.add_argument("--people", type=int, nargs="+", default=[1, 5, 10, 20], metavar="N", help="people per image")
    dec.add_argument("--repeats", type=int, default=20, help="timed repeats per case (default 20)")
    dec.add_argument("--height", type=int, default=368, help="network input height (default 368)")
    dec.add_argument("--json", action="store_true", help="print one JSON object")
    dec.set_defaults(func=run_decode)

    dep = sub.add_parser(
        "deploy", help="deployment latency: torch eager vs ONNX Runtime fp32 vs INT8, network and post-processing",
        description="Export (and INT8-quantise) each model into a temporary folder, then time torch eager, ONNX "
        "Runtime fp32 and INT8 side by side, with pre/post-processing measured separately: batch 1 and a crowded "
        "frame (10 crops) for top-down models, a 20-person frame for bottom-up ones. Prints ratios.",
    )  # fmt: skip
    dep.add_argument(
        "models", nargs="*", metavar="MODEL",
        default=["flpn_sres50", "simplebaseline_r50", "lpn50", "xfuse_ghostnet", "lwop_mobilenet"],
        help="model names (default: FLPN-50, SimpleBaseline-R50, LPN-50, cross-fusion, Lightweight OpenPose)",
    )  # fmt: skip
    dep.add_argument("--threads", type=int, nargs="+", default=[1, 2], metavar="N", help="thread counts (default 1 2)")
    dep.add_argument("--runs", type=int, default=10, help="timed runs per case (default 10)")
    dep.add_argument("--warmup", type=int, default=3, help="untimed warm-up runs per case (default 3)")
    dep.add_argument("--no-int8", dest="int8", action="store_false", help="skip INT8 quantisation")
    dep.add_argument("--calib", help="folder of calibration images for INT8 (default: noise images)")
    dep.add_argument("--image", help="a real frame for the pre/post-processing timings (default: synthetic)")
    dep.add_argument("--json", action="store_true", help="print one JSON object")
    dep.add_argument("--markdown", action="store_true", help="print a Markdown table")
    dep.set_defaults(func=run_deploy)


def _no_subcommand(args: argparse.Namespace) -> int:
    args._bench_parser.print_help()
    return 1


def _check_positive(name: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise EdgeposeError(f"{name} must be >= {minimum}, got {value}")


def run_latency(args: argparse.Namespace) -> int:
    from edgepose.config import parse_overrides

    _check_positive("--runs", args.runs)
    _check_positive("--warmup", args.warmup, minimum=0)
    _check_positive("--threads", args.threads)
    for b in args.batch:
        _check_positive("--batch", b)
    if args.input_size:
        for v in args.input_size:
            _check_positive("--input-size", v, minimum=32)
    overrides = parse_overrides(args.overrides)

    from edgepose.analysis.latency import bench_models, format_latency_table
    from edgepose.models import list_models

    unknown = [m for m in args.models if m not in list_models()]
    if unknown:
        raise EdgeposeError(f"unknown model(s) {', '.join(unknown)}; known models: {', '.join(list_models())}")

    def progress(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr, flush=True)

    report = bench_models(
        args.models, batches=args.batch, input_size=args.input_size, warmup=args.warmup, runs=args.runs,
        threads=args.threads, channels_last=args.channels_last, overrides=overrides, fuse_bn=args.fuse_bn,
        clock=args.clock, progress=progress,
    )  # fmt: skip
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print(format_latency_table(report, markdown=args.markdown))
    return 0


def run_profile(args: argparse.Namespace) -> int:
    from edgepose.config import parse_overrides

    _check_positive("--batch", args.batch)
    _check_positive("--runs", args.runs)
    _check_positive("--warmup", args.warmup, minimum=0)
    _check_positive("--top", args.top)
    for v in args.input_size or ():
        _check_positive("--input-size", v, minimum=32)
    overrides = parse_overrides(args.overrides)

    from edgepose.analysis.complexity import default_input_size
    from edgepose.analysis.latency import fold_batchnorm, profile_modules
    from edgepose.models import build_model

    model = build_model(args.model, **overrides).eval()
    h, w = args.input_size or default_input_size(model)
    if args.fuse_bn:
        model, _ = fold_batchnorm(model)
    result = profile_modules(
        model, (args.batch, 3, h, w), runs=args.runs, warmup=args.warmup, channels_last=args.channels_last
    )
    info = {
        "model": args.model, "overrides": overrides, "batch": args.batch, "input_size": [h, w],
        "channels_last": args.channels_last, "fused_bn": args.fuse_bn, "threads": 1, "clock": "thread cpu",
    }  # fmt: skip
    if args.json:
        print(json.dumps({**info, **result}))
        return 0
    total = result["total_ms"]
    fmt = "channels_last" if args.channels_last else "contiguous"
    print(f"{args.model} batch {args.batch} at {h}x{w}, {fmt}{', BN folded' if args.fuse_bn else ''}: "
          f"{total:.1f} ms CPU per forward (1 thread, hooks included)")  # fmt: skip
    for title, table in (("by module kind", result["by_kind"]), ("by module path", result["by_path"])):
        print(f"\n  {title}:")
        for label, ms in list(table.items())[: args.top]:
            print(f"    {label:<48}{ms:>9.2f} ms{ms / total:>7.1%}")
    return 0


def run_decode(args: argparse.Namespace) -> int:
    for n in args.people:
        _check_positive("--people", n, minimum=0)
    _check_positive("--repeats", args.repeats)
    _check_positive("--height", args.height, minimum=32)
    try:
        from edgepose.analysis.decode_speed import benchmark_decode
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("edgepose.analysis.decode_speed"):
            raise EdgeposeError(
                "the decode benchmark is not available: module edgepose.analysis.decode_speed is missing"
            ) from None
        raise
    rows = benchmark_decode(people=tuple(args.people), repeats=args.repeats, height=args.height)
    if args.json:
        print(json.dumps({"height": args.height, "repeats": args.repeats, "rows": rows}))
        return 0
    keys = [k for k in ("people", "ms_median", "ms_mean", "ms_p90", "ms_min") if any(k in r for r in rows)]
    keys += [k for k in (rows[0] if rows else {}) if k not in keys]
    print("  ".join(f"{k:>12}" for k in keys))
    for r in rows:
        cells = [f"{r.get(k):>12.2f}" if isinstance(r.get(k), float) else f"{r.get(k)!s:>12}" for k in keys]
        print("  ".join(cells))
    if any("found" in r for r in rows):
        from edgepose.analysis.decode_speed import FOUND_NOTE, WHOLE_MIN_KEYPOINTS

        print(FOUND_NOTE.format(k=WHOLE_MIN_KEYPOINTS))
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    _check_positive("--runs", args.runs)
    _check_positive("--warmup", args.warmup, minimum=0)
    for t in args.threads:
        _check_positive("--threads", t)
    from pathlib import Path

    if args.image and not Path(args.image).is_file():
        raise EdgeposeError(f"{args.image}: --image is not a file")
    if args.calib and not Path(args.calib).exists():
        raise EdgeposeError(f"{args.calib}: --calib does not exist")
    from edgepose.analysis.deploy_latency import bench_deploy, format_deploy_table
    from edgepose.models import list_models

    unknown = [m for m in args.models if m not in list_models()]
    if unknown:
        raise EdgeposeError(f"unknown model(s) {', '.join(unknown)}; known models: {', '.join(list_models())}")

    def progress(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr, flush=True)

    result = bench_deploy(
        args.models, threads=args.threads, warmup=args.warmup, runs=args.runs, int8=args.int8,
        calib_dir=args.calib, image_path=args.image, progress=progress,
    )  # fmt: skip
    if args.json:
        print(json.dumps({**result, "rows": [r.to_dict() for r in result["rows"]]}, default=str))
    else:
        print(format_deploy_table(result, markdown=args.markdown))
    return 0
