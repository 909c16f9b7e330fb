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

OpenMP wait policy: torch's OpenMP runtime reads ``OMP_WAIT_POLICY`` once, when torch is imported; its default
(active) spin-waiting makes multi-threaded figures erratic on a loaded machine. The benchmark commands therefore set
``OMP_WAIT_POLICY=PASSIVE`` (``--omp-wait``) *before* they import torch or ONNX Runtime -- the ``edgepose`` entry
point imports neither before a command runs -- and report what was in force. Called in a process that has already
imported torch (a notebook, a test), the setting cannot take effect any more and the report says so.

``decode`` times the bottom-up post-processing (peaks + PAF grouping) separately from the network, as users of
Lightweight OpenPose keep asking for.
Further back-ends register here as sub-commands of their own (see ``edgepose.analysis.latency``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from edgepose.cli.common import add_set_argument
from edgepose.errors import EdgeposeError

OMP_WAIT_CHOICES = ("passive", "active", "inherit")


def _add_omp_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--omp-wait", choices=OMP_WAIT_CHOICES, default="passive",
        help="OpenMP wait policy set before torch loads: passive (default; steady figures on a busy machine), "
        "active (OpenMP's own default: threads spin), inherit (leave OMP_WAIT_POLICY as the environment has it)",
    )  # fmt: skip


