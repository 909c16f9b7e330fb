"""The ``edgepose`` command: one entry point, one place that parses arguments.

Each subcommand lives in its own module of this package with ``add_parser(subparsers)``, which registers its
arguments and sets ``func``. Modules import heavy dependencies (torch, pycocotools) inside their ``run``
functions, so ``edgepose --help`` is instant and ``edgepose predict --onnx`` works without PyTorch.
User errors (:class:`~edgepose.errors.EdgeposeError`) are printed on one line, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from edgepose import __version__
from edgepose.cli import (
    bench,
    complexity,
    demo,
    evaluate,
    export,
    models,
    oracle,
    pck,
    predict,
    quickstart,
    ssim,
    synth,
    train,
)
from edgepose.errors import EdgeposeError

# The order here is the order of `edgepose --help`.
COMMAND_MODULES = (
    demo, quickstart, models, complexity, bench, synth, train, evaluate, pck, oracle, predict, export, ssim,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgepose",
        description="Lightweight real-time human pose estimation: FLPN (top-down) and the cross-fusion "
        "network (bottom-up), with training, evaluation, export and a torch-free runtime.",
    )
    parser.add_argument("--version", action="version", version=f"edgepose {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        result = args.func(args)
    except EdgeposeError as exc:
        print(f"edgepose {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"edgepose {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def exit_now_under_torchrun(code: int) -> None:
    """Under torchrun, leave without running C++ static destructors.

    Gloo's background threads can abort the process ("terminate called without an active exception", SIGABRT)
    while the interpreter tears down after a finished run, turning a successful rank into a failed one.
    Everything the run wrote is already closed and atomically renamed by then, so skip the teardown.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    _code = main()
    exit_now_under_torchrun(_code)
    sys.exit(_code)
