"""``edgepose bench``: speed measurements, as sub-commands.

    edgepose bench latency flpn_sres50 simplebaseline_r50 lpn50 --threads 2 --batch 1 8
    edgepose bench latency lwop_mobilenet xfuse_ghostnet --runs 20 --json
    edgepose bench decode --people 1 5 10 20 --repeats 20 --json
    edgepose bench deploy flpn_sres50 simplebaseline_r50 --threads 1 2 --markdown

``latency`` times network forward passes side by side in one process: after the warm-ups, many rounds of one timed
call per model (order rotated each round), each call on the wall and the CPU clock; median, p90, IQR, the ratio to
the first model, and the load average before and after. ``frame`` times the whole user path of one frame (read,
pre-process, network, decode, draw) through the torch-free runtime; ``train`` the training step with the real data
loader against the network step alone.

OpenMP wait policy: the benchmark commands set ``OMP_WAIT_POLICY=PASSIVE`` (``--omp-wait``) *before* they import
torch or ONNX Runtime, and report what was in force (why, and when it cannot take effect:
:mod:`edgepose.analysis.omp_wait`).

``decode`` times the bottom-up post-processing (peaks + PAF grouping) separately from the network, as users of
Lightweight OpenPose keep asking for.
Further back-ends register as sub-commands of their own (see ``edgepose.analysis.latency``): a parser builder in
:mod:`edgepose.cli.bench_options`, which declares every sub-command's options, and a ``run_*`` function here.

This module checks the option values (each error names its option) and calls the package: the measurements and
their reports live in ``edgepose.analysis`` (latency, bench_report, deploy_latency, bench_frame, train_throughput).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from edgepose.analysis.omp_wait import set_omp_wait_policy
from edgepose.cli import bench_options as options
from edgepose.errors import EdgeposeError

__all__ = ["add_parser", "set_omp_wait_policy"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench", help="latency of models side by side, and of the bottom-up decoding",
        description="Speed benchmarks. Timings depend on the machine and its load: compare ratios measured "
        "in one run, not figures from different runs.",
    )  # fmt: skip
    sub = p.add_subparsers(dest="bench_command", metavar="WHAT")
    p.set_defaults(func=_no_subcommand, _bench_parser=p)
    options.add_latency_parser(sub, run_latency)
    options.add_profile_parser(sub, run_profile)
    options.add_decode_parser(sub, run_decode)
    options.add_deploy_parser(sub, run_deploy)
    options.add_frame_parser(sub, run_frame)
    options.add_train_parser(sub, run_train)


def _no_subcommand(args: argparse.Namespace) -> int:
    args._bench_parser.print_help()
    return 1


def _check_minimums(args: argparse.Namespace, **minimums: int) -> None:
    """Each named option (``runs=1``: ``--runs``), a number or a list of them, is None or at least its minimum;
    checked in the order given, so the first bad option is the one named."""
    for dest, minimum in minimums.items():
        value = getattr(args, dest)
        for v in value if isinstance(value, (list, tuple)) else (value,):
            if v is not None and v < minimum:
                raise EdgeposeError(f"--{dest.replace('_', '-')} must be >= {minimum}, got {v}")


def _check_models(names: list[str]) -> None:
    from edgepose.models import list_models

    unknown = [m for m in names if m not in list_models()]
    if unknown:
        raise EdgeposeError(f"unknown model(s) {', '.join(unknown)}; known models: {', '.join(list_models())}")


def _check_files(**paths: str | None) -> None:
    """Each given path (``image=...``: ``--image``) names an existing file."""
    for dest, path in paths.items():
        if path and not Path(path).is_file():
            raise EdgeposeError(f"{path}: --{dest.replace('_', '-')} is not a file")


def _progress(args: argparse.Namespace) -> Callable[[str], None]:
    """Progress lines on stderr, none under --json (its stdout is one JSON object)."""

    def say(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr, flush=True)

    return say


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_latency(args: argparse.Namespace) -> int:
    policy = set_omp_wait_policy(args.omp_wait)  # before anything imports torch
    from edgepose.config import parse_overrides

    _check_minimums(args, runs=1, warmup=0, threads=1, batch=1, input_size=32)
    overrides = parse_overrides(args.overrides)
    from edgepose.analysis.latency import bench_models, format_latency_table

    _check_models(args.models)
    report = bench_models(
        args.models, batches=args.batch, input_size=args.input_size, warmup=args.warmup, runs=args.runs,
        threads=args.threads, channels_last=args.channels_last, overrides=overrides, fuse_bn=args.fuse_bn,
        clock=args.clock, progress=_progress(args),
    )  # fmt: skip
    report.machine["omp_wait_policy"] = policy
    print(json.dumps(report.to_dict(raw=True)) if args.json else format_latency_table(report, markdown=args.markdown))
    return 0


def run_profile(args: argparse.Namespace) -> int:
    set_omp_wait_policy(args.omp_wait)  # before torch loads
    from edgepose.analysis.bench_report import format_profile, profile_model
    from edgepose.config import parse_overrides

    _check_minimums(args, batch=1, runs=1, warmup=0, top=1, input_size=32)
    report = profile_model(args.model, parse_overrides(args.overrides), batch=args.batch, input_size=args.input_size,
                           runs=args.runs, warmup=args.warmup, channels_last=args.channels_last,
                           fuse_bn=args.fuse_bn)  # fmt: skip
    print(json.dumps(report) if args.json else format_profile(report, top=args.top))
    return 0


def run_decode(args: argparse.Namespace) -> int:
    from edgepose.analysis.bench_report import decode_rows, format_decode_rows

    _check_minimums(args, people=0, repeats=1, height=32)
    rows = decode_rows(args.people, repeats=args.repeats, height=args.height)
    if args.json:
        print(json.dumps({"height": args.height, "repeats": args.repeats, "rows": rows}))
    else:
        print(format_decode_rows(rows))
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    set_omp_wait_policy(args.omp_wait)  # before torch / ONNX Runtime load (the machine info reports it)
    _check_minimums(args, runs=1, warmup=0, threads=1)
    _check_files(image=args.image)
    if args.calib and not Path(args.calib).exists():
        raise EdgeposeError(f"{args.calib}: --calib does not exist")
    from edgepose.analysis.deploy_latency import bench_deploy, deploy_json, format_deploy_table

    _check_models(args.models)
    result = bench_deploy(
        args.models, threads=args.threads, warmup=args.warmup, runs=args.runs, int8=args.int8,
        calib_dir=args.calib, image_path=args.image, progress=_progress(args),
    )  # fmt: skip
    print(json.dumps(deploy_json(result), default=str) if args.json else format_deploy_table(result, args.markdown))
    return 0


def run_frame(args: argparse.Namespace) -> int:
    policy = set_omp_wait_policy(args.omp_wait)  # before ONNX Runtime (or torch, for the export) loads
    _check_minimums(args, people=1, bottomup_people=0, threads=1, runs=1, warmup=0)
    from edgepose.analysis.bench_frame import bench_frames, format_frame_report, frame_json

    _check_files(image=args.image, onnx=args.onnx, bottomup_onnx=args.bottomup_onnx if args.bottomup else None)
    info, results = bench_frames(
        image=args.image, onnx=args.onnx, bottomup_onnx=args.bottomup_onnx, people=args.people,
        bottomup=args.bottomup, bottomup_people=args.bottomup_people, threads=args.threads, flip=args.flip,
        runs=args.runs, warmup=args.warmup, omp_wait_policy=policy, progress=_progress(args), note=_stderr,
    )  # fmt: skip
    print(json.dumps(frame_json(info, results)) if args.json else format_frame_report(info, results))
    return 0


def run_train(args: argparse.Namespace) -> int:
    policy = set_omp_wait_policy(args.omp_wait)  # before torch loads
    _check_minimums(args, steps=1, warmup=0, batch_size=1, threads=1, workers=0)
    from edgepose.analysis.train_throughput import bench_train, format_train_table

    result = bench_train(
        args.config, overrides=args.overrides, steps=args.steps, warmup=args.warmup, workers=args.workers,
        batch_size=args.batch_size, threads=args.threads, device=args.device, pipelines=args.pipeline,
        progress=_stderr,  # stderr: the JSON on stdout stays clean
    )  # fmt: skip
    result["machine"]["omp_wait_policy"] = policy
    print(json.dumps(result) if args.json else format_train_table(result))
    return 0