def set_omp_wait_policy(choice: str) -> str:
    """Set ``OMP_WAIT_POLICY`` for ``choice`` before torch / ONNX Runtime load, and say what is in force.

    Returns the policy as the OpenMP runtime will see it, with a note when torch was already imported (then the
    variable was read before and changing it now would only mislead: it is left as it was).
    """
    if choice not in OMP_WAIT_CHOICES:
        raise EdgeposeError(f"--omp-wait must be one of {', '.join(OMP_WAIT_CHOICES)}, got {choice!r}")
    loaded = [m for m in ("torch", "onnxruntime") if m in sys.modules]
    current = os.environ.get("OMP_WAIT_POLICY")
    if choice == "inherit" or current == choice.upper():
        return current or "default (active)"
    if loaded:
        return f"{current or 'default (active)'} (not changed: {', '.join(loaded)} already loaded)"
    os.environ["OMP_WAIT_POLICY"] = choice.upper()
    return choice.upper()


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
        description="Warm up, then time the models in interleaved rounds (one call per model per round, order "
        "rotated), each call on the wall and CPU clocks; print median, p90 and IQR ms per batch size, the ratios "
        "to the first model, the machine and its load average before and after. Memory format: by default each "
        "model runs in whichever of channels_last / contiguous is faster for it (probed first).",
    )  # fmt: skip
    lat.add_argument("models", nargs="+", metavar="MODEL", help="model names (see `edgepose models`)")
    lat.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's current setting)")
    lat.add_argument("--batch", type=int, nargs="+", default=[1, 8], metavar="N", help="batch sizes (default 1 8)")
    lat.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"), help="input size (default: each model's)")
    lat.add_argument("--runs", type=int, default=30, help="interleaved rounds, one timed call per model (default 30)")
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
    _add_omp_argument(lat)
    lat.add_argument("--json", action="store_true", help="print one JSON object, with every call's wall and CPU times")
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
    _add_omp_argument(prof)
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
    _add_omp_argument(dep)
    dep.set_defaults(func=run_deploy)

    _add_frame_parser(sub)
    _add_train_parser(sub)


def _add_frame_parser(sub: argparse._SubParsersAction) -> None:
    fr = sub.add_parser(
        "frame", help="one frame end to end through the torch-free runtime: read, pre-process, network, decode, draw",
        description="Time each stage of a frame's path through the runtime (ONNX Runtime): a top-down frame with N "
        "people (boxes given, all crops in one batched network call) and a bottom-up frame, interleaved over rounds; "
        "print each stage's median ms and its share of the frame.",
    )  # fmt: skip
    fr.add_argument("--onnx", help="top-down ONNX model (default: the shipped model)")
    fr.add_argument("--people", type=int, nargs="+", default=[1, 5, 10], metavar="N",
                    help="people (boxes) per top-down frame (default 1 5 10)")  # fmt: skip
    fr.add_argument("--bottomup-onnx", help="bottom-up ONNX model (default: xfuse_ghostnet exported with random "
                    "weights into a temporary folder, which needs PyTorch)")  # fmt: skip
    fr.add_argument("--bottomup-people", type=int, default=5, metavar="N",
                    help="people in the synthetic maps the bottom-up decode stage runs on when the network is "
                    "untrained (default 5)")  # fmt: skip
    fr.add_argument("--no-bottomup", dest="bottomup", action="store_false", help="top-down frames only")
    fr.add_argument("--image", help="the frame (default: a bundled photo)")
    fr.add_argument("--threads", type=int, default=2, help="ONNX Runtime and OpenCV threads (default 2)")
    fr.add_argument("--no-flip", dest="flip", action="store_false", help="top-down without the flip test")
    fr.add_argument("--runs", type=int, default=20, help="interleaved rounds (default 20)")
    fr.add_argument("--warmup", type=int, default=2, help="untimed runs per case first (default 2)")
    _add_omp_argument(fr)
    fr.add_argument("--json", action="store_true", help="print one JSON object, with every call's stage times")
    fr.set_defaults(func=run_frame)


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    """``bench train``: the code is :mod:`edgepose.analysis.train_throughput`, imported when the command runs."""
    tr = sub.add_parser(
        "train", help="training images/s with the real data loader against the network step alone",
        description="Time training steps fed by the experiment's real data loader (decode, affine, targets) and the "
        "network step alone on the same batches held in memory, interleaved; report images/s of each, the loader's "
        "own images/s, and their ratio.",
    )  # fmt: skip
    tr.add_argument("config", help="experiment YAML (e.g. configs/flpn_small_lspet_160x160.yaml)")
    tr.add_argument("--steps", type=int, default=10, help="timed steps per variant (default 10)")
    tr.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    tr.add_argument("--workers", type=int, nargs="+", default=None, metavar="N",
                    help="loader worker counts to compare (default: the config's train.workers)")  # fmt: skip
    tr.add_argument("--batch-size", type=int, default=None, help="override train.batch_size")
    tr.add_argument("--threads", type=int, default=None, help="torch threads of the main process")
    tr.add_argument("--device", default=None, help="override train.device (cpu, cuda; AMP follows train.amp)")
    tr.add_argument("--pipeline", nargs="+", choices=("loader", "device"), default=None,
                    help="data pipelines to time: the DataLoader, the device-resident batches (default: the config's "
                    "data.pipeline)")  # fmt: skip
    add_set_argument(tr, help="experiment overrides, e.g. --set data.max_images=800")
    _add_omp_argument(tr)
    tr.add_argument("--json", action="store_true", help="print one JSON object")
    tr.set_defaults(func=run_train)


def _no_subcommand(args: argparse.Namespace) -> int:
    args._bench_parser.print_help()
    return 1


def _check_positive(name: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise EdgeposeError(f"{name} must be >= {minimum}, got {value}")


def run_latency(args: argparse.Namespace) -> int:
    policy = set_omp_wait_policy(args.omp_wait)  # before anything imports torch
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
    report.machine["omp_wait_policy"] = policy
    if args.json:
        print(json.dumps(report.to_dict(raw=True)))
    else:
        print(format_latency_table(report, markdown=args.markdown))
    return 0


def run_profile(args: argparse.Namespace) -> int:
    set_omp_wait_policy(args.omp_wait)  # before torch loads
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
    set_omp_wait_policy(args.omp_wait)  # before torch / ONNX Runtime load (the machine info reports it)
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


def _frame_estimators(args: argparse.Namespace, workdir: str):
    """(top-down estimator, bottom-up estimator or None, note on where the models came from)."""
    from pathlib import Path

    from edgepose.runtime import PoseEstimator

    if args.onnx:
        top_path = Path(args.onnx)
        if not top_path.is_file():
            raise EdgeposeError(f"{args.onnx}: --onnx is not a file")
    else:
        from edgepose.assets import shipped_onnx

        top_path = shipped_onnx()
    top = PoseEstimator.from_onnx(top_path, threads=args.threads, flip_test=args.flip)
    if top.task != "topdown":
        raise EdgeposeError(f"{top_path}: --onnx must be a top-down model, this one is {top.task}")
    if not args.bottomup:
        return top, None, {"topdown": str(top_path)}
    trained = bool(args.bottomup_onnx)
    if trained:
        bottom_path = Path(args.bottomup_onnx)
        if not bottom_path.is_file():
            raise EdgeposeError(f"{args.bottomup_onnx}: --bottomup-onnx is not a file")
    else:
        from edgepose.export.onnx import export_onnx
        from edgepose.models import build_model

        print("exporting xfuse_ghostnet (random weights) for the bottom-up frame", file=sys.stderr, flush=True)
        bottom_path = Path(export_onnx(build_model("xfuse_ghostnet").eval(), Path(workdir) / "xfuse.onnx",
                                       input_size=(368, 368)).path)  # fmt: skip
    bottom = PoseEstimator.from_onnx(bottom_path, threads=args.threads)
    if bottom.task != "bottomup":
        raise EdgeposeError(f"{bottom_path}: --bottomup-onnx must be a bottom-up model, this one is {bottom.task}")
    return top, (bottom, trained), {"topdown": str(top_path), "bottomup": str(bottom_path) if trained else
                                    "xfuse_ghostnet, random weights (exported for this run)"}  # fmt: skip


def run_frame(args: argparse.Namespace) -> int:
    policy = set_omp_wait_policy(args.omp_wait)  # before ONNX Runtime (or torch, for the export) loads
    for n in args.people:
        _check_positive("--people", n)
    _check_positive("--bottomup-people", args.bottomup_people, minimum=0)
    _check_positive("--threads", args.threads)
    _check_positive("--runs", args.runs)
    _check_positive("--warmup", args.warmup, minimum=0)
    import tempfile
    from pathlib import Path

    import cv2

    from edgepose.analysis.frame_budget import bottomup_case, format_frame_table, run_frames, topdown_case
    from edgepose.analysis.timing import load_average, machine_summary

    if args.image:
        image = Path(args.image)
        if not image.is_file():
            raise EdgeposeError(f"{args.image}: --image is not a file")
    else:
        from edgepose.assets import demo_photos

        image = demo_photos()[0]
    cv2.setNumThreads(args.threads)
    load_before = load_average()
    with tempfile.TemporaryDirectory() as workdir:
        top, bottom, models = _frame_estimators(args, workdir)
        cases = [topdown_case(top, image, n) for n in args.people]
        if bottom is not None:
            estimator, trained = bottom
            cases.append(bottomup_case(estimator, image, None if trained else args.bottomup_people))
        if not args.json:
            print(f"timing {len(cases)} frame(s): {args.warmup} warm-up + {args.runs} interleaved rounds",
                  file=sys.stderr, flush=True)  # fmt: skip
        results = run_frames(cases, warmup=args.warmup, runs=args.runs)
    machine = {**machine_summary(), "omp_wait_policy": policy, "ort_threads": args.threads}
    info = {"image": str(image), "models": models, "runs": args.runs, "warmup": args.warmup, "machine": machine,
            "load_avg_before": load_before, "load_avg_after": load_average(),
            "order": "interleaved: one run of every frame per round, order rotated each round"}  # fmt: skip
    if args.json:
        print(json.dumps({**info, "frames": [r.to_dict(raw=True) for r in results]}))
        return 0
    caption = (f"image {image.name}; models {models}; {machine['cpu']} ({machine['cpus_usable']} CPUs usable), "
               f"{args.threads} ORT/OpenCV threads, OMP_WAIT_POLICY {policy}, load avg {load_before} before / "
               f"{info['load_avg_after']} after; medians of {args.runs} rounds, share = stage / sum")  # fmt: skip
    print(format_frame_table(results, caption))
    return 0


def run_train(args: argparse.Namespace) -> int:
    policy = set_omp_wait_policy(args.omp_wait)  # before torch loads
    _check_positive("--steps", args.steps)
    _check_positive("--warmup", args.warmup, minimum=0)
    _check_positive("--batch-size", args.batch_size)
    _check_positive("--threads", args.threads)
    for w in args.workers or ():
        _check_positive("--workers", w, minimum=0)
    from edgepose.analysis.train_throughput import bench_train, format_train_table

    result = bench_train(
        args.config, overrides=args.overrides, steps=args.steps, warmup=args.warmup, workers=args.workers,
        batch_size=args.batch_size, threads=args.threads, device=args.device, pipelines=args.pipeline,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),  # stderr: the JSON on stdout stays clean
    )  # fmt: skip
    result["machine"]["omp_wait_policy"] = policy
    print(json.dumps(result) if args.json else format_train_table(result))
    return 0
