"""The ``edgepose`` command: one entry point, one place that parses arguments.

Each subcommand lives in its own module of this package with ``add_parser(subparsers)``, which registers its
arguments and sets ``func``. Modules import heavy dependencies (torch, pycocotools) inside their ``run``
functions, so ``edgepose --help`` is instant and ``edgepose predict --onnx`` works without PyTorch.
User errors (:class:`~edgepose.errors.EdgeposeError`) are printed on one line, exit status 2. So are two kinds of
error that come from the environment rather than from edgepose: a missing optional dependency (a command that
needs PyTorch run in an ``edgepose[runtime]``-only install) names the extra to install, and an operating-system
error on a named file (permission denied, a folder where a file was expected, disk full) names the file.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from edgepose import __version__
from edgepose.cli import (
    bench,
    coco,
    complexity,
    demo,
    evaluate,
    export,
    import_weights,
    models,
    oracle,
    pck,
    predict,
    pretrain,
    quickstart,
    ssim,
    synth,
    train,
)
from edgepose.errors import EdgeposeError

# Top-level module of an optional dependency -> the extra of pyproject.toml that installs it.
EXTRA_OF_MODULE = {
    "torch": "torch",
    "pycocotools": "torch",
    "matplotlib": "torch",
    "onnxscript": "torch",
    "onnxruntime": "runtime",
    "onnx": "runtime",
}

# The order here is the order of `edgepose --help`.
COMMAND_MODULES = (
    demo, quickstart, models, complexity, bench, synth, train, pretrain, evaluate, coco, pck, oracle, predict, export,
    import_weights, ssim,
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
        flush_stdout()
    except EdgeposeError as exc:
        print(f"edgepose {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"edgepose {args.command}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        message = missing_dependency_message(exc)
        if message is None:
            raise
        print(f"edgepose {args.command}: error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.filename is None:
            if not failed_print(exc):
                raise
            silence_stdout()  # the interpreter's exit-time flush would fail (and report) again
            print(f"edgepose {args.command}: error: cannot write the output to stdout ({exc.strerror or exc})",
                  file=sys.stderr)  # fmt: skip
            return 2
        print(f"edgepose {args.command}: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return int(result or 0)


def flush_stdout() -> None:
    """Flush the command's output now, so a failed write (``> /dev/full``, a closed pipe) is a one-line error.

    Left to the interpreter's exit, the failure is reported as "Exception ignored" with status 120 by
    ``python -m edgepose`` and lost entirely by the console-script launcher (status 0).
    """
    try:
        sys.stdout.flush()
    except OSError as exc:
        silence_stdout()
        raise EdgeposeError(f"cannot write the output to stdout ({exc.strerror or exc})") from None


def silence_stdout() -> None:
    """Point stdout's descriptor at /dev/null, so the exit-time flush has nothing left to fail on."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real descriptor (captured output): nothing to flush at exit
        pass


def failed_print(exc: OSError) -> bool:
    """Whether ``exc`` came from a ``print()`` to stdout: the innermost frame is a ``print(`` line that does
    not name another file (an OSError from writing a named file carries its filename and is reported as such)."""
    import traceback

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename).startswith(package)]
    line = (frames[-1].line or "") if frames else ""  # edgepose's innermost line: print() itself has no frame
    return "print(" in line and ("file=" not in line or "file=sys.stdout" in line)


def missing_dependency_message(exc: ModuleNotFoundError) -> str | None:
    """One line naming the extra that installs the missing module, or ``None`` when it is not an optional one.

    ``edgepose models`` or ``export`` in an ``edgepose[runtime]`` install fail on ``import torch`` deep inside
    the command; the traceback says nothing about the fix, which is always the same ``pip install``.
    """
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return (
        f"this command needs {top}, which is not installed; install the extra with "
        f"pip install 'edgepose[{extra}]' (or 'edgepose[all]')"
    )


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
