"""The options of each ``edgepose bench`` sub-command, one parser builder per sub-command.

:mod:`edgepose.cli.bench` registers them (each builder sets the ``run`` function it is given as ``func``), checks
the values and calls the package. Kept apart so that each module stays short: this one only declares options.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from edgepose.analysis.omp_wait import OMP_WAIT_CHOICES
from edgepose.cli.common import add_set_argument

__all__ = [
    "add_decode_parser",
    "add_deploy_parser",
    "add_frame_parser",
    "add_latency_parser",
    "add_omp_argument",
    "add_profile_parser",
    "add_train_parser",
]

Run = Callable[[argparse.Namespace], int]


def add_omp_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--omp-wait", choices=OMP_WAIT_CHOICES, default="passive",
        help="OpenMP wait policy set before torch loads: passive (default; steady figures on a busy machine), "
        "active (OpenMP's own default: threads spin), inherit (leave OMP_WAIT_POLICY as the environment has it)",
    )  # fmt: skip


def add_latency_parser(sub: argparse._SubParsersAction, run: Run) -> None:
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
    add_omp_argument(lat)
    lat.add_argument("--json", action="store_true", help="print one JSON object, with every call's wall and CPU times")
    lat.add_argument("--markdown", action="store_true", help="print a Markdown table")
    lat.set_defaults(func=run)


def add_profile_parser(sub: argparse._SubParsersAction, run: Run) -> None:
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
    add_omp_argument(prof)
    prof.set_defaults(func=run)


def add_decode_parser(sub: argparse._SubParsersAction, run: Run) -> None:
    dec = sub.add_parser(
        "decode", help="bottom-up decoding time (peaks + PAF grouping) per number of people",
        description="Time the bottom-up post-processing on synthetic maps with N people, separately from "
        "the network.",
    )  # fmt: skip
    dec.add_argument("--people", type=int, nargs="+", default=[1, 5, 10, 20], metavar="N", help="people per image")
    dec.add_argument("--repeats", type=int, default=20, help="timed repeats per case (default 20)")
    dec.add_argument("--height", type=int, default=368, help="network input height (default 368)")
    dec.add_argument("--json", action="store_true", help="print one JSON object")
    dec.set_defaults(func=run)


def add_deploy_parser(sub: argparse._SubParsersAction, run: Run) -> None:
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
    add_omp_argument(dep)
    dep.set_defaults(func=run)


def add_frame_parser(sub: argparse._SubParsersAction, run: Run) -> None:
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
    add_omp_argument(fr)
    fr.add_argument("--json", action="store_true", help="print one JSON object, with every call's stage times")
    fr.set_defaults(func=run)


def add_train_parser(sub: argparse._SubParsersAction, run: Run) -> None:
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
    add_omp_argument(tr)
    tr.add_argument("--json", action="store_true", help="print one JSON object")
    tr.set_defaults(func=run)
